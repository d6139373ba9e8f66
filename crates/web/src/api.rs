//! The JSON API for other back-office systems (reading the register, and registering with a
//! `write` token), and its OpenAPI document.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use sigillo_protocol::SystemClock;
use sigillo_protocol::desk::{self, CorrespondentInput, Desk, DeskInput, Idempotency, Upload};
use sigillo_store::register::{Actor, Channel, Direction, PaperDelivery, Sha256};

use crate::auth::ApiCaller;

use crate::extract::{Path, Query};
use crate::text::{FreeText, TextKind};
use serde::Deserialize;
use serde_json::{Value, json};
use sigillo_store::ids::RegistrationId;
use sigillo_store::browse::{self, ListFilter, SearchText};
use sigillo_store::export::{Period, period_bounds};

use crate::pages::{parse_date, parse_id};
use crate::{AppError, AppState};

#[derive(Debug, Default, Deserialize)]
pub struct ApiListQuery {
    q: Option<String>,
    from: Option<String>,
    to: Option<String>,
    before: Option<String>,
    limit: Option<String>,
}

pub async fn list(State(state): State<AppState>, Query(q): Query<ApiListQuery>) -> Result<Json<Value>, AppError> {
    let register = state.register();
    let mut filter = ListFilter { text: SearchText::parse(FreeText::parse("q", TextKind::Search, q.q.as_deref().unwrap_or(""))?.as_str())?, ..ListFilter::default() };
    if let Some(d) = parse_date("from", q.from.as_deref())? {
        filter.from = Some(period_bounds(register, Period::Day(d))?.0);
    }
    if let Some(d) = parse_date("to", q.to.as_deref())? {
        filter.to = Some(period_bounds(register, Period::Day(d))?.1);
    }
    filter.before_id = match q.before.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(b) => Some(b.parse::<i64>().map(RegistrationId::new).map_err(|_| AppError::BadRequest("before: not an id".into()))?),
    };
    let limit = match q.limit.as_deref().filter(|s| !s.is_empty()) {
        None => 50,
        Some(l) => l.parse::<i64>().ok().filter(|n| (1..=500).contains(n)).ok_or_else(|| AppError::BadRequest("limit: 1 to 500".into()))?,
    };
    let mut conn = state.pool().acquire().await?;
    let (items, next) = browse::list(&mut conn, register, &filter, limit).await?;
    Ok(Json(json!({ "items": items, "next_before": next })))
}

