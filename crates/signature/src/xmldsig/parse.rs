//! Reading XML from outside: bounded size and depth, no DTD (hence no entities, internal or
//! external), UTF-8 only.

use super::XmlSigFailure;

/// Bounds on XML from outside.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest document accepted, in bytes. A national trusted list is a few MB (Italy's
    /// is 2 MB, Germany's about 10); 64 MiB leaves room without inviting exhaustion.
    pub max_bytes: usize,
    /// Deepest element nesting accepted. Trusted lists and XAdES stay under 20.
    pub max_depth: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_bytes: 64 << 20, max_depth: 64 }
    }
}

/// The document's text: UTF-8 (a byte-order mark is dropped), within the size bound.
/// UTF-16 documents are refused: no trusted list or FatturaPA uses it.
pub fn decode(bytes: &[u8], limits: Limits) -> Result<&str, XmlSigFailure> {
    if bytes.len() > limits.max_bytes {
        return Err(XmlSigFailure::Xml(format!("{} bytes, more than the {} accepted", bytes.len(), limits.max_bytes)));
    }
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    std::str::from_utf8(bytes).map_err(|e| XmlSigFailure::Xml(format!("not UTF-8 ({e})")))
}

/// Parses `text` with DTDs refused and the depth bounded.
pub fn parse(text: &str, limits: Limits) -> Result<uppsala::Document<'_>, XmlSigFailure> {
    uppsala::Parser::new()
        .with_forbid_dtd(true)
        .with_forbid_entities(true)
        .with_max_depth(limits.max_depth)
        .parse(text)
        .map_err(|e| XmlSigFailure::Xml(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doctypes_entities_and_deep_nesting_are_refused() {
        let l = Limits::default();
        let xxe = r#"<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>"#;
        assert!(matches!(parse(xxe, l), Err(XmlSigFailure::Xml(_))));
        let laughs = r#"<!DOCTYPE r [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;">]><r>&b;</r>"#;
        assert!(parse(laughs, l).is_err());
        let deep = format!("{}{}", "<a>".repeat(100), "</a>".repeat(100));
        assert!(parse(&deep, l).is_err());
        assert!(parse("<a><b/></a>", l).is_ok());
        assert!(decode(b"\xef\xbb\xbf<a/>", l).is_ok());
        assert!(decode(b"<a>\xff</a>", l).is_err());
        assert!(decode(&[b' '; 100], Limits { max_bytes: 10, max_depth: 8 }).is_err());
    }
}
