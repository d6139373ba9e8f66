//! Algorithm URIs (RFC 6931, XMLDSig 1.1) mapped to the workspace's primitives.

use bergshamra_c14n::C14nMode;

use super::XmlSigFailure;
use crate::crypto::{DigestAlg, SigAlg};

pub(super) const ENVELOPED_SIGNATURE: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";
pub(super) const EXC_C14N_NS: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
/// XPath Filter 2.0: accepted only as "subtract every ds:Signature" (see verify.rs).
pub(super) const XPATH_FILTER2: &str = "http://www.w3.org/2002/06/xmldsig-filter2";

/// A canonicalisation algorithm (CanonicalizationMethod or a transform).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct C14n {
    pub mode: C14nMode,
    /// The InclusiveNamespaces PrefixList of exclusive canonicalisation.
    pub inclusive_prefixes: Vec<String>,
}

impl C14n {
    pub(super) fn from_uri(uri: &str) -> Option<C14nMode> {
        C14nMode::from_uri(uri)
    }

    /// Canonical XML 1.0 without comments: the default conversion of a node set to octets.
    pub(super) fn default_conversion() -> C14n {
        C14n { mode: C14nMode::Inclusive, inclusive_prefixes: Vec::new() }
    }
}

/// Digest method of a reference.
pub(super) fn digest(uri: &str) -> Result<DigestAlg, XmlSigFailure> {
    match uri {
        "http://www.w3.org/2001/04/xmlenc#sha256" => Ok(DigestAlg::Sha256),
        "http://www.w3.org/2001/04/xmldsig-more#sha384" => Ok(DigestAlg::Sha384),
        "http://www.w3.org/2001/04/xmlenc#sha512" => Ok(DigestAlg::Sha512),
        "http://www.w3.org/2000/09/xmldsig#sha1" => {
            Err(XmlSigFailure::Unsupported("SHA-1 reference digest (too weak to protect content)".into()))
        }
        other => Err(XmlSigFailure::Unsupported(format!("digest method {other}"))),
    }
}

/// Digest method where XAdES names a certificate (CertDigest): SHA-1 is allowed here,
/// because a second-preimage, not a collision, would be needed to substitute a certificate.
pub fn cert_digest(uri: &str) -> Option<DigestAlg> {
    match uri {
        "http://www.w3.org/2000/09/xmldsig#sha1" => Some(DigestAlg::Sha1),
        other => digest(other).ok(),
    }
}

/// Signature method of SignedInfo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignatureMethod {
    pub alg: SigAlg,
    pub digest: DigestAlg,
    /// ECDSA values are the raw `r || s` concatenation in XMLDSig, not DER.
    pub raw_ecdsa: bool,
}

impl SignatureMethod {
    pub(super) fn from_uri(uri: &str) -> Result<SignatureMethod, XmlSigFailure> {
        let rsa = |d| SignatureMethod { alg: SigAlg::RsaPkcs1(Some(d)), digest: d, raw_ecdsa: false };
        let ec = |d| SignatureMethod { alg: SigAlg::Ecdsa(Some(d)), digest: d, raw_ecdsa: true };
        let pss = |d: DigestAlg, salt| SignatureMethod { alg: SigAlg::RsaPss { digest: d, salt_len: salt }, digest: d, raw_ecdsa: false };
        match uri {
            "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256" => Ok(rsa(DigestAlg::Sha256)),
            "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384" => Ok(rsa(DigestAlg::Sha384)),
            "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512" => Ok(rsa(DigestAlg::Sha512)),
            "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256" => Ok(ec(DigestAlg::Sha256)),
            "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384" => Ok(ec(DigestAlg::Sha384)),
            "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512" => Ok(ec(DigestAlg::Sha512)),
            // RFC 6931 §2.3.10: salt length = hash length, MGF1 with the same hash.
            "http://www.w3.org/2007/05/xmldsig-more#sha256-rsa-MGF1" => Ok(pss(DigestAlg::Sha256, 32)),
            "http://www.w3.org/2007/05/xmldsig-more#sha384-rsa-MGF1" => Ok(pss(DigestAlg::Sha384, 48)),
            "http://www.w3.org/2007/05/xmldsig-more#sha512-rsa-MGF1" => Ok(pss(DigestAlg::Sha512, 64)),
            "http://www.w3.org/2000/09/xmldsig#rsa-sha1" | "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha1" => {
                Err(XmlSigFailure::Unsupported("SHA-1 signature method (too weak)".into()))
            }
            other => Err(XmlSigFailure::Unsupported(format!("signature method {other}"))),
        }
    }
}

/// DER `SEQUENCE { r INTEGER, s INTEGER }` from XMLDSig's raw `r || s`.
pub(super) fn ecdsa_raw_to_der(raw: &[u8]) -> Option<Vec<u8>> {
    if raw.is_empty() || !raw.len().is_multiple_of(2) || raw.len() > 132 {
        return None;
    }
    let (r, s) = raw.split_at(raw.len() / 2);
    let int = |v: &[u8]| {
        let v = match v.iter().position(|b| *b != 0) {
            Some(i) => &v[i..],
            None => &v[v.len() - 1..],
        };
        let mut out = vec![0x02];
        let pad = v.first().is_some_and(|b| b & 0x80 != 0);
        out.push((v.len() + usize::from(pad)) as u8);
        if pad {
            out.push(0);
        }
        out.extend_from_slice(v);
        out
    };
    let body = [int(r), int(s)].concat();
    let mut der = vec![0x30];
    if body.len() >= 0x80 {
        der.push(0x81);
    }
    der.push(body.len() as u8);
    der.extend(body);
    Some(der)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_ecdsa_becomes_der_with_sign_padding() {
        let mut raw = vec![0u8; 64];
        raw[0] = 0x80; // r needs a leading zero
        raw[63] = 1; // s is 1 after stripping zeros
        let der = ecdsa_raw_to_der(&raw).unwrap_or_default();
        assert_eq!(&der[..4], &[0x30, 2 + 33 + 3, 0x02, 33]);
        assert_eq!(&der[der.len() - 3..], &[0x02, 1, 1]);
        assert!(ecdsa_raw_to_der(&[1, 2, 3]).is_none());
    }

    #[test]
    fn sha1_is_refused_for_signatures_and_references() {
        assert!(SignatureMethod::from_uri("http://www.w3.org/2000/09/xmldsig#rsa-sha1").is_err());
        assert!(digest("http://www.w3.org/2000/09/xmldsig#sha1").is_err());
        assert_eq!(cert_digest("http://www.w3.org/2000/09/xmldsig#sha1"), Some(DigestAlg::Sha1));
    }
}
