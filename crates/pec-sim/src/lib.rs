//! pec-sim: a local PEC provider for demos and tests. It takes mail over SMTP, signs
//! transport envelopes, anomaly envelopes and receipts with a test PKI, and delivers them
//! into a mail store (Dovecot) over LMTP. See the crate README.

pub mod error;
pub mod lmtp;
pub mod mail;
pub mod pki;
pub mod provider;
pub mod send;
pub mod smtp;

pub use error::Error;
