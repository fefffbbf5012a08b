//! The person's recovery API: SMS sign-in while support's grant is active, the lost-device
//! options, recovery requests, and the requests Owners and Administrators can see.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum_extra::extract::CookieJar;
use serde::{Deserialize, Serialize};
use twofold_app::recovery::RecoveryRequest;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ApiJson;
use super::auth::signed_in_response;
use super::two_factor::{CodeBody, CodeSent};
use super::views::{ErrorView, SignInView};
use crate::AppState;
use crate::client::Client;
use crate::error::ApiResult;
use crate::session::{ApiPending, ApiUser};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(send_sms))
        .routes(routes!(verify_sms))
        .routes(routes!(lost_device))
        .routes(routes!(file_request))
        .routes(routes!(account_requests))
}

/// Sends a sign-in code by SMS while support's SMS recovery is active; calling it again is Resend.
#[utoipa::path(post, path = "/api/v1/login/sms", tag = "sign-in", security(("session" = []), ("csrf" = [])),
    responses(
        (status = 202, body = CodeSent),
        (status = 403, description = "`sms_recovery_not_enabled`", body = ErrorView),
        (status = 429, body = ErrorView),
    ))]
async fn send_sms(
    State(state): State<AppState>,
    Client(ctx): Client,
    ApiPending(pending): ApiPending,
) -> ApiResult<(StatusCode, Json<CodeSent>)> {
    let sent = state.app.send_sign_in_sms(&pending, &ctx).await?;
    Ok((StatusCode::ACCEPTED, Json(sent.into())))
}

/// The SMS code completes sign-in; the person should then set 2FA up again.
#[utoipa::path(post, path = "/api/v1/login/sms/verify", tag = "sign-in", request_body = CodeBody, security(("session" = []), ("csrf" = [])),
    responses((status = 200, body = SignInView), (status = 401, description = "`invalid_code`", body = ErrorView), (status = 403, body = ErrorView), (status = 429, body = ErrorView)))]
async fn verify_sms(
    State(state): State<AppState>,
    jar: CookieJar,
    Client(ctx): Client,
    ApiPending(pending): ApiPending,
    ApiJson(body): ApiJson<CodeBody>,
) -> ApiResult<Response> {
    let session = state.app.verify_sign_in_sms(&pending, body.code(), &ctx).await?;
    Ok(signed_in_response(&state, jar, session))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Helper {
    name: String,
    role: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RequestView {
    id: i64,
    /// `open`, `taken`, `granted` or `declined`.
    status: String,
    created_at: i64,
    decided_at: Option<i64>,
}

impl From<&RecoveryRequest> for RequestView {
    fn from(r: &RecoveryRequest) -> Self {
        Self { id: r.id, status: r.status.clone(), created_at: r.created_at, decided_at: r.decided_at }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LostDeviceView {
    role: String,
    /// Who in the account can turn 2FA off for you.
    helpers: Vec<Helper>,
    request: Option<RequestView>,
    sms_recovery_active: bool,
}

/// What you can do about a lost device (after the password step).
#[utoipa::path(get, path = "/api/v1/login/lost-device", tag = "sign-in", security(("session" = [])),
    responses((status = 200, body = LostDeviceView), (status = 401, body = ErrorView)))]
async fn lost_device(
    State(state): State<AppState>,
    ApiPending(pending): ApiPending,
) -> ApiResult<Json<LostDeviceView>> {
    let info = state.app.lost_device(&pending).await?;
    Ok(Json(LostDeviceView {
        role: info.role.as_str().into(),
        helpers: info.helpers.into_iter().map(|(name, role)| Helper { name, role: role.as_str().into() }).collect(),
        request: info.request.as_ref().map(RequestView::from),
        sms_recovery_active: info.sms_recovery_active,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct RequestBody {
    /// What happened (up to 2,000 characters).
    message: String,
    /// A number support can reach you on, international format.
    contact: String,
}

/// Asks support for SMS recovery (after the password step).
#[utoipa::path(post, path = "/api/v1/login/recovery-requests", tag = "sign-in", request_body = RequestBody, security(("session" = []), ("csrf" = [])),
    responses((status = 201, body = RequestView), (status = 409, description = "`request_pending`", body = ErrorView), (status = 422, body = ErrorView)))]
async fn file_request(
    State(state): State<AppState>,
    Client(ctx): Client,
    ApiPending(pending): ApiPending,
    ApiJson(body): ApiJson<RequestBody>,
) -> ApiResult<(StatusCode, Json<RequestView>)> {
    let row = state.app.request_recovery(&pending, &body.message, &body.contact, &ctx).await?;
    Ok((StatusCode::CREATED, Json(RequestView::from(&row))))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AccountRequestView {
    id: i64,
    user_id: i64,
    name: String,
    status: String,
    created_at: i64,
}

/// Open recovery requests about your account's people (Owner and Administrators).
#[utoipa::path(get, path = "/api/v1/recovery-requests", tag = "administration", security(("session" = [])),
    responses((status = 200, body = Vec<AccountRequestView>), (status = 403, body = ErrorView)))]
async fn account_requests(
    State(state): State<AppState>,
    ApiUser(session): ApiUser,
    Client(ctx): Client,
) -> ApiResult<Json<Vec<AccountRequestView>>> {
    let rows = state.app.recovery_requests_in_account(&session.user, &ctx).await?;
    Ok(Json(
        rows.into_iter()
            .map(|(r, name)| AccountRequestView {
                id: r.id,
                user_id: r.user_id,
                name,
                status: r.status,
                created_at: r.created_at,
            })
            .collect(),
    ))
}
