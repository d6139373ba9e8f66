//! Intake: from the PEC mailbox, or `sigillo ingest`, to decisions in the register.
//!
//! * [`pipeline`]: the one path every raw message takes (store the bytes, record the row,
//!   classify, decide and register in one transaction), used by the poller and by
//!   `sigillo ingest` alike.
//! * [`imap`]: the IMAP connection (TLS with rustls, or plain TCP on loopback).
//! * [`poller`]: one task per mailbox: resume from the stored UIDVALIDITY and last UID,
//!   fetch in batches, move or flag only after commit, IDLE or poll, reconnect with backoff.

mod error;
pub mod imap;
pub mod pipeline;
pub mod poller;

pub use error::Error;
pub use pipeline::{Outcome, Pipeline};
