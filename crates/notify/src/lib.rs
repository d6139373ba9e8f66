//! Receipts and notices to citizens.
//!
//! - [`model`]: what a receipt or a notice says, independent of how it is written.
//! - [`segnatura`]: `Segnatura.xml` per AgID Linee Guida, Allegato 6 (schema v3.0.0).
//! - [`compose`]: the Italian text and HTML (askama templates) and the MIME message.
//! - [`policy`]: whether a message gets a notice at all (loop safety, rate limit).
//! - [`outbox`]: writing the outbox row inside the decision's transaction.
//! - [`worker`]: the outbox worker that sends over SMTP with retries.

pub mod compose;
pub mod error;
pub mod model;
pub mod outbox;
pub mod policy;
pub mod segnatura;
#[cfg(feature = "testing")]
pub mod testing;
pub mod worker;

pub use error::Error;
