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

/// An invitation's two links: the one mailed to the address and the one shown once to the
/// inviter. Only the mailed one proves the mailbox when it is used.
pub struct InvitationLinks<'a> {
    pub mailed_hash: &'a str,
    pub shown_hash: &'a str,
}

pub async fn insert_invitation(
    conn: &mut Conn,
    links: &InvitationLinks<'_>,
    user_id: i64,
    invited_by: Option<i64>,
    now: i64,
    expires_at: i64,
) -> Result<()> {
    for (hash, mailed) in [(links.mailed_hash, 1_i64), (links.shown_hash, 0)] {
        sqlx::query(
            "INSERT INTO invitations (token_hash, user_id, invited_by, created_at, expires_at, mailed)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(hash)
        .bind(user_id)
        .bind(invited_by)
        .bind(now)
        .bind(expires_at)
        .bind(mailed)
        .execute(&mut *conn)
        .await?;
    }
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

/// An invitation used: its person, and whether the link was the mailed one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UsedInvitation {
    pub user_id: i64,
    pub mailed: bool,
}

/// Uses the invitation once, through either of its links, and ends the other; answers
/// `None` if it was already used, expired, or never existed.
pub async fn consume_invitation(conn: &mut Conn, token_hash: &str, now: i64) -> Result<Option<UsedInvitation>> {
    let row = sqlx::query(
        "UPDATE invitations SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL AND expires_at > $1
         RETURNING user_id, mailed",
    )
    .bind(now)
    .bind(token_hash)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let (user_id, mailed): (i64, i64) = (row.try_get(0)?, row.try_get(1)?);
    sqlx::query("UPDATE invitations SET used_at = $1 WHERE user_id = $2 AND used_at IS NULL")
        .bind(now)
        .bind(user_id)
        .execute(conn)
        .await?;
    Ok(Some(UsedInvitation { user_id, mailed: mailed == 1 }))
}
