/// Everything that can stop the intake. A fault of one message is not an error here: it is
/// recorded on the message (state `error`) and reported in its [`crate::Outcome`].
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The database or the blob store is not usable now; nothing was decided, the message
    /// will be read again.
    #[error("{0}")]
    Store(#[from] sigillo_store::Error),
    /// The pipeline could not decide (database, blob store): nothing was decided.
    #[error("{0}")]
    Protocol(#[from] sigillo_protocol::Error),
    #[error("IMAP {account}: {what}: {source}")]
    Imap { account: String, what: String, source: async_imap::error::Error },
    #[error("IMAP {account}: {what}")]
    Connection { account: String, what: String },
    /// Nothing arrived from the server for `secs` seconds.
    #[error("IMAP {account}: {what}: no answer from the server for {secs} s")]
    Timeout { account: String, what: String, secs: f64 },
    #[error("internal task failed: {0}")]
    Task(String),
}
