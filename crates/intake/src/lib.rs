//! Intake: from the PEC mailbox, or `sigillo ingest`, to decisions in the register.
//!
//! Every message read goes through `sigillo_protocol::Pipeline`, the same path as
//! `sigillo ingest`; this crate owns only the IMAP side:
//! * [`imap`]: the IMAP connection (TLS with rustls, or plain TCP on loopback).
//! * [`poller`]: one task per mailbox: resume from the stored UIDVALIDITY and last UID,
//!   fetch in batches, move or flag only after commit, IDLE or poll, reconnect with backoff.

mod error;
pub mod imap;
pub mod poller;

pub use error::Error;
pub use sigillo_protocol::{Outcome, Pipeline};
