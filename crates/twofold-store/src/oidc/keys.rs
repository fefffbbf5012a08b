//! ID-token signing keys: the private half sealed, the public half as its JWK.

use sqlx::Row;

use crate::{Conn, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRow {
    pub kid: String,
    pub alg: String,
    pub secret_box: Vec<u8>,
    pub public_jwk: String,
    pub created_at: i64,
    pub retired_at: Option<i64>,
}

const COLUMNS: &str = "kid, secret_box, public_jwk, created_at, retired_at, alg";

fn from_row(r: &sqlx::any::AnyRow) -> Result<KeyRow> {
    Ok(KeyRow {
        kid: r.try_get(0)?,
        secret_box: r.try_get(1)?,
        public_jwk: r.try_get(2)?,
        created_at: r.try_get(3)?,
        retired_at: r.try_get(4)?,
        alg: r.try_get(5)?,
    })
}

/// The key of `alg` that signs now.
pub async fn signing(conn: &mut Conn, alg: &str) -> Result<Option<KeyRow>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM oidc_keys WHERE alg = $1 AND retired_at IS NULL"
    )))
    .bind(alg)
    .fetch_optional(conn)
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// Every key whose tokens may still be met: the signing one, and those retired after
/// `retired_after` (the overlap). Newest first.
pub async fn published(conn: &mut Conn, retired_after: i64) -> Result<Vec<KeyRow>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM oidc_keys WHERE retired_at IS NULL OR retired_at > $1 ORDER BY created_at DESC, kid"
    )))
    .bind(retired_after)
    .fetch_all(conn)
    .await?;
    rows.iter().map(from_row).collect()
}

/// Every stored key, retired or not (for re-sealing and the command line).
pub async fn all(conn: &mut Conn) -> Result<Vec<KeyRow>> {
    let rows =
        sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM oidc_keys ORDER BY created_at DESC, kid")))
            .fetch_all(conn)
            .await?;
    rows.iter().map(from_row).collect()
}

/// Adds a signing key. Fails (a unique violation) when another one signs already: two
/// instances creating the first key at once settle it here.
pub async fn insert(conn: &mut Conn, kid: &str, alg: &str, sealed: &[u8], public_jwk: &str, now: i64) -> Result<()> {
    sqlx::query("INSERT INTO oidc_keys (kid, alg, secret_box, public_jwk, created_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(kid)
        .bind(alg)
        .bind(sealed)
        .bind(public_jwk)
        .bind(now)
        .execute(conn)
        .await?;
    Ok(())
}

/// Retires the signing key of `alg` (a rotation); answers its id, if there was one.
pub async fn retire_signing(conn: &mut Conn, alg: &str, now: i64) -> Result<Option<String>> {
    let kid =
        sqlx::query_scalar("UPDATE oidc_keys SET retired_at = $2 WHERE alg = $1 AND retired_at IS NULL RETURNING kid")
            .bind(alg)
            .bind(now)
            .fetch_optional(conn)
            .await?;
    Ok(kid)
}

/// Drops keys retired at or before `retired_before`: no token they signed is still valid.
pub async fn delete_retired(conn: &mut Conn, retired_before: i64) -> Result<u64> {
    let done = sqlx::query("DELETE FROM oidc_keys WHERE retired_at IS NOT NULL AND retired_at <= $1")
        .bind(retired_before)
        .execute(conn)
        .await?;
    Ok(done.rows_affected())
}

/// Re-seals one key under the current encryption key, if it did not change meanwhile.
pub async fn reseal(conn: &mut Conn, kid: &str, old: &[u8], new: &[u8]) -> Result<bool> {
    let done = sqlx::query("UPDATE oidc_keys SET secret_box = $3 WHERE kid = $1 AND secret_box = $2")
        .bind(kid)
        .bind(old)
        .bind(new)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() > 0)
}
