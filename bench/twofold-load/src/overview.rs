//! The Overview phase: an account of many people given a long audit log, then its Owner's
//! `GET /api/v1/account/overview` timed one request at a time against the same run's
//! `/healthz` at concurrency 1 (the floor). The events are written in bulk with SQL (one
//! statement per 100,000 rows), outside the hash chain: the phase measures the Overview's
//! reads, not the audit log's appends, which the other phases already pay.

use anyhow::{Context, Result};
use sqlx::{Executor, Row};
use twofold_app::domain::session::Stage;
use twofold_store::{Store, commit};

use crate::people::{People, unix_now};

const CHUNK: u64 = 100_000;

/// The mix of a busy account's log, per 100 events: mostly sign-ins, some wrong passwords
/// and codes, application sign-ins, and the rarer changes the Overview lists.
const MIX: &str = "CASE
    WHEN i % 100 < 70 THEN 'sign_in.succeeded'
    WHEN i % 100 < 80 THEN 'sign_in.failed'
    WHEN i % 100 < 85 THEN 'sign_in.totp_rejected'
    WHEN i % 100 < 95 THEN 'oidc.token_issued'
    WHEN i % 100 = 95 THEN 'two_factor.enabled'
    WHEN i % 100 = 96 THEN 'two_factor.disabled'
    WHEN i % 100 = 97 THEN 'password.changed'
    WHEN i % 100 = 98 THEN 'two_factor.locked'
    ELSE 'recovery_codes.issued' END";

/// Writes `count` events for the account of person 0, spread over the last year (so about
/// a quarter fall inside the trend's 90 days and a twelfth inside the 30 of activity).
pub async fn seed_events(store: &Store, people: &People, count: u64) -> Result<i64> {
    let owner = *people.user_ids.first().context("no people")?;
    let mut conn = store.conn().await?;
    let account: i64 = sqlx::query("SELECT account_id FROM users WHERE id = $1")
        .bind(owner)
        .fetch_one(&mut *conn)
        .await?
        .try_get(0)?;
    drop(conn);
    let now = unix_now();
    let year = 365 * 86_400;
    let per_account = people.len().max(1) as u64;
    let mut written = 0;
    while written < count {
        let n = CHUNK.min(count - written);
        // Numbers only, formatted in: nothing here comes from outside the tool.
        let statement = format!(
            "WITH RECURSIVE n(i) AS (SELECT CAST({written} AS BIGINT) UNION ALL SELECT i + 1 FROM n WHERE i < {last})
             INSERT INTO audit_events (account_id, actor_user_id, target_user_id, event, detail, ip, created_at)
             SELECT {account}, {owner} + i % {per_account}, {owner} + i % {per_account}, {MIX},
                    CASE WHEN i % 100 BETWEEN 85 AND 94
                         THEN '{{\"client_id\":\"bench-' || (i % 7) || '\",\"grant_type\":\"authorization_code\"}}'
                         ELSE '{{}}' END,
                    '127.0.0.1', {now} - (i * 7919) % {year}
             FROM n",
            last = written + n - 1,
        );
        let mut tx = store.begin().await?;
        tx.execute(sqlx::AssertSqlSafe(statement)).await?;
        commit(tx).await?;
        written += n;
        if written % 500_000 == 0 && written < count {
            eprintln!("  wrote {written} of {count} audit events");
        }
    }
    if store.backend() == twofold_store::Backend::Postgres {
        // What autovacuum does within a minute of a bulk load (its analyze threshold is a
        // tenth of a table); without it the planner still believes the tables are empty.
        store.conn().await?.execute("ANALYZE").await?;
    }
    Ok(account)
}

/// The Owner's cookie for a signed-in session.
pub async fn owner_cookie(store: &Store, people: &People) -> Result<String> {
    let sessions = people.open_sessions(store, &[0], Stage::SignedIn).await?;
    Ok(sessions.into_iter().next().context("no session")?.cookie)
}
