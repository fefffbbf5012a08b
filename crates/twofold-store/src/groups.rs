//! Groups of an account's people and their members.

use sqlx::Row;

use crate::{Conn, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRow {
    pub id: i64,
    pub name: String,
    pub created_at: i64,
    /// Member ids, ascending.
    pub members: Vec<i64>,
}

/// The account's groups by name, with their members, in two statements.
pub async fn in_account(conn: &mut Conn, account_id: i64) -> Result<Vec<GroupRow>> {
    let rows = sqlx::query("SELECT id, name, created_at FROM groups WHERE account_id = $1 ORDER BY name")
        .bind(account_id)
        .fetch_all(&mut *conn)
        .await?;
    let mut groups = rows
        .iter()
        .map(|r| {
            Ok(GroupRow { id: r.try_get(0)?, name: r.try_get(1)?, created_at: r.try_get(2)?, members: Vec::new() })
        })
        .collect::<Result<Vec<_>>>()?;
    let members = sqlx::query(
        "SELECT m.group_id, m.user_id FROM group_members m JOIN groups g ON g.id = m.group_id
         WHERE g.account_id = $1 ORDER BY m.group_id, m.user_id",
    )
    .bind(account_id)
    .fetch_all(conn)
    .await?;
    for r in &members {
        let (group_id, user_id): (i64, i64) = (r.try_get(0)?, r.try_get(1)?);
        if let Some(g) = groups.iter_mut().find(|g| g.id == group_id) {
            g.members.push(user_id);
        }
    }
    Ok(groups)
}

/// The names of a person's groups, by name.
pub async fn names_of(conn: &mut Conn, user_id: i64) -> Result<Vec<String>> {
    let names = sqlx::query_scalar(
        "SELECT g.name FROM groups g JOIN group_members m ON m.group_id = g.id WHERE m.user_id = $1 ORDER BY g.name",
    )
    .bind(user_id)
    .fetch_all(conn)
    .await?;
    Ok(names)
}

/// Adds a group; `None` when the account has one of that name.
pub async fn create(conn: &mut Conn, account_id: i64, name: &str, now: i64) -> Result<Option<i64>> {
    let id = sqlx::query_scalar(
        "INSERT INTO groups (account_id, name, created_at) VALUES ($1, $2, $3)
         ON CONFLICT (account_id, name) DO NOTHING RETURNING id",
    )
    .bind(account_id)
    .bind(name)
    .bind(now)
    .fetch_optional(conn)
    .await?;
    Ok(id)
}

/// Deletes one of the account's groups; answers its name when it existed.
pub async fn delete(conn: &mut Conn, account_id: i64, id: i64) -> Result<Option<String>> {
    let name = sqlx::query_scalar("DELETE FROM groups WHERE id = $1 AND account_id = $2 RETURNING name")
        .bind(id)
        .bind(account_id)
        .fetch_optional(conn)
        .await?;
    Ok(name)
}

/// Whether the account has this group.
pub async fn exists(conn: &mut Conn, account_id: i64, id: i64) -> Result<bool> {
    let found: Option<i64> = sqlx::query_scalar("SELECT id FROM groups WHERE id = $1 AND account_id = $2")
        .bind(id)
        .bind(account_id)
        .fetch_optional(conn)
        .await?;
    Ok(found.is_some())
}

/// Replaces a group's members (ids already checked to be the account's people).
pub async fn set_members(conn: &mut Conn, group_id: i64, user_ids: &[i64]) -> Result<()> {
    sqlx::query("DELETE FROM group_members WHERE group_id = $1").bind(group_id).execute(&mut *conn).await?;
    for &user_id in user_ids {
        add_member(conn, group_id, user_id).await?;
    }
    Ok(())
}

/// Adds one member (already checked to be the account's person): one statement, so that
/// two people adding members at once both land.
pub async fn add_member(conn: &mut Conn, group_id: i64, user_id: i64) -> Result<()> {
    sqlx::query("INSERT INTO group_members (group_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
        .bind(group_id)
        .bind(user_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Takes one member out; answers whether they were in.
pub async fn remove_member(conn: &mut Conn, group_id: i64, user_id: i64) -> Result<bool> {
    let done = sqlx::query("DELETE FROM group_members WHERE group_id = $1 AND user_id = $2")
        .bind(group_id)
        .bind(user_id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() > 0)
}
