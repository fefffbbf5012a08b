//! SMS-recovery grants and the recovery requests that lead to them.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Conn, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantRow {
    pub id: i64,
    pub user_id: i64,
    pub operator_id: Option<i64>,
    pub reason: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub closed_at: Option<i64>,
    pub closed_why: Option<String>,
}

fn grant(r: &AnyRow) -> Result<GrantRow> {
    Ok(GrantRow {
        id: r.try_get(0)?,
        user_id: r.try_get(1)?,
        operator_id: r.try_get(2)?,
        reason: r.try_get(3)?,
        created_at: r.try_get(4)?,
        expires_at: r.try_get(5)?,
        closed_at: r.try_get(6)?,
        closed_why: r.try_get(7)?,
    })
}

const GRANT_COLUMNS: &str = "id, user_id, operator_id, reason, created_at, expires_at, closed_at, closed_why";

/// The person's open grant, expired or not (an expired grant is closed lazily).
pub async fn open_grant(conn: &mut Conn, user_id: i64) -> Result<Option<GrantRow>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {GRANT_COLUMNS} FROM recovery_grants WHERE user_id = $1 AND closed_at IS NULL"
    )))
    .bind(user_id)
    .fetch_optional(conn)
    .await?;
    row.as_ref().map(grant).transpose()
}

/// The newest grants of a person, for the support pages.
pub async fn grants_of(conn: &mut Conn, user_id: i64, limit: i64) -> Result<Vec<GrantRow>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {GRANT_COLUMNS} FROM recovery_grants WHERE user_id = $1 ORDER BY id DESC LIMIT $2"
    )))
    .bind(user_id)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    rows.iter().map(grant).collect()
}

pub struct NewGrant<'a> {
    pub user_id: i64,
    pub operator_id: Option<i64>,
    pub reason: &'a str,
    pub request_id: Option<i64>,
    pub now: i64,
    pub expires_at: i64,
}

/// Opens a grant, closing any earlier open one as replaced (one open grant per person).
pub async fn open(conn: &mut Conn, new: &NewGrant<'_>) -> Result<i64> {
    close(conn, new.user_id, "replaced", new.now).await?;
    let id = sqlx::query_scalar(
        "INSERT INTO recovery_grants (user_id, operator_id, reason, request_id, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(new.user_id)
    .bind(new.operator_id)
    .bind(new.reason)
    .bind(new.request_id)
    .bind(new.now)
    .bind(new.expires_at)
    .fetch_one(conn)
    .await?;
    Ok(id)
}

/// Closes the person's open grant, if any; answers whether one was open.
pub async fn close(conn: &mut Conn, user_id: i64, why: &str, now: i64) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE recovery_grants SET closed_at = $1, closed_why = $2 WHERE user_id = $3 AND closed_at IS NULL",
    )
    .bind(now)
    .bind(why)
    .bind(user_id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() > 0)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRow {
    pub id: i64,
    pub user_id: i64,
    pub message: String,
    pub contact: String,
    pub status: String,
    pub operator_id: Option<i64>,
    pub identity_check: Option<String>,
    pub decision_note: Option<String>,
    pub created_at: i64,
    pub taken_at: Option<i64>,
    pub decided_at: Option<i64>,
}

const REQUEST_COLUMNS: &str = "id, user_id, message, contact, status, operator_id, identity_check, decision_note, created_at, taken_at, decided_at";

fn request_row(r: &AnyRow) -> Result<RequestRow> {
    Ok(RequestRow {
        id: r.try_get(0)?,
        user_id: r.try_get(1)?,
        message: r.try_get(2)?,
        contact: r.try_get(3)?,
        status: r.try_get(4)?,
        operator_id: r.try_get(5)?,
        identity_check: r.try_get(6)?,
        decision_note: r.try_get(7)?,
        created_at: r.try_get(8)?,
        taken_at: r.try_get(9)?,
        decided_at: r.try_get(10)?,
    })
}

pub async fn add_request(conn: &mut Conn, user_id: i64, message: &str, contact: &str, now: i64) -> Result<i64> {
    let id = sqlx::query_scalar(
        "INSERT INTO recovery_requests (user_id, message, contact, status, created_at) VALUES ($1, $2, $3, 'open', $4) RETURNING id",
    )
    .bind(user_id)
    .bind(message)
    .bind(contact)
    .bind(now)
    .fetch_one(conn)
    .await?;
    Ok(id)
}

pub async fn request_by_id(conn: &mut Conn, id: i64) -> Result<Option<RequestRow>> {
    let row =
        sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {REQUEST_COLUMNS} FROM recovery_requests WHERE id = $1")))
            .bind(id)
            .fetch_optional(conn)
            .await?;
    row.as_ref().map(request_row).transpose()
}

/// The person's newest request.
pub async fn latest_request(conn: &mut Conn, user_id: i64) -> Result<Option<RequestRow>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {REQUEST_COLUMNS} FROM recovery_requests WHERE user_id = $1 ORDER BY id DESC LIMIT 1"
    )))
    .bind(user_id)
    .fetch_optional(conn)
    .await?;
    row.as_ref().map(request_row).transpose()
}

/// Requests not yet decided, oldest first: the support queue.
pub async fn undecided(conn: &mut Conn, limit: i64) -> Result<Vec<RequestRow>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {REQUEST_COLUMNS} FROM recovery_requests WHERE status IN ('open', 'taken') ORDER BY created_at, id LIMIT $1"
    )))
    .bind(limit)
    .fetch_all(conn)
    .await?;
    rows.iter().map(request_row).collect()
}

/// Undecided requests about an account's people, for its Owner and Administrators.
pub async fn undecided_in_account(conn: &mut Conn, account_id: i64) -> Result<Vec<RequestRow>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {} FROM recovery_requests r JOIN users u ON u.id = r.user_id
         WHERE u.account_id = $1 AND r.status IN ('open', 'taken') ORDER BY r.created_at",
        REQUEST_COLUMNS.split(", ").map(|c| format!("r.{c}")).collect::<Vec<_>>().join(", ")
    )))
    .bind(account_id)
    .fetch_all(conn)
    .await?;
    rows.iter().map(request_row).collect()
}

/// An operator takes an open request; of two operators at once, one wins.
pub async fn take(conn: &mut Conn, id: i64, operator_id: i64, now: i64) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE recovery_requests SET status = 'taken', operator_id = $1, taken_at = $2 WHERE id = $3 AND status = 'open'",
    )
    .bind(operator_id)
    .bind(now)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records the decision on a request the operator took.
pub async fn decide(
    conn: &mut Conn,
    id: i64,
    operator_id: i64,
    status: &str,
    identity_check: &str,
    note: &str,
    now: i64,
) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE recovery_requests SET status = $1, identity_check = $2, decision_note = $3, decided_at = $4
         WHERE id = $5 AND status = 'taken' AND operator_id = $6",
    )
    .bind(status)
    .bind(identity_check)
    .bind(note)
    .bind(now)
    .bind(id)
    .bind(operator_id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}
