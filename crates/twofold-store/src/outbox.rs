//! The durable outbox of every channel (SMS and email). Requests only ever insert here; a
//! worker on any instance claims due rows with a lease, sends, and records the outcome.
//! Claims are conditional updates, so no two workers hold the same row (SEC-18, SEC-39).

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Conn, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRow {
    pub id: i64,
    pub user_id: Option<i64>,
    /// `sms` or `email`.
    pub channel: String,
    /// The number or the address.
    pub recipient: String,
    pub kind: String,
    pub body_box: Vec<u8>,
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub provider: Option<String>,
    pub provider_message_id: Option<String>,
    pub provider_status: Option<String>,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub sent_at: Option<i64>,
    pub failed_at: Option<i64>,
}

const COLUMNS: &str = "id, user_id, channel, recipient, kind, body_box, status, attempts, next_attempt_at, provider, \
                       provider_message_id, provider_status, last_error, created_at, sent_at, failed_at";

fn from_row(r: &AnyRow) -> Result<OutboxRow> {
    Ok(OutboxRow {
        id: r.try_get(0)?,
        user_id: r.try_get(1)?,
        channel: r.try_get(2)?,
        recipient: r.try_get(3)?,
        kind: r.try_get(4)?,
        body_box: r.try_get(5)?,
        status: r.try_get(6)?,
        attempts: r.try_get(7)?,
        next_attempt_at: r.try_get(8)?,
        provider: r.try_get(9)?,
        provider_message_id: r.try_get(10)?,
        provider_status: r.try_get(11)?,
        last_error: r.try_get(12)?,
        created_at: r.try_get(13)?,
        sent_at: r.try_get(14)?,
        failed_at: r.try_get(15)?,
    })
}

/// A message to queue: where it goes and its sealed body.
#[derive(Debug, Clone, Copy)]
pub struct NewMessage<'a> {
    pub user_id: Option<i64>,
    /// `sms` or `email`.
    pub channel: &'a str,
    pub recipient: &'a str,
    /// `code`, `notice`, `invitation` or `password_reset`.
    pub kind: &'a str,
    pub body_box: &'a [u8],
}

/// Queues a message; call it in the transaction of the change it reports.
pub async fn enqueue(conn: &mut Conn, message: &NewMessage<'_>, now: i64) -> Result<i64> {
    let id = sqlx::query_scalar(
        "INSERT INTO outbox (user_id, channel, recipient, kind, body_box, status, next_attempt_at, created_at)
         VALUES ($1, $2, $3, $4, $5, 'pending', $6, $6) RETURNING id",
    )
    .bind(message.user_id)
    .bind(message.channel)
    .bind(message.recipient)
    .bind(message.kind)
    .bind(message.body_box)
    .bind(now)
    .fetch_one(conn)
    .await?;
    Ok(id)
}

pub async fn get(conn: &mut Conn, id: i64) -> Result<Option<OutboxRow>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM outbox WHERE id = $1")))
        .bind(id)
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// Ids of rows a worker may take now: pending and due, or sending with an expired lease
/// (a worker that crashed between claim and send; at-least-once delivery).
pub async fn due(conn: &mut Conn, now: i64, limit: i64, lane: Lane) -> Result<Vec<i64>> {
    let channel = match lane {
        Lane::Messages => "channel <> 'webhook'",
        Lane::Webhooks => "channel = 'webhook'",
    };
    let ids = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT id FROM outbox
         WHERE {channel} AND ((status = 'pending' AND next_attempt_at <= $1) OR (status = 'sending' AND lease_until < $1))
         ORDER BY id LIMIT $2"
    )))
    .bind(now)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    Ok(ids)
}

/// The outbox's two lanes: people's messages (SMS and email, which carry codes and links
/// someone is waiting for) never queue behind customers' webhook receivers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    Messages,
    Webhooks,
}

/// How many webhook messages to `recipient` wait to be sent.
pub async fn waiting_for(conn: &mut Conn, recipient: &str) -> Result<i64> {
    let n = sqlx::query_scalar(
        "SELECT COUNT(*) FROM outbox WHERE channel = 'webhook' AND recipient = $1 AND status IN ('pending', 'sending')",
    )
    .bind(recipient)
    .fetch_one(conn)
    .await?;
    Ok(n)
}

/// Takes a row for `lease` seconds if it is still takeable; answers the row when this
/// worker won it.
pub async fn claim(conn: &mut Conn, id: i64, owner: &str, now: i64, lease: i64) -> Result<Option<OutboxRow>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE outbox SET status = 'sending', lease_owner = $1, lease_until = $2, attempts = attempts + 1
         WHERE id = $3 AND ((status = 'pending' AND next_attempt_at <= $4) OR (status = 'sending' AND lease_until < $4))
         RETURNING {COLUMNS}"
    )))
    .bind(owner)
    .bind(now + lease)
    .bind(id)
    .bind(now)
    .fetch_optional(conn)
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// Records a send and wipes the body: the code is no longer needed anywhere.
pub async fn mark_sent(
    conn: &mut Conn,
    id: i64,
    owner: &str,
    provider: &str,
    message_id: Option<&str>,
    status: &str,
    now: i64,
) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE outbox SET status = 'sent', sent_at = $1, provider = $2, provider_message_id = $3,
             provider_status = $4, body_box = $5, lease_owner = NULL, lease_until = NULL, last_error = NULL
         WHERE id = $6 AND status = 'sending' AND lease_owner = $7",
    )
    .bind(now)
    .bind(provider)
    .bind(message_id)
    .bind(status)
    .bind(Vec::<u8>::new())
    .bind(id)
    .bind(owner)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Puts a row back for another try at `next_attempt_at`.
pub async fn mark_retry(conn: &mut Conn, id: i64, owner: &str, error: &str, next_attempt_at: i64) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE outbox SET status = 'pending', next_attempt_at = $1, last_error = $2, lease_owner = NULL, lease_until = NULL
         WHERE id = $3 AND status = 'sending' AND lease_owner = $4",
    )
    .bind(next_attempt_at)
    .bind(error)
    .bind(id)
    .bind(owner)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Gives up on a row, with the reason, and wipes its body.
pub async fn mark_failed(conn: &mut Conn, id: i64, owner: &str, provider: &str, error: &str, now: i64) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE outbox SET status = 'failed', failed_at = $1, provider = $2, last_error = $3, body_box = $4,
             lease_owner = NULL, lease_until = NULL
         WHERE id = $5 AND status = 'sending' AND lease_owner = $6",
    )
    .bind(now)
    .bind(provider)
    .bind(error)
    .bind(Vec::<u8>::new())
    .bind(id)
    .bind(owner)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The newest rows, for `twofold outbox` (bodies are not read).
pub async fn recent(conn: &mut Conn, limit: i64) -> Result<Vec<OutboxRow>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM outbox ORDER BY id DESC LIMIT $1")))
        .bind(limit)
        .fetch_all(conn)
        .await?;
    rows.iter().map(from_row).collect()
}

/// How many rows are in each channel and status.
pub async fn counts(conn: &mut Conn) -> Result<Vec<(String, String, i64)>> {
    let rows =
        sqlx::query("SELECT channel, status, COUNT(*) FROM outbox GROUP BY channel, status ORDER BY channel, status")
            .fetch_all(conn)
            .await?;
    rows.iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?))).collect()
}
