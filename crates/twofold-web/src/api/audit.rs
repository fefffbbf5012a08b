//! The account's audit log: one page of it, filtered, or all of it (up to 10,000 events)
//! as a CSV or JSON download. Owners and Administrators only, always their own account.

mod csv;

use std::collections::HashMap;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use twofold_app::audit::{Event, Filter, FilterInput};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::views::ErrorView;
use crate::AppState;
use crate::caller::{ApiCaller, AuditRead};
use crate::client::Client;
use crate::error::{ApiError, ApiResult};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list)).routes(routes!(export))
}

/// The filters both routes take. Blank values mean "any".
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only events where this person acted or was acted on.
    #[param(value_type = Option<i64>)]
    user_id: Option<String>,
    /// An event type (`sign_in.failed`), or the start of one ending in a dot (`sign_in.`).
    event: Option<String>,
    /// From this day (`YYYY-MM-DD`, UTC) or this Unix second, inclusive.
    from: Option<String>,
    /// To the end of this day (`YYYY-MM-DD`, UTC) or this Unix second, inclusive.
    to: Option<String>,
    /// At most this many events: 1 to 500 (default 100) for a page, up to 10,000 (the
    /// default) for an export.
    #[param(value_type = Option<i64>)]
    limit: Option<String>,
    /// Only events older than this event id (for paging).
    #[param(value_type = Option<i64>)]
    before: Option<String>,
}

impl AuditQuery {
    fn filter(&self) -> Result<Filter, ApiError> {
        let input = FilterInput {
            user_id: self.user_id.as_deref(),
            event: self.event.as_deref(),
            from: self.from.as_deref(),
            to: self.to.as_deref(),
            before: self.before.as_deref(),
            limit: self.limit.as_deref(),
        };
        Filter::parse(&input).map_err(|e| bad_query(e.to_string()))
    }
}

fn bad_query(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", message)
}

/// The query string, or a 400 that says what is wrong with it.
fn query<T>(query: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    query.map(|Query(q)| q).map_err(|e| bad_query(e.body_text()))
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct EventView {
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

impl From<Event> for EventView {
    fn from(e: Event) -> Self {
        Self {
            id: e.id,
            event: e.event,
            actor_user_id: e.actor_user_id,
            target_user_id: e.target_user_id,
            detail: e.detail,
            ip: e.ip,
            user_agent: e.user_agent,
            created_at: e.created_at,
        }
    }
}

/// The account's security events, newest first (Owner and Administrators).
#[utoipa::path(get, path = "/api/v1/audit-events", tag = "audit", security(("session" = []), ("token" = ["audit:read"])), params(AuditQuery),
    responses((status = 200, body = Vec<EventView>), (status = 400, body = ErrorView), (status = 403, body = ErrorView)))]
async fn list(
    State(state): State<AppState>,
    caller: ApiCaller<AuditRead>,
    Client(ctx): Client,
    q: Result<Query<AuditQuery>, QueryRejection>,
) -> ApiResult<Json<Vec<EventView>>> {
    let filter = query(q)?.filter()?;
    let events = state.app.audit_search(&caller.user, &filter, &ctx).await?;
    Ok(Json(events.into_iter().map(EventView::from).collect()))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportFormat {
    /// `csv` (a header row, then one quoted row per event) or `json` (an array of events).
    #[param(pattern = "^(csv|json)$")]
    format: Option<String>,
}

/// One exported event, with the people named.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExportRow {
    id: i64,
    /// RFC 3339, UTC.
    time_utc: String,
    event: String,
    actor_user_id: Option<i64>,
    actor: Option<String>,
    target_user_id: Option<i64>,
    target: Option<String>,
    ip: Option<String>,
    user_agent: Option<String>,
    #[schema(value_type = Object)]
    detail: serde_json::Value,
}

/// The account's events matching the filters as a download, newest first, up to 10,000
/// (Owner and Administrators).
#[utoipa::path(get, path = "/api/v1/audit-events/export", tag = "audit", security(("session" = []), ("token" = ["audit:read"])),
    params(ExportFormat, AuditQuery),
    responses(
        (status = 200, description = "An attachment", content((String = "text/csv"), (Vec<ExportRow> = "application/json"))),
        (status = 400, body = ErrorView), (status = 403, body = ErrorView)))]
async fn export(
    State(state): State<AppState>,
    caller: ApiCaller<AuditRead>,
    Client(ctx): Client,
    format: Result<Query<ExportFormat>, QueryRejection>,
    q: Result<Query<AuditQuery>, QueryRejection>,
) -> ApiResult<Response> {
    let format = query(format)?.format.unwrap_or_default();
    let csv = match format.as_str() {
        "csv" => true,
        "json" => false,
        _ => return Err(bad_query("format must be csv or json.")),
    };
    let filter = query(q)?.filter()?;
    let actor = &caller.user;
    let events = state.app.audit_export(actor, &filter, &ctx).await?;
    let (people, _) = state.app.audit_choices(actor, &ctx).await?;
    let names: HashMap<i64, String> = people.into_iter().map(|p| (p.id, p.name)).collect();
    let rows: Vec<ExportRow> = events.into_iter().map(|e| export_row(e, &names)).collect();
    let stamp = filename_stamp(state.app.now());
    let (content_type, body) = if csv {
        ("text/csv; charset=utf-8", csv::document(&rows))
    } else {
        ("application/json", serde_json::to_string(&rows).map_err(|e| ApiError::from(internal(e)))?)
    };
    let disposition = format!("attachment; filename=\"twofold-audit-{stamp}.{format}\"");
    Ok(([(header::CONTENT_TYPE, content_type.to_string()), (header::CONTENT_DISPOSITION, disposition)], body)
        .into_response())
}

fn internal(e: impl std::fmt::Display) -> twofold_app::Error {
    twofold_app::Error::Internal(e.to_string())
}

fn export_row(e: Event, names: &HashMap<i64, String>) -> ExportRow {
    let name = |id: Option<i64>| id.and_then(|id| names.get(&id).cloned());
    ExportRow {
        id: e.id,
        time_utc: rfc3339(e.created_at),
        event: e.event,
        actor: name(e.actor_user_id),
        actor_user_id: e.actor_user_id,
        target: name(e.target_user_id),
        target_user_id: e.target_user_id,
        ip: e.ip,
        user_agent: e.user_agent,
        detail: e.detail,
    }
}

/// A Unix time as RFC 3339 in UTC (`2027-01-15T08:00:00Z`).
fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| unix.to_string())
}

/// `20270115-080000`, for the download's file name.
fn filename_stamp(unix: i64) -> String {
    let format = time::macros::format_description!("[year][month][day]-[hour][minute][second]");
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_else(|| unix.to_string())
}
