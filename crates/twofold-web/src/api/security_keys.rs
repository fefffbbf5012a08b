//! Security keys and passkeys (WebAuthn): registering and removing them, the second step
//! with a key, and passkey sign-in without a password. The browser side is the standard
//! `navigator.credentials` API; options and answers are its JSON forms.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;
use serde::{Deserialize, Serialize};
use twofold_app::domain::token;
use twofold_app::security_keys::{Ceremony, KeyRegistration, SecurityKeyInfo};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ApiJson;
use super::auth::signed_in_response;
use super::views::{ErrorView, PasswordBody, SignInView};
use crate::AppState;
use crate::client::Client;
use crate::cookies;
use crate::error::{ApiError, ApiResult};
use crate::session::{ApiPending, ApiUser};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(start_registration))
        .routes(routes!(list, register))
        .routes(routes!(remove))
        .routes(routes!(second_step_challenge))
        .routes(routes!(second_step))
        .routes(routes!(passkey_challenge))
        .routes(routes!(passkey_sign_in))
}

/// A ceremony's first half: hand `public_key` to `navigator.credentials.create()` or
/// `.get()` (binary fields are base64url), then send the answer with `challenge_id`.
#[derive(Debug, Serialize, ToSchema)]
pub struct CeremonyView {
    challenge_id: String,
    #[schema(value_type = Object)]
    public_key: serde_json::Value,
}

impl From<Ceremony> for CeremonyView {
    fn from(c: Ceremony) -> Self {
        CeremonyView { challenge_id: c.challenge_id, public_key: c.public_key }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SecurityKeyView {
    id: i64,
    name: String,
    created_at: i64,
    last_used_at: Option<i64>,
    /// Signs in without a password (discoverable, with user verification).
    passkey: bool,
}

impl From<SecurityKeyInfo> for SecurityKeyView {
    fn from(k: SecurityKeyInfo) -> Self {
        SecurityKeyView {
            id: k.id,
            name: k.name,
            created_at: k.created_at,
            last_used_at: k.last_used_at,
            passkey: k.passkey,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RegisteredView {
    id: i64,
    name: String,
    created_at: i64,
    passkey: bool,
    /// When this key turned 2FA on: the new recovery codes, shown this once.
    #[serde(skip_serializing_if = "Option::is_none")]
    recovery_codes: Option<Vec<String>>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct RegisterBody {
    challenge_id: String,
    /// 1 to 64 characters.
    name: String,
    /// The `PublicKeyCredential` from `create()`, in its `toJSON()` shape.
    #[schema(value_type = Object)]
    credential: serde_json::Value,
    /// Your password: adding a key is a change a thief could use (SEC-46).
    password: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct AssertionBody {
    challenge_id: String,
    /// The `PublicKeyCredential` from `get()`, in its `toJSON()` shape.
    #[schema(value_type = Object)]
    credential: serde_json::Value,
}

/// Begins registering a security key or passkey.
#[utoipa::path(post, path = "/api/v1/me/security-keys/registration", tag = "security-keys", security(("session" = []), ("csrf" = [])),
    responses((status = 200, body = CeremonyView), (status = 401, body = ErrorView), (status = 403, description = "`webauthn_unavailable`", body = ErrorView), (status = 409, description = "`too_many_keys`", body = ErrorView)))]
async fn start_registration(State(state): State<AppState>, ApiUser(session): ApiUser) -> ApiResult<Json<CeremonyView>> {
    Ok(Json(state.app.start_key_registration(&session).await?.into()))
}

/// Finishes registering: the browser's new credential, checked and stored under `name`.
#[utoipa::path(post, path = "/api/v1/me/security-keys", tag = "security-keys", request_body = RegisterBody, security(("session" = []), ("csrf" = [])),
    responses((status = 201, body = RegisteredView), (status = 401, description = "`invalid_credentials`: the password is wrong", body = ErrorView), (status = 409, description = "`already_registered`", body = ErrorView), (status = 422, description = "`invalid_credential` or `invalid_name`", body = ErrorView)))]
async fn register(
    State(state): State<AppState>,
    ApiUser(session): ApiUser,
    Client(ctx): Client,
    ApiJson(body): ApiJson<RegisterBody>,
) -> ApiResult<(StatusCode, Json<RegisteredView>)> {
    let registration = KeyRegistration {
        challenge_id: &body.challenge_id,
        name: &body.name,
        credential: &body.credential,
        password: &body.password,
    };
    let done = state.app.finish_key_registration(&session, &registration, &ctx).await?;
    let k = done.key;
    let view = RegisteredView {
        id: k.id,
        name: k.name,
        created_at: k.created_at,
        passkey: k.passkey,
        recovery_codes: done.recovery_codes,
    };
    Ok((StatusCode::CREATED, Json(view)))
}

/// Your security keys and passkeys.
#[utoipa::path(get, path = "/api/v1/me/security-keys", tag = "security-keys", security(("session" = [])),
    responses((status = 200, body = Vec<SecurityKeyView>), (status = 401, body = ErrorView)))]
async fn list(State(state): State<AppState>, ApiUser(session): ApiUser) -> ApiResult<Json<Vec<SecurityKeyView>>> {
    let keys = state.app.security_keys(&session.user).await?;
    Ok(Json(keys.into_iter().map(SecurityKeyView::from).collect()))
}

/// Removes a key; the password confirms it. Removing the last factor turns 2FA off.
#[utoipa::path(delete, path = "/api/v1/me/security-keys/{id}", tag = "security-keys", request_body = PasswordBody, security(("session" = []), ("csrf" = [])),
    params(("id" = i64, Path, description = "The key's id")),
    responses((status = 204, description = "Removed"), (status = 401, description = "`invalid_credentials`", body = ErrorView), (status = 404, body = ErrorView)))]
