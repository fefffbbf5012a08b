//! Support operators: a realm of their own outside every customer account, with
//! mandatory TOTP and short sessions (SEC-29). Their sessions and authenticator apps live
//! in tables shaped like people's and are reached through [`crate::sessions`] and
//! [`crate::totp`] with [`crate::Realm::Support`].

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Conn, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorRow {
    pub id: i64,
    pub email: String,
    pub name: String,
    pub password_hash: String,
    pub created_at: i64,
    pub last_sign_in_at: Option<i64>,
}

const COLUMNS: &str = "id, email, name, password_hash, created_at, last_sign_in_at";

fn from_row(r: &AnyRow) -> Result<OperatorRow> {
    Ok(OperatorRow {
        id: r.try_get(0)?,
        email: r.try_get(1)?,
        name: r.try_get(2)?,
        password_hash: r.try_get(3)?,
        created_at: r.try_get(4)?,
        last_sign_in_at: r.try_get(5)?,
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

/// Every operator, by email.
pub async fn all(conn: &mut Conn) -> Result<Vec<OperatorRow>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM operators ORDER BY email")))
        .fetch_all(conn)
        .await?;
    rows.iter().map(from_row).collect()
}

/// Removes an operator; their sessions and authenticator app go with them (cascade), and
/// grants they made keep their audit trail with the operator unset.
pub async fn delete(conn: &mut Conn, id: i64) -> Result<bool> {
    let done = sqlx::query("DELETE FROM operators WHERE id = $1").bind(id).execute(conn).await?;
    Ok(done.rows_affected() == 1)
}

pub async fn record_sign_in(conn: &mut Conn, id: i64, now: i64) -> Result<()> {
    sqlx::query("UPDATE operators SET last_sign_in_at = $1 WHERE id = $2").bind(now).bind(id).execute(conn).await?;
    Ok(())
}