pub async fn show(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<Value>, AppError> {
    let id = RegistrationId::new(parse_id(&id)?);
    let mut conn = state.pool().acquire().await?;
    let r = browse::registration(&mut conn, state.register(), id).await?;
    let class = sigillo_store::titolario::class_of(&mut conn, id).await?;
    let fascicoli = sigillo_store::fascicolo::of_registration(&mut conn, id).await?;
    let mut v = serde_json::to_value(r).map_err(|e| AppError::Internal(e.to_string()))?;
    if let Some(m) = v.as_object_mut() {
        m.insert(
            "classification".into(),
            class.map_or(Value::Null, |c| json!({"code": c.code, "description": c.description, "titolario": c.version})),
        );
        m.insert(
            "fascicoli".into(),
            fascicoli
                .iter()
                .map(|f| json!({"id": f.id, "identifier": f.identifier.to_string(), "subject": f.subject}))
                .collect(),
        );
    }
    Ok(Json(v))
}

pub async fn documents(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<Value>, AppError> {
    let id = RegistrationId::new(parse_id(&id)?);
    let mut conn = state.pool().acquire().await?;
    let r = browse::registration(&mut conn, state.register(), id).await?;
    Ok(Json(json!({ "registration_id": id, "documents": r.documents })))
}

/// The OpenAPI 3.1 description of this API.
pub async fn openapi() -> Json<Value> {
    let id_param = json!({"name": "id", "in": "path", "required": true, "schema": {"type": "integer", "minimum": 1}});
    let errors = json!({
        "401": {"description": "missing or wrong API token"},
        "404": {"description": "no such registration in this register"}
    });
    Json(json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Sigillo — API di consultazione del protocollo",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Access to the protocol register for other back-office systems (SUAP, tributi, …). \
                            Authenticate with `Authorization: Bearer <token>`; tokens are created by an amministratore \
                            (dashboard, or `sigillo token add NAME --scope read|write`). A `read` token reads; a `write` \
                            token also registers (`POST /api/v1/registrations`), in the same register and numbering as \
                            the PEC intake. Errors are `{\"error\": \"…\"}`, with `field` naming the request field at fault."
        },
        "components": {
            "securitySchemes": {"token": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Registration": {"type": "object", "required": ["id", "year", "number", "segnatura", "registered_at", "subject"],
                    "properties": {
                        "id": {"type": "integer"}, "year": {"type": "integer"},
                        "number": {"type": "string", "pattern": "^[0-9]{7,}$"},
                        "segnatura": {"type": "string"}, "registered_at": {"type": "string", "format": "date-time"},
                        "correspondent_name": {"type": ["string", "null"]}, "correspondent_address": {"type": ["string", "null"]},
                        "subject": {"type": "string"}, "annulled": {"type": "boolean"},
                        "direction": {"enum": ["incoming", "outgoing", "internal"]},
                        "channel": {"enum": ["pec", "peo", "carta", "fax", "altro"]},
                        "paper_delivery": {"enum": ["consegna_a_mano", "posta", "raccomandata", null],
                            "description": "one registration only (GET /api/v1/registrations/{id})"},
                        "paper_attachments": {"type": "integer", "description": "one registration only"},
                        "correspondents": {"type": "array", "items": {"$ref": "#/components/schemas/Correspondent"},
                            "description": "one registration only"},
                        "classification": {"type": ["object", "null"], "description": "one registration only: its class now, null while da classificare",
                            "properties": {"code": {"type": "string", "example": "VI.3"}, "description": {"type": "string"},
                                "titolario": {"type": "string", "description": "the name of the titolario version"}}},
                        "fascicoli": {"type": "array", "description": "one registration only: the fascicoli it sits in, in the order it was added to them",
                            "items": {"$ref": "#/components/schemas/FascicoloRef"}}}},
                "FascicoloRef": {"type": "object", "required": ["id", "identifier", "subject"], "properties": {
                    "id": {"type": "integer"},
                    "identifier": {"type": "string", "example": "VI.3/2026.4",
                        "description": "<classifica>/<anno>.<numero>: the class of the titolario, the year of opening, the number in that class and year"},
                    "subject": {"type": "string"}}},
                "Correspondent": {"type": "object", "required": ["name"], "additionalProperties": false, "properties": {
                    "name": {"type": "string", "maxLength": 300},
                    "tax_code": {"type": ["string", "null"], "description": "codice fiscale (16 characters) or partita IVA (11 digits), checked with its check character"},
                    "address": {"type": ["string", "null"], "maxLength": 500, "description": "postal address, or e-mail / PEC address (required for channels pec and peo)"}}},
                "NewRegistration": {"type": "object", "required": ["direction", "channel", "subject"], "additionalProperties": false,
                    "properties": {
                        "direction": {"enum": ["arrivo", "partenza", "interno"]},
                        "channel": {"enum": ["pec", "peo", "carta", "fax", "altro"]},
                        "paper_delivery": {"enum": ["consegna_a_mano", "posta", "raccomandata"], "description": "required for channel carta, refused otherwise"},
                        "subject": {"type": "string", "maxLength": 2000},
                        "received_at": {"type": "string", "description": "arrivo only: RFC 3339 date-time, or a date (midnight in the register's time zone)"},
                        "sender_protocol_number": {"type": "string", "maxLength": 100},
                        "sender_protocol_date": {"type": "string", "format": "date"},
                        "correspondents": {"type": "array", "maxItems": 100, "items": {"$ref": "#/components/schemas/Correspondent"},
                            "description": "the sender (arrivo) or the recipients (partenza); at least one unless interno"},
                        "paper_attachments": {"type": "integer", "minimum": 0, "maximum": 9999},
                        "classification": {"type": "string", "maxLength": 32, "example": "VI.3",
                            "description": "the flat code (titolo.classe[.sottoclasse]) of an entry without children in the titolario version in force on the registration's day; an unknown code is refused with 422 and field classification. Omitted: the registration is listed as da classificare"},
                        "documents": {"type": "array", "maxItems": 50, "description": "the first is the primary document; 50 MB in all",
                            "items": {"type": "object", "required": ["name", "media_type", "content"], "additionalProperties": false, "properties": {
                                "name": {"type": "string", "maxLength": 255},
                                "media_type": {"type": "string", "example": "application/pdf"},
                                "content": {"type": "string", "contentEncoding": "base64"}}}}}},
                "Created": {"type": "object", "required": ["id", "protocol"], "properties": {
                    "id": {"type": "integer"},
                    "protocol": {"type": "object", "required": ["number", "year", "register", "date", "segnatura"], "properties": {
                        "number": {"type": "string", "pattern": "^[0-9]{7,}$"}, "year": {"type": "integer"},
                        "register": {"type": "string"}, "date": {"type": "string", "format": "date"},
                        "registered_at": {"type": "string", "format": "date-time"}, "segnatura": {"type": "string"}}}}},
                "Error": {"type": "object", "required": ["error"], "properties": {
                    "error": {"type": "string"}, "field": {"type": "string", "description": "the request field at fault, e.g. correspondents[0].tax_code"}}},
                "Document": {"type": "object", "properties": {
                    "id": {"type": "integer"}, "ordinal": {"type": "integer"}, "name": {"type": "string"},
                    "media_type": {"type": "string"}, "size_bytes": {"type": "integer"},
                    "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"}, "role": {"enum": ["primary", "attachment"]},
                    "signature_report": {"type": ["object", "null"]}}}
            }
        },
        "security": [{"token": []}],
        "paths": {
            "/api/v1/registrations": {"get": {
                "summary": "Registrations, newest first (keyset pagination with `before`)",
                "parameters": [
                    {"name": "q", "in": "query", "schema": {"type": "string", "maxLength": 200}},
                    {"name": "from", "in": "query", "schema": {"type": "string", "format": "date"}},
                    {"name": "to", "in": "query", "schema": {"type": "string", "format": "date"}},
                    {"name": "before", "in": "query", "schema": {"type": "integer"}},
                    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 500}}
                ],
                "responses": {"200": {"description": "a page", "content": {"application/json": {"schema": {"type": "object",
                    "properties": {"items": {"type": "array", "items": {"$ref": "#/components/schemas/Registration"}},
                                   "next_before": {"type": ["integer", "null"]}}}}}}, "401": errors["401"]}
            }, "post": {
                "summary": "Register a document (token of scope write): the next number of the register, in the same transaction rules as the PEC intake",
                "parameters": [{"name": "Idempotency-Key", "in": "header", "required": true,
                    "description": "unique per registration (e.g. a UUID); the same key with the same body gives back the same registration (200) and takes no new number",
                    "schema": {"type": "string", "minLength": 1, "maxLength": 255}}],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/NewRegistration"}}}},
                "responses": {
                    "201": {"description": "registered", "headers": {"Location": {"schema": {"type": "string"}}},
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Created"}}}},
                    "200": {"description": "the same Idempotency-Key and body again: the registration made the first time",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Created"}}}},
                    "400": {"description": "missing Idempotency-Key or a body that is not JSON; no number taken",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
                    "401": errors["401"],
                    "403": {"description": "the token has scope read", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
                    "422": {"description": "a field refused (named in `field`), or the Idempotency-Key already used with a different body; no number taken",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}}
            }},
            "/api/v1/registrations/{id}": {"get": {
                "summary": "One registration with its documents, annulment and source message",
                "parameters": [id_param],
                "responses": {"200": {"description": "the registration", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Registration"}}}},
                              "401": errors["401"], "404": errors["404"]}
            }},
            "/api/v1/registrations/{id}/documents": {"get": {
                "summary": "The documents of a registration, with their signature reports",
                "parameters": [id_param],
                "responses": {"200": {"description": "the documents", "content": {"application/json": {"schema": {"type": "object",
                    "properties": {"registration_id": {"type": "integer"}, "documents": {"type": "array", "items": {"$ref": "#/components/schemas/Document"}}}}}}},
                              "401": errors["401"], "404": errors["404"]}
            }}
        }
    }))
}

