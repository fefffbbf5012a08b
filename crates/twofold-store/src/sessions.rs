//! Server-side sessions, keyed by the SHA-256 of the cookie value (SEC-20).

use sqlx::Row;
use twofold_domain::session::Stage;

use crate::{Conn, Result, StoreError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRow {
    pub id_hash: String,
    pub user_id: i64,
    pub stage: Stage,
    pub remember_device: bool,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub expires_at: i64,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// How sign-in completed, when it matters later (`sms_recovery`).
    pub method: Option<String>,
}

pub struct NewSession<'a> {
    pub id_hash: &'a str,
    pub user_id: i64,
    pub stage: Stage,
    pub remember_device: bool,
    pub now: i64,
    pub expires_at: i64,
    pub ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
}

pub async fn insert(conn: &mut Conn, new: &NewSession<'_>) -> Result<()> {
    sqlx::query(
        "INSERT INTO sessions (id_hash, user_id, stage, remember_device, created_at, last_seen_at, expires_at, ip, user_agent)
         VALUES ($1, $2, $3, $4, $5, $5, $6, $7, $8)",
    )
    .bind(new.id_hash)
    .bind(new.user_id)
    .bind(new.stage.as_str())
    .bind(i64::from(new.remember_device))
    .bind(new.now)
    .bind(new.expires_at)
    .bind(new.ip)
    .bind(new.user_agent)
    .execute(conn)
    .await?;
    Ok(())
}

/// The session with this hash, if it has not expired by `now`.
pub async fn live(conn: &mut Conn, id_hash: &str, now: i64) -> Result<Option<SessionRow>> {
    let row = sqlx::query(
        "SELECT id_hash, user_id, stage, remember_device, created_at, last_seen_at, expires_at, ip, user_agent, method
         FROM sessions WHERE id_hash = $1 AND expires_at > $2",
    )
    .bind(id_hash)
    .bind(now)
    .fetch_optional(conn)
    .await?;
    let Some(r) = row else { return Ok(None) };
    let stage: String = r.try_get(2)?;
    let remember: i64 = r.try_get(3)?;
    Ok(Some(SessionRow {
        id_hash: r.try_get(0)?,
        user_id: r.try_get(1)?,
        stage: Stage::parse(&stage).ok_or_else(|| StoreError::Config(format!("unknown session stage {stage:?}")))?,
        remember_device: remember != 0,
        created_at: r.try_get(4)?,
        last_seen_at: r.try_get(5)?,
        expires_at: r.try_get(6)?,
        ip: r.try_get(7)?,
        user_agent: r.try_get(8)?,
        method: r.try_get(9)?,
    }))
}

/// Records how a session's sign-in completed.
pub async fn set_method(conn: &mut Conn, id_hash: &str, method: &str) -> Result<()> {
    sqlx::query("UPDATE sessions SET method = $1 WHERE id_hash = $2").bind(method).bind(id_hash).execute(conn).await?;
    Ok(())
}

pub async fn touch(conn: &mut Conn, id_hash: &str, now: i64, expires_at: i64) -> Result<()> {
    sqlx::query("UPDATE sessions SET last_seen_at = $1, expires_at = $2 WHERE id_hash = $3")
        .bind(now)
        .bind(expires_at)
        .bind(id_hash)
        .execute(conn)
        .await?;
    Ok(())
}

/// Deletes one session; answers whether it existed. Used both for logout and to consume
/// a half-finished sign-in exactly once when it is promoted.
pub async fn delete(conn: &mut Conn, id_hash: &str) -> Result<bool> {
    let done = sqlx::query("DELETE FROM sessions WHERE id_hash = $1").bind(id_hash).execute(conn).await?;
    Ok(done.rows_affected() == 1)
}

pub async fn delete_for_user(conn: &mut Conn, user_id: i64) -> Result<u64> {
    let done = sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(user_id).execute(conn).await?;
    Ok(done.rows_affected())
}

pub async fn delete_expired(conn: &mut Conn, now: i64) -> Result<u64> {
    let done = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1").bind(now).execute(conn).await?;
    Ok(done.rows_affected())
}

/// A person's live sessions, most recently used first.
pub async fn live_for_user(conn: &mut Conn, user_id: i64, now: i64) -> Result<Vec<SessionRow>> {
    let rows = sqlx::query(
        "SELECT id_hash, user_id, stage, remember_device, created_at, last_seen_at, expires_at, ip, user_agent, method
         FROM sessions WHERE user_id = $1 AND expires_at > $2 AND stage = 'signed_in' ORDER BY last_seen_at DESC",
    )
    .bind(user_id)
    .bind(now)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            let remember: i64 = r.try_get(3)?;
            Ok(SessionRow {
                id_hash: r.try_get(0)?,
                user_id: r.try_get(1)?,
                stage: Stage::SignedIn,
                remember_device: remember != 0,
                created_at: r.try_get(4)?,
                last_seen_at: r.try_get(5)?,
                expires_at: r.try_get(6)?,
                ip: r.try_get(7)?,
                user_agent: r.try_get(8)?,
                method: r.try_get(9)?,
            })
        })
        .collect()
}

/// Ends one of a person's sessions; answers whether it was theirs.
pub async fn delete_for_user_session(conn: &mut Conn, user_id: i64, id_hash: &str) -> Result<bool> {
    let done = sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND id_hash = $2")
        .bind(user_id)
        .bind(id_hash)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}
