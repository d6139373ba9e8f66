//! The one error type of pec-sim.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{}: esiste già una PKI (usare --force per sovrascriverla)", .0.display())]
    PkiExists(PathBuf),
    #[error("{}: {why}", path.display())]
    BadPki { path: PathBuf, why: String },
    #[error("firmatario sconosciuto {0:?} (vedi citizens/ nella PKI)")]
    UnknownSigner(String),
    #[error("allegato {}: {source}", path.display())]
    Attachment { path: PathBuf, source: std::io::Error },
    #[error("indirizzo non valido {0:?}")]
    BadAddress(String),
    #[error("messaggio non costruibile: {0}")]
    Build(String),
    #[error("connessione SMTP a {addr}: {why}")]
    Connect { addr: String, why: String },
    #[error("autenticazione rifiutata dal server SMTP: {0}")]
    AuthFailed(String),
    #[error("invio rifiutato dal server SMTP: {0}")]
    Rejected(String),
    #[error("LMTP {addr}: {why}")]
    Lmtp { addr: String, why: String },
}

impl Error {
    pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { path, source }
    }
}
