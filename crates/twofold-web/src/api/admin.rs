//! The security console's API: act on a person's sign-in, sessions, the account policy.

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
use crate::path_id::PathId;
use crate::session::ApiUser;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(disable_two_factor))
        .routes(routes!(unlock))
        .routes(routes!(sign_out_everywhere))
        .routes(routes!(transfer_ownership))
        .routes(routes!(my_sessions))
        .routes(routes!(end_my_session))
        .routes(routes!(get_policy, set_policy))
        .routes(routes!(my_notices))
}

/// Turns off another person's 2FA (Owner and Administrators; never the Owner's). Their
/// sessions and remembered devices end; they are told by SMS and at next sign-in.
#[utoipa::path(delete, path = "/api/v1/users/{id}/two-factor", tag = "administration", request_body = PasswordBody,
    security(("session" = []), ("csrf" = [])), params(("id" = i64, Path, description = "The person's id")),
    responses(
        (status = 204, description = "Turned off"),
        (status = 401, description = "`invalid_credentials`: the caller's password did not match", body = ErrorView),
        (status = 403, description = "`owner_protected` or `forbidden`", body = ErrorView),
        (status = 404, description = "No such person in your account", body = ErrorView),
        (status = 409, description = "`not_enabled`", body = ErrorView),
    ))]
async fn disable_two_factor(
    State(state): State<AppState>,
    ApiUser(session): ApiUser,
    Client(ctx): Client,
    PathId(id): PathId,
    ApiJson(body): ApiJson<PasswordBody>,
) -> ApiResult<StatusCode> {
    state.app.disable_two_factor_of(&session.user, id, &body.password, &ctx).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Clears a person's 2FA lockout (after 100 wrong codes) and throttling.
#[utoipa::path(post, path = "/api/v1/users/{id}/two-factor/unlock", tag = "administration",
    security(("session" = []), ("csrf" = [])), params(("id" = i64, Path, description = "The person's id")),
    responses((status = 204, description = "Unlocked"), (status = 403, body = ErrorView), (status = 404, body = ErrorView)))]
async fn unlock(
    State(state): State<AppState>,
    ApiUser(session): ApiUser,
    Client(ctx): Client,
    PathId(id): PathId,
) -> ApiResult<StatusCode> {
    state.app.unlock_two_factor(&session.user, id, &ctx).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Ended {
    /// How many sessions ended.
    ended: u64,
}

/// Signs a person out everywhere.
#[utoipa::path(post, path = "/api/v1/users/{id}/sign-out", tag = "administration",
    security(("session" = []), ("csrf" = [])), params(("id" = i64, Path, description = "The person's id")),
    responses((status = 200, body = Ended), (status = 403, body = ErrorView), (status = 404, body = ErrorView)))]
async fn sign_out_everywhere(
    State(state): State<AppState>,
    ApiUser(session): ApiUser,
    Client(ctx): Client,
    PathId(id): PathId,
) -> ApiResult<Json<Ended>> {
    let ended = state.app.sign_out_everywhere(&session.user, id, &ctx).await?;
    Ok(Json(Ended { ended }))
}

/// The Owner hands the account to an Administrator and becomes an Administrator.
#[utoipa::path(post, path = "/api/v1/users/{id}/ownership", tag = "administration", request_body = PasswordBody,
    security(("session" = []), ("csrf" = [])), params(("id" = i64, Path, description = "The Administrator to become Owner")),
    responses((status = 204, description = "Transferred"), (status = 401, body = ErrorView), (status = 403, body = ErrorView), (status = 404, body = ErrorView)))]
async fn transfer_ownership(
    State(state): State<AppState>,
    ApiUser(session): ApiUser,
    Client(ctx): Client,
    PathId(id): PathId,
    ApiJson(body): ApiJson<PasswordBody>,
) -> ApiResult<StatusCode> {
    state.app.transfer_ownership(&session.user, id, &body.password, &ctx).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionView {
    /// Use with `DELETE /api/v1/me/sessions/{id}`.
    id: String,
    user_agent: Option<String>,
    ip: Option<String>,
    created_at: i64,
    last_seen_at: i64,
    /// This request's own session.
    current: bool,
}

/// Your signed-in sessions, most recently used first.
#[utoipa::path(get, path = "/api/v1/me/sessions", tag = "me", security(("session" = [])),
    responses((status = 200, body = Vec<SessionView>)))]
