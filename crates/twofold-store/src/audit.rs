//! The audit log: who did what to whom, when, from where. Append-only, and tamper-evident:
//! each account's events form a hash chain ([`chain`]) that [`verify`] walks.

pub mod chain;
pub mod checkpoint;
pub mod verify;

use sqlx::any::AnyRow;
use sqlx::{Connection, Row};

use crate::secret_box::SecretBox;
use crate::{Conn, Result, StoreError};
use chain::Link;

/// One event to append. `detail` is a JSON object with event-specific facts; it must never
/// hold a password, secret, code or token (SEC-31).
#[derive(Debug, Clone, Default)]
pub struct NewEvent<'a> {
    pub account_id: Option<i64>,
    pub actor_user_id: Option<i64>,
    pub target_user_id: Option<i64>,
    pub event: &'a str,
    pub detail: String,
    pub ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    pub now: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRow {
    pub id: i64,
    pub account_id: Option<i64>,
    pub actor_user_id: Option<i64>,
    pub target_user_id: Option<i64>,
    pub event: String,
    pub detail: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub created_at: i64,
}

/// Appends one event as the next link of its account's chain; answers its id.
///
/// Two statements inside the caller's transaction, or a transaction of its own when the
/// caller holds none, so the head and the row move together either way. Taking the next
/// place is an `UPDATE` of the head row: it holds the row lock on PostgreSQL and the write
/// lock on SQLite until the commit, so concurrent appends to one chain queue up instead of
/// both linking to the same predecessor. The head's `last_hash` follows the new row by a
/// trigger (migration 0011). No savepoint: an error here fails the caller's transaction.
pub async fn append(conn: &mut Conn, e: &NewEvent<'_>, key: &SecretBox) -> Result<i64> {
    if conn.is_in_transaction() {
        return append_in_transaction(conn, e, key).await;
    }
    let mut tx = conn.begin().await?;
    let id = append_in_transaction(&mut tx, e, key).await?;
    tx.commit().await?;
    Ok(id)
}

async fn append_in_transaction(conn: &mut Conn, e: &NewEvent<'_>, key: &SecretBox) -> Result<i64> {
    let detail = if e.detail.is_empty() { "{}" } else { e.detail.as_str() };
    let chain = chain::chain_of(e.account_id);
    let (seq, prev_hash) = match take_next_place(conn, chain).await? {
        Some(place) => place,
        None => {
            // The chain's first event: create its head, then take the place as usual.
            sqlx::query(
                "INSERT INTO audit_chain_heads (chain, seq, last_hash) VALUES ($1, 0, $2) ON CONFLICT (chain) DO NOTHING",
            )
            .bind(chain)
            .bind(chain::GENESIS)
            .execute(&mut *conn)
            .await?;
            take_next_place(conn, chain).await?.ok_or_else(|| StoreError::Config("audit chain head vanished".into()))?
        }
    };
    let link = Link {
        chain,
        seq,
        actor: e.actor_user_id,
        target: e.target_user_id,
        event: e.event,
        detail,
        ip: e.ip,
        user_agent: e.user_agent,
        created_at: e.now,
    };
    let hash = chain::keyed_hash(key, &prev_hash, &link);
    let id = sqlx::query_scalar(
        "INSERT INTO audit_events (account_id, actor_user_id, target_user_id, event, detail, ip, user_agent, created_at, seq, prev_hash, hash)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
    )
    .bind(e.account_id)
    .bind(e.actor_user_id)
    .bind(e.target_user_id)
    .bind(e.event)
    .bind(detail)
    .bind(e.ip)
    .bind(e.user_agent)
    .bind(e.now)
    .bind(seq)
    .bind(&prev_hash)
    .bind(&hash)
    .fetch_one(&mut *conn)
    .await?;
    Ok(id)
}

/// Moves the chain's head one place on; answers the new place and the hash before it, or
/// `None` when the chain has no head yet.
async fn take_next_place(conn: &mut Conn, chain: i64) -> Result<Option<(i64, String)>> {
    Ok(sqlx::query_as("UPDATE audit_chain_heads SET seq = seq + 1 WHERE chain = $1 RETURNING seq, last_hash")
        .bind(chain)
        .fetch_optional(&mut *conn)
        .await?)
}

