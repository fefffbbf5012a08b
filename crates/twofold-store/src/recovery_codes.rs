//! Recovery codes (SEC-35): one current set per person, kept only as keyed hashes. A use
//! is one conditional update, so a code is accepted once however many requests carry it.

use crate::{Conn, Result};

/// Replaces the person's set with these hashes: the old codes stop working in the same
/// transaction.
pub async fn replace_set(conn: &mut Conn, user_id: i64, macs: &[String], now: i64) -> Result<()> {
    delete_for_user(conn, user_id).await?;
    for mac in macs {
        sqlx::query("INSERT INTO recovery_codes (user_id, code_mac, created_at) VALUES ($1, $2, $3)")
            .bind(user_id)
            .bind(mac)
            .bind(now)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Marks the unused code whose hash is one of `macs` (one per key of the keyring, so that
/// codes hashed before a key rotation still match) as used. Answers false when none is:
/// wrong, already used, or used a moment ago by a concurrent request.
pub async fn consume(conn: &mut Conn, user_id: i64, macs: &[String], now: i64) -> Result<bool> {
    if macs.is_empty() {
        return Ok(false);
    }
    let placeholders: Vec<String> = (0..macs.len()).map(|i| format!("${}", i + 3)).collect();
    let statement = format!(
        "UPDATE recovery_codes SET used_at = $1 WHERE user_id = $2 AND used_at IS NULL AND code_mac IN ({})",
        placeholders.join(", ")
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(statement)).bind(now).bind(user_id);
    for mac in macs {
        query = query.bind(mac);
    }
    Ok(query.execute(conn).await?.rows_affected() >= 1)
}

pub async fn delete_for_user(conn: &mut Conn, user_id: i64) -> Result<u64> {
    let done = sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1").bind(user_id).execute(conn).await?;
    Ok(done.rows_affected())
}
