//! The time of processing, as a value the pipeline asks for message by message (never a
//! time fixed when the process started): certificates are judged at it. Tests inject a
//! clock of their own ([`crate::Pipeline::with_clock`]).

use chrono::{DateTime, Utc};

/// Where the pipeline reads the time of processing.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
}

/// The system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that always says the same time (tests, replays).
#[derive(Debug, Clone, Copy)]
pub struct FixedClock(pub DateTime<Utc>);

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        self.0
    }
}
