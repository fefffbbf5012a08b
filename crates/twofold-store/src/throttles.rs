//! Failure counters for throttling, shared by every instance through the database.

use sqlx::Row;
use twofold_domain::throttle::{Failures, ThrottleKey};

use crate::{Conn, Result};

pub async fn get(conn: &mut Conn, key: &ThrottleKey) -> Result<Failures> {
    let row = sqlx::query("SELECT consecutive, last_at FROM throttles WHERE subject = $1")
        .bind(key.subject())
        .fetch_optional(conn)
        .await?;
    match row {
        Some(r) => failures_at(&r, 0),
        None => Ok(Failures::default()),
    }
}

/// The counter read from two columns starting at `at` (`consecutive, last_at`), which are
/// NULL when a LEFT JOIN found no row: no failures.
pub(crate) fn failures_at(r: &sqlx::any::AnyRow, at: usize) -> Result<Failures> {
    let consecutive: Option<i64> = r.try_get(at)?;
    let last_at: Option<i64> = r.try_get(at + 1)?;
    Ok(match (consecutive, last_at) {
        (Some(consecutive), Some(last_at)) => {
            Failures { consecutive: u32::try_from(consecutive).unwrap_or(u32::MAX), last_at }
        }
        _ => Failures::default(),
    })
}

/// Counts one more failure in a single atomic statement, so that failures made at the
/// same moment on different instances all count; a count its policy has forgotten (no
/// failure for `forget_after`) starts again at one. Answers the new state.
pub async fn record_failure(conn: &mut Conn, key: &ThrottleKey, now: i64) -> Result<Failures> {
    let r = sqlx::query(
        "INSERT INTO throttles (subject, consecutive, last_at) VALUES ($1, 1, $2)
         ON CONFLICT (subject) DO UPDATE SET
           consecutive = CASE WHEN throttles.last_at <= $3 THEN 1 ELSE throttles.consecutive + 1 END,
           last_at = excluded.last_at
         RETURNING consecutive, last_at",
    )
    .bind(key.subject())
    .bind(now)
    .bind(key.policy().forget_before(now))
    .fetch_one(conn)
    .await?;
    let consecutive: i64 = r.try_get(0)?;
    Ok(Failures { consecutive: u32::try_from(consecutive).unwrap_or(u32::MAX), last_at: r.try_get(1)? })
}

/// A success (or an administrator's reset) clears the count.
pub async fn reset(conn: &mut Conn, key: &ThrottleKey) -> Result<()> {
    sqlx::query("DELETE FROM throttles WHERE subject = $1").bind(key.subject()).execute(conn).await?;
    Ok(())
}

/// `$1, $2, …` for a statement over `n` counters.
fn placeholders(n: usize) -> String {
    (1..=n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

/// Several counters in one statement, in the order of `keys`; a counter never set reads as
/// no failures.
pub async fn get_many(conn: &mut Conn, keys: &[ThrottleKey]) -> Result<Vec<Failures>> {
    let subjects: Vec<String> = keys.iter().map(ThrottleKey::subject).collect();
    let sql =
        format!("SELECT subject, consecutive, last_at FROM throttles WHERE subject IN ({})", placeholders(keys.len()));
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for subject in &subjects {
        query = query.bind(subject.as_str());
    }
    let rows = if subjects.is_empty() { Vec::new() } else { query.fetch_all(conn).await? };
    let mut found = std::collections::HashMap::new();
    for r in &rows {
        let subject: String = r.try_get(0)?;
        let consecutive: i64 = r.try_get(1)?;
        let failures = Failures { consecutive: u32::try_from(consecutive).unwrap_or(u32::MAX), last_at: r.try_get(2)? };
        found.insert(subject, failures);
    }
    Ok(subjects.iter().map(|s| found.get(s).copied().unwrap_or_default()).collect())
}

/// Clears several counters in one statement (an unlock clears every lock of a person);
/// answers how many were set.
pub async fn reset_all(conn: &mut Conn, keys: &[ThrottleKey]) -> Result<u64> {
    if keys.is_empty() {
        return Ok(0);
    }
    let sql = format!("DELETE FROM throttles WHERE subject IN ({})", placeholders(keys.len()));
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for key in keys {
        query = query.bind(key.subject());
    }
    Ok(query.execute(conn).await?.rows_affected())
}