/// Largest body of `POST /api/v1/registrations`: the documents in base64 (4/3 of their
/// size) plus the fields.
pub const CREATE_LIMIT: usize = sigillo_protocol::desk::MAX_DOCUMENTS_BYTES / 3 * 4 + (2 << 20);

fn field(status: StatusCode, field: impl Into<String>, message: impl Into<String>) -> AppError {
    AppError::Field { status, field: field.into(), message: message.into() }
}

fn unprocessable(name: impl Into<String>, message: impl Into<String>) -> AppError {
    field(StatusCode::UNPROCESSABLE_ENTITY, name, message)
}

/// The value with every object's keys in order, so that the same request written with its
/// keys in another order or other spacing hashes the same.
fn canonical(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            Value::Object(keys.into_iter().map(|k| (k.clone(), canonical(&m[k]))).collect())
        }
        Value::Array(a) => Value::Array(a.iter().map(canonical).collect()),
        other => other.clone(),
    }
}

/// The members of a JSON object, refusing any key not in `known` (a typo such as `subjet`
/// must not silently register without a subject).
fn object<'a>(path: &str, v: &'a Value, known: &[&str]) -> Result<&'a serde_json::Map<String, Value>, AppError> {
    let m = v.as_object().ok_or_else(|| unprocessable(if path.is_empty() { "body" } else { path }, "deve essere un oggetto JSON"))?;
    for k in m.keys() {
        if !known.contains(&k.as_str()) {
            let name = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
            return Err(unprocessable(name, "campo sconosciuto"));
        }
    }
    Ok(m)
}

