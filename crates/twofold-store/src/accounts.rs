//! Accounts: the companies whose people Twofold protects.

use sqlx::Row;

use crate::{Conn, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountRow {
    pub id: i64,
    pub name: String,
    pub created_at: i64,
}

pub async fn insert(conn: &mut Conn, name: &str, now: i64) -> Result<i64> {
    let id = sqlx::query_scalar("INSERT INTO accounts (name, created_at) VALUES ($1, $2) RETURNING id")
        .bind(name)
        .bind(now)
        .fetch_one(conn)
        .await?;
    Ok(id)
}

pub async fn get(conn: &mut Conn, id: i64) -> Result<Option<AccountRow>> {
    let row =
        sqlx::query("SELECT id, name, created_at FROM accounts WHERE id = $1").bind(id).fetch_optional(conn).await?;
    row.map(|r| Ok(AccountRow { id: r.try_get(0)?, name: r.try_get(1)?, created_at: r.try_get(2)? })).transpose()
}

pub async fn count(conn: &mut Conn) -> Result<i64> {
    Ok(sqlx::query_scalar("SELECT COUNT(*) FROM accounts").fetch_one(conn).await?)
}
