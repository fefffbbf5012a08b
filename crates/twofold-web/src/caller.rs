//! Who calls an API route that API tokens may reach: a signed-in session (with its CSRF
//! header, as `ApiUser`), or `Authorization: Bearer tf_…` carrying the route's scope
//! (SEC-50). A token is read from that header only, never from a query string or a
//! cookie, and routes that take sessions alone (`/me…`, `/tokens…`) never look at it.

use std::marker::PhantomData;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use twofold_app::Person;
use twofold_app::domain::api_token::Scope;
use twofold_app::proof::Confirmation;
use twofold_app::tokens::{InstanceCaller, TokenCaller};

use crate::AppState;
use crate::error::ApiError;
use crate::session::ApiUser;

/// The scope a route asks of a token.
pub trait RouteScope {
    const SCOPE: Scope;
}

macro_rules! scopes {
    ($($name:ident => $scope:ident),+ $(,)?) => {$(
        pub struct $name;
        impl RouteScope for $name {
            const SCOPE: Scope = Scope::$scope;
        }
    )+};
}

scopes! {
    PeopleRead => PeopleRead,
    PeopleWrite => PeopleWrite,
    GroupsWrite => GroupsWrite,
    AuditRead => AuditRead,
    Webhooks => Webhooks,
}

/// The caller of a route a token with scope `S` may reach.
pub struct ApiCaller<S> {
    pub user: Person,
    token: Option<TokenCaller>,
    _scope: PhantomData<S>,
}

impl<S> ApiCaller<S> {
    /// How a change this caller makes is confirmed: the password in the request for a
    /// session, the token itself for a token.
    pub fn confirmation<'a>(&'a self, password: Option<&'a str>) -> Result<Confirmation<'a>, ApiError> {
        match (&self.token, password) {
            (Some(token), _) => Ok(Confirmation::Token(token)),
            (None, Some(password)) => Ok(Confirmation::Password(password)),
            (None, None) => Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "password_required",
                "Confirm with your password (\"password\" in the body).",
            )),
        }
    }
}

/// The caller of an instance route (`POST /accounts`): an instance token in the
/// `Authorization` header and nothing else; no session, however strong, makes accounts.
pub struct InstanceBearer(pub InstanceCaller);

impl FromRequestParts<AppState> for InstanceBearer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let raw = bearer(parts).ok_or_else(|| {
            ApiError::new(StatusCode::UNAUTHORIZED, "invalid_token", "Send an instance token as Authorization: Bearer.")
        })?;
        let caller = state.app.instance_caller(raw).await.map_err(ApiError::from)?.ok_or_else(invalid_token)?;
        Ok(InstanceBearer(caller))
    }
}

/// The token of an `Authorization: Bearer …` header, if that is what the header holds.
fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    value.strip_prefix("Bearer ").map(str::trim)
}

fn invalid_token() -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "invalid_token", "The API token is unknown, expired or revoked.")
}

impl<S: RouteScope + Send + Sync> FromRequestParts<AppState> for ApiCaller<S> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        if !parts.headers.contains_key(header::AUTHORIZATION) {
            let ApiUser(session) = ApiUser::from_request_parts(parts, state).await?;
            return Ok(ApiCaller { user: session.user, token: None, _scope: PhantomData });
        }
        let Some(raw) = bearer(parts) else { return Err(invalid_token()) };
        let caller = state.app.token_caller(raw).await.map_err(ApiError::from)?.ok_or_else(invalid_token)?;
        if !caller.allows(S::SCOPE) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "insufficient_scope",
                format!("This token does not have the {} scope.", S::SCOPE.as_str()),
            ));
        }
        Ok(ApiCaller { user: caller.user.clone(), token: Some(caller), _scope: PhantomData })
    }
}