fn opt_str<'a>(m: &'a serde_json::Map<String, Value>, path: &str, key: &str) -> Result<Option<&'a str>, AppError> {
    let name = || if path.is_empty() { key.to_owned() } else { format!("{path}.{key}") };
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(_) => Err(unprocessable(name(), "deve essere una stringa")),
    }
}

fn req_str<'a>(m: &'a serde_json::Map<String, Value>, path: &str, key: &str) -> Result<&'a str, AppError> {
    let name = if path.is_empty() { key.to_owned() } else { format!("{path}.{key}") };
    opt_str(m, path, key)?.ok_or_else(|| unprocessable(name, "campo obbligatorio"))
}

fn opt_array<'a>(m: &'a serde_json::Map<String, Value>, key: &str) -> Result<&'a [Value], AppError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(a)) => Ok(a),
        Some(_) => Err(unprocessable(key, "deve essere un elenco (array)")),
    }
}

/// The request body as the desk's input.
fn desk_input(body: &Value, tz: chrono_tz::Tz) -> Result<DeskInput, AppError> {
    use base64::Engine as _;
    let m = object(
        "",
        body,
        &[
            "direction", "channel", "paper_delivery", "subject", "received_at", "sender_protocol_number",
            "sender_protocol_date", "correspondents", "classification", "documents", "paper_attachments",
        ],
    )?;
    let direction = req_str(m, "", "direction")?;
    let direction = Direction::parse_it(direction)
        .ok_or_else(|| unprocessable("direction", format!("«{direction}» non è arrivo, partenza o interno")))?;
    let channel = req_str(m, "", "channel")?;
    let channel = Channel::parse(channel)
        .ok_or_else(|| unprocessable("channel", format!("«{channel}» non è pec, peo, carta, fax o altro")))?;
    let paper_delivery = match opt_str(m, "", "paper_delivery")? {
        None => None,
        Some(p) => Some(PaperDelivery::parse(p).ok_or_else(|| {
            unprocessable("paper_delivery", format!("«{p}» non è consegna_a_mano, posta o raccomandata"))
        })?),
    };
    // Checked against the titolario in force by the desk, before any number is taken.
    let classification = opt_str(m, "", "classification")?.map(str::to_owned);
    let received_at = match opt_str(m, "", "received_at")? {
        None => None,
        Some(s) => Some(parse_instant(s, tz).ok_or_else(|| {
            unprocessable("received_at", format!("«{s}» non è una data e ora ISO 8601 (2026-12-06T10:30:00+01:00) né una data (2026-12-06)"))
        })?),
    };
    let sender_protocol_date = match opt_str(m, "", "sender_protocol_date")? {
        None => None,
        Some(s) => Some(
            chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .map_err(|_| unprocessable("sender_protocol_date", format!("«{s}» non è una data AAAA-MM-GG")))?,
        ),
    };
    let paper_attachments = match m.get("paper_attachments") {
        None | Some(Value::Null) => 0,
        Some(v) => v.as_i64().ok_or_else(|| unprocessable("paper_attachments", "deve essere un numero intero"))?,
    };
    let mut correspondents = Vec::new();
    for (i, c) in opt_array(m, "correspondents")?.iter().enumerate() {
        let path = format!("correspondents[{i}]");
        let cm = object(&path, c, &["name", "tax_code", "address"])?;
        correspondents.push(CorrespondentInput {
            name: opt_str(cm, &path, "name")?.unwrap_or_default().to_owned(),
            tax_code: opt_str(cm, &path, "tax_code")?.map(str::to_owned),
            address: opt_str(cm, &path, "address")?.map(str::to_owned),
        });
    }
    let mut documents = Vec::new();
    for (i, d) in opt_array(m, "documents")?.iter().enumerate() {
        let path = format!("documents[{i}]");
        let dm = object(&path, d, &["name", "media_type", "content"])?;
        let content = req_str(dm, &path, "content")?;
        let content = base64::engine::general_purpose::STANDARD
            .decode(content.trim())
            .map_err(|e| unprocessable(format!("{path}.content"), format!("non è base64 valido: {e}")))?;
        documents.push(Upload {
            name: req_str(dm, &path, "name")?.to_owned(),
            media_type: req_str(dm, &path, "media_type")?.to_owned(),
            content,
        });
    }
    Ok(DeskInput {
        direction,
        channel,
        paper_delivery,
        subject: req_str(m, "", "subject")?.to_owned(),
        received_at,
        sender_protocol_number: opt_str(m, "", "sender_protocol_number")?.map(str::to_owned),
        sender_protocol_date,
        correspondents,
        paper_attachments,
        documents,
        classification,
    })
}

