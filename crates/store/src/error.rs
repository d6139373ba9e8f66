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
    #[error("blob {hash}: {reason}")]
    Blob { hash: String, reason: String },
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

/// Maps the constraint and trigger errors the schema raises on purpose to the errors a caller
/// can act on (the style of launchbadge/realworld-axum-sqlx); anything else stays a database
/// error.
impl From<sqlx::Error> for Error {
    fn from(err: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &err {
            match db.constraint() {
                Some("annulments_pkey") => {
                    return Error::AlreadyAnnulled(String::from("(this registration)"));
                }
                Some("registrations_message_unique") => {
                    return Error::MessageAlreadyRegistered(0);
                }
                _ => {}
            }
            // 42501 insufficient_privilege is what the immutability triggers raise.
            if db.code().as_deref() == Some("42501") && db.message().starts_with("sigillo:") {
                return Error::Immutable(db.message().to_owned());
            }
        }
        Error::Database(err)
    }
}
