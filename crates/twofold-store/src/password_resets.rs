//! Forgotten-password links (SEC-37): only their hashes are kept; a link is taken once by
//! `DELETE … RETURNING`, so two requests racing with it cannot both win.

use crate::{Conn, Result};

pub async fn insert(conn: &mut Conn, token_hash: &str, user_id: i64, now: i64, expires_at: i64) -> Result<()> {
    sqlx::query("INSERT INTO password_resets (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)")
        .bind(token_hash)
        .bind(user_id)
        .bind(now)
        .bind(expires_at)
        .execute(conn)
        .await?;
    Ok(())
}

/// The person a live link is for, without using it (for the page that asks the new password).
pub async fn peek(conn: &mut Conn, token_hash: &str, now: i64) -> Result<Option<i64>> {
    let id = sqlx::query_scalar("SELECT user_id FROM password_resets WHERE token_hash = $1 AND expires_at > $2")
        .bind(token_hash)
        .bind(now)
        .fetch_optional(conn)
        .await?;
    Ok(id)
}

/// Uses a link: answers the person it was for, or `None` when it was used, expired, voided
/// or never existed.
pub async fn take(conn: &mut Conn, token_hash: &str, now: i64) -> Result<Option<i64>> {
    let id =
        sqlx::query_scalar("DELETE FROM password_resets WHERE token_hash = $1 AND expires_at > $2 RETURNING user_id")
            .bind(token_hash)
            .bind(now)
            .fetch_optional(conn)
            .await?;
    Ok(id)
}

/// Voids every link of a person: their password was just set.
pub async fn delete_for_user(conn: &mut Conn, user_id: i64) -> Result<u64> {
    let done = sqlx::query("DELETE FROM password_resets WHERE user_id = $1").bind(user_id).execute(conn).await?;
    Ok(done.rows_affected())
}

/// Drops expired links.
pub async fn delete_expired(conn: &mut Conn, now: i64) -> Result<u64> {
    let done = sqlx::query("DELETE FROM password_resets WHERE expires_at <= $1").bind(now).execute(conn).await?;
    Ok(done.rows_affected())
}
