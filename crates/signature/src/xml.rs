//! XML signature detection. XAdES needs exclusive/inclusive XML canonicalisation, for
//! which no well-kept Rust library exists; rather than verify it half-way we detect it and
//! report INDETERMINATE / FORMAT_NOT_SUPPORTED.

pub struct XmlInfo {
    pub signed: bool,
    pub kind: &'static str,
}

/// `Some` if `bytes` is XML; tells whether it holds an XML-DSig signature and whether it is
/// XAdES.
pub fn sniff(bytes: &[u8]) -> Option<XmlInfo> {
    let start = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    let first = start.iter().position(|b| !b.is_ascii_whitespace())?;
    if start.get(first) != Some(&b'<') {
        return None;
    }
    let text = String::from_utf8_lossy(start);
    // Must look like markup, not e.g. a text file starting with '<'.
    if !(text.contains("</") || text.contains("/>")) {
        return None;
    }
    let dsig = text.contains("http://www.w3.org/2000/09/xmldsig#") && text.contains("Signature");
    let xades = text.contains("http://uri.etsi.org/01903/");
    Some(XmlInfo { signed: dsig, kind: if xades { "XAdES" } else { "XML-DSig" } })
}
