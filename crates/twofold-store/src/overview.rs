//! The Overview's reads: events per day from the audit log, and the account's people in
//! the states that need the Owner. Each is one statement over an index, so that the page
//! stays fast at 10,000 people and 1,000,000 audit events (docs/performance.md).

use sqlx::Row;

use crate::{Conn, Result};

/// `$first, $first+1, …` for `n` values: the placeholders of an `IN` list.
fn placeholders(first: usize, n: usize) -> String {
    (first..first + n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

/// How many of each of `events` the account logged per UTC day since `since`:
/// `(day since 1970, event, count)`.
pub async fn events_per_day(
    conn: &mut Conn,
    account_id: i64,
    events: &[&str],
    since: i64,
) -> Result<Vec<(i64, String, i64)>> {
    let statement = format!(
        "SELECT created_at / 86400, event, COUNT(*) FROM audit_events
         WHERE account_id = $1 AND event IN ({}) AND created_at >= $2
         GROUP BY created_at / 86400, event",
        placeholders(3, events.len())
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(statement)).bind(account_id).bind(since);
    for event in events {
        query = query.bind(*event);
    }
    let rows = query.fetch_all(conn).await?;
    rows.iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?))).collect()
}

/// The details (JSON text) of the account's application sign-ins since `since`: tokens
/// issued for a redeemed code. Refreshes are the same event (`grant_type` says which) and
/// are left out here, in the database, so a busy month of refreshes is never read; the app
/// checks the field again when it parses each detail.
pub async fn sign_in_details(conn: &mut Conn, account_id: i64, since: i64) -> Result<Vec<String>> {
    let details = sqlx::query_scalar(
        "SELECT detail FROM audit_events WHERE account_id = $1 AND event = 'oidc.token_issued' AND created_at >= $2
         AND detail NOT LIKE '%\"grant_type\":\"refresh_token\"%'",
    )
    .bind(account_id)
    .bind(since)
    .fetch_all(conn)
    .await?;
    Ok(details)
}

/// A security key or passkey added lately.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddedKey {
    pub user_id: i64,
    pub person_name: String,
    pub key_name: String,
    pub passkey: bool,
    pub created_at: i64,
}

/// Keys the account's people added since `since`, newest first.
pub async fn keys_added_since(conn: &mut Conn, account_id: i64, since: i64) -> Result<Vec<AddedKey>> {
    let rows = sqlx::query(
        "SELECT u.id, u.name, w.name, w.passkey, w.created_at FROM webauthn_credentials w
         JOIN users u ON u.id = w.user_id
         WHERE u.account_id = $1 AND w.created_at >= $2 ORDER BY w.created_at DESC, w.id DESC LIMIT 100",
    )
    .bind(account_id)
    .bind(since)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            let passkey: i64 = r.try_get(3)?;
            Ok(AddedKey {
                user_id: r.try_get(0)?,
                person_name: r.try_get(1)?,
                key_name: r.try_get(2)?,
                passkey: passkey != 0,
                created_at: r.try_get(4)?,
            })
        })
        .collect()
}

/// The account's newest events among `events`, at most `limit`: each event's newest read
/// off the (account, event, time) index, then merged. One `IN (…) ORDER BY time` would sort
/// every matching event of the account's history (33 ms on PostgreSQL at 1,000,000 events
/// with 50,000 matching, against under 1 ms this way).
pub async fn newest_of(
    conn: &mut Conn,
    account_id: i64,
    events: &[&str],
    limit: i64,
) -> Result<Vec<crate::audit::EventRow>> {
    let newest_of_each: Vec<String> = (0..events.len())
        .map(|i| {
            format!(
                "SELECT id FROM (SELECT id FROM audit_events WHERE account_id = $1 AND event = ${}
                 ORDER BY created_at DESC, id DESC LIMIT $2) AS e{i}",
                i + 3
            )
        })
        .collect();
    let statement = format!(
        "SELECT {} FROM audit_events WHERE id IN ({}) ORDER BY created_at DESC, id DESC LIMIT $2",
        crate::audit::EVENT_COLUMNS,
        if newest_of_each.is_empty() {
            "SELECT id FROM audit_events WHERE 1 = 0".to_owned()
        } else {
            newest_of_each.join(" UNION ALL ")
        }
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(statement)).bind(account_id).bind(limit);
    for event in events {
        query = query.bind(*event);
    }
    let rows = query.fetch_all(conn).await?;
    rows.iter().map(crate::audit::event_row).collect()
}
