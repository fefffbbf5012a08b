//! The support operators' session, found from its own cookie, and the extractors of the
//! support pages and API (SEC-29).

use axum::Form;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use serde::de::DeserializeOwned;
use twofold_app::support::OperatorSession;

use crate::pages::form::{HasCsrf, refuse};

use crate::error::ApiError;
use crate::session::{require_csrf_header, tokens_match};
use crate::{AppState, cookies};

async fn load(parts: &Parts, state: &AppState) -> Result<Option<OperatorSession>, twofold_app::Error> {
    let jar = CookieJar::from_headers(&parts.headers);
    let Some(raw) = jar.get(cookies::operator_name(&state.app)).map(|c| c.value().to_owned()) else { return Ok(None) };
    state.app.operator_session(&raw).await
}

/// A signed-in operator on the support pages; anyone else goes to the operator sign-in.
pub struct Operator(pub OperatorSession);

impl FromRequestParts<AppState> for Operator {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        match load(parts, state).await {
            Ok(Some(s)) if s.is_signed_in() => {
                parts.extensions.insert(s.clone());
                Ok(Operator(s))
            }
            Ok(Some(_)) => Err(Redirect::to("/support/code").into_response()),
            Ok(None) => Err(Redirect::to("/support/login").into_response()),
            // A failure to read the session is a page here, not JSON.
            Err(e) => Err(crate::pages::PageError::anonymous(e)),
        }
    }
}

/// An operator between the password and the code.
pub struct OperatorPending(pub OperatorSession);

impl FromRequestParts<AppState> for OperatorPending {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        match load(parts, state).await {
            Ok(Some(s)) if !s.is_signed_in() => {
                parts.extensions.insert(s.clone());
                Ok(OperatorPending(s))
            }
            Ok(Some(_)) => Err(Redirect::to("/support").into_response()),
            Ok(None) => Err(Redirect::to("/support/login").into_response()),
            // A failure to read the session is a page here, not JSON.
            Err(e) => Err(crate::pages::PageError::anonymous(e)),
        }
    }
}

/// A signed-in operator calling the support API; unsafe methods carry `X-CSRF-Token`.
pub struct ApiOperator(pub OperatorSession);

impl FromRequestParts<AppState> for ApiOperator {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let session =
            load(parts, state).await.map_err(ApiError::from)?.filter(OperatorSession::is_signed_in).ok_or_else(
                || ApiError::new(StatusCode::UNAUTHORIZED, "unauthenticated", "Sign in as a support operator first."),
            )?;
        if !matches!(parts.method.as_str(), "GET" | "HEAD" | "OPTIONS") {
            require_csrf_header(parts, &session.csrf_token)?;
        }
        Ok(ApiOperator(session))
    }
}

/// A support form whose `csrf_token` echoes the operator session's (SEC-25). Put it after
/// [`Operator`] or [`OperatorPending`], which leave the session in the request for it.
pub struct SupportForm<T>(pub T);

impl<T: DeserializeOwned + HasCsrf> FromRequest<AppState> for SupportForm<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let expected = req.extensions().get::<OperatorSession>().map(|s| s.csrf_token.clone());
        let refused = || refuse(StatusCode::FORBIDDEN, "This form expired. Reload the page and try again.");
        let Ok(Form(form)) = Form::<T>::from_request(req, state).await else { return Err(refused()) };
        match expected {
            Some(token) if tokens_match(form.csrf_token(), &token) => Ok(SupportForm(form)),
            _ => Err(refused()),
        }
    }
}

/// An operator between the password and the code, on the API.
pub struct ApiOperatorPending(pub OperatorSession);

impl FromRequestParts<AppState> for ApiOperatorPending {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let session =
            load(parts, state).await.map_err(ApiError::from)?.filter(|s| !s.is_signed_in()).ok_or_else(|| {
                ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "no_pending_sign_in",
                    "Sign in with the operator's email and password first.",
                )
            })?;
        require_csrf_header(parts, &session.csrf_token)?;
        Ok(ApiOperatorPending(session))
    }
}
