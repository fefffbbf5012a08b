//! SCIM 2.0 at `/scim/v2` (RFC 7644): discovery, Users and Groups, for an account token
//! with the `scim` scope. Everything answers `application/scim+json`, errors included
//! (RFC 7644 §3.12), so a directory never sees Twofold's own error shape.

mod discovery;
mod resources;

use std::collections::HashMap;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use twofold_app::Error;
use twofold_app::domain::api_token::Scope;
use twofold_app::domain::permissions::Denied;
use twofold_app::domain::scim::{LIST_SCHEMA, ScimError};
use twofold_app::scim::ListPage;
use twofold_app::tokens::TokenCaller;

use crate::AppState;

/// Where SCIM lives.
pub const BASE_PATH: &str = "/scim/v2";
/// A group of 10,000 people sent whole by PUT is about 600 KB.
const MAX_SCIM_BODY_BYTES: usize = 2 * 1024 * 1024;
const MEDIA_TYPE: &str = "application/scim+json";

pub fn router() -> Router<AppState> {
    Router::new()
        .merge(discovery::router())
        .merge(resources::router())
        .layer(DefaultBodyLimit::max(MAX_SCIM_BODY_BYTES))
}

/// A SCIM answer: a status and a JSON body, as `application/scim+json`.
pub struct Scim(pub StatusCode, pub Value);

impl IntoResponse for Scim {
    fn into_response(self) -> Response {
        let mut response = (self.0, axum::Json(self.1)).into_response();
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(MEDIA_TYPE));
        response
    }
}

/// An error as SCIM sends it.
pub struct ScimFailure(ScimError);

impl IntoResponse for ScimFailure {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.0.status).unwrap_or(StatusCode::BAD_REQUEST);
        let mut response = Scim(status, self.0.to_json()).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"scim\""));
        }
        response
    }
}

impl From<ScimError> for ScimFailure {
    fn from(e: ScimError) -> Self {
        ScimFailure(e)
    }
}

/// The SCIM types a use case's `Invalid` may carry; any other code is an invalidValue.
const SCIM_TYPES: [&str; 8] = [
    "invalidFilter",
    "tooMany",
    "uniqueness",
    "mutability",
    "invalidSyntax",
    "invalidPath",
    "noTarget",
    "invalidValue",
];

impl From<Error> for ScimFailure {
    fn from(e: Error) -> Self {
        let message = crate::error::message(&e);
        ScimFailure(match e {
            Error::Invalid { code, message } => {
                let scim_type = SCIM_TYPES.into_iter().find(|t| *t == code).unwrap_or("invalidValue");
                ScimError::bad_request(scim_type, message)
            }
            Error::Conflict { message, .. } => ScimError::new(409, Some("uniqueness"), message),
            Error::Denied(Denied::NotFound) | Error::NotFound(_) => ScimError::new(404, None, message),
            Error::Denied(Denied::OwnerProtected) => ScimError::new(403, None, "owner_protected"),
            Error::Denied(Denied::Forbidden) | Error::Refused { .. } => ScimError::new(403, None, message),
            Error::Throttled { .. } => ScimError::new(429, None, message),
            Error::Unavailable => ScimError::new(503, None, message),
            Error::Unauthenticated | Error::InvalidCredentials => ScimError::new(401, None, message),
            other => {
                let (status, _) = crate::error::classify(&other);
                ScimError::new(status.as_u16(), None, message)
            }
        })
    }
}

pub type ScimResult<T = Scim> = Result<T, ScimFailure>;

/// The directory: an account token with the `scim` scope, in the `Authorization` header.
pub struct Directory(pub TokenCaller);

impl FromRequestParts<AppState> for Directory {
    type Rejection = ScimFailure;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let unauthorized = || {
            ScimFailure(ScimError::new(401, None, "Send an API token with the scim scope as Authorization: Bearer."))
        };
        let raw = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or_else(unauthorized)?;
        let caller = state.app.token_caller(raw).await.map_err(ScimFailure::from)?.ok_or_else(unauthorized)?;
        if !caller.allows(Scope::Scim) {
            return Err(ScimFailure(ScimError::new(403, None, "This token does not have the scim scope.")));
        }
        Ok(Directory(caller))
    }
}

/// The base URL resources are located under.
fn base_url(state: &AppState) -> String {
    format!("{}{BASE_PATH}", state.app.config().public_url.trim_end_matches('/'))
}

/// A request body as JSON: too large answers 413, not JSON `invalidSyntax`, both as SCIM
/// errors.
pub struct ScimBody(pub Value);

impl<S: Send + Sync> axum::extract::FromRequest<S> for ScimBody {
    type Rejection = ScimFailure;

    async fn from_request(request: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|e| ScimFailure(ScimError::new(e.status().as_u16(), None, e.body_text())))?;
        serde_json::from_slice(&bytes)
            .map(ScimBody)
            .map_err(|e| ScimFailure(ScimError::bad_request("invalidSyntax", format!("The body is not JSON: {e}"))))
    }
}

/// The query parameters, by name without case.
struct Query(HashMap<String, String>);

impl Query {
    fn of(params: HashMap<String, String>) -> Query {
        Query(params.into_iter().map(|(k, v)| (k.to_ascii_lowercase(), v)).collect())
    }

    /// A SearchRequest body as the same parameters.
    fn of_search(body: &Value) -> ScimResult<Query> {
        let Value::Object(fields) = body else {
            return Err(ScimFailure(ScimError::bad_request("invalidSyntax", "A search is a JSON object.")));
        };
        let mut params = HashMap::new();
        for (key, value) in fields {
            let text = match value {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Array(items) => items.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(","),
                _ => continue,
            };
            params.insert(key.clone(), text);
        }
        Ok(Query::of(params))
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0.get(&name.to_ascii_lowercase()).map(String::as_str)
    }

    fn number(&self, name: &str) -> ScimResult<Option<i64>> {
        self.get(name)
            .map(|v| {
                v.trim().parse::<i64>().map_err(|_| {
                    ScimFailure(ScimError::bad_request("invalidValue", format!("{name} is a whole number.")))
                })
            })
            .transpose()
    }

    /// `attributes` and `excludedAttributes` applied to a resource (top-level names; `id`
    /// and `schemas` always stay).
    fn project(&self, mut resource: Value) -> Value {
        let names = |param: &str| -> Option<Vec<String>> {
            self.get(param).map(|v| {
                v.split(',')
                    .map(|n| twofold_app::domain::scim::strip_schema(n.trim()))
                    .map(|n| n.split('.').next().unwrap_or(n).to_ascii_lowercase())
                    .collect()
            })
        };
        let (only, excluded) = (names("attributes"), names("excludedAttributes"));
        if let Value::Object(object) = &mut resource {
            object.retain(|key, _| {
                let key = key.to_ascii_lowercase();
                if key == "id" || key == "schemas" {
                    return true;
                }
                only.as_ref().is_none_or(|only| only.contains(&key))
                    && excluded.as_ref().is_none_or(|excluded| !excluded.contains(&key))
            });
        }
        resource
    }
}

/// A `ListResponse`.
fn list_response(page: ListPage, query: &Query) -> Scim {
    let resources: Vec<Value> = page.resources.into_iter().map(|r| query.project(r)).collect();
    Scim(
        StatusCode::OK,
        serde_json::json!({
            "schemas": [LIST_SCHEMA],
            "totalResults": page.total,
            "startIndex": page.start_index,
            "itemsPerPage": resources.len(),
            "Resources": resources,
        }),
    )
}
