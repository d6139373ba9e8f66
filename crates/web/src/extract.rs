//! The dashboard's `Form`, `Query` and `Path` extractors: axum's, with two differences. A
//! rejection becomes the Italian 400 page (axum's own answer is English plain text such as
//! "Failed to deserialize form body: missing field `ufficio`"), and every submitted field
//! passes [`crate::text::check_field`] before the handler sees it.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::AppError;
use crate::text::{check_field, field_label};

/// The Italian message for a body or query that could not be read into the handler's type.
fn deserialize_error(what: &str, detail: &str) -> AppError {
    let field = |marker: &str| {
        let rest = detail.split(marker).nth(1)?;
        let rest = rest.strip_prefix('`')?;
        Some(rest.split('`').next()?.to_owned())
    };
    if let Some(f) = field("missing field ") {
        return AppError::BadRequest(format!("{what} è incompleto: manca il campo «{}».", field_label(&f)));
    }
    if let Some(f) = field("duplicate field ") {
        return AppError::BadRequest(format!("{what} contiene due volte il campo «{}».", field_label(&f)));
    }
    AppError::BadRequest(format!("{what} contiene un valore non valido. Ricarichi la pagina e riprovi."))
}

/// A form body (`application/x-www-form-urlencoded`).
pub struct Form<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Form<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, AppError> {
        use axum::extract::rejection::FormRejection as R;
        let axum::Form(pairs) = axum::Form::<Vec<(String, String)>>::from_request(req, state).await.map_err(|e| match e {
            R::InvalidFormContentType(_) => {
                AppError::BadRequest("Il modulo deve essere inviato come application/x-www-form-urlencoded.".into())
            }
            R::BytesRejection(_) => AppError::BadRequest("Il modulo inviato non si può leggere (troppo grande o interrotto).".into()),
            other => deserialize_error("Il modulo inviato", &other.body_text()),
        })?;
        Ok(Form(checked(pairs, "Il modulo inviato")?))
    }
}

/// A query string.
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, AppError> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(parts.uri.query().unwrap_or(""))
            .map_err(|e| deserialize_error("L'indirizzo richiesto", &e.to_string()))?;
        Ok(Query(checked(pairs, "L'indirizzo richiesto")?))
    }
}

/// Checks every field, then reads them into the handler's type.
fn checked<T: DeserializeOwned>(pairs: Vec<(String, String)>, what: &str) -> Result<T, AppError> {
    for (k, v) in &pairs {
        check_field(k, v)?;
    }
    let encoded = serde_urlencoded::to_string(&pairs).map_err(|e| AppError::Internal(e.to_string()))?;
    serde_urlencoded::from_str(&encoded).map_err(|e| deserialize_error(what, &e.to_string()))
}

/// Path parameters.
pub struct Path<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Path<T> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        let axum::extract::Path(v) = axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map_err(|_| AppError::BadRequest("L'indirizzo richiesto non è valido.".into()))?;
        Ok(Path(v))
    }
}
