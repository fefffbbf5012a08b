//! The support operators' API twin of the support pages (SEC-29).

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;
use serde::{Deserialize, Serialize};
use twofold_app::support::{OperatorChange, PersonCard};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ApiJson;
use super::two_factor::CodeBody;
use super::views::ErrorView;
use crate::client::Client;
use crate::error::{ApiError, ApiResult};
use crate::operator::{ApiOperator, ApiOperatorPending};
use crate::path_id::PathId;
use crate::{AppState, cookies};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(login_totp))
        .routes(routes!(lookup))
        .routes(routes!(grant, revoke))
        .routes(routes!(queue))
        .routes(routes!(take))
        .routes(routes!(decide))
        .routes(routes!(operators))
        .routes(routes!(unlock_operator))
        .routes(routes!(reset_operator_totp))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct OperatorLogin {
    email: String,
    password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OperatorStep {
    /// `totp_required` after the password, `signed_in` after the code.
    status: String,
    csrf_token: String,
    /// At the first sign-in: the key to add to the operator's authenticator app.
    #[serde(skip_serializing_if = "Option::is_none")]
    enrolment_secret: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    otpauth_uri: Option<String>,
}

/// An operator's password step; TOTP always follows (enrolled at the first sign-in).
#[utoipa::path(post, path = "/api/v1/support/login", tag = "support", request_body = OperatorLogin,
    responses((status = 200, body = OperatorStep), (status = 401, body = ErrorView), (status = 429, body = ErrorView)))]
async fn login(
    State(state): State<AppState>,
    jar: CookieJar,
    Client(ctx): Client,
    ApiJson(body): ApiJson<OperatorLogin>,
) -> ApiResult<Response> {
    let new = state.app.operator_sign_in(&body.email, &body.password, &ctx).await?;
    let raw = new.token.clone();
    let session =
        state.app.operator_session(&raw).await?.ok_or_else(|| ApiError::from(twofold_app::Error::Unauthenticated))?;
    let enrolment = state.app.operator_enrolment(&session).await?;
    let step = OperatorStep {
        status: "totp_required".into(),
        csrf_token: new.csrf_token,
        enrolment_secret: enrolment.as_ref().map(|e| e.secret_base32.clone()),
        otpauth_uri: enrolment.map(|e| e.otpauth_uri),
    };
    Ok((jar.add(cookies::operator(&state.app, raw)), Json(step)).into_response())
}

/// The operator's TOTP code (confirming the enrolment the first time).
#[utoipa::path(post, path = "/api/v1/support/login/totp", tag = "support", request_body = CodeBody, security(("csrf" = [])),
    responses((status = 200, body = OperatorStep), (status = 401, body = ErrorView), (status = 429, body = ErrorView)))]
async fn login_totp(
    State(state): State<AppState>,
    jar: CookieJar,
    Client(ctx): Client,
    ApiOperatorPending(pending): ApiOperatorPending,
    ApiJson(body): ApiJson<CodeBody>,
) -> ApiResult<Response> {
    let new = state.app.operator_submit_totp(&pending, body.code(), &ctx).await?;
    let step = OperatorStep {
        status: "signed_in".into(),
        csrf_token: new.csrf_token,
        enrolment_secret: None,
        otpauth_uri: None,
    };
    Ok((jar.add(cookies::operator(&state.app, new.token)), Json(step)).into_response())
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CardView {
    user_id: i64,
    name: String,
    email: String,
    account: String,
    role: String,
    two_factor_enabled_at: Option<i64>,
    phone: Option<String>,
    sms_recovery_until: Option<i64>,
    recent_events: Vec<String>,
}

impl From<PersonCard> for CardView {
    fn from(c: PersonCard) -> Self {
        Self {
            user_id: c.user.id,
            name: c.user.name,
            email: c.user.email,
            account: c.account_name,
            role: c.user.role.as_str().into(),
            two_factor_enabled_at: c.two_factor_since,
            phone: c.phone,
            sms_recovery_until: c.grant.filter(|_| c.grant_active).map(|g| g.expires_at),
            recent_events: c.recent_events.into_iter().map(|e| e.event).collect(),
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LookupQuery {
    email: String,
}

/// Finds a person by email: name, account, role, 2FA status, masked phone, recent 2FA events.
#[utoipa::path(get, path = "/api/v1/support/people", tag = "support", params(LookupQuery),
    responses((status = 200, body = CardView), (status = 401, body = ErrorView), (status = 404, body = ErrorView)))]
async fn lookup(
    State(state): State<AppState>,
    Client(ctx): Client,
    ApiOperator(op): ApiOperator,
    query: Result<Query<LookupQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<CardView>> {
    let Query(q) = query.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", e.body_text()))?;
    Ok(Json(state.app.support_lookup(op.actor(), &q.email, &ctx).await?.into()))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct GrantBody {
    /// Required: e.g. the ticket reference.
    reason: String,
    /// 48 by default.
    hours: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GrantView {
    id: i64,
    expires_at: i64,
}

/// Enables SMS recovery for a person (needs a reason and a verified number).
#[utoipa::path(post, path = "/api/v1/support/people/{id}/sms-recovery", tag = "support", request_body = GrantBody,
    security(("csrf" = [])), params(("id" = i64, Path, description = "The person's id")),
    responses((status = 201, body = GrantView), (status = 409, description = "`no_verified_phone`", body = ErrorView), (status = 422, description = "`reason_required`", body = ErrorView)))]
async fn grant(
    State(state): State<AppState>,
    Client(ctx): Client,
    ApiOperator(op): ApiOperator,
    PathId(id): PathId,
    ApiJson(body): ApiJson<GrantBody>,
) -> ApiResult<(StatusCode, Json<GrantView>)> {
    let g = state.app.grant_sms_recovery(op.actor(), id, &body.reason, body.hours, None, &ctx).await?;
    Ok((StatusCode::CREATED, Json(GrantView { id: g.id, expires_at: g.expires_at })))
}

/// Revokes a person's SMS recovery.
#[utoipa::path(delete, path = "/api/v1/support/people/{id}/sms-recovery", tag = "support",
    security(("csrf" = [])), params(("id" = i64, Path, description = "The person's id")),
    responses((status = 204, description = "Revoked"), (status = 409, body = ErrorView)))]
async fn revoke(
    State(state): State<AppState>,
    Client(ctx): Client,
    ApiOperator(op): ApiOperator,
    PathId(id): PathId,
) -> ApiResult<StatusCode> {
    state.app.revoke_sms_recovery(op.actor(), id, &ctx).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct QueueItem {
    id: i64,
    user_id: i64,
    email: String,
    status: String,
    created_at: i64,
    /// The 48-hour target.
    due_at: i64,
}

/// Undecided recovery requests, oldest first.
#[utoipa::path(get, path = "/api/v1/support/requests", tag = "support", responses((status = 200, body = Vec<QueueItem>)))]
async fn queue(State(state): State<AppState>, ApiOperator(op): ApiOperator) -> ApiResult<Json<Vec<QueueItem>>> {
    let rows = state.app.support_queue(op.actor()).await?;
    Ok(Json(
        rows.into_iter()
            .map(|(r, u)| QueueItem {
                id: r.id,
                user_id: u.id,
                email: u.email,
                status: r.status,
                created_at: r.created_at,
                due_at: r.created_at + twofold_app::domain::recovery::REQUEST_TARGET_SECONDS,
            })
            .collect(),
    ))
}

/// Takes a request (one operator per request).
#[utoipa::path(post, path = "/api/v1/support/requests/{id}/take", tag = "support", security(("csrf" = [])),
    params(("id" = i64, Path, description = "The request's id")),
    responses((status = 204, description = "Taken"), (status = 409, body = ErrorView)))]
