//! Recovery codes: the second step with one, and a new set from the profile.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum_extra::extract::CookieJar;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ApiJson;
use super::auth::signed_in_response;
use super::two_factor::CodeBody;
use super::views::{ErrorView, PasswordBody, SignInView};
use crate::AppState;
use crate::client::Client;
use crate::error::ApiResult;
use crate::session::{ApiPending, ApiUser};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(login_recovery_code)).routes(routes!(regenerate))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RecoveryCodesView {
    /// Ten codes such as `k7m2p-x9qr4`, shown this once; each works once.
    recovery_codes: Vec<String>,
}

/// The second step with a recovery code (case, spaces and dashes ignored).
#[utoipa::path(post, path = "/api/v1/login/recovery-code", tag = "sign-in", request_body = CodeBody, security(("session" = []), ("csrf" = [])),
    responses(
        (status = 200, description = "Signed in; the code is spent", body = SignInView),
        (status = 401, description = "`invalid_code`: wrong or already used", body = ErrorView),
        (status = 403, description = "`second_factor_locked`", body = ErrorView),
        (status = 429, body = ErrorView),
    ))]
async fn login_recovery_code(
    State(state): State<AppState>,
    jar: CookieJar,
    Client(ctx): Client,
    ApiPending(pending): ApiPending,
    ApiJson(body): ApiJson<CodeBody>,
) -> ApiResult<Response> {
    let done = state.app.submit_recovery_code(&pending, body.code(), &ctx).await?;
    Ok(signed_in_response(&state, jar, done))
}

/// A new set of ten codes; the previous set stops working. The password confirms it.
#[utoipa::path(post, path = "/api/v1/me/two-factor/recovery-codes", tag = "two-factor", request_body = PasswordBody, security(("session" = []), ("csrf" = [])),
    responses((status = 201, body = RecoveryCodesView), (status = 401, description = "`invalid_credentials`", body = ErrorView), (status = 409, description = "`not_enabled`", body = ErrorView)))]
async fn regenerate(
    State(state): State<AppState>,
    ApiUser(session): ApiUser,
    Client(ctx): Client,
    ApiJson(body): ApiJson<PasswordBody>,
) -> ApiResult<(StatusCode, Json<RecoveryCodesView>)> {
    let recovery_codes = state.app.regenerate_recovery_codes(&session.user, &body.password, &ctx).await?;
    Ok((StatusCode::CREATED, Json(RecoveryCodesView { recovery_codes })))
}
