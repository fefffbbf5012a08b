//! Webhooks, the cursor each keeps in its account's audit log, and the log of attempts.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Conn, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookRow {
    pub id: i64,
    pub account_id: i64,
    pub url: String,
    /// Space-separated event names, or `*`.
    pub events: String,
    pub secret_box: Vec<u8>,
    pub created_at: i64,
    pub last_event_id: i64,
}

const COLUMNS: &str = "id, account_id, url, events, secret_box, created_at, last_event_id";

fn from_row(r: &AnyRow) -> Result<WebhookRow> {
    Ok(WebhookRow {
        id: r.try_get(0)?,
        account_id: r.try_get(1)?,
        url: r.try_get(2)?,
        events: r.try_get(3)?,
        secret_box: r.try_get(4)?,
        created_at: r.try_get(5)?,
        last_event_id: r.try_get(6)?,
    })
}

pub struct NewWebhook<'a> {
    pub account_id: i64,
    pub url: &'a str,
    pub events: &'a str,
    pub created_by: i64,
    pub now: i64,
}

/// Adds a webhook whose cursor starts at the account's newest event (nothing older is
/// sent), with a placeholder secret box: the secret is sealed under the new id, then set.
pub async fn insert(conn: &mut Conn, new: &NewWebhook<'_>) -> Result<i64> {
    let id = sqlx::query_scalar(
        "INSERT INTO webhooks (account_id, url, events, secret_box, created_by, created_at, last_event_id)
         VALUES ($1, $2, $3, $4, $5, $6,
                 COALESCE((SELECT MAX(id) FROM audit_events WHERE account_id = $1), 0))
         RETURNING id",
    )
    .bind(new.account_id)
    .bind(new.url)
    .bind(new.events)
    .bind(Vec::<u8>::new())
    .bind(new.created_by)
    .bind(new.now)
    .fetch_one(conn)
    .await?;
    Ok(id)
}

/// Moves the cursor past every event of the account so far (the webhook's own creation
/// included): a new webhook starts with what happens next.
pub async fn skip_to_latest(conn: &mut Conn, id: i64) -> Result<()> {
    sqlx::query(
        "UPDATE webhooks SET last_event_id = COALESCE((SELECT MAX(e.id) FROM audit_events e
                                                      WHERE e.account_id = webhooks.account_id), 0)
         WHERE id = $1",
    )
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Every webhook's sealed secret, for key rotation.
pub async fn all_sealed(conn: &mut Conn) -> Result<Vec<(i64, Vec<u8>)>> {
    let rows = sqlx::query("SELECT id, secret_box FROM webhooks ORDER BY id").fetch_all(conn).await?;
    rows.iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).collect()
}

/// Replaces a sealed secret if it is still `old` (a rotation racing a deletion loses).
pub async fn reseal(conn: &mut Conn, id: i64, old: &[u8], new: &[u8]) -> Result<bool> {
    let done = sqlx::query("UPDATE webhooks SET secret_box = $1 WHERE id = $2 AND secret_box = $3")
        .bind(new)
        .bind(id)
        .bind(old)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() > 0)
}

pub async fn set_secret(conn: &mut Conn, id: i64, secret_box: &[u8]) -> Result<()> {
    sqlx::query("UPDATE webhooks SET secret_box = $1 WHERE id = $2").bind(secret_box).bind(id).execute(conn).await?;
    Ok(())
}

/// The account's webhooks, oldest first.
pub async fn in_account(conn: &mut Conn, account_id: i64) -> Result<Vec<WebhookRow>> {
    let sql = format!("SELECT {COLUMNS} FROM webhooks WHERE account_id = $1 ORDER BY id");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(account_id).fetch_all(conn).await?;
    rows.iter().map(from_row).collect()
}

pub async fn get(conn: &mut Conn, id: i64) -> Result<Option<WebhookRow>> {
    let sql = format!("SELECT {COLUMNS} FROM webhooks WHERE id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(conn).await?;
    row.as_ref().map(from_row).transpose()
}

/// Every webhook whose account has events after its cursor.
pub async fn behind(conn: &mut Conn) -> Result<Vec<WebhookRow>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM webhooks w WHERE EXISTS
           (SELECT 1 FROM audit_events e WHERE e.account_id = w.account_id AND e.id > w.last_event_id)
         ORDER BY id"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(conn).await?;
    rows.iter().map(from_row).collect()
}

pub async fn delete(conn: &mut Conn, account_id: i64, id: i64) -> Result<Option<String>> {
    let url = sqlx::query_scalar("DELETE FROM webhooks WHERE id = $1 AND account_id = $2 RETURNING url")
        .bind(id)
        .bind(account_id)
        .fetch_optional(conn)
        .await?;
    Ok(url)
}

/// An audit event as a webhook carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRow {
    pub id: i64,
    pub event: String,
    pub detail: String,
    pub actor_user_id: Option<i64>,
    pub target_user_id: Option<i64>,
    pub created_at: i64,
}

/// The account's events after `after`, oldest first, at most `limit`.
pub async fn events_after(conn: &mut Conn, account_id: i64, after: i64, limit: i64) -> Result<Vec<EventRow>> {
    let rows = sqlx::query(
        "SELECT id, event, detail, actor_user_id, target_user_id, created_at FROM audit_events
         WHERE account_id = $1 AND id > $2 ORDER BY id LIMIT $3",
    )
    .bind(account_id)
    .bind(after)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(EventRow {
                id: r.try_get(0)?,
                event: r.try_get(1)?,
                detail: r.try_get(2)?,
                actor_user_id: r.try_get(3)?,
                target_user_id: r.try_get(4)?,
                created_at: r.try_get(5)?,
            })
        })
        .collect()
}

/// Moves the cursor from `from` to `to`; false when another instance moved it first (its
/// transaction queued these events, so this one must not).
pub async fn advance(conn: &mut Conn, id: i64, from: i64, to: i64) -> Result<bool> {
    let done = sqlx::query("UPDATE webhooks SET last_event_id = $1 WHERE id = $2 AND last_event_id = $3")
        .bind(to)
        .bind(id)
        .bind(from)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// One attempt, as the Owner's delivery log shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRow {
    pub message_id: String,
    pub event: String,
    pub attempt: i64,
    pub status: Option<i64>,
    pub error: Option<String>,
    pub at: i64,
}

pub async fn log_attempt(conn: &mut Conn, webhook_id: i64, d: &DeliveryRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO webhook_deliveries (webhook_id, message_id, event, attempt, status, error, at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(webhook_id)
    .bind(&d.message_id)
    .bind(&d.event)
    .bind(d.attempt)
    .bind(d.status)
    .bind(&d.error)
    .bind(d.at)
    .execute(conn)
    .await?;
    Ok(())
}

/// The newest attempts of a webhook, newest first.
pub async fn deliveries(conn: &mut Conn, webhook_id: i64, limit: i64) -> Result<Vec<DeliveryRow>> {
    let rows = sqlx::query(
        "SELECT message_id, event, attempt, status, error, at FROM webhook_deliveries
         WHERE webhook_id = $1 ORDER BY id DESC LIMIT $2",
    )
    .bind(webhook_id)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(DeliveryRow {
                message_id: r.try_get(0)?,
                event: r.try_get(1)?,
                attempt: r.try_get(2)?,
                status: r.try_get(3)?,
                error: r.try_get(4)?,
                at: r.try_get(5)?,
            })
        })
        .collect()
}
