//! PEC (Posta Elettronica Certificata) for Sigillo: tell transport envelopes, anomalies,
//! receipts and plain mail apart, read `daticert.xml` and the original `postacert.eml`,
//! and check the provider's S/MIME signature. Pure: bytes in, values out, no I/O.

pub mod anchors;
pub mod attachments;
pub mod check;
pub mod daticert;
pub mod envelope;
pub mod error;
pub mod kind;
pub mod mime;
pub mod report;
pub mod signed;
pub mod sniff;

pub use error::PecError;
pub use check::{Checker, DocumentReport, FileReport, ValidationTime};
pub use sigillo_signature::revocation::SharedSource;
pub use sigillo_signature::{SubIndication, TimeSource};
pub use report::{MessageReport, human_it};
