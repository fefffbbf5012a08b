//! People's verified mobile numbers (E.164).

use sqlx::Row;

use crate::{Conn, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhoneRow {
    pub user_id: i64,
    pub e164: String,
    pub verified_at: i64,
}

pub async fn get(conn: &mut Conn, user_id: i64) -> Result<Option<PhoneRow>> {
    let row = sqlx::query("SELECT user_id, e164, verified_at FROM phone_numbers WHERE user_id = $1")
        .bind(user_id)
        .fetch_optional(conn)
        .await?;
    row.map(|r| Ok(PhoneRow { user_id: r.try_get(0)?, e164: r.try_get(1)?, verified_at: r.try_get(2)? })).transpose()
}

/// Records a number the person just proved they receive SMS on, replacing any earlier one.
pub async fn set_verified(conn: &mut Conn, user_id: i64, e164: &str, now: i64) -> Result<()> {
    sqlx::query(
        "INSERT INTO phone_numbers (user_id, e164, verified_at) VALUES ($1, $2, $3)
         ON CONFLICT (user_id) DO UPDATE SET e164 = excluded.e164, verified_at = excluded.verified_at",
    )
    .bind(user_id)
    .bind(e164)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn delete(conn: &mut Conn, user_id: i64) -> Result<bool> {
    let done = sqlx::query("DELETE FROM phone_numbers WHERE user_id = $1").bind(user_id).execute(conn).await?;
    Ok(done.rows_affected() == 1)
}

/// The verified numbers of an account's people.
pub async fn in_account(conn: &mut Conn, account_id: i64) -> Result<Vec<(i64, String)>> {
    let rows = sqlx::query(
        "SELECT p.user_id, p.e164 FROM phone_numbers p JOIN users u ON u.id = p.user_id WHERE u.account_id = $1",
    )
    .bind(account_id)
    .fetch_all(conn)
    .await?;
    rows.iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).collect()
}
