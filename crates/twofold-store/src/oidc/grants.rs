//! Grants (one sign-in of a person to an application) and the codes and tokens they issue.
//! Codes and refresh tokens are taken by conditional updates, so of any number of
//! concurrent redemptions on any number of instances exactly one wins (SEC-40, SEC-42).

use sqlx::Row;

use crate::{Conn, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantRow {
    pub id: i64,
    pub client_id: String,
    pub user_id: i64,
    pub session_hash: String,
    pub scope: String,
    pub nonce: Option<String>,
    pub auth_time: i64,
    pub method: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
}

pub struct NewGrant<'a> {
    pub client_id: &'a str,
    pub user_id: i64,
    pub session_hash: &'a str,
    pub scope: &'a str,
    pub nonce: Option<&'a str>,
    pub auth_time: i64,
    pub method: &'a str,
    pub expires_at: i64,
}

const GRANT_COLUMNS: &str = "g.id, g.client_id, g.user_id, g.session_hash, g.scope, g.nonce, g.auth_time, g.method, g.created_at, g.expires_at, g.revoked_at";

fn grant_from(r: &sqlx::any::AnyRow) -> Result<GrantRow> {
    Ok(GrantRow {
        id: r.try_get(0)?,
        client_id: r.try_get(1)?,
        user_id: r.try_get(2)?,
        session_hash: r.try_get(3)?,
        scope: r.try_get(4)?,
        nonce: r.try_get(5)?,
        auth_time: r.try_get(6)?,
        method: r.try_get(7)?,
        created_at: r.try_get(8)?,
        expires_at: r.try_get(9)?,
        revoked_at: r.try_get(10)?,
    })
}

pub async fn insert_grant(conn: &mut Conn, new: &NewGrant<'_>, now: i64) -> Result<i64> {
    let id = sqlx::query_scalar(
        "INSERT INTO oidc_grants (client_id, user_id, session_hash, scope, nonce, auth_time, method, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
    )
    .bind(new.client_id)
    .bind(new.user_id)
    .bind(new.session_hash)
    .bind(new.scope)
    .bind(new.nonce)
    .bind(new.auth_time)
    .bind(new.method)
    .bind(now)
    .bind(new.expires_at)
    .fetch_one(conn)
    .await?;
    Ok(id)
}

pub async fn grant(conn: &mut Conn, id: i64) -> Result<Option<GrantRow>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {GRANT_COLUMNS} FROM oidc_grants g WHERE g.id = $1")))
        .bind(id)
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(grant_from).transpose()
}

/// Revokes one grant; answers whether it was live.
pub async fn revoke(conn: &mut Conn, id: i64, now: i64, why: &str) -> Result<bool> {
    let done =
        sqlx::query("UPDATE oidc_grants SET revoked_at = $2, revoked_why = $3 WHERE id = $1 AND revoked_at IS NULL")
            .bind(id)
            .bind(now)
            .bind(why)
            .execute(conn)
            .await?;
    Ok(done.rows_affected() > 0)
}

/// Revokes every live grant of a person (SEC-42); answers how many.
pub async fn revoke_for_user(conn: &mut Conn, user_id: i64, now: i64, why: &str) -> Result<u64> {
    let done = sqlx::query(
        "UPDATE oidc_grants SET revoked_at = $2, revoked_why = $3 WHERE user_id = $1 AND revoked_at IS NULL",
    )
    .bind(user_id)
    .bind(now)
    .bind(why)
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

/// Revokes the grants a Twofold session made (its sign-out from an application).
pub async fn revoke_for_session(conn: &mut Conn, session_hash: &str, now: i64, why: &str) -> Result<u64> {
    let done = sqlx::query(
        "UPDATE oidc_grants SET revoked_at = $2, revoked_why = $3 WHERE session_hash = $1 AND revoked_at IS NULL",
    )
    .bind(session_hash)
    .bind(now)
    .bind(why)
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

pub struct NewCode<'a> {
    pub code_hash: &'a str,
    pub grant_id: i64,
    pub redirect_uri: &'a str,
    pub code_challenge: Option<&'a str>,
    pub expires_at: i64,
}

pub async fn insert_code(conn: &mut Conn, new: &NewCode<'_>, now: i64) -> Result<()> {
    sqlx::query(
        "INSERT INTO oidc_codes (code_hash, grant_id, redirect_uri, code_challenge, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(new.code_hash)
    .bind(new.grant_id)
    .bind(new.redirect_uri)
    .bind(new.code_challenge)
    .bind(now)
    .bind(new.expires_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// A code as redeemed: its grant, and what the redemption must match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TakenCode {
    pub grant: GrantRow,
    pub redirect_uri: String,
    pub code_challenge: Option<String>,
}

/// What became of a code that could not be taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeRefusal {
    /// No such code (or long gone).
    Unknown,
    Expired,
    /// Redeemed before: a replay. Carries the grant to revoke.
    Used {
        grant_id: i64,
    },
}

/// Redeems a code: one conditional update, so only one of concurrent redemptions wins.
pub async fn take_code(conn: &mut Conn, code_hash: &str, now: i64) -> Result<Result<TakenCode, CodeRefusal>> {
    let taken = sqlx::query(
        "UPDATE oidc_codes SET used_at = $2 WHERE code_hash = $1 AND used_at IS NULL AND expires_at > $2
         RETURNING grant_id, redirect_uri, code_challenge",
    )
    .bind(code_hash)
    .bind(now)
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(row) = taken {
        let grant_id: i64 = row.try_get(0)?;
        let Some(grant) = grant(conn, grant_id).await? else {
            return Ok(Err(CodeRefusal::Unknown));
        };
        return Ok(Ok(TakenCode { grant, redirect_uri: row.try_get(1)?, code_challenge: row.try_get(2)? }));
    }
    let seen = sqlx::query("SELECT grant_id, used_at FROM oidc_codes WHERE code_hash = $1")
        .bind(code_hash)
        .fetch_optional(conn)
        .await?;
    Ok(Err(match seen {
        None => CodeRefusal::Unknown,
        Some(row) => match row.try_get::<Option<i64>, _>(1)? {
            Some(_) => CodeRefusal::Used { grant_id: row.try_get(0)? },
            None => CodeRefusal::Expired,
        },
    }))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    Access,
    Refresh,
}

impl TokenKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenKind::Access => "access",
            TokenKind::Refresh => "refresh",
        }
    }
}

