//! XML Signature (XMLDSig core, W3C 2008) verification: trusted lists (ETSI TS 119 612)
//! now, XAdES documents and another AOO's Segnatura.xml seal later.
//!
//! # What is ours and what is borrowed
//! * Parsing: `uppsala` (pure Rust), with DTDs refused outright (so no entity expansion and
//!   no external entity is ever looked at), a bounded depth and a bounded size
//!   ([`Limits`]). The same parsed tree is canonicalised and then read by the caller, so
//!   there is no parser differential between what was signed and what is used.
//! * Canonicalisation: `bergshamra-c14n` (Canonical XML 1.0/1.1 and Exclusive XML
//!   Canonicalization, with or without comments, over document subsets), a maintained crate
//!   tested against the W3C and xmlsec suites. Hand-written canonicalisation is the classic
//!   source of XMLDSig bugs; we do not write our own.
//! * Reference processing, transforms, digests and the signature value are checked here,
//!   with the workspace's RustCrypto primitives ([`crate::crypto`]), because that is where
//!   signature-wrapping defences live: every reference resolves to exactly one node of this
//!   document (an `Id` used twice fails the signature), only the transforms a signed list or
//!   document legitimately uses are accepted (enveloped-signature and canonicalisation;
//!   XPath, XSLT and external URIs are refused), and the result names the nodes each
//!   reference covered, so that a caller can insist that what it reads is what was signed.
//!
//! SHA-1 is refused for the SignedInfo signature and for reference digests (collisions
//! make a forged list possible); it is only accepted where XAdES uses it to name a
//! certificate (that check belongs to the caller).

mod algorithms;
mod parse;
mod verify;

pub use algorithms::{C14n, SignatureMethod};
pub use parse::{Limits, decode, parse};
pub use algorithms::cert_digest;
pub use verify::{
    Covered, Reference, SignatureElement, Verified, canonicalize_element, element_children, find_signatures, is_signature,
    key_info_certificates, text, verify,
};

/// Namespace of XMLDSig elements.
pub const DSIG_NS: &str = "http://www.w3.org/2000/09/xmldsig#";

/// The parsed tree type (re-exported so callers need no direct dependency on the parser).
pub use uppsala::{Document, NodeId};

/// Why an XML signature does not verify, or why the XML could not be read. Each message is
/// one line naming the cause.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlSigFailure {
    /// Not well-formed, too large, too deep, has a DTD, not UTF-8.
    #[error("unreadable XML: {0}")]
    Xml(String),
    /// The document carries no XML signature.
    #[error("no XML signature")]
    NoSignature,
    /// The signature's own structure is broken (missing element, bad base64, …).
    #[error("malformed signature: {0}")]
    Malformed(String),
    /// An algorithm, transform or URI form we refuse.
    #[error("unsupported in a signature: {0}")]
    Unsupported(String),
    /// A reference points at nothing (or at external content not given).
    #[error("reference {uri:?}: {cause}")]
    Dereference { uri: String, cause: String },
    /// A reference's Id is carried by more than one element: which one was signed is
    /// ambiguous (the signature-wrapping pattern).
    #[error("reference {uri:?}: Id carried by {count} elements (signature wrapping?)")]
    AmbiguousId { uri: String, count: usize },
    /// The digest of a reference's content does not match: content altered after signing.
    #[error("reference {uri:?}: digest does not match (content altered after signing)")]
    DigestMismatch { uri: String },
    /// SignatureValue does not verify with any of the allowed keys.
    #[error("signature value does not verify with any allowed certificate{0}")]
    NotSignedByAllowed(String),
}
