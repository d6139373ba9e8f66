/// Everything that can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("template {template}: {source}")]
    Template { template: &'static str, source: askama::Error },
    #[error("invalid {field}: {cause}")]
    Invalid { field: &'static str, cause: String },
    /// The qualified seal for Segnatura.xml is missing or unusable (a configuration problem).
    #[error("seal: {0}")]
    Seal(String),
    /// The SMTP transport could not be set up (sending failures are recorded on the rows).
    #[error("SMTP: {0}")]
    Smtp(String),
    #[error(transparent)]
    Store(#[from] sigillo_store::Error),
}