pub async fn insert_token(
    conn: &mut Conn,
    token_hash: &str,
    grant_id: i64,
    kind: TokenKind,
    now: i64,
    expires_at: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO oidc_tokens (token_hash, grant_id, kind, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(token_hash)
    .bind(grant_id)
    .bind(kind.as_str())
    .bind(now)
    .bind(expires_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// What became of a refresh token that could not be rotated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshRefusal {
    Unknown,
    Expired,
    /// Rotated before: reuse (SEC-42). Carries the family to revoke.
    Reused {
        grant_id: i64,
    },
}

/// Rotates a refresh token: marks it used if it is live and unused; answers its grant.
pub async fn rotate_refresh(conn: &mut Conn, token_hash: &str, now: i64) -> Result<Result<GrantRow, RefreshRefusal>> {
    let taken: Option<i64> = sqlx::query_scalar(
        "UPDATE oidc_tokens SET used_at = $2
         WHERE token_hash = $1 AND kind = 'refresh' AND used_at IS NULL AND expires_at > $2 RETURNING grant_id",
    )
    .bind(token_hash)
    .bind(now)
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(grant_id) = taken {
        return Ok(grant(conn, grant_id).await?.ok_or(RefreshRefusal::Unknown));
    }
    let seen = sqlx::query("SELECT grant_id, used_at FROM oidc_tokens WHERE token_hash = $1 AND kind = 'refresh'")
        .bind(token_hash)
        .fetch_optional(conn)
        .await?;
    Ok(Err(match seen {
        None => RefreshRefusal::Unknown,
        Some(row) => match row.try_get::<Option<i64>, _>(1)? {
            Some(_) => RefreshRefusal::Reused { grant_id: row.try_get(0)? },
            None => RefreshRefusal::Expired,
        },
    }))
}

/// The live grant behind a live access token (one statement, for userinfo).
pub async fn by_access_token(conn: &mut Conn, token_hash: &str, now: i64) -> Result<Option<GrantRow>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {GRANT_COLUMNS} FROM oidc_tokens t JOIN oidc_grants g ON g.id = t.grant_id
         WHERE t.token_hash = $1 AND t.kind = 'access' AND t.used_at IS NULL AND t.expires_at > $2
           AND g.revoked_at IS NULL AND g.expires_at > $2"
    )))
    .bind(token_hash)
    .bind(now)
    .fetch_optional(conn)
    .await?;
    row.as_ref().map(grant_from).transpose()
}

/// A token of any kind with its grant, for revocation (RFC 7009).
pub async fn token_grant(conn: &mut Conn, token_hash: &str) -> Result<Option<(TokenKind, GrantRow)>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {GRANT_COLUMNS}, t.kind FROM oidc_tokens t JOIN oidc_grants g ON g.id = t.grant_id WHERE t.token_hash = $1"
    )))
    .bind(token_hash)
    .fetch_optional(conn)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let kind: String = row.try_get(11)?;
    let kind = if kind == "refresh" { TokenKind::Refresh } else { TokenKind::Access };
    Ok(Some((kind, grant_from(&row)?)))
}

/// Revokes one access token.
pub async fn revoke_token(conn: &mut Conn, token_hash: &str, now: i64) -> Result<bool> {
    let done = sqlx::query("UPDATE oidc_tokens SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL")
        .bind(token_hash)
        .bind(now)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// Sweeps what can no longer be used: expired codes and tokens, and grants past their end
/// or revoked a day ago (kept that long so that a replay is still recognised as one).
pub async fn delete_expired(conn: &mut Conn, now: i64) -> Result<u64> {
    let day_ago = now - 24 * 60 * 60;
    let codes = sqlx::query("DELETE FROM oidc_codes WHERE expires_at <= $1").bind(day_ago).execute(&mut *conn).await?;
    let tokens =
        sqlx::query("DELETE FROM oidc_tokens WHERE expires_at <= $1").bind(day_ago).execute(&mut *conn).await?;
    let grants = sqlx::query("DELETE FROM oidc_grants WHERE expires_at <= $1 OR revoked_at <= $1")
        .bind(day_ago)
        .execute(conn)
        .await?;
    Ok(codes.rows_affected() + tokens.rows_affected() + grants.rows_affected())
}
