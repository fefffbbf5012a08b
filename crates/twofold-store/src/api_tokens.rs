//! API tokens: kept as hashes, found by hash with their maker, deleted to revoke. Account
//! tokens (`api_tokens`) act as the person who made them; instance tokens
//! (`instance_tokens`) belong to no account and are made from the shell.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::users::{self, UserRow};
use crate::{Conn, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRow {
    pub id: i64,
    pub account_id: i64,
    pub created_by: i64,
    pub name: String,
    pub scopes: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub last_used_at: Option<i64>,
}

const COLUMNS: &str = "t.id, t.account_id, t.created_by, t.name, t.scopes, t.created_at, t.expires_at, t.last_used_at";
const COLUMN_COUNT: usize = 8;

fn from_row(r: &AnyRow) -> Result<TokenRow> {
    Ok(TokenRow {
        id: r.try_get(0)?,
        account_id: r.try_get(1)?,
        created_by: r.try_get(2)?,
        name: r.try_get(3)?,
        scopes: r.try_get(4)?,
        created_at: r.try_get(5)?,
        expires_at: r.try_get(6)?,
        last_used_at: r.try_get(7)?,
    })
}

pub struct NewToken<'a> {
    pub account_id: i64,
    pub created_by: i64,
    pub name: &'a str,
    pub token_hash: &'a str,
    pub scopes: &'a str,
    pub now: i64,
    pub expires_at: i64,
}

pub async fn insert(conn: &mut Conn, new: &NewToken<'_>) -> Result<i64> {
    let id = sqlx::query_scalar(
        "INSERT INTO api_tokens (account_id, created_by, name, token_hash, scopes, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(new.account_id)
    .bind(new.created_by)
    .bind(new.name)
    .bind(new.token_hash)
    .bind(new.scopes)
    .bind(new.now)
    .bind(new.expires_at)
    .fetch_one(conn)
    .await?;
    Ok(id)
}

/// The account's tokens, newest first.
pub async fn in_account(conn: &mut Conn, account_id: i64) -> Result<Vec<TokenRow>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM api_tokens t WHERE t.account_id = $1 ORDER BY t.created_at DESC, t.id DESC"
    )))
    .bind(account_id)
    .fetch_all(conn)
    .await?;
    rows.iter().map(from_row).collect()
}

/// The live token with this hash and the person who made it, in one statement.
pub async fn live(conn: &mut Conn, token_hash: &str, now: i64) -> Result<Option<(TokenRow, UserRow)>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS}, {} FROM api_tokens t JOIN users u ON u.id = t.created_by
         WHERE t.token_hash = $1 AND t.expires_at > $2",
        users::JOINED_COLUMNS
    )))
    .bind(token_hash)
    .bind(now)
    .fetch_optional(conn)
    .await?;
    row.map(|r| Ok((from_row(&r)?, users::from_row_at(&r, COLUMN_COUNT)?))).transpose()
}

/// Which table a token lives in.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Account,
    Instance,
}

impl Kind {
    fn table(self) -> &'static str {
        match self {
            Kind::Account => "api_tokens",
            Kind::Instance => "instance_tokens",
        }
    }
}

/// Notes a use, at most once a minute per token (a write per request would cost more
/// than the request).
pub async fn touch(conn: &mut Conn, kind: Kind, id: i64, now: i64) -> Result<()> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE {} SET last_used_at = $1 WHERE id = $2 AND (last_used_at IS NULL OR last_used_at < $3)",
        kind.table()
    )))
    .bind(now)
    .bind(id)
    .bind(now - 60)
    .execute(conn)
    .await?;
    Ok(())
}

/// Revokes one of the account's tokens; answers its name when it existed.
pub async fn delete(conn: &mut Conn, account_id: i64, id: i64) -> Result<Option<String>> {
    let name = sqlx::query_scalar("DELETE FROM api_tokens WHERE id = $1 AND account_id = $2 RETURNING name")
        .bind(id)
        .bind(account_id)
        .fetch_optional(conn)
        .await?;
    Ok(name)
}

/// Revokes every token a person made (they were deactivated).
pub async fn delete_made_by(conn: &mut Conn, user_id: i64) -> Result<u64> {
    let done = sqlx::query("DELETE FROM api_tokens WHERE created_by = $1").bind(user_id).execute(conn).await?;
    Ok(done.rows_affected())
}

/// An instance token as listed: never the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceTokenRow {
    pub id: i64,
    pub name: String,
    pub scopes: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub last_used_at: Option<i64>,
}

const INSTANCE_COLUMNS: &str = "id, name, scopes, created_at, expires_at, last_used_at";

fn instance_from_row(r: &AnyRow) -> Result<InstanceTokenRow> {
    Ok(InstanceTokenRow {
        id: r.try_get(0)?,
        name: r.try_get(1)?,
        scopes: r.try_get(2)?,
        created_at: r.try_get(3)?,
        expires_at: r.try_get(4)?,
        last_used_at: r.try_get(5)?,
    })
}

pub struct NewInstanceToken<'a> {
    pub name: &'a str,
    pub token_hash: &'a str,
    pub scopes: &'a str,
    pub now: i64,
    pub expires_at: i64,
}

pub async fn insert_instance(conn: &mut Conn, new: &NewInstanceToken<'_>) -> Result<i64> {
    let id = sqlx::query_scalar(
        "INSERT INTO instance_tokens (name, token_hash, scopes, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(new.name)
    .bind(new.token_hash)
    .bind(new.scopes)
    .bind(new.now)
    .bind(new.expires_at)
    .fetch_one(conn)
    .await?;
    Ok(id)
}

/// Every instance token, newest first.
pub async fn instance_tokens(conn: &mut Conn) -> Result<Vec<InstanceTokenRow>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {INSTANCE_COLUMNS} FROM instance_tokens ORDER BY created_at DESC, id DESC"
    )))
    .fetch_all(conn)
    .await?;
    rows.iter().map(instance_from_row).collect()
}

/// The live instance token with this hash.
pub async fn live_instance(conn: &mut Conn, token_hash: &str, now: i64) -> Result<Option<InstanceTokenRow>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {INSTANCE_COLUMNS} FROM instance_tokens WHERE token_hash = $1 AND expires_at > $2"
    )))
    .bind(token_hash)
    .bind(now)
    .fetch_optional(conn)
    .await?;
    row.as_ref().map(instance_from_row).transpose()
}

/// Revokes an instance token; answers its name when it existed.
pub async fn delete_instance(conn: &mut Conn, id: i64) -> Result<Option<String>> {
    let name = sqlx::query_scalar("DELETE FROM instance_tokens WHERE id = $1 RETURNING name")
        .bind(id)
        .fetch_optional(conn)
        .await?;
    Ok(name)
}
