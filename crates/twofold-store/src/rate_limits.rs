//! Send limits (a cooldown and a cap per window) counted in the database, so that every
//! instance shares one budget (SEC-15).

use sqlx::Row;

use crate::{Conn, Result};

/// The outcome of asking to spend one unit of a limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spend {
    Allowed,
    /// Too soon after the previous one, or over the cap: wait this many seconds.
    Wait(i64),
}

/// Spends one send from `subject`'s budget if both the cooldown and the cap allow it. Two
/// writes (ensure the row, then a conditional update), so concurrent callers serialize on
/// the row and never both pass.
pub async fn spend(conn: &mut Conn, subject: &str, now: i64, cooldown: i64, cap: i64, window: i64) -> Result<Spend> {
    sqlx::query(
        "INSERT INTO rate_limits (subject, window_start, count, last_at) VALUES ($1, $2, 0, $3)
         ON CONFLICT (subject) DO NOTHING",
    )
    .bind(subject)
    .bind(now)
    .bind(now - cooldown - 1)
    .execute(&mut *conn)
    .await?;
    let updated: Option<i64> = sqlx::query_scalar(
        "UPDATE rate_limits SET
             count = CASE WHEN window_start <= $2 - $4 THEN 1 ELSE count + 1 END,
             window_start = CASE WHEN window_start <= $2 - $4 THEN $2 ELSE window_start END,
             last_at = $2
         WHERE subject = $1 AND last_at <= $2 - $3
           AND (window_start <= $2 - $4 OR count < $5)
         RETURNING count",
    )
    .bind(subject)
    .bind(now)
    .bind(cooldown)
    .bind(window)
    .bind(cap)
    .fetch_optional(&mut *conn)
    .await?;
    if updated.is_some() {
        return Ok(Spend::Allowed);
    }
    let row = sqlx::query("SELECT window_start, count, last_at FROM rate_limits WHERE subject = $1")
        .bind(subject)
        .fetch_one(conn)
        .await?;
    let (window_start, count, last_at): (i64, i64, i64) = (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
    let cooldown_left = last_at + cooldown - now;
    let cap_left = if count >= cap { window_start + window - now } else { 0 };
    Ok(Spend::Wait(cooldown_left.max(cap_left).max(1)))
}