/// An RFC 3339 instant, or a date meaning its midnight in the register's time zone.
fn parse_instant(s: &str, tz: chrono_tz::Tz) -> Option<chrono::DateTime<chrono::Utc>> {
    use chrono::TimeZone as _;
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s.trim()) {
        return Some(t.with_timezone(&chrono::Utc));
    }
    let d = chrono::NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok()?;
    tz.from_local_datetime(&d.and_time(chrono::NaiveTime::MIN)).earliest().map(|t| t.with_timezone(&chrono::Utc))
}

/// The `Idempotency-Key` header: required, visible ASCII, 1 to 255 characters.
fn idempotency_key(headers: &HeaderMap) -> Result<String, AppError> {
    let bad = |m: &str| field(StatusCode::BAD_REQUEST, "Idempotency-Key", m);
    let v = headers.get("idempotency-key").ok_or_else(|| bad("intestazione obbligatoria: una chiave unica per ogni registrazione"))?;
    let v = v.to_str().map_err(|_| bad("solo caratteri ASCII visibili"))?.trim();
    if v.is_empty() || v.len() > sigillo_store::idempotency::MAX_KEY_CHARS || !v.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(bad("da 1 a 255 caratteri ASCII visibili, senza spazi"));
    }
    Ok(v.to_owned())
}

/// `POST /api/v1/registrations`: a back-office system registers a document.
pub async fn create(
    State(state): State<AppState>,
    ApiCaller(client): ApiCaller,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, AppError> {
    let key = idempotency_key(&headers)?;
    let value: Value = serde_json::from_slice(&body)
        .map_err(|e| field(StatusCode::BAD_REQUEST, "body", format!("il corpo della richiesta non è JSON valido: {e}")))?;
    let request_sha256 = Sha256::of(&serde_json::to_vec(&canonical(&value)).map_err(|e| AppError::Internal(e.to_string()))?);
    let register = state.register();
    let input = desk_input(&value, register.timezone)?;
    let actor = Actor::parse(&format!("api:{}", client.name))?;
    let ctx = Desk { pool: state.pool(), blobs: state.blobs(), register, checker: state.desk_checker(), clock: &SystemClock };
    let idem = Idempotency { token_id: client.id, key, request_sha256 };
    let outcome = desk::register(&ctx, &actor, input, Some(&idem)).await?;
    let status = match outcome {
        desk::Outcome::Created(_) => StatusCode::CREATED,
        desk::Outcome::Replayed(_) => StatusCode::OK,
    };
    let r = outcome.registration();
    let body = json!({
        "id": r.id,
        "protocol": {
            "number": r.number,
            "year": r.year,
            "register": register.code.to_string(),
            "date": r.registered_at.with_timezone(&register.timezone).date_naive().format("%Y-%m-%d").to_string(),
            "registered_at": r.registered_at,
            "segnatura": r.segnatura,
        }
    });
    let location = format!("/api/v1/registrations/{}", r.id);
    Ok((status, [(axum::http::header::LOCATION, location)], Json(body)).into_response())
}
