//! Remembered browsers ("Remember for 30 days"): they skip the second factor, never the
//! password (SEC-23). Keyed by the SHA-256 of the device cookie.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Conn, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRow {
    pub id: i64,
    pub user_id: i64,
    pub user_agent: Option<String>,
    pub created_at: i64,
    pub last_used_at: i64,
    pub expires_at: i64,
}

fn from_row(r: &AnyRow) -> Result<DeviceRow> {
    Ok(DeviceRow {
        id: r.try_get(0)?,
        user_id: r.try_get(1)?,
        user_agent: r.try_get(2)?,
        created_at: r.try_get(3)?,
        last_used_at: r.try_get(4)?,
        expires_at: r.try_get(5)?,
    })
}

pub async fn insert(
    conn: &mut Conn,
    user_id: i64,
    token_hash: &str,
    user_agent: Option<&str>,
    now: i64,
    expires_at: i64,
) -> Result<i64> {
    let id = sqlx::query_scalar(
        "INSERT INTO remembered_devices (user_id, token_hash, user_agent, created_at, last_used_at, expires_at)
         VALUES ($1, $2, $3, $4, $4, $5) RETURNING id",
    )
    .bind(user_id)
    .bind(token_hash)
    .bind(user_agent)
    .bind(now)
    .bind(expires_at)
    .fetch_one(conn)
    .await?;
    Ok(id)
}

/// The unexpired device with this token hash, if it belongs to `user_id` (a device cookie
/// of one person never helps another).
pub async fn live_for_user(conn: &mut Conn, token_hash: &str, user_id: i64, now: i64) -> Result<Option<DeviceRow>> {
    let row = sqlx::query(
        "SELECT id, user_id, user_agent, created_at, last_used_at, expires_at FROM remembered_devices
         WHERE token_hash = $1 AND user_id = $2 AND expires_at > $3",
    )
    .bind(token_hash)
    .bind(user_id)
    .bind(now)
    .fetch_optional(conn)
    .await?;
    row.as_ref().map(from_row).transpose()
}

pub async fn touch(conn: &mut Conn, id: i64, now: i64) -> Result<()> {
    sqlx::query("UPDATE remembered_devices SET last_used_at = $1 WHERE id = $2")
        .bind(now)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn for_user(conn: &mut Conn, user_id: i64, now: i64) -> Result<Vec<DeviceRow>> {
    let rows = sqlx::query(
        "SELECT id, user_id, user_agent, created_at, last_used_at, expires_at FROM remembered_devices
         WHERE user_id = $1 AND expires_at > $2 ORDER BY last_used_at DESC, id DESC",
    )
    .bind(user_id)
    .bind(now)
    .fetch_all(conn)
    .await?;
    rows.iter().map(from_row).collect()
}

/// Revokes one of the person's devices; answers whether it was theirs and existed.
pub async fn delete(conn: &mut Conn, id: i64, user_id: i64) -> Result<bool> {
    let done = sqlx::query("DELETE FROM remembered_devices WHERE id = $1 AND user_id = $2")
        .bind(id)
        .bind(user_id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn delete_for_user(conn: &mut Conn, user_id: i64) -> Result<u64> {
    let done = sqlx::query("DELETE FROM remembered_devices WHERE user_id = $1").bind(user_id).execute(conn).await?;
    Ok(done.rows_affected())
}
