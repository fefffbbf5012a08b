//! One error type per face: JSON for the API, a readable page for browsers. Internals are
//! logged and never shown.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use twofold_app::Error;
use twofold_app::domain::permissions::Denied;

/// Whether a request is for the JSON API (answered with JSON errors) rather than a page.
pub fn is_api_path(path: &str) -> bool {
    path.starts_with("/api/")
}

/// The status and the stable `code` of an application error.
pub fn classify(e: &Error) -> (StatusCode, &'static str) {
    match e {
        Error::InvalidCredentials => (StatusCode::UNAUTHORIZED, "invalid_credentials"),
        Error::Unauthenticated => (StatusCode::UNAUTHORIZED, "unauthenticated"),
        Error::AccountDeactivated => (StatusCode::UNAUTHORIZED, "account_deactivated"),
        Error::InvalidCode { .. } | Error::InvalidRecoveryCode => (StatusCode::UNAUTHORIZED, "invalid_code"),
        Error::InvalidSecurityKey => (StatusCode::UNAUTHORIZED, "invalid_credential"),
        Error::SecondFactorLocked => (StatusCode::FORBIDDEN, "second_factor_locked"),
        Error::Throttled { .. } => (StatusCode::TOO_MANY_REQUESTS, "too_many_attempts"),
        Error::Denied(Denied::NotFound) | Error::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
        Error::Denied(Denied::Forbidden) => (StatusCode::FORBIDDEN, "forbidden"),
        Error::Denied(Denied::OwnerProtected) => (StatusCode::FORBIDDEN, "owner_protected"),
        Error::LinkInvalid => (StatusCode::NOT_FOUND, "link_invalid"),
        Error::LinkExpired | Error::SetupLinkEnded => (StatusCode::GONE, "link_expired"),
        Error::Refused { code, .. } => (StatusCode::FORBIDDEN, code),
        Error::Conflict { code, .. } => (StatusCode::CONFLICT, code),
        Error::Invalid { code, .. } => (StatusCode::UNPROCESSABLE_ENTITY, code),
        Error::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "database_unavailable"),
        Error::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
    }
}

/// The sentence shown to people; internal details stay in the log.
pub fn message(e: &Error) -> String {
    match e {
        Error::Internal(detail) => {
            tracing::error!(error = %detail, "request failed");
            "Something went wrong on our side. Try again; if it keeps happening, tell your administrator.".into()
        }
        other => other.to_string(),
    }
}

fn retry_after(e: &Error) -> Option<i64> {
    match e {
        Error::Throttled { retry_after } => Some(*retry_after),
        _ => None,
    }
}

/// An error answered as `{"error": {"code", "message", …}}`.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub retry_after: Option<i64>,
    pub clock_offset: Option<i64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), retry_after: None, clock_offset: None }
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        let (status, code) = classify(&e);
        let clock_offset = match e {
            Error::InvalidCode { clock_offset_seconds, .. } => clock_offset_seconds,
            _ => None,
        };
        Self { status, code, message: message(&e), retry_after: retry_after(&e), clock_offset }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({ "error": { "code": self.code, "message": self.message } });
        if let Some(obj) = body.get_mut("error") {
            if let Some(seconds) = self.retry_after {
                obj["retry_after_seconds"] = json!(seconds);
            }
            if let Some(offset) = self.clock_offset {
                obj["clock_offset_seconds"] = json!(offset);
            }
        }
        let mut response = (self.status, Json(body)).into_response();
        if let Some(value) = self.retry_after.and_then(|s| HeaderValue::from_str(&s.to_string()).ok()) {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
