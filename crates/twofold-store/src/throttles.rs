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
fn failures_at(r: &sqlx::any::AnyRow, at: usize) -> Result<Failures> {
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
/// same moment on different instances all count, and gives back the guess's place; a count
/// its policy has forgotten (no failure for `forget_after`) starts again at one. Answers
/// the new state.
pub async fn record_failure(conn: &mut Conn, key: &ThrottleKey, now: i64) -> Result<Failures> {
    let r = sqlx::query(
        "INSERT INTO throttles (subject, consecutive, last_at) VALUES ($1, 1, $2)
         ON CONFLICT (subject) DO UPDATE SET
           consecutive = CASE WHEN throttles.last_at <= $3 THEN 1 ELSE throttles.consecutive + 1 END,
           last_at = excluded.last_at,
           pending = CASE WHEN throttles.pending > 0 THEN throttles.pending - 1 ELSE 0 END
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

/// How long a place taken for a guess in flight is kept when it is never given back (a
/// request that died between taking it and its answer); far above any check's time.
pub const RESERVATION_SECONDS: i64 = 60;

/// A counter with the guesses in flight before this one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reserved {
    pub failures: Failures,
    /// Places taken before this one and not given back yet.
    pub ahead: u32,
}

/// Takes a place for one guess on `key` before it is checked (SEC-47), in one atomic
/// statement, so that of guesses arriving at once on any number of instances each sees
/// the ones before it. Places are forgotten [`RESERVATION_SECONDS`] after the first of them
/// was taken (not the last, so that a stream of guesses cannot keep lost places alive).
pub async fn reserve(conn: &mut Conn, key: &ThrottleKey, now: i64) -> Result<Reserved> {
    let r = sqlx::query(
        "INSERT INTO throttles (subject, consecutive, last_at, pending, pending_at) VALUES ($1, 0, 0, 1, $2)
         ON CONFLICT (subject) DO UPDATE SET
           pending = CASE WHEN throttles.pending_at <= $3 THEN 1 ELSE throttles.pending + 1 END,
           pending_at = CASE WHEN throttles.pending_at <= $3 OR throttles.pending = 0
                             THEN excluded.pending_at ELSE throttles.pending_at END
         RETURNING consecutive, last_at, pending",
    )
    .bind(key.subject())
    .bind(now)
    .bind(now.saturating_sub(RESERVATION_SECONDS))
    .fetch_one(conn)
    .await?;
    let failures = failures_at(&r, 0)?;
    let pending: i64 = r.try_get(2)?;
    Ok(Reserved { failures, ahead: u32::try_from(pending.saturating_sub(1)).unwrap_or(0) })
}

/// Several counters with the places taken in each, read without taking one, in the order
/// of `keys`: what a guess waiting behind guesses in flight looks at before it asks again.
pub async fn peek_many(conn: &mut Conn, keys: &[ThrottleKey], now: i64) -> Result<Vec<Reserved>> {
    let subjects: Vec<String> = keys.iter().map(ThrottleKey::subject).collect();
    if subjects.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT subject, consecutive, last_at, CASE WHEN pending_at > $1 THEN pending ELSE 0 END
         FROM throttles WHERE subject IN ({})",
        (2..=subjects.len() + 1).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(now.saturating_sub(RESERVATION_SECONDS));
    for subject in &subjects {
        query = query.bind(subject.as_str());
    }
    let mut found = std::collections::HashMap::new();
    for r in &query.fetch_all(conn).await? {
        let subject: String = r.try_get(0)?;
        let pending: i64 = r.try_get(3)?;
        let reserved = Reserved { failures: failures_at(r, 1)?, ahead: u32::try_from(pending).unwrap_or(0) };
        found.insert(subject, reserved);
    }
    let none = Reserved { failures: Failures::default(), ahead: 0 };
    Ok(subjects.iter().map(|s| found.get(s).copied().unwrap_or(none)).collect())
}

/// Gives a place back without a verdict (the guess was refused before its check, or the
/// check itself failed to run).
pub async fn release(conn: &mut Conn, key: &ThrottleKey) -> Result<()> {
    sqlx::query("UPDATE throttles SET pending = CASE WHEN pending > 0 THEN pending - 1 ELSE 0 END WHERE subject = $1")
        .bind(key.subject())
        .execute(conn)
        .await?;
    Ok(())
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

/// Every counter with at least `consecutive` failures in a row, by subject: the few that
/// may be locked, for the Overview to match against people's counters.
pub async fn at_least(conn: &mut Conn, consecutive: i64) -> Result<std::collections::HashMap<String, Failures>> {
    let rows = sqlx::query("SELECT subject, consecutive, last_at FROM throttles WHERE consecutive >= $1")
        .bind(consecutive)
        .fetch_all(conn)
        .await?;
    let mut found = std::collections::HashMap::new();
    for r in &rows {
        let consecutive: i64 = r.try_get(1)?;
        let failures = Failures { consecutive: u32::try_from(consecutive).unwrap_or(u32::MAX), last_at: r.try_get(2)? };
        found.insert(r.try_get(0)?, failures);
    }
    Ok(found)
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
