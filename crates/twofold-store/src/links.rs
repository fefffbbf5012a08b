//! One-time links: the first-run setup link and invitations. Only hashes are stored.

use sqlx::Row;

use crate::{Conn, Result};

pub async fn insert_setup(conn: &mut Conn, token_hash: &str, now: i64, expires_at: i64) -> Result<()> {
    // A new setup link replaces any earlier unused one: only the newest printed link works.
    sqlx::query("DELETE FROM setup_tokens WHERE used_at IS NULL").execute(&mut *conn).await?;
    sqlx::query("INSERT INTO setup_tokens (token_hash, created_at, expires_at) VALUES ($1, $2, $3)")
        .bind(token_hash)
        .bind(now)
        .bind(expires_at)
        .execute(conn)
        .await?;
    Ok(())
}

/// Ends every unused setup link: an account exists now.
pub async fn void_setup_links(conn: &mut Conn) -> Result<u64> {
    Ok(sqlx::query("DELETE FROM setup_tokens WHERE used_at IS NULL").execute(conn).await?.rows_affected())
}

/// Whether the setup link is valid now (unused and unexpired), without using it.
pub async fn setup_is_valid(conn: &mut Conn, token_hash: &str, now: i64) -> Result<bool> {
    let found: Option<i64> =
        sqlx::query_scalar("SELECT 1 FROM setup_tokens WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2")
            .bind(token_hash)
            .bind(now)
            .fetch_optional(conn)
            .await?;
    Ok(found.is_some())
}

/// Uses the setup link once: of concurrent callers, exactly one gets `true`; none once an
/// account exists.
pub async fn consume_setup(conn: &mut Conn, token_hash: &str, now: i64) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE setup_tokens SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL AND expires_at > $1
           AND NOT EXISTS (SELECT 1 FROM accounts)",
    )
    .bind(now)
    .bind(token_hash)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn insert_invitation(
    conn: &mut Conn,
    token_hash: &str,
    user_id: i64,
    invited_by: i64,
    now: i64,
    expires_at: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO invitations (token_hash, user_id, invited_by, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(token_hash)
    .bind(user_id)
    .bind(invited_by)
    .bind(now)
    .bind(expires_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// The person an invitation is for, if it is unused and unexpired.
pub async fn invitation_user(conn: &mut Conn, token_hash: &str, now: i64) -> Result<Option<i64>> {
    let row =
        sqlx::query("SELECT user_id FROM invitations WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2")
            .bind(token_hash)
            .bind(now)
            .fetch_optional(conn)
            .await?;
    row.map(|r| r.try_get(0)).transpose().map_err(Into::into)
}

/// Uses the invitation once; answers the person it was for, or `None` if it was already
/// used, expired, or never existed.
pub async fn consume_invitation(conn: &mut Conn, token_hash: &str, now: i64) -> Result<Option<i64>> {
    let row = sqlx::query(
        "UPDATE invitations SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL AND expires_at > $1 RETURNING user_id",
    )
    .bind(now)
    .bind(token_hash)
    .fetch_optional(conn)
    .await?;
    row.map(|r| r.try_get(0)).transpose().map_err(Into::into)
}
