//! In-app notices, shown to a person at their next sign-in.

use sqlx::Row;

use crate::{Conn, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoticeRow {
    pub id: i64,
    pub text: String,
    pub created_at: i64,
}

pub async fn add(conn: &mut Conn, user_id: i64, text: &str, now: i64) -> Result<()> {
    sqlx::query("INSERT INTO notices (user_id, text, created_at) VALUES ($1, $2, $3)")
        .bind(user_id)
        .bind(text)
        .bind(now)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn unseen(conn: &mut Conn, user_id: i64) -> Result<Vec<NoticeRow>> {
    let rows =
        sqlx::query("SELECT id, text, created_at FROM notices WHERE user_id = $1 AND seen_at IS NULL ORDER BY id")
            .bind(user_id)
            .fetch_all(conn)
            .await?;
    rows.iter().map(|r| Ok(NoticeRow { id: r.try_get(0)?, text: r.try_get(1)?, created_at: r.try_get(2)? })).collect()
}

pub async fn mark_seen(conn: &mut Conn, user_id: i64, up_to_id: i64, now: i64) -> Result<()> {
    sqlx::query("UPDATE notices SET seen_at = $1 WHERE user_id = $2 AND id <= $3 AND seen_at IS NULL")
        .bind(now)
        .bind(user_id)
        .bind(up_to_id)
        .execute(conn)
        .await?;
    Ok(())
}
