//! The audit log: who did what to whom, when, from where. Append-only.

use sqlx::Row;

use crate::{Conn, Result};

/// One event to append. `detail` is a JSON object with event-specific facts; it must never
/// hold a password, secret, code or token (SEC-31).
#[derive(Debug, Clone, Default)]
pub struct NewEvent<'a> {
    pub account_id: Option<i64>,
    pub actor_user_id: Option<i64>,
    pub target_user_id: Option<i64>,
    pub event: &'a str,
    pub detail: String,
    pub ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    pub now: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRow {
    pub id: i64,
    pub account_id: Option<i64>,
    pub actor_user_id: Option<i64>,
    pub target_user_id: Option<i64>,
    pub event: String,
    pub detail: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub created_at: i64,
}

pub async fn append(conn: &mut Conn, e: &NewEvent<'_>) -> Result<i64> {
    let detail = if e.detail.is_empty() { "{}" } else { e.detail.as_str() };
    let id = sqlx::query_scalar(
        "INSERT INTO audit_events (account_id, actor_user_id, target_user_id, event, detail, ip, user_agent, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
    )
    .bind(e.account_id)
    .bind(e.actor_user_id)
    .bind(e.target_user_id)
    .bind(e.event)
    .bind(detail)
    .bind(e.ip)
    .bind(e.user_agent)
    .bind(e.now)
    .fetch_one(conn)
    .await?;
    Ok(id)
}

/// Filters for reading the log; events come newest first.
#[derive(Debug, Clone, Default)]
pub struct Query {
    pub account_id: Option<i64>,
    pub user_id: Option<i64>,
    pub before_id: Option<i64>,
    pub limit: i64,
}

pub async fn list(conn: &mut Conn, q: &Query) -> Result<Vec<EventRow>> {
    let rows = sqlx::query(
        "SELECT id, account_id, actor_user_id, target_user_id, event, detail, ip, user_agent, created_at
         FROM audit_events
         WHERE ($1 IS NULL OR account_id = $1)
           AND ($2 IS NULL OR actor_user_id = $2 OR target_user_id = $2)
           AND ($3 IS NULL OR id < $3)
         ORDER BY id DESC LIMIT $4",
    )
    .bind(q.account_id)
    .bind(q.user_id)
    .bind(q.before_id)
    .bind(q.limit)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(EventRow {
                id: r.try_get(0)?,
                account_id: r.try_get(1)?,
                actor_user_id: r.try_get(2)?,
                target_user_id: r.try_get(3)?,
                event: r.try_get(4)?,
                detail: r.try_get(5)?,
                ip: r.try_get(6)?,
                user_agent: r.try_get(7)?,
                created_at: r.try_get(8)?,
            })
        })
        .collect()
}
