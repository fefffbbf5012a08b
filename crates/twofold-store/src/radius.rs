//! RADIUS clients, the challenges they answer, and the requests already answered.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Conn, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientRow {
    pub id: i64,
    pub name: String,
    pub address: String,
    pub secret_box: Vec<u8>,
    pub account_id: Option<i64>,
    pub mode: String,
    pub allow_one_factor: bool,
    pub legacy_no_message_authenticator: bool,
    pub created_at: i64,
}

const CLIENT_COLUMNS: &str =
    "id, name, address, secret_box, account_id, mode, allow_one_factor, legacy_no_message_authenticator, created_at";

fn client_from_row(r: &AnyRow) -> Result<ClientRow> {
    Ok(ClientRow {
        id: r.try_get(0)?,
        name: r.try_get(1)?,
        address: r.try_get(2)?,
        secret_box: r.try_get(3)?,
        account_id: r.try_get(4)?,
        mode: r.try_get(5)?,
        allow_one_factor: r.try_get::<i64, _>(6)? != 0,
        legacy_no_message_authenticator: r.try_get::<i64, _>(7)? != 0,
        created_at: r.try_get(8)?,
    })
}

pub struct NewClient<'a> {
    pub name: &'a str,
    pub address: &'a str,
    pub secret_box: &'a [u8],
    pub account_id: Option<i64>,
    pub mode: &'a str,
    pub allow_one_factor: bool,
    pub legacy_no_message_authenticator: bool,
    pub now: i64,
}

/// Adds a client; `None` when the name is taken.
pub async fn add_client(conn: &mut Conn, new: &NewClient<'_>) -> Result<Option<i64>> {
    let id = sqlx::query_scalar(
        "INSERT INTO radius_clients (name, address, secret_box, account_id, mode, allow_one_factor,
                                     legacy_no_message_authenticator, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (name) DO NOTHING RETURNING id",
    )
    .bind(new.name)
    .bind(new.address)
    .bind(new.secret_box)
    .bind(new.account_id)
    .bind(new.mode)
    .bind(i64::from(new.allow_one_factor))
    .bind(i64::from(new.legacy_no_message_authenticator))
    .bind(new.now)
    .fetch_optional(conn)
    .await?;
    Ok(id)
}

/// Every client, by name. Read for each request: the table is small, and a change made
/// from the command line takes effect at once on every instance.
pub async fn clients(conn: &mut Conn) -> Result<Vec<ClientRow>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {CLIENT_COLUMNS} FROM radius_clients ORDER BY name")))
        .fetch_all(conn)
        .await?;
    rows.iter().map(client_from_row).collect()
}

/// Removes a client by name; its open challenges go with it. Answers whether it existed.
pub async fn remove_client(conn: &mut Conn, name: &str) -> Result<bool> {
    let done = sqlx::query("DELETE FROM radius_clients WHERE name = $1").bind(name).execute(conn).await?;
    Ok(done.rows_affected() > 0)
}

/// Re-encrypts one client's secret, unless it changed meanwhile.
pub async fn reseal_client(conn: &mut Conn, id: i64, old: &[u8], new: &[u8]) -> Result<bool> {
    let done = sqlx::query("UPDATE radius_clients SET secret_box = $1 WHERE id = $2 AND secret_box = $3")
        .bind(new)
        .bind(id)
        .bind(old)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// A challenge waiting for its code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChallengeRow {
    pub user_id: i64,
    pub by_sms: bool,
}

