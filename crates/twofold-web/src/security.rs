//! Request-wide protections: cross-origin checks for unsafe methods (SEC-25) and the
//! security headers on every answer.

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::AppState;
use crate::error::ApiError;

/// Refuses unsafe requests that a browser says come from another site. The per-session
/// CSRF token is checked on top of this by the session extractors; this layer also
/// protects the forms shown before sign-in.
pub async fn check_origin(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let exempt = crate::oidc::accepts_cross_site_post(request.uri().path());
    if is_safe(request.method()) || exempt || same_origin(&state, &request) {
        return next.run(request).await;
    }
    tracing::warn!(method = %request.method(), path = %without_tokens(request.uri().path()), "cross-site request refused");
    ApiError::new(StatusCode::FORBIDDEN, "cross_site_request", "This request came from another site and was refused.")
        .into_response()
}

/// A path fit for the log: segments shaped like our one-time tokens (reset, invitation and
/// setup links) are replaced, so that a refused request does not write a live link (SEC-31).
fn without_tokens(path: &str) -> String {
    path.split('/')
        .map(|segment| if twofold_app::domain::token::is_well_formed(segment) { "<token>" } else { segment })
        .collect::<Vec<_>>()
        .join("/")
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

fn same_origin(state: &AppState, request: &Request) -> bool {
    let headers = request.headers();
    // Browsers send `Origin: null` from privacy-sensitive contexts; Fetch Metadata decides then.
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()).filter(|o| *o != "null");
    if let Some(origin) = origin {
        let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
        let public = state.app.config().public_url.trim_end_matches('/');
        let origin_host = origin.split_once("://").map(|(_, h)| h);
        return origin == public || (origin_host.is_some() && origin_host == host);
    }
    // Browsers that send no Origin still send Fetch Metadata; clients that send neither
    // (curl, server-to-server) are not browsers and carry no ambient cookies to abuse.
    match headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        Some(site) => site == "same-origin" || site == "none",
        None => true,
    }
}

/// The Content-Security-Policy of every answer. `form-action` covers where a form's
/// redirects end too (browsers enforce it on the whole chain), so the hosts forward auth
/// protects are listed: signing in from one ends with a redirect back to it.
pub fn content_security_policy(protected_hosts: &[&str]) -> HeaderValue {
    let mut form_action = String::from("'self'");
    for host in protected_hosts {
        form_action.push_str(&format!(" {host}:*"));
    }
    let csp = format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; \
         form-action {form_action}; frame-ancestors 'none'; base-uri 'none'"
    );
    // Hosts were checked to be letters, digits, dots and dashes when the rules were read.
    HeaderValue::from_str(&csp).unwrap_or_else(|_| HeaderValue::from_static("default-src 'none'"))
}

/// Security headers on every answer, and `no-store` on everything but static assets and
/// answers that chose their own caching (the public discovery and JWKS documents), so that
/// no page of a signed-in person lingers in a cache.
pub async fn headers(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let is_static = request.uri().path().starts_with("/static/");
    let mut response = next.run(request).await;
    let status = response.status();
    let h = response.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, state.csp.clone());
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    // Links carry one-time tokens: never send them to another site. (`no-referrer` would
    // also make browsers send `Origin: null` on our own forms.)
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    h.insert("cross-origin-opener-policy", HeaderValue::from_static("same-origin"));
    h.insert("permissions-policy", HeaderValue::from_static("camera=(), microphone=(), geolocation=()"));
    if !is_static && !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    // A refused body is left unread: the connection cannot carry another request, and
    // saying so lets the client open a new one instead of finding it closed.
    if matches!(status, StatusCode::PAYLOAD_TOO_LARGE | StatusCode::REQUEST_TIMEOUT) {
        h.insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}
