//! Support operators: a realm of their own outside every customer account, with
//! mandatory TOTP and short sessions (SEC-29).

use sqlx::Row;
use sqlx::any::AnyRow;
use twofold_domain::session::Stage;

use crate::{Conn, Result, StoreError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorRow {
    pub id: i64,
    pub email: String,
    pub name: String,
    pub password_hash: String,
    pub totp_box: Option<Vec<u8>>,
    pub totp_enabled_at: Option<i64>,
    pub totp_last_step: Option<i64>,
}

const COLUMNS: &str = "id, email, name, password_hash, totp_box, totp_enabled_at, totp_last_step";

fn from_row(r: &AnyRow) -> Result<OperatorRow> {
    Ok(OperatorRow {
        id: r.try_get(0)?,
        email: r.try_get(1)?,
        name: r.try_get(2)?,
        password_hash: r.try_get(3)?,
        totp_box: r.try_get(4)?,
        totp_enabled_at: r.try_get(5)?,
        totp_last_step: r.try_get(6)?,
    })
}

pub async fn insert(conn: &mut Conn, email: &str, name: &str, password_hash: &str, now: i64) -> Result<i64> {
    let id = sqlx::query_scalar(
        "INSERT INTO operators (email, name, password_hash, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
    )
    .bind(email)
    .bind(name)
    .bind(password_hash)
    .bind(now)
    .fetch_one(conn)
    .await?;
    Ok(id)
}

pub async fn by_email(conn: &mut Conn, email: &str) -> Result<Option<OperatorRow>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM operators WHERE email = $1")))
        .bind(email)
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(from_row).transpose()
}

pub async fn by_id(conn: &mut Conn, id: i64) -> Result<Option<OperatorRow>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM operators WHERE id = $1")))
        .bind(id)
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// Stores the secret of a TOTP enrolment not yet confirmed (replacing an earlier one).
pub async fn set_pending_totp(conn: &mut Conn, id: i64, totp_box: &[u8]) -> Result<bool> {
    let done = sqlx::query("UPDATE operators SET totp_box = $1 WHERE id = $2 AND totp_enabled_at IS NULL")
        .bind(totp_box)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Turns the operator's TOTP on with the step of the confirming code.
pub async fn enable_totp(conn: &mut Conn, id: i64, step: i64, now: i64) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE operators SET totp_enabled_at = $1, totp_last_step = $2 WHERE id = $3 AND totp_enabled_at IS NULL",
    )
    .bind(now)
    .bind(step)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The replay high-water mark, moved by one conditional update (as for people, SEC-05).
pub async fn accept_step(conn: &mut Conn, id: i64, step: i64) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE operators SET totp_last_step = $1 WHERE id = $2 AND totp_enabled_at IS NOT NULL
           AND (totp_last_step IS NULL OR totp_last_step < $1)",
    )
    .bind(step)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn record_sign_in(conn: &mut Conn, id: i64, now: i64) -> Result<()> {
    sqlx::query("UPDATE operators SET last_sign_in_at = $1 WHERE id = $2").bind(now).bind(id).execute(conn).await?;
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorSessionRow {
    pub id_hash: String,
    pub operator_id: i64,
    pub stage: Stage,
    pub created_at: i64,
    pub last_seen_at: i64,
}

#[allow(clippy::too_many_arguments)]
pub async fn insert_session(
    conn: &mut Conn,
    id_hash: &str,
    operator_id: i64,
    stage: Stage,
    now: i64,
    expires_at: i64,
    ip: Option<&str>,
    user_agent: Option<&str>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO operator_sessions (id_hash, operator_id, stage, created_at, last_seen_at, expires_at, ip, user_agent)
         VALUES ($1, $2, $3, $4, $4, $5, $6, $7)",
    )
    .bind(id_hash)
    .bind(operator_id)
    .bind(stage.as_str())
    .bind(now)
    .bind(expires_at)
    .bind(ip)
    .bind(user_agent)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn live_session(conn: &mut Conn, id_hash: &str, now: i64) -> Result<Option<OperatorSessionRow>> {
    let row = sqlx::query(
        "SELECT id_hash, operator_id, stage, created_at, last_seen_at FROM operator_sessions
         WHERE id_hash = $1 AND expires_at > $2",
    )
    .bind(id_hash)
    .bind(now)
    .fetch_optional(conn)
    .await?;
    let Some(r) = row else { return Ok(None) };
    let stage: String = r.try_get(2)?;
    Ok(Some(OperatorSessionRow {
        id_hash: r.try_get(0)?,
        operator_id: r.try_get(1)?,
        stage: Stage::parse(&stage).ok_or_else(|| StoreError::Config(format!("unknown stage {stage:?}")))?,
        created_at: r.try_get(3)?,
        last_seen_at: r.try_get(4)?,
    }))
}

pub async fn touch_session(conn: &mut Conn, id_hash: &str, now: i64, expires_at: i64) -> Result<()> {
    sqlx::query("UPDATE operator_sessions SET last_seen_at = $1, expires_at = $2 WHERE id_hash = $3")
        .bind(now)
        .bind(expires_at)
        .bind(id_hash)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn delete_session(conn: &mut Conn, id_hash: &str) -> Result<bool> {
    let done = sqlx::query("DELETE FROM operator_sessions WHERE id_hash = $1").bind(id_hash).execute(conn).await?;
    Ok(done.rows_affected() == 1)
}