pub async fn open_challenge(
    conn: &mut Conn,
    state_hash: &str,
    client_id: i64,
    user_id: i64,
    by_sms: bool,
    (now, expires_at): (i64, i64),
) -> Result<()> {
    sqlx::query(
        "INSERT INTO radius_challenges (state_hash, client_id, user_id, by_sms, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(state_hash)
    .bind(client_id)
    .bind(user_id)
    .bind(i64::from(by_sms))
    .bind(now)
    .bind(expires_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// Takes a challenge once, whatever comes of its code: of two requests carrying the same
/// State, on any instances, one gets the row. Expired challenges are taken and refused.
pub async fn take_challenge(
    conn: &mut Conn,
    state_hash: &str,
    client_id: i64,
    now: i64,
) -> Result<Option<ChallengeRow>> {
    let row = sqlx::query(
        "DELETE FROM radius_challenges WHERE state_hash = $1 AND client_id = $2 RETURNING user_id, by_sms, expires_at",
    )
    .bind(state_hash)
    .bind(client_id)
    .fetch_optional(conn)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let expires_at: i64 = row.try_get(2)?;
    if expires_at <= now {
        return Ok(None);
    }
    Ok(Some(ChallengeRow { user_id: row.try_get(0)?, by_sms: row.try_get::<i64, _>(1)? != 0 }))
}

/// What became of a request's first sight.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sighting {
    /// Never seen: this caller answers it.
    First,
    /// Answered already: the sealed reply to send again.
    Answered(Vec<u8>),
    /// Another caller is answering it right now.
    InFlight,
}

/// Claims a request by its key. A row older than `forget_before` is forgotten and claimed
/// anew (the sweep deletes old rows; no request pays for a table-wide delete).
pub async fn sight(conn: &mut Conn, request_key: &str, now: i64, forget_before: i64) -> Result<Sighting> {
    let claimed: Option<String> = sqlx::query_scalar(
        "INSERT INTO radius_requests (request_key, created_at) VALUES ($1, $2)
         ON CONFLICT (request_key) DO UPDATE SET created_at = excluded.created_at, reply_box = NULL
             WHERE radius_requests.created_at < $3
         RETURNING request_key",
    )
    .bind(request_key)
    .bind(now)
    .bind(forget_before)
    .fetch_optional(&mut *conn)
    .await?;
    if claimed.is_some() {
        return Ok(Sighting::First);
    }
    let reply: Option<Option<Vec<u8>>> =
        sqlx::query_scalar("SELECT reply_box FROM radius_requests WHERE request_key = $1")
            .bind(request_key)
            .fetch_optional(conn)
            .await?;
    Ok(match reply.flatten() {
        Some(sealed) => Sighting::Answered(sealed),
        None => Sighting::InFlight,
    })
}

/// Keeps the sealed reply of a claimed request for its retransmissions.
pub async fn answered(conn: &mut Conn, request_key: &str, reply_box: &[u8]) -> Result<()> {
    sqlx::query("UPDATE radius_requests SET reply_box = $1 WHERE request_key = $2")
        .bind(reply_box)
        .bind(request_key)
        .execute(conn)
        .await?;
    Ok(())
}

/// Gives a claim back when no answer was made (the store failed mid-way): the client's
/// retransmission is then answered afresh.
pub async fn forget(conn: &mut Conn, request_key: &str) -> Result<()> {
    sqlx::query("DELETE FROM radius_requests WHERE request_key = $1 AND reply_box IS NULL")
        .bind(request_key)
        .execute(conn)
        .await?;
    Ok(())
}

/// Deletes expired challenges and old request records; safe on several instances.
pub async fn sweep(conn: &mut Conn, now: i64, requests_before: i64) -> Result<u64> {
    let a = sqlx::query("DELETE FROM radius_challenges WHERE expires_at <= $1").bind(now).execute(&mut *conn).await?;
    let b =
        sqlx::query("DELETE FROM radius_requests WHERE created_at < $1").bind(requests_before).execute(conn).await?;
    Ok(a.rows_affected() + b.rows_affected())
}

/// Ends a person's open challenges (they were deactivated).
pub async fn end_challenges_of(conn: &mut Conn, user_id: i64) -> Result<u64> {
    let done = sqlx::query("DELETE FROM radius_challenges WHERE user_id = $1").bind(user_id).execute(conn).await?;
    Ok(done.rows_affected())
}
