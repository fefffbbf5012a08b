//! The second factor: the sign-in code, enrolment, remembered devices, turning it off.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum_extra::extract::CookieJar;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ApiJson;
use super::auth::signed_in_response;
use super::views::{ErrorView, PasswordBody, SignInView};
use crate::AppState;
use crate::client::Client;
use crate::error::{ApiError, ApiResult};
use crate::session::{ApiPending, ApiUser};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login_totp))
        .routes(routes!(start_enrolment))
        .routes(routes!(confirm_enrolment))
        .routes(routes!(enrolment_phone))
        .routes(routes!(enrolment_phone_verify))
        .routes(routes!(change_phone))
        .routes(routes!(change_phone_verify))
        .routes(routes!(disable))
        .routes(routes!(list_devices))
        .routes(routes!(revoke_device))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CodeBody {
    /// Six digits; spaces, tabs and dashes are ignored.
    #[schema(max_length = 64, pattern = "^[ \t-]*([0-9][ \t-]*){6}$", example = "123 456")]
    code: String,
}

impl CodeBody {
    pub fn code(&self) -> &str {
        &self.code
    }
}

/// The second step of sign-in: the code from the authenticator app.
#[utoipa::path(post, path = "/api/v1/login/totp", tag = "sign-in", request_body = CodeBody, security(("session" = []), ("csrf" = [])),
    responses(
        (status = 200, description = "Signed in; a new session cookie replaces the half-finished one", body = SignInView),
        (status = 401, description = "`invalid_code` (with `clock_offset_seconds` when the code matches a nearby time) or `no_pending_sign_in`", body = ErrorView),
        (status = 403, description = "`second_factor_locked` after 100 failures", body = ErrorView),
        (status = 422, description = "`invalid_code_format`", body = ErrorView),
        (status = 429, description = "Too many wrong codes: wait `retry_after_seconds`", body = ErrorView),
    ))]
async fn login_totp(
    State(state): State<AppState>,
    jar: CookieJar,
    Client(ctx): Client,
    ApiPending(pending): ApiPending,
    ApiJson(body): ApiJson<CodeBody>,
) -> ApiResult<Response> {
    let done = state.app.submit_totp(&pending, &body.code, &ctx).await?;
    Ok(signed_in_response(&state, jar, done))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EnrolmentView {
    /// The key in base32, for typing into the app.
    secret: String,
    otpauth_uri: String,
    /// The same URI as a QR code, inline SVG.
    qr_svg: String,
}

/// Step 2 of the wizard: a new key (a new one each call; 2FA stays off until Step 3).
#[utoipa::path(post, path = "/api/v1/me/two-factor/enrollment", tag = "two-factor", security(("session" = []), ("csrf" = [])),
    responses((status = 201, body = EnrolmentView), (status = 409, description = "`already_enabled`", body = ErrorView)))]
async fn start_enrolment(
    State(state): State<AppState>,
    ApiUser(session): ApiUser,
    Client(ctx): Client,
) -> ApiResult<(StatusCode, Json<EnrolmentView>)> {
    let e = state.app.start_enrolment(&session.user, &ctx).await?;
    Ok((
        StatusCode::CREATED,
        Json(EnrolmentView { secret: e.secret_base32, otpauth_uri: e.otpauth_uri, qr_svg: e.qr_svg }),
    ))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NextStep {
    /// The wizard's next step: `phone` (Step 4, phone verification).
    next: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Enabled {
    enabled: bool,
    /// Ten recovery codes, shown this once, when this turned 2FA on for the first time.
    #[serde(skip_serializing_if = "Option::is_none")]
    recovery_codes: Option<Vec<String>>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct PhoneBody {
    /// International format, e.g. `+353 85 123 4567`: a mobile number.
    #[schema(max_length = 128, pattern = "^\\s*\\+[0-9 ().-]{1,31}\\s*$", example = "+353 85 123 4567")]
    phone: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct PhoneChangeBody {
    /// Your password, to confirm.
    #[schema(max_length = 1024)]
    password: String,
    /// International format: a mobile number.
    #[schema(max_length = 128, pattern = "^\\s*\\+[0-9 ().-]{1,31}\\s*$", example = "+353 85 123 4567")]
    phone: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CodeSent {
    /// The number the code went to, masked.
    sent_to: String,
    /// Seconds until Resend is allowed. Delivery can take up to 15 minutes.
    resend_after_seconds: i64,
}

impl From<twofold_app::sms::SentCode> for CodeSent {
    fn from(s: twofold_app::sms::SentCode) -> Self {
        Self { sent_to: s.sent_to, resend_after_seconds: s.resend_after_seconds }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PhoneView {
    /// The verified number, masked.
    phone: String,
}

/// Step 3: a code from the app confirms the key; Step 4 (the phone) comes next.
#[utoipa::path(post, path = "/api/v1/me/two-factor/enrollment/code", tag = "two-factor", request_body = CodeBody, security(("session" = []), ("csrf" = [])),
    responses((status = 200, body = NextStep), (status = 401, description = "`invalid_code`", body = ErrorView), (status = 409, body = ErrorView)))]
async fn confirm_enrolment(
    State(state): State<AppState>,
    ApiUser(session): ApiUser,
    Client(ctx): Client,
    ApiJson(body): ApiJson<CodeBody>,
) -> ApiResult<Json<NextStep>> {
    state.app.confirm_enrolment(&session.user, &body.code, &ctx).await?;
    Ok(Json(NextStep { next: "phone".into() }))
}

/// Step 4: sends a code by SMS to the mobile number (calling it again is Resend).
#[utoipa::path(post, path = "/api/v1/me/two-factor/enrollment/phone", tag = "two-factor", request_body = PhoneBody, security(("session" = []), ("csrf" = [])),
    responses((status = 202, body = CodeSent), (status = 409, body = ErrorView), (status = 422, description = "`invalid_phone`", body = ErrorView), (status = 429, body = ErrorView)))]
async fn enrolment_phone(
    State(state): State<AppState>,
    ApiUser(session): ApiUser,
    Client(ctx): Client,
    ApiJson(body): ApiJson<PhoneBody>,
) -> ApiResult<(StatusCode, Json<CodeSent>)> {
    let sent = state.app.send_enrolment_phone_code(&session.user, &body.phone, &ctx).await?;
    Ok((StatusCode::ACCEPTED, Json(sent.into())))
}

/// Step 4's code: the number is verified and 2FA turns on.
#[utoipa::path(post, path = "/api/v1/me/two-factor/enrollment/phone/verify", tag = "two-factor", request_body = CodeBody, security(("session" = []), ("csrf" = [])),
    responses((status = 200, body = Enabled), (status = 401, description = "`invalid_code`", body = ErrorView),
        (status = 409, description = "no enrolment is in progress, or its phone step is not reached", body = ErrorView)))]
async fn enrolment_phone_verify(
    State(state): State<AppState>,
    ApiUser(session): ApiUser,
    Client(ctx): Client,
    ApiJson(body): ApiJson<CodeBody>,
) -> ApiResult<Json<Enabled>> {
    let recovery_codes = state.app.verify_enrolment_phone(&session, &body.code, &ctx).await?;
    Ok(Json(Enabled { enabled: true, recovery_codes }))
}

/// Changes the verified number: the password, then a code sent to the new number (SEC-16).
#[utoipa::path(post, path = "/api/v1/me/phone", tag = "two-factor", request_body = PhoneChangeBody, security(("session" = []), ("csrf" = [])),
    responses((status = 202, body = CodeSent), (status = 401, description = "`invalid_credentials`", body = ErrorView), (status = 409, body = ErrorView), (status = 422, body = ErrorView), (status = 429, body = ErrorView)))]
