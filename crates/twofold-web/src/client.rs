//! Who is asking: the client address and user agent, for the audit log.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header;
use axum::http::request::Parts;
use twofold_app::RequestContext;

use crate::AppState;

/// The request's [`RequestContext`], extracted from the connection and headers.
pub struct Client(pub RequestContext);

impl FromRequestParts<AppState> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip().to_string());
        let forwarded = state
            .web
            .trust_forwarded_for
            .then(|| parts.headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()))
            .flatten()
            .and_then(|v| v.rsplit(',').next())
            .map(|ip| ip.trim().chars().take(64).collect::<String>());
        let user_agent = parts.headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok());
        Ok(Client(RequestContext::new(forwarded.or(peer), user_agent)))
    }
}
