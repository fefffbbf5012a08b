//! The account's audit log.

use axum::Json;
use axum::extract::{Query, State};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::views::ErrorView;
use crate::AppState;
use crate::error::ApiResult;
use crate::session::ApiUser;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only events where this person acted or was acted on.
    user_id: Option<i64>,
    /// At most this many events (1 to 500, default 100).
    limit: Option<i64>,
    /// Only events older than this event id (for paging).
    before: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EventView {
    id: i64,
    event: String,
    actor_user_id: Option<i64>,
    target_user_id: Option<i64>,
    #[schema(value_type = Object)]
    detail: serde_json::Value,
    ip: Option<String>,
    user_agent: Option<String>,
    /// Unix seconds, UTC.
    created_at: i64,
}

/// The account's security events, newest first (Owner and Administrators).
#[utoipa::path(get, path = "/api/v1/audit-events", tag = "audit", security(("session" = [])), params(AuditQuery),
    responses((status = 200, body = Vec<EventView>), (status = 403, body = ErrorView)))]
async fn list(
    State(state): State<AppState>,
    ApiUser(session): ApiUser,
    query: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Vec<EventView>>> {
    let Query(q) = query.map_err(|e| {
        crate::error::ApiError::new(axum::http::StatusCode::BAD_REQUEST, "invalid_query", e.body_text())
    })?;
    let events = state.app.audit_events(&session.user.person(), q.user_id, q.before, q.limit).await?;
    Ok(Json(
        events
            .into_iter()
            .map(|e| EventView {
                id: e.id,
                event: e.event,
                actor_user_id: e.actor_user_id,
                target_user_id: e.target_user_id,
                detail: e.detail,
                ip: e.ip,
                user_agent: e.user_agent,
                created_at: e.created_at,
            })
            .collect(),
    ))
}