async fn change_phone(
    State(state): State<AppState>,
    ApiUser(session): ApiUser,
    Client(ctx): Client,
    ApiJson(body): ApiJson<PhoneChangeBody>,
) -> ApiResult<(StatusCode, Json<CodeSent>)> {
    let sent = state.app.start_phone_change(&session, &body.password, &body.phone, &ctx).await?;
    Ok((StatusCode::ACCEPTED, Json(sent.into())))
}

/// Finishes the change with the code sent to the new number; the old number gets a notice.
#[utoipa::path(post, path = "/api/v1/me/phone/verify", tag = "two-factor", request_body = CodeBody, security(("session" = []), ("csrf" = [])),
    responses((status = 200, body = PhoneView), (status = 401, description = "`invalid_code`", body = ErrorView)))]
async fn change_phone_verify(
    State(state): State<AppState>,
    ApiUser(session): ApiUser,
    Client(ctx): Client,
    ApiJson(body): ApiJson<CodeBody>,
) -> ApiResult<Json<PhoneView>> {
    let phone = state.app.confirm_phone_change(&session, &body.code, &ctx).await?;
    Ok(Json(PhoneView { phone }))
}

/// Turns off your own 2FA; the password confirms it. The key and remembered devices are deleted.
#[utoipa::path(delete, path = "/api/v1/me/two-factor", tag = "two-factor", request_body = PasswordBody, security(("session" = []), ("csrf" = [])),
    responses((status = 204, description = "Off"), (status = 401, description = "`invalid_credentials`", body = ErrorView), (status = 409, description = "`not_enabled`", body = ErrorView)))]
async fn disable(
    State(state): State<AppState>,
    ApiUser(session): ApiUser,
    Client(ctx): Client,
    ApiJson(body): ApiJson<PasswordBody>,
) -> ApiResult<StatusCode> {
    state.app.disable_own_two_factor(&session.user, &body.password, &ctx).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeviceView {
    id: i64,
    user_agent: Option<String>,
    created_at: i64,
    last_used_at: i64,
    expires_at: i64,
}

/// Your remembered browsers ("Remember for 30 days").
#[utoipa::path(get, path = "/api/v1/me/devices", tag = "two-factor", security(("session" = [])),
    responses((status = 200, body = Vec<DeviceView>)))]
async fn list_devices(State(state): State<AppState>, ApiUser(session): ApiUser) -> ApiResult<Json<Vec<DeviceView>>> {
    let devices = state.app.devices(&session.user).await?;
    Ok(Json(
        devices
            .into_iter()
            .map(|d| DeviceView {
                id: d.id,
                user_agent: d.user_agent,
                created_at: d.created_at,
                last_used_at: d.last_used_at,
                expires_at: d.expires_at,
            })
            .collect(),
    ))
}

/// Forgets one remembered browser: its next sign-in asks for a code again.
#[utoipa::path(delete, path = "/api/v1/me/devices/{id}", tag = "two-factor", security(("session" = []), ("csrf" = [])),
    params(("id" = i64, Path, description = "The device's id")),
    responses((status = 204, description = "Revoked"), (status = 404, body = ErrorView)))]
async fn revoke_device(
    State(state): State<AppState>,
    ApiUser(session): ApiUser,
    Client(ctx): Client,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let id = crate::path_id::parse(&id)
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "not_found", "No such remembered device."))?;
    state.app.revoke_device(&session.user, id, &ctx).await?;
    Ok(StatusCode::NO_CONTENT)
}
