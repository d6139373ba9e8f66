//! A throw-away test PKI for the Sigillo workspace: certificate authorities, signer
//! certificates and CMS `SignedData`, all made in-process by tests. Nothing here is secure;
//! the RSA keys are compiled into the crate.
//!
//! # Shape
//!
//! ```
//! use sigillo_testpki::{Ca, LeafSpec, SignOptions, sign_attached, sign_detached};
//!
//! let ca = Ca::new_root("Test Root CA");
//! // A person's qualified-style certificate (nonRepudiation, TINIT- serialNumber).
//! let mario = ca.issue(LeafSpec::person("Mario", "Rossi", "TINIT-RSSMRA80A01H501U"));
//! // A PEC provider's signing certificate (digitalSignature, e-mail address).
//! let pec = ca.issue(LeafSpec::pec_provider("Posta Certificata Test", "posta-certificata@pec.test.it"));
//!
//! let p7m: Vec<u8> = sign_attached(&mario, b"contenuto", &SignOptions::default());
//! let p7s: Vec<u8> = sign_detached(&pec, b"MIME part bytes", &SignOptions::default());
//! assert_eq!(p7m[0], 0x30);
//! let _pem: String = ca.cert_pem();
//! let _der: &[u8] = pec.cert_der();
//! # let _ = p7s;
//! ```
//!
//! * [`Ca::new_root`], [`Ca::new_root_with`], [`Ca::new_intermediate`]: CAs (RSA 2048 by
//!   default), [`Ca::issue`] → [`Leaf`] `{ cert_der, key, chain }`, [`Ca::crl`] for CRLs.
//! * [`LeafSpec`]: subject (CN, givenName, surname, serialNumber such as
//!   `TINIT-RSSMRA80A01H501U`, O, C), e-mail (subjectAltName rfc822Name), key usage
//!   (`non_repudiation`, `digital_signature`), validity window (`not_before`/`not_after`,
//!   e.g. in the past for expired certificates), key kind (RSA 2048, P-256, P-384),
//!   a qcStatements flag.
//! * [`sign_detached`] / [`sign_attached`]: DER `ContentInfo(SignedData)` with one signer.
//!   [`SignOptions`] selects the digest (SHA-256 default, SHA-1, SHA-384/512, MD5), RSA-PSS,
//!   whether certificates / the chain are included, signed attributes (contentType,
//!   messageDigest, signingTime, ESS signing-certificate v1/v2), subjectKeyIdentifier sid,
//!   and BER output with indefinite lengths and chunked eContent ([`Encoding::BerIndefinite`]).
//! * [`sign`] with several [`Signer`]s: parallel signers, countersignatures and signature
//!   timestamps (CAdES-T, [`Tsa`]).
//! * [`timestamp_token`]: an RFC 3161 TimeStampToken over any bytes.
//! * [`pem`]: PEM armour for any DER.
//! * [`pdf`]: a minimal one-page PDF, PAdES signatures added as incremental updates
//!   ([`pdf::sign_pdf`]) and arbitrary later updates ([`pdf::append_update`]) for attacks.
//! * [`trustlist`]: ETSI TS 119 612 test lists (services, history, pointers), signed.
//! * [`xml`]: XML signatures made by `xmlsec1 --sign` with these keys, and xmlsec1's verdict.
//! * [`pec`]: the MIME of PEC envelopes and receipts (daticert.xml, postacert.eml, the
//!   S/MIME `multipart/signed` wrapper), the one writer of PEC test messages.

#![allow(clippy::expect_used, clippy::unwrap_used)] // a test helper: a panic is a test failure

mod ca;
mod cms;
pub mod der;
mod keys;
pub mod oids;
pub mod pdf;
pub mod pec;
pub mod trustlist;
pub mod xml;

pub use ca::{Ca, CaSpec, Leaf, LeafSpec, NameConstraints, Subtree};
pub use cms::{
    AttrOrder, EssVersion, Encoding, SignOptions, Signer, Tsa, attribute, m7m, sign, sign_attached, sign_detached,
    timestamp_token, timestamped_data,
};
pub use keys::{KeyKind, PrivateKey};

use sha2::Digest as _;

/// Digest algorithms the test PKI can sign with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DigestAlg {
    Md5,
    Sha1,
    #[default]
    Sha256,
    Sha384,
    Sha512,
}

impl DigestAlg {
    pub fn hash(self, data: &[u8]) -> Vec<u8> {
        match self {
            DigestAlg::Md5 => md5::Md5::digest(data).to_vec(),
            DigestAlg::Sha1 => sha1::Sha1::digest(data).to_vec(),
            DigestAlg::Sha256 => sha2::Sha256::digest(data).to_vec(),
            DigestAlg::Sha384 => sha2::Sha384::digest(data).to_vec(),
            DigestAlg::Sha512 => sha2::Sha512::digest(data).to_vec(),
        }
    }

    pub fn output_len(self) -> usize {
        match self {
            DigestAlg::Md5 => 16,
            DigestAlg::Sha1 => 20,
            DigestAlg::Sha256 => 32,
            DigestAlg::Sha384 => 48,
            DigestAlg::Sha512 => 64,
        }
    }

    pub fn oid(self) -> &'static str {
        match self {
            DigestAlg::Md5 => oids::MD5,
            DigestAlg::Sha1 => oids::SHA1,
            DigestAlg::Sha256 => oids::SHA256,
            DigestAlg::Sha384 => oids::SHA384,
            DigestAlg::Sha512 => oids::SHA512,
        }
    }

    /// AlgorithmIdentifier as most CMS producers write it (NULL parameters).
    pub fn alg_der(self) -> Vec<u8> {
        der::alg(self.oid(), Some(&der::null()))
    }

    fn ecdsa_oid(self) -> &'static str {
        match self {
            DigestAlg::Sha1 => oids::ECDSA_SHA1,
            DigestAlg::Sha256 => oids::ECDSA_SHA256,
            DigestAlg::Sha384 => oids::ECDSA_SHA384,
            DigestAlg::Sha512 => oids::ECDSA_SHA512,
            DigestAlg::Md5 => panic!("ECDSA with MD5 does not exist"),
        }
    }
}

/// Every PEM block of `text` as `(label, DER)`, in order; text outside blocks is ignored.
pub fn pem_decode(text: &str) -> Result<Vec<(String, Vec<u8>)>, String> {
    use base64::Engine as _;
    let mut out = Vec::new();
    let mut current: Option<(String, String)> = None;
    for line in text.lines().map(str::trim) {
        if let Some(label) = line.strip_prefix("-----BEGIN ").and_then(|l| l.strip_suffix("-----")) {
            current = Some((label.to_owned(), String::new()));
        } else if let Some(label) = line.strip_prefix("-----END ").and_then(|l| l.strip_suffix("-----")) {
            let Some((begin, b64)) = current.take() else {
                return Err(format!("END {label} without BEGIN"));
            };
            if begin != label {
                return Err(format!("BEGIN {begin} closed by END {label}"));
            }
            let der = base64::engine::general_purpose::STANDARD
                .decode(b64.as_bytes())
                .map_err(|e| format!("bad base64 in {label}: {e}"))?;
            out.push((label.to_owned(), der));
        } else if let Some((_, b64)) = current.as_mut() {
            b64.push_str(line);
        }
    }
    if let Some((label, _)) = current {
        return Err(format!("BEGIN {label} without END"));
    }
    Ok(out)
}

/// PEM armour (`-----BEGIN {label}-----`, 64-column base64).
pub fn pem(label: &str, der: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).expect("base64 is ASCII"));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}
