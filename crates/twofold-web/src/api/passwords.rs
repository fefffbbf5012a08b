//! Forgotten and changed passwords (SEC-37, SEC-38).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ApiJson;
use super::views::{ErrorView, PasswordBody};
use crate::AppState;
use crate::client::Client;
use crate::error::ApiResult;
use crate::session::ApiUser;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(request_reset)).routes(routes!(reset)).routes(routes!(change))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ResetRequestBody {
    #[schema(max_length = 254, example = "pat@acme.example")]
    email: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ResetRequestedView {
    /// The same sentence whatever the address.
    message: &'static str,
}

/// The sentence both faces answer to a reset request, known address or not (SEC-37).
pub const RESET_REQUESTED: &str =
    "If an account uses this address, a link to choose a new password is on its way. It works for one hour.";

/// "Forgot your password?": mails a one-hour link if the address is a person's. The answer
/// is the same for every well-formed address (SEC-37).
#[utoipa::path(post, path = "/api/v1/password-reset", tag = "sign-in", request_body = ResetRequestBody,
    responses(
        (status = 202, description = "Accepted, whatever the address", body = ResetRequestedView),
        (status = 422, description = "`invalid_email`", body = ErrorView),
    ))]
async fn request_reset(
    State(state): State<AppState>,
    Client(ctx): Client,
    ApiJson(body): ApiJson<ResetRequestBody>,
) -> ApiResult<(StatusCode, Json<ResetRequestedView>)> {
    state.app.request_password_reset(&body.email, &ctx).await?;
    Ok((StatusCode::ACCEPTED, Json(ResetRequestedView { message: RESET_REQUESTED })))
}

/// Sets a new password with the link's token, once. Every session and remembered browser
/// ends; two-factor authentication stays on.
#[utoipa::path(post, path = "/api/v1/password-reset/{token}", tag = "sign-in", request_body = PasswordBody,
    params(("token" = String, Path, description = "The token of the reset link")),
    responses(
        (status = 204, description = "The password is set; sign in with it"),
        (status = 410, description = "`link_expired`: used, expired, voided or unknown", body = ErrorView),
        (status = 422, description = "`weak_password`", body = ErrorView),
    ))]
async fn reset(
    State(state): State<AppState>,
    Client(ctx): Client,
    Path(token): Path<String>,
    ApiJson(body): ApiJson<PasswordBody>,
) -> ApiResult<StatusCode> {
    state.app.reset_password(&token, &body.password, &ctx).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ChangePasswordBody {
    current_password: String,
    #[schema(min_length = 12, max_length = 128)]
    new_password: String,
}

/// Changes your password with the current one. Your other sessions and every remembered
/// browser end (SEC-38); this session stays.
#[utoipa::path(put, path = "/api/v1/me/password", tag = "me", request_body = ChangePasswordBody, security(("session" = []), ("csrf" = [])),
    responses(
        (status = 204, description = "Changed"),
        (status = 401, description = "`invalid_credentials`: the current password is wrong", body = ErrorView),
        (status = 422, description = "`weak_password`", body = ErrorView),
    ))]
async fn change(
    State(state): State<AppState>,
    ApiUser(session): ApiUser,
    Client(ctx): Client,
    ApiJson(body): ApiJson<ChangePasswordBody>,
) -> ApiResult<StatusCode> {
    state.app.change_password(&session, &body.current_password, &body.new_password, &ctx).await?;
    Ok(StatusCode::NO_CONTENT)
}
