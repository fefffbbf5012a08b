//! Ids in paths: positive integers; anything else names nothing. The rule lives here once,
//! for pages (which answer their own not-found page) and for the API ([`PathId`]).

use axum::extract::{FromRequestParts, Path};
use axum::http::StatusCode;
use axum::http::request::Parts;

use crate::error::ApiError;

/// The id in `raw`, if it is one.
pub fn parse(raw: &str) -> Option<i64> {
    raw.parse::<i64>().ok().filter(|id| *id > 0)
}

/// The `{id}` of an API route; a malformed id answers 404, as an unknown one does.
pub struct PathId(pub i64);

impl<S: Send + Sync> FromRequestParts<S> for PathId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let not_found = || ApiError::new(StatusCode::NOT_FOUND, "not_found", "No such person.");
        let Path(raw) = Path::<String>::from_request_parts(parts, state).await.map_err(|_| not_found())?;
        parse(&raw).map(PathId).ok_or_else(not_found)
    }
}
