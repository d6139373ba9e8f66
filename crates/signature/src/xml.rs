//! XML signature detection: a signed XML file is verified by [`crate::xades`].

pub struct XmlInfo {
    pub signed: bool,
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
    Some(XmlInfo { signed: dsig })
}