async fn take(
    State(state): State<AppState>,
    Client(ctx): Client,
    ApiOperator(op): ApiOperator,
    PathId(id): PathId,
) -> ApiResult<StatusCode> {
    state.app.take_request(op.actor(), id, &ctx).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct DecisionBody {
    grant: bool,
    /// How the person's identity was checked.
    identity_check: String,
    #[serde(default)]
    reason: String,
}

/// Decides a taken request; granting enables SMS recovery.
#[utoipa::path(post, path = "/api/v1/support/requests/{id}/decision", tag = "support", request_body = DecisionBody, security(("csrf" = [])),
    params(("id" = i64, Path, description = "The request's id")),
    responses((status = 204, description = "Decided"), (status = 409, body = ErrorView), (status = 422, body = ErrorView)))]
async fn decide(
    State(state): State<AppState>,
    Client(ctx): Client,
    ApiOperator(op): ApiOperator,
    PathId(id): PathId,
    ApiJson(body): ApiJson<DecisionBody>,
) -> ApiResult<StatusCode> {
    state.app.decide_request(op.actor(), id, body.grant, &body.identity_check, &body.reason, &ctx).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OperatorView {
    id: i64,
    email: String,
    name: String,
    /// Their authenticator app is enrolled.
    totp_enrolled: bool,
    /// Too many wrong passwords or codes: another operator (or `twofold support operator
    /// unlock`) must clear it.
    locked: bool,
    last_sign_in_at: Option<i64>,
}

/// Every support operator.
#[utoipa::path(get, path = "/api/v1/support/operators", tag = "support",
    responses((status = 200, body = Vec<OperatorView>), (status = 401, body = ErrorView)))]
async fn operators(State(state): State<AppState>, ApiOperator(_op): ApiOperator) -> ApiResult<Json<Vec<OperatorView>>> {
    let all = state.app.operators().await?;
    Ok(Json(
        all.into_iter()
            .map(|o| OperatorView {
                id: o.id,
                email: o.email,
                name: o.name,
                totp_enrolled: o.totp.is_enabled(),
                locked: o.locked,
                last_sign_in_at: o.last_sign_in_at,
            })
            .collect(),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct OperatorEmail {
    #[schema(max_length = 254)]
    email: String,
}

/// Clears another operator's locks (SEC-34).
#[utoipa::path(post, path = "/api/v1/support/operators/unlock", tag = "support", request_body = OperatorEmail,
    security(("csrf" = [])),
    responses((status = 204, description = "Unlocked"), (status = 403, description = "Not your own", body = ErrorView), (status = 404, body = ErrorView)))]
async fn unlock_operator(
    State(state): State<AppState>,
    Client(ctx): Client,
    ApiOperator(op): ApiOperator,
    ApiJson(body): ApiJson<OperatorEmail>,
) -> ApiResult<StatusCode> {
    state.app.change_operator(op.actor(), &body.email, OperatorChange::Unlock, &ctx).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Forgets another operator's authenticator app; they enrol again at their next sign-in.
#[utoipa::path(post, path = "/api/v1/support/operators/reset-totp", tag = "support", request_body = OperatorEmail,
    security(("csrf" = [])),
    responses((status = 204, description = "Reset"), (status = 403, description = "Not your own", body = ErrorView), (status = 404, body = ErrorView)))]
async fn reset_operator_totp(
    State(state): State<AppState>,
    Client(ctx): Client,
    ApiOperator(op): ApiOperator,
    ApiJson(body): ApiJson<OperatorEmail>,
) -> ApiResult<StatusCode> {
    state.app.change_operator(op.actor(), &body.email, OperatorChange::ResetTotp, &ctx).await?;
    Ok(StatusCode::NO_CONTENT)
}
