//! The read-only JSON API for other back-office systems, and its OpenAPI document.

use axum::Json;
use axum::extract::State;

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
    serde_json::to_value(r).map(Json).map_err(|e| AppError::Internal(e.to_string()))
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
            "description": "Read-only access to the protocol register for other back-office systems. \
                            Authenticate with `Authorization: Bearer <token>`; tokens are created by an amministratore."
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
                        "subject": {"type": "string"}, "annulled": {"type": "boolean"}}},
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
