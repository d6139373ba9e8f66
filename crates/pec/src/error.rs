//! The one error type of the crate: inputs that cannot be read as a message at all.
//!
//! Everything else (missing daticert, bad signature, odd headers) is a *finding* reported
//! in the values, never an error: one bad message must not block the intake loop.

/// Why some bytes could not be treated as an e-mail message.
///
/// The `Display` text is Italian because `sigillo check` prints it to the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PecError {
    #[error("file vuoto: non è un messaggio e-mail")]
    Empty,
    #[error("non è un messaggio e-mail: {0}")]
    NotAMessage(&'static str),
    #[error("messaggio troncato: {0}")]
    Truncated(&'static str),
    /// A trust-anchor file that holds no usable certificate.
    #[error("certificato di fiducia non valido: {0}")]
    BadAnchor(String),
    /// Only surfaced by [`crate::daticert::parse`]; inside an envelope it becomes a warning.
    #[error("daticert.xml non leggibile: {0}")]
    MalformedDaticert(String),
}
