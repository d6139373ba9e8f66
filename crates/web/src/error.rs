//! The one error type of the web layer. Internal details are logged (without citizens'
//! data), never shown; the person sees a page in Italian that says what to do.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use sigillo_store::blob::Fault;

fn fault_en(f: &Fault) -> &'static str {
    match f {
        Fault::Damaged => "damaged",
        Fault::Missing => "missing",
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("not found")]
    NotFound,
    #[error("not logged in")]
    Unauthenticated,
    #[error("role not allowed")]
    Forbidden,
    /// Not allowed for this role, with the reason in Italian.
    #[error("refused: {0}")]
    Refused(String),
    #[error("missing or wrong CSRF token")]
    Csrf,
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("too many login attempts")]
    TooManyAttempts,
    #[error("missing or wrong API token")]
    ApiUnauthorized,
    /// A field of a request that cannot be accepted: the status (400 for a malformed request,
    /// 422 for a value refused), the field's name as the caller spells it, the reason.
    #[error("invalid {field}: {message}")]
    Field { status: StatusCode, field: String, message: String },
    /// A stored file (raw message, document, closed day's export) missing from the blob
    /// store or no longer matching its hash. `what` names it for the clerk, in Italian (it
    /// may quote a file name: shown, never logged).
    #[error("stored file {hash} {}: {reason}", fault_en(.fault))]
    Blob { hash: String, fault: Fault, reason: String, what: Option<String> },
    #[error("store: {0}")]
    Store(sigillo_store::Error),
    #[error("template: {0}")]
    Template(#[from] askama::Error),
    #[error("{0}")]
    Internal(String),
}

impl From<sigillo_store::Error> for AppError {
    fn from(e: sigillo_store::Error) -> Self {
        use sigillo_store::Error as E;
        match e {
            E::NotFound { .. } => AppError::NotFound,
            E::Invalid { field, reason } => AppError::BadRequest(format!("{field}: {reason}")),
            E::AlreadyAnnulled(_) => AppError::BadRequest("la registrazione è già annullata".into()),
            E::Blob { hash, fault, reason } => AppError::Blob { hash, fault, reason, what: None },
            other => AppError::Store(other),
        }
    }
}

impl From<sqlx::Error> for AppError {
    fn from(e: sqlx::Error) -> Self {
        AppError::from(sigillo_store::Error::from(e))
    }
}

impl From<sigillo_notify::Error> for AppError {
    fn from(e: sigillo_notify::Error) -> Self {
        use sigillo_notify::Error as E;
        match e {
            E::Store(e) => AppError::from(e),
            E::Invalid { field, cause } => AppError::BadRequest(format!("{field}: {cause}")),
            other => AppError::Internal(format!("notify: {other}")),
        }
    }
}

