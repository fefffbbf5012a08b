//! Authenticator-app credentials: the sealed secret, whether enrolment finished, and the
//! replay high-water mark. Every state change is one conditional statement, so that races
//! between instances are settled by the database.

use sqlx::Row;

use crate::{Conn, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TotpRow {
    pub user_id: i64,
    pub secret_box: Vec<u8>,
    pub created_at: i64,
    pub enabled_at: Option<i64>,
    pub last_step: Option<i64>,
    /// When Step 3 (a code from the app) succeeded; Step 4 (the phone) then turns 2FA on.
    pub confirmed_at: Option<i64>,
}

impl TotpRow {
    pub fn is_enabled(&self) -> bool {
        self.enabled_at.is_some()
    }
}

pub async fn get(conn: &mut Conn, user_id: i64) -> Result<Option<TotpRow>> {
    let row = sqlx::query(
        "SELECT user_id, secret_box, created_at, enabled_at, last_step, confirmed_at FROM totp_credentials WHERE user_id = $1",
    )
    .bind(user_id)
    .fetch_optional(conn)
    .await?;
    row.map(|r| {
        Ok(TotpRow {
            user_id: r.try_get(0)?,
            secret_box: r.try_get(1)?,
            created_at: r.try_get(2)?,
            enabled_at: r.try_get(3)?,
            last_step: r.try_get(4)?,
            confirmed_at: r.try_get(5)?,
        })
    })
    .transpose()
}

/// Starts (or restarts) an enrolment with a new sealed secret. Answers false when 2FA is
/// already on: an active secret is never replaced behind the person's back.
pub async fn begin_enrolment(conn: &mut Conn, user_id: i64, secret_box: &[u8], now: i64) -> Result<bool> {
    let done = sqlx::query(
        "INSERT INTO totp_credentials (user_id, secret_box, created_at) VALUES ($1, $2, $3)
         ON CONFLICT (user_id) DO UPDATE
             SET secret_box = excluded.secret_box, created_at = excluded.created_at,
                 enabled_at = NULL, last_step = NULL, confirmed_at = NULL
             WHERE totp_credentials.enabled_at IS NULL",
    )
    .bind(user_id)
    .bind(secret_box)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records that the person proved they hold the pending secret (Step 3), with the step of
/// the confirming code so that it cannot be used again to sign in.
pub async fn confirm(conn: &mut Conn, user_id: i64, secret_box: &[u8], step: i64, now: i64) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE totp_credentials SET confirmed_at = $1, last_step = $2
         WHERE user_id = $3 AND enabled_at IS NULL AND secret_box = $4",
    )
    .bind(now)
    .bind(step)
    .bind(user_id)
    .bind(secret_box)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Turns 2FA on once the secret is confirmed and the phone verified (SEC-04).
pub async fn enable(conn: &mut Conn, user_id: i64, now: i64) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE totp_credentials SET enabled_at = $1
         WHERE user_id = $2 AND enabled_at IS NULL AND confirmed_at IS NOT NULL",
    )
    .bind(now)
    .bind(user_id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Moves the high-water mark to `step` only if it is still below it: of any number of
/// concurrent submissions of one code, on any number of instances, exactly one sees `true`
/// (SEC-05, SEC-06).
pub async fn accept_step(conn: &mut Conn, user_id: i64, step: i64) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE totp_credentials SET last_step = $1
         WHERE user_id = $2 AND enabled_at IS NOT NULL AND (last_step IS NULL OR last_step < $1)",
    )
    .bind(step)
    .bind(user_id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn delete(conn: &mut Conn, user_id: i64) -> Result<bool> {
    let done = sqlx::query("DELETE FROM totp_credentials WHERE user_id = $1").bind(user_id).execute(conn).await?;
    Ok(done.rows_affected() == 1)
}

/// Every sealed secret, for key rotation.
pub async fn all_sealed(conn: &mut Conn) -> Result<Vec<(i64, Vec<u8>)>> {
    let rows = sqlx::query("SELECT user_id, secret_box FROM totp_credentials ORDER BY user_id").fetch_all(conn).await?;
    rows.iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).collect()
}

/// Replaces a sealed secret with the same secret sealed under another key, unless it
/// changed meanwhile (a re-enrolment during rotation wins).
pub async fn reseal(conn: &mut Conn, user_id: i64, old: &[u8], new: &[u8]) -> Result<bool> {
    let done = sqlx::query("UPDATE totp_credentials SET secret_box = $1 WHERE user_id = $2 AND secret_box = $3")
        .bind(new)
        .bind(user_id)
        .bind(old)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// When each person of the account turned 2FA on, for those who have it on.
pub async fn enabled_in_account(conn: &mut Conn, account_id: i64) -> Result<Vec<(i64, i64)>> {
    let rows = sqlx::query(
        "SELECT t.user_id, t.enabled_at FROM totp_credentials t JOIN users u ON u.id = t.user_id
         WHERE u.account_id = $1 AND t.enabled_at IS NOT NULL",
    )
    .bind(account_id)
    .fetch_all(conn)
    .await?;
    rows.iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).collect()
}
