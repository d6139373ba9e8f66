//! The domain of a registration, whatever its channel.
//!
//! Every way a document enters the register goes through this crate, so each rule of the
//! register is written once:
//!
//! * [`record`]: the art. 53 record of a classified message (who sent it, its subject, its
//!   documents) — the same for the intake and for the office's "register anyway".
//! * [`plan`]: what a classifier's report leads to (message state, PEC type), before any
//!   database work.
//! * [`pipeline`]: the one path every raw message takes (store the bytes, record the row,
//!   classify, then one transaction that decides and registers), used by the IMAP poller and
//!   by `sigillo ingest`.
//! * [`policy`]: the comune's switches (unsigned attachments, anomaly envelopes,
//!   INDETERMINATE signatures) turning the classifier's default decision into the one taken.
//! * [`anyway`]: the responsabile's override, registering a rejected or review message from
//!   its stored bytes with the same record and the same receipt.
//! * [`desk`]: registrations made at the desk or through the API (paper, e-mail, fax,
//!   outgoing, internal), in the same register and transaction as the PEC intake.
//! * [`receipt`]: what a receipt of registration lists.
//! * [`trust`]: a trust directory (`pec/`, `signatures/`) loaded into a classifier, and
//!   loaded again when it changes.
//! * [`clock`]: the time of processing, read per message.

pub mod anyway;
pub mod clock;
pub mod desk;
pub mod listed;
pub mod outgoing;
mod error;
pub mod pipeline;
pub mod plan;
pub mod policy;
pub mod receipt;
pub mod record;
pub mod titolario;
pub mod trust;

pub use error::Error;
pub use clock::{Clock, SystemClock};
pub use pipeline::{Outcome, Pipeline};
