//! SMS codes awaiting entry: a keyed hash, bound to a purpose and a request, used once.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Conn, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChallengeRow {
    pub id: i64,
    pub user_id: i64,
    pub e164: String,
    pub code_mac: String,
    pub outbox_id: Option<i64>,
    pub created_at: i64,
    pub expires_at: i64,
    pub attempts: i64,
}

fn from_row(r: &AnyRow) -> Result<ChallengeRow> {
    Ok(ChallengeRow {
        id: r.try_get(0)?,
        user_id: r.try_get(1)?,
        e164: r.try_get(2)?,
        code_mac: r.try_get(3)?,
        outbox_id: r.try_get(4)?,
        created_at: r.try_get(5)?,
        expires_at: r.try_get(6)?,
        attempts: r.try_get(7)?,
    })
}

pub struct NewChallenge<'a> {
    pub user_id: i64,
    pub purpose: &'a str,
    pub request_ref: &'a str,
    pub e164: &'a str,
    pub code_mac: &'a str,
    pub outbox_id: i64,
    pub now: i64,
    pub expires_at: i64,
}

/// Closes every open code for this person, purpose and request as resent, then records the
/// new one: after Resend only the newest code works (SEC-14).
pub async fn replace(conn: &mut Conn, new: &NewChallenge<'_>) -> Result<i64> {
    sqlx::query(
        "UPDATE sms_challenges SET closed_at = $1, closed_why = 'resent'
         WHERE user_id = $2 AND purpose = $3 AND request_ref = $4 AND closed_at IS NULL",
    )
    .bind(new.now)
    .bind(new.user_id)
    .bind(new.purpose)
    .bind(new.request_ref)
    .execute(&mut *conn)
    .await?;
    let id = sqlx::query_scalar(
        "INSERT INTO sms_challenges (user_id, purpose, request_ref, e164, code_mac, outbox_id, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
    )
    .bind(new.user_id)
    .bind(new.purpose)
    .bind(new.request_ref)
    .bind(new.e164)
    .bind(new.code_mac)
    .bind(new.outbox_id)
    .bind(new.now)
    .bind(new.expires_at)
    .fetch_one(conn)
    .await?;
    Ok(id)
}

/// The open, unexpired code for this person, purpose and request, if any.
pub async fn open(
    conn: &mut Conn,
    user_id: i64,
    purpose: &str,
    request_ref: &str,
    now: i64,
) -> Result<Option<ChallengeRow>> {
    let row = sqlx::query(
        "SELECT id, user_id, e164, code_mac, outbox_id, created_at, expires_at, attempts FROM sms_challenges
         WHERE user_id = $1 AND purpose = $2 AND request_ref = $3 AND closed_at IS NULL AND expires_at > $4
         ORDER BY id DESC LIMIT 1",
    )
    .bind(user_id)
    .bind(purpose)
    .bind(request_ref)
    .bind(now)
    .fetch_optional(conn)
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// The latest code sent for this person, purpose and request, open or not: for showing
/// when it was sent and whether it was delivered.
pub async fn latest(conn: &mut Conn, user_id: i64, purpose: &str, request_ref: &str) -> Result<Option<ChallengeRow>> {
    let row = sqlx::query(
        "SELECT id, user_id, e164, code_mac, outbox_id, created_at, expires_at, attempts FROM sms_challenges
         WHERE user_id = $1 AND purpose = $2 AND request_ref = $3 ORDER BY id DESC LIMIT 1",
    )
    .bind(user_id)
    .bind(purpose)
    .bind(request_ref)
    .fetch_optional(conn)
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// Uses the code: of concurrent submissions, exactly one gets `true`.
pub async fn close_used(conn: &mut Conn, id: i64, now: i64) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE sms_challenges SET closed_at = $1, closed_why = 'used' WHERE id = $2 AND closed_at IS NULL",
    )
    .bind(now)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Counts a wrong try; the code closes when it reaches `limit`. Answers the tries so far.
pub async fn count_attempt(conn: &mut Conn, id: i64, limit: i64, now: i64) -> Result<i64> {
    let attempts: Option<i64> = sqlx::query_scalar(
        "UPDATE sms_challenges SET attempts = attempts + 1,
             closed_at = CASE WHEN attempts + 1 >= $1 THEN $2 ELSE closed_at END,
             closed_why = CASE WHEN attempts + 1 >= $1 THEN 'too_many_attempts' ELSE closed_why END
         WHERE id = $3 AND closed_at IS NULL RETURNING attempts",
    )
    .bind(limit)
    .bind(now)
    .bind(id)
    .fetch_optional(conn)
    .await?;
    Ok(attempts.unwrap_or(limit))
}