impl From<sigillo_protocol::Error> for AppError {
    fn from(e: sigillo_protocol::Error) -> Self {
        use sigillo_protocol::Error as E;
        match e {
            E::Store(e) => AppError::from(e),
            E::Notify(e) => AppError::from(e),
            E::NoTrust => AppError::BadRequest(
                "SIGILLO_TRUST_DIR non è configurata: senza le autorità di fiducia le firme dei documenti non si \
                 possono verificare. Avvisi l'amministratore."
                    .into(),
            ),
            E::Unreadable(cause) => AppError::BadRequest(format!("il messaggio archiviato non è leggibile: {cause}")),
            E::Invalid(f) => AppError::Field { status: StatusCode::UNPROCESSABLE_ENTITY, field: f.field, message: f.message },
            E::IdempotencyConflict(_) => AppError::Field {
                status: StatusCode::UNPROCESSABLE_ENTITY,
                field: "Idempotency-Key".into(),
                message: "questa chiave di idempotenza è già stata usata per una richiesta diversa".into(),
            },
            other => AppError::Internal(other.to_string()),
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    status: u16,
    title: &'static str,
    message: String,
}

impl AppError {
    /// Names the stored file a [`AppError::Blob`] is about (other errors pass unchanged).
    pub fn about(self, what: impl FnOnce() -> String) -> AppError {
        match self {
            AppError::Blob { hash, fault, reason, .. } => AppError::Blob { hash, fault, reason, what: Some(what()) },
            other => other,
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            AppError::NotFound => StatusCode::NOT_FOUND,
            AppError::Unauthenticated | AppError::ApiUnauthorized => StatusCode::UNAUTHORIZED,
            AppError::Forbidden | AppError::Csrf | AppError::Refused(_) => StatusCode::FORBIDDEN,
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::Field { status, .. } => *status,
            AppError::TooManyAttempts => StatusCode::TOO_MANY_REQUESTS,
            // The record exists (not 404) and nothing is broken in the program (not 500): the
            // server cannot give the file back until it is restored from the backup.
            AppError::Blob { .. } => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Store(_) | AppError::Template(_) | AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// What a failed request carries to [`report`]: the text for the person and, for a server
/// error, the cause for the log.
#[derive(Clone)]
pub(crate) struct Failure {
    message: String,
    cause: Option<String>,
    /// The request's field at fault, named in the API's JSON error.
    field: Option<String>,
    /// The cause is logged at warn, not error: a known state of the data (a damaged or
    /// missing stored file), not a failure of the program.
    expected: bool,
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = self.status();
        let cause = status.is_server_error().then(|| self.to_string());
        let (title, message) = match &self {
            AppError::NotFound => ("Pagina non trovata", "La pagina o il documento richiesto non esiste.".to_owned()),
            AppError::Unauthenticated => ("Accesso richiesto", "Per continuare è necessario accedere.".to_owned()),
            AppError::Forbidden => ("Operazione non consentita", "Il suo ruolo non consente questa operazione.".to_owned()),
            AppError::Csrf => (
                "Modulo scaduto",
                "Il modulo non è valido o è scaduto. Ricarichi la pagina e riprovi.".to_owned(),
            ),
            AppError::BadRequest(m) => ("Richiesta non valida", m.clone()),
            AppError::Field { field, message, .. } => ("Richiesta non valida", format!("{field}: {message}")),
            AppError::Refused(m) => ("Operazione non consentita", m.clone()),
            AppError::TooManyAttempts => (
                "Troppi tentativi",
                "Troppi tentativi di accesso non riusciti da questo indirizzo. Riprovi tra 15 minuti.".to_owned(),
            ),
            AppError::ApiUnauthorized => ("Token non valido", "token API mancante o non valido".to_owned()),
            AppError::Blob { hash, fault, what, .. } => {
                let what = what.as_deref().unwrap_or("Un file archiviato necessario a questa operazione");
                let (title, problem) = match fault {
                    Fault::Missing => ("File mancante nell'archivio", "il file non è più nell'archivio documentale"),
                    Fault::Damaged => (
                        "File danneggiato nell'archivio",
                        "il file archiviato non corrisponde più alla sua impronta SHA-256 (è stato alterato, o il disco è danneggiato)",
                    ),
                };
                (
                    title,
                    format!(
                        "{what} non è disponibile: {problem}. Impronta SHA-256: {hash}. Va ripristinato dal backup \
                         (il comando «sigillo blobs verify» elenca tutti i file da ripristinare): avvisi l'amministratore."
                    ),
                )
            }
            _ => ("Errore interno", "Si è verificato un errore interno. Riprovi; se il problema persiste avvisi l'amministratore.".to_owned()),
        };
        let page = ErrorPage { status: status.as_u16(), title, message: message.clone() };
        let mut res = match page.render() {
            Ok(html) => (status, axum::response::Html(html)).into_response(),
            Err(_) => (status, title).into_response(),
        };
        if matches!(self, AppError::ApiUnauthorized) {
            res.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer realm=\"sigillo\""),
            );
        }
        let field = match &self {
            AppError::Field { field, .. } => Some(field.clone()),
            _ => None,
        };
        let expected = matches!(self, AppError::Blob { .. });
        res.extensions_mut().insert(Failure { message, cause, field, expected });
        res
    }
}

/// Every failed request passes here, inside the request's span (method, path, request id):
/// a server error's cause is logged once, and under `/api/` the Italian page becomes a JSON
/// body `{"error": "…"}` with the same status and headers.
pub(crate) async fn report(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let api = req.uri().path().starts_with("/api/");
    let res = next.run(req).await;
    let Some(failure) = res.extensions().get::<Failure>().cloned() else {
        return res;
    };
    match &failure.cause {
        Some(cause) if failure.expected => tracing::warn!(status = res.status().as_u16(), error = %cause, "request failed"),
        Some(cause) => tracing::error!(status = res.status().as_u16(), error = %cause, "request failed"),
        None => {}
    }
    if !api {
        return res;
    }
    let (mut parts, _) = res.into_parts();
    parts.headers.remove(axum::http::header::CONTENT_TYPE);
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    let body = match &failure.field {
        Some(field) => axum::Json(serde_json::json!({ "error": failure.message, "field": field })).into_response(),
        None => axum::Json(serde_json::json!({ "error": failure.message })).into_response(),
    };
    let (json_parts, json_body) = body.into_parts();
    parts.headers.extend(json_parts.headers);
    Response::from_parts(parts, json_body)
}