async fn remove(
    State(state): State<AppState>,
    ApiUser(session): ApiUser,
    Client(ctx): Client,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<PasswordBody>,
) -> ApiResult<StatusCode> {
    let id = crate::path_id::parse(&id)
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "not_found", "No such security key."))?;
    state.app.remove_security_key(&session.user, id, &body.password, &ctx).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The second step with a security key, first half.
#[utoipa::path(post, path = "/api/v1/login/webauthn/challenge", tag = "sign-in", security(("session" = []), ("csrf" = [])),
    responses((status = 200, body = CeremonyView), (status = 401, description = "`no_pending_sign_in`", body = ErrorView), (status = 409, description = "`no_security_keys`", body = ErrorView)))]
async fn second_step_challenge(
    State(state): State<AppState>,
    ApiPending(pending): ApiPending,
) -> ApiResult<Json<CeremonyView>> {
    Ok(Json(state.app.start_security_key_step(&pending).await?.into()))
}

/// The second step with a security key: its signature signs you in.
#[utoipa::path(post, path = "/api/v1/login/webauthn", tag = "sign-in", request_body = AssertionBody, security(("session" = []), ("csrf" = [])),
    responses(
        (status = 200, description = "Signed in; a new session cookie replaces the half-finished one", body = SignInView),
        (status = 401, description = "`invalid_credential`: a wrong signature, origin, challenge or key, or a counter gone back", body = ErrorView),
        (status = 403, description = "`second_factor_locked`", body = ErrorView),
        (status = 429, body = ErrorView),
    ))]
async fn second_step(
    State(state): State<AppState>,
    jar: CookieJar,
    Client(ctx): Client,
    ApiPending(pending): ApiPending,
    ApiJson(body): ApiJson<AssertionBody>,
) -> ApiResult<Response> {
    let done = state.app.submit_security_key(&pending, &body.challenge_id, &body.credential, &ctx).await?;
    Ok(signed_in_response(&state, jar, done))
}

/// The browser's pre-sign-in cookie a passkey ceremony is bound to, made when missing.
fn binding(state: &AppState, jar: CookieJar) -> (CookieJar, String) {
    let name = cookies::form_token_name(&state.app);
    match jar.get(name).map(|c| c.value().to_owned()).filter(|v| token::is_well_formed(v)) {
        Some(value) => (jar, value),
        None => {
            let value = state.app.new_form_token();
            (jar.add(cookies::form_token(&state.app, value.clone())), value)
        }
    }
}

/// Passkey sign-in without a password, first half (sets the cookie the ceremony is bound to).
#[utoipa::path(post, path = "/api/v1/login/passkey/challenge", tag = "sign-in",
    responses((status = 200, body = CeremonyView), (status = 403, description = "`webauthn_unavailable`", body = ErrorView)))]
async fn passkey_challenge(State(state): State<AppState>, jar: CookieJar) -> ApiResult<Response> {
    let (jar, value) = binding(&state, jar);
    let ceremony = state.app.start_passkey_sign_in(&value).await?;
    Ok((jar, Json(CeremonyView::from(ceremony))).into_response())
}

/// Passkey sign-in: user verification is required; it counts as both factors.
#[utoipa::path(post, path = "/api/v1/login/passkey", tag = "sign-in", request_body = AssertionBody,
    responses(
        (status = 200, description = "Signed in", body = SignInView),
        (status = 401, description = "`invalid_credential`", body = ErrorView),
        (status = 429, body = ErrorView),
    ))]
async fn passkey_sign_in(
    State(state): State<AppState>,
    jar: CookieJar,
    Client(ctx): Client,
    ApiJson(body): ApiJson<AssertionBody>,
) -> ApiResult<Response> {
    let value = jar.get(cookies::form_token_name(&state.app)).map(|c| c.value().to_owned()).unwrap_or_default();
    let done = state.app.sign_in_with_passkey(&value, &body.challenge_id, &body.credential, &ctx).await?;
    Ok(signed_in_response(&state, jar, done))
}
