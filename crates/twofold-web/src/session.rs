//! Finding the session behind the cookie once per request, and the extractors that demand
//! one: signed in for the API (with its CSRF header) and for pages (redirecting).

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use subtle_eq::constant_time_eq;
use twofold_app::domain::assurance::{Need, Outcome};
use twofold_app::sign_in::{CurrentSession, PendingSignIn};

use crate::AppState;
use crate::cookies;
use crate::error::ApiError;

/// The live session of this request, if any, put in the request's extensions by [`load`].
#[derive(Clone)]
pub struct Slot(pub Option<CurrentSession>);

/// Looks the cookie up once; every extractor below reads the result.
pub async fn load(State(state): State<AppState>, jar: CookieJar, mut request: Request, next: Next) -> Response {
    // The forward-auth checks read the cookie themselves, in one statement: no second lookup.
    let path = request.uri().path();
    if path.starts_with("/api/v1/authz/") || crate::oidc::is_sessionless(path) {
        return next.run(request).await;
    }
    let raw = jar.get(cookies::session_name(&state.app)).map(|c| c.value().to_owned());
    let current = match raw {
        Some(raw) => match state.app.session(&raw).await {
            Ok(found) => found,
            // A browser asking for a page gets a page, an API client JSON (e.g. 503 while
            // the database is unreachable).
            Err(e) if crate::error::is_api_path(request.uri().path()) => return ApiError::from(e).into_response(),
            Err(e) => {
                return crate::pages::PageError::anonymous(e);
            }
        },
        None => None,
    };
    request.extensions_mut().insert(Slot(current));
    next.run(request).await
}

pub fn current(parts: &Parts) -> Option<&CurrentSession> {
    parts.extensions.get::<Slot>().and_then(|s| s.0.as_ref())
}

fn is_unsafe(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// A signed-in person calling the API. Unsafe methods must echo the session's CSRF token
/// in `X-CSRF-Token` (SEC-25). A half-finished sign-in is not signed in (SEC-19).
pub struct ApiUser(pub CurrentSession);

impl FromRequestParts<AppState> for ApiUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &AppState) -> Result<Self, Self::Rejection> {
        let session = current(parts)
            .filter(|s| s.is_signed_in())
            .ok_or_else(|| ApiError::new(StatusCode::UNAUTHORIZED, "unauthenticated", "Sign in first."))?;
        check_csrf_header(parts, session)?;
        if session.meets(Need::SignedIn) == Outcome::SetUpTwoFactor && !allowed_while_overdue(parts.uri.path()) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "two_factor_required",
                "Your account requires two-factor authentication: set it up first (POST /api/v1/me/two-factor/enrollment).",
            ));
        }
        Ok(ApiUser(session.clone()))
    }
}

/// A half-finished sign-in (password done) calling the second-factor API, with its CSRF
/// header. Signed-in sessions and strangers are refused.
pub struct ApiPending(pub PendingSignIn);

impl FromRequestParts<AppState> for ApiPending {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &AppState) -> Result<Self, Self::Rejection> {
        let pending = current(parts).and_then(CurrentSession::pending).ok_or_else(|| {
            ApiError::new(StatusCode::UNAUTHORIZED, "no_pending_sign_in", "Sign in with your email and password first.")
        })?;
        check_csrf_header(parts, &pending)?;
        Ok(ApiPending(pending))
    }
}

fn check_csrf_header(parts: &Parts, session: &CurrentSession) -> Result<(), ApiError> {
    if !is_unsafe(&parts.method) {
        return Ok(());
    }
    require_csrf_header(parts, &session.csrf_token)
}

/// The one CSRF header check of the API (SEC-25), for both realms: `X-CSRF-Token` must
/// echo the session's token.
pub(crate) fn require_csrf_header(parts: &Parts, expected: &str) -> Result<(), ApiError> {
    let sent = parts.headers.get("x-csrf-token").and_then(|v| v.to_str().ok()).unwrap_or("");
    if constant_time_eq(sent, expected) {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "csrf_token_invalid",
            "The X-CSRF-Token header is missing or wrong; take the token from the sign-in answer or GET /api/v1/me.",
        ))
    }
}

/// Where a person whose account requires 2FA, and who is past the grace period, may
/// still go: the wizard, their own basics, and the way out.
fn allowed_while_overdue(path: &str) -> bool {
    path.starts_with("/me/two-factor/enable")
        || path.starts_with("/api/v1/me/two-factor/enrollment")
        || matches!(path, "/api/v1/me" | "/api/v1/logout" | "/logout")
}

/// A signed-in person viewing pages; anyone else is sent to the sign-in page. Forms check
/// their CSRF field through [`crate::pages::form::CsrfForm`].
pub struct PageUser(pub CurrentSession);

impl FromRequestParts<AppState> for PageUser {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _state: &AppState) -> Result<Self, Self::Rejection> {
        match current(parts) {
            Some(s)
                if s.meets(Need::SignedIn) == Outcome::SetUpTwoFactor && !allowed_while_overdue(parts.uri.path()) =>
            {
                Err(Redirect::to("/me/two-factor/enable").into_response())
            }
            Some(s) if s.is_signed_in() => Ok(PageUser(s.clone())),
            // Half signed in: the only page left to see is the code page (SEC-19).
            Some(_) => Err(Redirect::to("/login/code").into_response()),
            None => Err(Redirect::to("/login").into_response()),
        }
    }
}

/// Constant-time comparison of tokens, so that a guess learns nothing from timing.
mod subtle_eq {
    use subtle::ConstantTimeEq;

    pub fn constant_time_eq(a: &str, b: &str) -> bool {
        a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
    }
}

pub use subtle_eq::constant_time_eq as tokens_match;

impl axum::extract::OptionalFromRequestParts<AppState> for PageUser {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &AppState) -> Result<Option<Self>, Self::Rejection> {
        Ok(current(parts).filter(|s| s.is_signed_in()).map(|s| PageUser(s.clone())))
    }
}

/// Whatever session the request carries, signed in or half-way (for signing out).
pub struct AnySession(pub Option<CurrentSession>);

impl FromRequestParts<AppState> for AnySession {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &AppState) -> Result<Self, Self::Rejection> {
        Ok(AnySession(current(parts).cloned()))
    }
}

/// A half-finished sign-in viewing the code page; anyone else goes where they belong.
pub struct PagePending(pub PendingSignIn);

impl FromRequestParts<AppState> for PagePending {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _state: &AppState) -> Result<Self, Self::Rejection> {
        match current(parts) {
            Some(s) => match s.pending() {
                Some(pending) => Ok(PagePending(pending)),
                None => Err(Redirect::to("/home").into_response()),
            },
            None => Err(Redirect::to("/login").into_response()),
        }
    }
}
