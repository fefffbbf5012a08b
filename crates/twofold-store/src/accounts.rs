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

/// The account's 2FA requirement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Policy {
    /// When the Owner began requiring 2FA; `None` when it is optional.
    pub require_two_factor_since: Option<i64>,
    pub grace_days: i64,
}

pub async fn policy(conn: &mut Conn, account_id: i64) -> Result<Policy> {
    let row = sqlx::query("SELECT require_two_factor_since, two_factor_grace_days FROM accounts WHERE id = $1")
        .bind(account_id)
        .fetch_optional(conn)
        .await?;
    row.map(|r| Ok(Policy { require_two_factor_since: r.try_get(0)?, grace_days: r.try_get(1)? }))
        .transpose()
        .map(Option::unwrap_or_default)
}

pub async fn set_policy(conn: &mut Conn, account_id: i64, policy: Policy) -> Result<()> {
    sqlx::query("UPDATE accounts SET require_two_factor_since = $1, two_factor_grace_days = $2 WHERE id = $3")
        .bind(policy.require_two_factor_since)
        .bind(policy.grace_days)
        .bind(account_id)
        .execute(conn)
        .await?;
    Ok(())
}
