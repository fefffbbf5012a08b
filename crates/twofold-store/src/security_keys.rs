//! Security keys and passkeys (SEC-36): the registered WebAuthn credentials of people, and
//! the ceremonies begun but not finished.

use sqlx::Row;

use crate::{Conn, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityKeyRow {
    pub id: i64,
    pub user_id: i64,
    /// The authenticator's credential id, base64url.
    pub credential_id: String,
    pub name: String,
    pub passkey: bool,
    /// webauthn-rs's record of the credential, as JSON.
    pub credential: String,
    pub sign_count: i64,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

const COLUMNS: &str = "id, user_id, credential_id, name, passkey, credential, sign_count, created_at, last_used_at";

fn from_row(r: &sqlx::any::AnyRow) -> Result<SecurityKeyRow> {
    let passkey: i64 = r.try_get(4)?;
    Ok(SecurityKeyRow {
        id: r.try_get(0)?,
        user_id: r.try_get(1)?,
        credential_id: r.try_get(2)?,
        name: r.try_get(3)?,
        passkey: passkey != 0,
        credential: r.try_get(5)?,
        sign_count: r.try_get(6)?,
        created_at: r.try_get(7)?,
        last_used_at: r.try_get(8)?,
    })
}

pub struct NewSecurityKey<'a> {
    pub user_id: i64,
    pub credential_id: &'a str,
    pub name: &'a str,
    pub passkey: bool,
    pub credential: &'a str,
    pub sign_count: i64,
    pub now: i64,
}

/// Registers a credential. Answers `None` when that credential id is already registered
/// (to anyone: a credential is bound to one person).
pub async fn insert(conn: &mut Conn, new: &NewSecurityKey<'_>) -> Result<Option<i64>> {
    let row = sqlx::query(
        "INSERT INTO webauthn_credentials (user_id, credential_id, name, passkey, credential, sign_count, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (credential_id) DO NOTHING RETURNING id",
    )
    .bind(new.user_id)
    .bind(new.credential_id)
    .bind(new.name)
    .bind(i64::from(new.passkey))
    .bind(new.credential)
    .bind(new.sign_count)
    .bind(new.now)
    .fetch_optional(conn)
    .await?;
    row.map(|r| r.try_get(0)).transpose().map_err(Into::into)
}

pub async fn for_user(conn: &mut Conn, user_id: i64) -> Result<Vec<SecurityKeyRow>> {
    let statement = format!("SELECT {COLUMNS} FROM webauthn_credentials WHERE user_id = $1 ORDER BY id");
    let rows = sqlx::query(sqlx::AssertSqlSafe(statement)).bind(user_id).fetch_all(conn).await?;
    rows.iter().map(from_row).collect()
}

pub async fn by_credential_id(conn: &mut Conn, credential_id: &str) -> Result<Option<SecurityKeyRow>> {
    let statement = format!("SELECT {COLUMNS} FROM webauthn_credentials WHERE credential_id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(statement)).bind(credential_id).fetch_optional(conn).await?;
    row.as_ref().map(from_row).transpose()
}

/// Records a successful use: the new counter and record, only if the counter is still the
/// one the check was made against (a concurrent use of the same key loses).
pub async fn record_use(
    conn: &mut Conn,
    id: i64,
    seen_count: i64,
    new_count: i64,
    credential: &str,
    now: i64,
) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE webauthn_credentials SET sign_count = $1, credential = $2, last_used_at = $3
         WHERE id = $4 AND sign_count = $5",
    )
    .bind(new_count)
    .bind(credential)
    .bind(now)
    .bind(id)
    .bind(seen_count)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn delete(conn: &mut Conn, id: i64, user_id: i64) -> Result<bool> {
    let done = sqlx::query("DELETE FROM webauthn_credentials WHERE id = $1 AND user_id = $2")
        .bind(id)
        .bind(user_id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn delete_for_user(conn: &mut Conn, user_id: i64) -> Result<u64> {
    let done = sqlx::query("DELETE FROM webauthn_credentials WHERE user_id = $1").bind(user_id).execute(conn).await?;
    Ok(done.rows_affected())
}

/// A ceremony in flight: what the server must remember between the two calls.
pub struct NewCeremony<'a> {
    pub id_hash: &'a str,
    /// `register`, `second_step` or `passkey`.
    pub purpose: &'a str,
    /// The session (or pre-sign-in cookie) that asked, hashed.
    pub session_hash: &'a str,
    pub user_id: Option<i64>,
    pub state: &'a str,
    pub now: i64,
    pub expires_at: i64,
}

pub async fn begin_ceremony(conn: &mut Conn, new: &NewCeremony<'_>) -> Result<()> {
    sqlx::query(
        "INSERT INTO webauthn_challenges (id_hash, purpose, session_hash, user_id, state, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(new.id_hash)
    .bind(new.purpose)
    .bind(new.session_hash)
    .bind(new.user_id)
    .bind(new.state)
    .bind(new.now)
    .bind(new.expires_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// A ceremony taken back to finish it: gone from the table whatever happens next.
#[derive(Debug, Clone)]
pub struct Ceremony {
    pub user_id: Option<i64>,
    pub state: String,
    pub expires_at: i64,
}

/// Takes the ceremony once (single use): a second finish, on any instance, finds nothing.
/// Only the session that began it can take it.
pub async fn take_ceremony(
    conn: &mut Conn,
    id_hash: &str,
    purpose: &str,
    session_hash: &str,
) -> Result<Option<Ceremony>> {
    let row = sqlx::query(
        "DELETE FROM webauthn_challenges WHERE id_hash = $1 AND purpose = $2 AND session_hash = $3
         RETURNING user_id, state, expires_at",
    )
    .bind(id_hash)
    .bind(purpose)
    .bind(session_hash)
    .fetch_optional(conn)
    .await?;
    row.map(|r| Ok(Ceremony { user_id: r.try_get(0)?, state: r.try_get(1)?, expires_at: r.try_get(2)? })).transpose()
}

/// Drops ceremonies nobody finished.
pub async fn sweep_ceremonies(conn: &mut Conn, now: i64) -> Result<u64> {
    let done = sqlx::query("DELETE FROM webauthn_challenges WHERE expires_at <= $1").bind(now).execute(conn).await?;
    Ok(done.rows_affected())
}