/// Chains begun before the chain was keyed and not keyed since: no keyed link, an unkeyed
/// head. What the one-time seal after an upgrade appends to.
pub async fn unkeyed_chains(conn: &mut Conn) -> Result<Vec<i64>> {
    Ok(sqlx::query_scalar(
        "SELECT h.chain FROM audit_chain_heads h
         WHERE h.seq > 0 AND h.last_hash NOT LIKE 'k%'
           AND NOT EXISTS (SELECT 1 FROM audit_events e WHERE COALESCE(e.account_id, 0) = h.chain AND e.hash LIKE 'k%')
         ORDER BY h.chain",
    )
    .fetch_all(&mut *conn)
    .await?)
}

/// Which event types to keep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventMatch {
    /// This type only (`sign_in.failed`).
    Exact(String),
    /// Every type starting so (`sign_in.`).
    Prefix(String),
}

/// Filters for reading the log; events come newest first.
#[derive(Debug, Clone, Default)]
pub struct Query {
    pub account_id: Option<i64>,
    /// Events where this person acted or was acted on.
    pub user_id: Option<i64>,
    pub event: Option<EventMatch>,
    /// Unix seconds, inclusive.
    pub from: Option<i64>,
    /// Unix seconds, inclusive.
    pub to: Option<i64>,
    pub before_id: Option<i64>,
    pub limit: i64,
}

pub async fn list(conn: &mut Conn, q: &Query) -> Result<Vec<EventRow>> {
    let (exact, prefix) = match &q.event {
        Some(EventMatch::Exact(e)) => (Some(e.as_str()), None),
        Some(EventMatch::Prefix(p)) => (None, Some(p.as_str())),
        None => (None, None),
    };
    // A prefix is compared with substr rather than LIKE: `_` is a LIKE wildcard, and
    // every other event type has one.
    let rows = sqlx::query(
        "SELECT id, account_id, actor_user_id, target_user_id, event, detail, ip, user_agent, created_at
         FROM audit_events
         WHERE ($1 IS NULL OR account_id = $1)
           AND ($2 IS NULL OR actor_user_id = $2 OR target_user_id = $2)
           AND ($3 IS NULL OR id < $3)
           AND ($4 IS NULL OR event = $4)
           AND ($5 IS NULL OR substr(event, 1, length($5)) = $5)
           AND ($6 IS NULL OR created_at >= $6)
           AND ($7 IS NULL OR created_at <= $7)
         ORDER BY id DESC LIMIT $8",
    )
    .bind(q.account_id)
    .bind(q.user_id)
    .bind(q.before_id)
    .bind(exact)
    .bind(prefix)
    .bind(q.from)
    .bind(q.to)
    .bind(q.limit)
    .fetch_all(conn)
    .await?;
    rows.iter().map(event_row).collect()
}

/// The columns [`event_row`] reads, in its order.
pub(crate) const EVENT_COLUMNS: &str =
    "id, account_id, actor_user_id, target_user_id, event, detail, ip, user_agent, created_at";

pub(crate) fn event_row(r: &AnyRow) -> Result<EventRow> {
    Ok(EventRow {
        id: r.try_get(0)?,
        account_id: r.try_get(1)?,
        actor_user_id: r.try_get(2)?,
        target_user_id: r.try_get(3)?,
        event: r.try_get(4)?,
        detail: r.try_get(5)?,
        ip: r.try_get(6)?,
        user_agent: r.try_get(7)?,
        created_at: r.try_get(8)?,
    })
}

/// The event types an account's log holds, for the filter's suggestions.
pub async fn event_types(conn: &mut Conn, account_id: i64) -> Result<Vec<String>> {
    let types = sqlx::query_scalar("SELECT DISTINCT event FROM audit_events WHERE account_id = $1 ORDER BY event")
        .bind(account_id)
        .fetch_all(conn)
        .await?;
    Ok(types)
}
