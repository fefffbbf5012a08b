//! People: their account, role and password hash.

use sqlx::Row;
use sqlx::any::AnyRow;
use twofold_domain::Role;
use twofold_domain::person::{Person, PersonStatus};

use crate::{Conn, Result, StoreError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRow {
    pub id: i64,
    pub account_id: i64,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub password_hash: Option<String>,
    pub created_at: i64,
    pub activated_at: Option<i64>,
    pub last_sign_in_at: Option<i64>,
    pub deactivated_at: Option<i64>,
}

impl UserRow {
    /// The person as the layers above see them: without the password hash.
    pub fn into_person(self) -> Person {
        Person {
            id: self.id,
            account_id: self.account_id,
            email: self.email,
            name: self.name,
            role: self.role,
            status: PersonStatus::of(self.activated_at, self.deactivated_at),
            created_at: self.created_at,
            last_sign_in_at: self.last_sign_in_at,
        }
    }
}

const COLUMNS: &str =
    "id, account_id, email, name, role, password_hash, created_at, activated_at, last_sign_in_at, deactivated_at";

/// The same columns of the table aliased `u`, for joins.
pub(crate) const JOINED_COLUMNS: &str = "u.id, u.account_id, u.email, u.name, u.role, u.password_hash, u.created_at, \
     u.activated_at, u.last_sign_in_at, u.deactivated_at";
/// How many columns [`JOINED_COLUMNS`] names.
pub(crate) const JOINED_COLUMN_COUNT: usize = 10;

fn from_row(r: &AnyRow) -> Result<UserRow> {
    from_row_at(r, 0)
}

/// A person read from the columns starting at `at` (after a joined table's own).
pub(crate) fn from_row_at(r: &AnyRow, at: usize) -> Result<UserRow> {
    let role: String = r.try_get(at + 4)?;
    Ok(UserRow {
        id: r.try_get(at)?,
        account_id: r.try_get(at + 1)?,
        email: r.try_get(at + 2)?,
        name: r.try_get(at + 3)?,
        role: Role::parse(&role).ok_or_else(|| StoreError::Config(format!("unknown role {role:?} in users")))?,
        password_hash: r.try_get(at + 5)?,
        created_at: r.try_get(at + 6)?,
        activated_at: r.try_get(at + 7)?,
        last_sign_in_at: r.try_get(at + 8)?,
        deactivated_at: r.try_get(at + 9)?,
    })
}

pub struct NewUser<'a> {
    pub account_id: i64,
    pub email: &'a str,
    pub name: &'a str,
    pub role: Role,
    /// `None` for an invited person who has not chosen a password yet.
    pub password_hash: Option<&'a str>,
    pub now: i64,
}

pub async fn insert(conn: &mut Conn, new: &NewUser<'_>) -> Result<i64> {
    let activated_at = new.password_hash.map(|_| new.now);
    let id = sqlx::query_scalar(
        "INSERT INTO users (account_id, email, name, role, password_hash, created_at, activated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(new.account_id)
    .bind(new.email)
    .bind(new.name)
    .bind(new.role.as_str())
    .bind(new.password_hash)
    .bind(new.now)
    .bind(activated_at)
    .fetch_one(conn)
    .await?;
    Ok(id)
}

/// Deactivates (`Some(now)`) or reactivates (`None`) a person; answers false when they
/// already were so. Never the Owner: the statement refuses it too.
pub async fn set_deactivated(conn: &mut Conn, id: i64, at: Option<i64>) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE users SET deactivated_at = $1
         WHERE id = $2 AND role <> 'owner' AND (deactivated_at IS NULL) = ($1 IS NOT NULL)",
    )
    .bind(at)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Removes a person (never an Owner): their sessions, factors, devices and grants go with
/// them (`ON DELETE CASCADE`); the audit log keeps its events. Answers whether they existed.
pub async fn delete(conn: &mut Conn, id: i64) -> Result<bool> {
    let done = sqlx::query("DELETE FROM users WHERE id = $1 AND role <> 'owner'").bind(id).execute(conn).await?;
    Ok(done.rows_affected() > 0)
}

pub async fn by_id(conn: &mut Conn, id: i64) -> Result<Option<UserRow>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM users WHERE id = $1")))
        .bind(id)
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(from_row).transpose()
}

pub async fn by_email(conn: &mut Conn, email: &str) -> Result<Option<UserRow>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM users WHERE email = $1")))
        .bind(email)
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// The account's people, Owner first, then by name.
pub async fn in_account(conn: &mut Conn, account_id: i64) -> Result<Vec<UserRow>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM users WHERE account_id = $1
         ORDER BY CASE role WHEN 'owner' THEN 0 WHEN 'admin' THEN 1 ELSE 2 END, name, id"
    )))
    .bind(account_id)
    .fetch_all(conn)
    .await?;
    rows.iter().map(from_row).collect()
}

pub async fn set_password(conn: &mut Conn, id: i64, password_hash: &str, now: i64) -> Result<()> {
    sqlx::query("UPDATE users SET password_hash = $1, activated_at = COALESCE(activated_at, $2) WHERE id = $3")
        .bind(password_hash)
        .bind(now)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// The address is proven: a link only its mailbox received was used.
pub async fn mark_email_verified(conn: &mut Conn, id: i64, now: i64) -> Result<()> {
    sqlx::query("UPDATE users SET email_verified_at = COALESCE(email_verified_at, $2) WHERE id = $1")
        .bind(id)
        .bind(now)
        .execute(conn)
        .await?;
    Ok(())
}

/// Whether the person's address is proven (see [`mark_email_verified`]).
pub async fn email_verified(conn: &mut Conn, id: i64) -> Result<bool> {
    let at: Option<Option<i64>> =
        sqlx::query_scalar("SELECT email_verified_at FROM users WHERE id = $1").bind(id).fetch_optional(conn).await?;
    Ok(at.flatten().is_some())
}

/// Changes a role, but only from the role the caller saw: a concurrent change makes
/// this a no-op (returns false) instead of overwriting it.
pub async fn set_role(conn: &mut Conn, id: i64, from: Role, to: Role) -> Result<bool> {
    let done = sqlx::query("UPDATE users SET role = $1 WHERE id = $2 AND role = $3")
        .bind(to.as_str())
        .bind(id)
        .bind(from.as_str())
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn record_sign_in(conn: &mut Conn, id: i64, now: i64) -> Result<()> {
    sqlx::query("UPDATE users SET last_sign_in_at = $1 WHERE id = $2").bind(now).bind(id).execute(conn).await?;
    Ok(())
}

/// The person's password hash, for the password step and confirmations; `None` while the
/// invitation is unused.
pub async fn password_hash(conn: &mut Conn, id: i64) -> Result<Option<String>> {
    let hash: Option<Option<String>> =
        sqlx::query_scalar("SELECT password_hash FROM users WHERE id = $1").bind(id).fetch_optional(conn).await?;
    Ok(hash.flatten())
}
