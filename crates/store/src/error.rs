use std::path::PathBuf;

/// Everything that can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("database error: {0}")]
    Database(sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("invalid {field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("{what} not found")]
    NotFound { what: String },
    #[error("registration {0} is already annulled")]
    AlreadyAnnulled(String),
    #[error("message {0} is already registered")]
    MessageAlreadyRegistered(i64),
    #[error("registered data is immutable: {0}")]
    Immutable(String),
    /// A stored file that cannot be given back: missing, or its content no longer has its hash.
    #[error("blob {hash}: {reason}")]
    Blob { hash: String, fault: crate::blob::Fault, reason: String },
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
}

impl Error {
    pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Error::Invalid { field, reason: reason.into() }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }
}

/// The constraint a database error names, if any. Statements that expect a constraint to
/// fire map its name to an error with the payload they know (the style of
/// launchbadge/realworld-axum-sqlx), e.g. `registrations_message_unique` →
/// [`Error::MessageAlreadyRegistered`] with the message's id.
pub(crate) fn constraint(err: &sqlx::Error) -> Option<&str> {
    match err {
        sqlx::Error::Database(db) => db.constraint(),
        _ => None,
    }
}

/// Maps the trigger errors the schema raises on purpose to the error a caller can act on;
/// anything else stays a database error.
impl From<sqlx::Error> for Error {
    fn from(err: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &err {
            // 42501 insufficient_privilege is what the immutability triggers raise.
            if db.code().as_deref() == Some("42501") && db.message().starts_with("sigillo:") {
                return Error::Immutable(db.message().to_owned());
            }
        }
        Error::Database(err)
    }
}
