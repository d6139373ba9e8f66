/// What can stop a decision. A fault of one message is not an error here: it is recorded on
/// the message (state `error`) and reported in its [`crate::Outcome`].
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The database or the blob store is not usable now; nothing was decided, the message
    /// will be read again.
    #[error("{0}")]
    Store(#[from] sigillo_store::Error),
    /// Queueing the automatic answer failed for a reason of the database or of composing it.
    #[error("{0}")]
    Notify(#[from] sigillo_notify::Error),
    /// No trust directory is configured: no signature can be judged.
    #[error("no trust directory (SIGILLO_TRUST_DIR) is configured")]
    NoTrust,
    /// A trust directory or one of its certificates cannot be used; names the file.
    #[error("{0}")]
    Trust(String),
    /// The stored raw message cannot be read as a message any more.
    #[error("the stored message is not readable: {0}")]
    Unreadable(String),
    #[error("internal task failed: {0}")]
    Task(String),
    /// A field of a desk or API registration cannot be registered; nothing was written.
    #[error("{0}")]
    Invalid(crate::desk::FieldError),
    /// A titolario CSV file with faults, each with its line and column; nothing was imported.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Titolario(Vec<crate::titolario::LineError>),
    /// An idempotency key used again with a different request.
    #[error("the Idempotency-Key {0:?} was already used for a different request")]
    IdempotencyConflict(String),
}