async fn my_sessions(State(state): State<AppState>, ApiUser(session): ApiUser) -> ApiResult<Json<Vec<SessionView>>> {
    let rows = state.app.my_sessions(&session).await?;
    Ok(Json(
        rows.into_iter()
            .map(|s| SessionView {
                current: s.current,
                id: s.id,
                user_agent: s.user_agent,
                ip: s.ip,
                created_at: s.created_at,
                last_seen_at: s.last_seen_at,
            })
            .collect(),
    ))
}

/// Ends one of your sessions.
#[utoipa::path(delete, path = "/api/v1/me/sessions/{id}", tag = "me", security(("session" = []), ("csrf" = [])),
    params(("id" = String, Path, description = "A session id from the list")),
    responses((status = 204, description = "Ended"), (status = 404, body = ErrorView)))]
async fn end_my_session(
    State(state): State<AppState>,
    ApiUser(session): ApiUser,
    Client(ctx): Client,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    state.app.end_my_session(&session.user, &id, &ctx).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PolicyView {
    /// Everyone must use two-factor authentication.
    require_two_factor: bool,
    /// Days people may still skip set-up after the requirement starts (0 to 90).
    #[serde(default)]
    #[schema(minimum = 0, maximum = 90)]
    grace_days: i64,
    /// When the requirement started (Unix seconds), if it is on.
    #[serde(default, skip_deserializing)]
    required_since: Option<i64>,
}

/// The account's 2FA policy.
#[utoipa::path(get, path = "/api/v1/account/policy", tag = "administration", security(("session" = [])),
    responses((status = 200, body = PolicyView), (status = 403, description = "`forbidden`: Users do not read the policy", body = ErrorView)))]
async fn get_policy(
    State(state): State<AppState>,
    ApiUser(session): ApiUser,
    Client(ctx): Client,
) -> ApiResult<Json<PolicyView>> {
    let p = state.app.policy(&session.user, &ctx).await?;
    Ok(Json(PolicyView {
        require_two_factor: p.require_two_factor_since.is_some(),
        grace_days: p.grace_days,
        required_since: p.require_two_factor_since,
    }))
}

/// Requires 2FA of everyone, with a grace period (the Owner only).
#[utoipa::path(put, path = "/api/v1/account/policy", tag = "administration", request_body = PolicyView,
    security(("session" = []), ("csrf" = [])),
    responses((status = 200, body = PolicyView), (status = 403, body = ErrorView), (status = 422, body = ErrorView)))]
async fn set_policy(
    State(state): State<AppState>,
    ApiUser(session): ApiUser,
    Client(ctx): Client,
    ApiJson(body): ApiJson<PolicyView>,
) -> ApiResult<Json<PolicyView>> {
    // The permission is checked (and a refusal audited) in the use case before the days.
    let p = state.app.set_policy(&session.user, body.require_two_factor, body.grace_days, &ctx).await?;
    Ok(Json(PolicyView {
        require_two_factor: p.require_two_factor_since.is_some(),
        grace_days: p.grace_days,
        required_since: p.require_two_factor_since,
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NoticeView {
    text: String,
    created_at: i64,
}

/// Notices for you since you last looked ("Your administrator … turned off …"); reading
/// them marks them seen.
#[utoipa::path(post, path = "/api/v1/me/notices/take", tag = "me", security(("session" = []), ("csrf" = [])),
    responses((status = 200, body = Vec<NoticeView>)))]
async fn my_notices(State(state): State<AppState>, ApiUser(session): ApiUser) -> ApiResult<Json<Vec<NoticeView>>> {
    let notices = state.app.take_notices(&session.user).await?;
    Ok(Json(notices.into_iter().map(|n| NoticeView { text: n.text, created_at: n.created_at }).collect()))
}
