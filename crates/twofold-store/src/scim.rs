//! What SCIM provisioning reads and writes: people with the names a directory knows them
//! by, groups with theirs, and pages of both. Every read is scoped to one account.

use sqlx::Row;
use sqlx::any::AnyRow;
use twofold_domain::Role;

use crate::{Conn, Result, StoreError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScimUserRow {
    pub id: i64,
    pub role: Role,
    pub email: String,
    pub name: String,
    /// The directory's userName; the email when it never sent another.
    pub user_name: String,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub external_id: Option<String>,
    pub active: bool,
    pub created_at: i64,
    pub modified_at: i64,
}

const USER_COLUMNS: &str = "id, role, email, name, COALESCE(scim_user_name, email), given_name, family_name, \
     external_id, deactivated_at, created_at, COALESCE(modified_at, created_at)";

fn user_from_row(r: &AnyRow) -> Result<ScimUserRow> {
    let role: String = r.try_get(1)?;
    let deactivated_at: Option<i64> = r.try_get(8)?;
    Ok(ScimUserRow {
        id: r.try_get(0)?,
        role: Role::parse(&role).ok_or_else(|| StoreError::Config(format!("unknown role {role:?} in users")))?,
        email: r.try_get(2)?,
        name: r.try_get(3)?,
        user_name: r.try_get(4)?,
        given_name: r.try_get(5)?,
        family_name: r.try_get(6)?,
        external_id: r.try_get(7)?,
        active: deactivated_at.is_none(),
        created_at: r.try_get(9)?,
        modified_at: r.try_get(10)?,
    })
}

/// Columns a filter's `eq` can look up by index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserKey {
    UserName,
    ExternalId,
    Email,
}

async fn users_query(
    conn: &mut Conn,
    condition: &str,
    account_id: i64,
    value: Option<&str>,
) -> Result<Vec<ScimUserRow>> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE account_id = $1 {condition} ORDER BY id");
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(account_id);
    if let Some(value) = value {
        query = query.bind(value.to_owned());
    }
    let rows = query.fetch_all(conn).await?;
    rows.iter().map(user_from_row).collect()
}

/// One of the account's people.
pub async fn user(conn: &mut Conn, account_id: i64, id: i64) -> Result<Option<ScimUserRow>> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE account_id = $1 AND id = $2");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(account_id).bind(id).fetch_optional(conn).await?;
    row.as_ref().map(user_from_row).transpose()
}

/// The account's people whose `key` equals `value` (userName and emails compared without
/// case, externalId exactly), each form by its own index.
pub async fn users_by(conn: &mut Conn, account_id: i64, key: UserKey, value: &str) -> Result<Vec<ScimUserRow>> {
    let condition = match key {
        // A userName is the email unless the directory sent another: two index lookups,
        // not one OR that neither index serves.
        UserKey::UserName => {
            let mut found =
                users_query(conn, "AND email = lower($2) AND scim_user_name IS NULL", account_id, Some(value)).await?;
            let other = "AND scim_user_name IS NOT NULL AND lower(scim_user_name) = lower($2)";
            found.extend(users_query(conn, other, account_id, Some(value)).await?);
            return Ok(found);
        }
        UserKey::ExternalId => "AND external_id = $2 AND external_id IS NOT NULL",
        UserKey::Email => "AND email = lower($2)",
    };
    users_query(conn, condition, account_id, Some(value)).await
}

/// Every person of the account, by id (for filters no index serves).
pub async fn all_users(conn: &mut Conn, account_id: i64) -> Result<Vec<ScimUserRow>> {
    users_query(conn, "", account_id, None).await
}

/// A page of the account's people by id, and how many there are in all.
pub async fn users_page(conn: &mut Conn, account_id: i64, offset: i64, limit: i64) -> Result<(i64, Vec<ScimUserRow>)> {
    let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE account_id = $1")
        .bind(account_id)
        .fetch_one(&mut *conn)
        .await?;
    if limit == 0 {
        return Ok((total, vec![]));
    }
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE account_id = $1 ORDER BY id LIMIT $2 OFFSET $3");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(account_id).bind(limit).bind(offset).fetch_all(conn).await?;
    Ok((total, rows.iter().map(user_from_row).collect::<Result<_>>()?))
}

/// What a directory sets on a person.
pub struct UserChange<'a> {
    pub id: i64,
    pub email: &'a str,
    pub name: &'a str,
    /// `None` when the userName is the email.
    pub scim_user_name: Option<&'a str>,
    pub given_name: Option<&'a str>,
    pub family_name: Option<&'a str>,
    pub external_id: Option<&'a str>,
    pub now: i64,
}

/// Writes what the directory sent; `StoreError::Unique` when the email or userName is
/// someone else's. A new address is not proven (`email_verified` goes back to false).
pub async fn set_user(conn: &mut Conn, change: &UserChange<'_>) -> Result<()> {
    sqlx::query(
        "UPDATE users SET email = $1, name = $2, scim_user_name = $3, given_name = $4, family_name = $5,
                external_id = $6, modified_at = $7,
                email_verified_at = CASE WHEN email = $1 THEN email_verified_at ELSE NULL END
         WHERE id = $8",
    )
    .bind(change.email)
    .bind(change.name)
    .bind(change.scim_user_name)
    .bind(change.given_name)
    .bind(change.family_name)
    .bind(change.external_id)
    .bind(change.now)
    .bind(change.id)
    .execute(conn)
    .await?;
    Ok(())
}

/// (user id, group id, group name) of these people's groups. One statement whatever the
/// ids: the memberships of the account's people between the smallest and the largest id
/// (a page is a run of ids), kept when the id is one of them.
pub async fn groups_of(conn: &mut Conn, account_id: i64, user_ids: &[i64]) -> Result<Vec<(i64, i64, String)>> {
    let (Some(&first), Some(&last)) = (user_ids.iter().min(), user_ids.iter().max()) else { return Ok(vec![]) };
    let rows = sqlx::query(
        "SELECT m.user_id, g.id, g.name FROM group_members m JOIN groups g ON g.id = m.group_id
         WHERE g.account_id = $1 AND m.user_id BETWEEN $2 AND $3 ORDER BY g.name",
    )
    .bind(account_id)
    .bind(first)
    .bind(last)
    .fetch_all(conn)
    .await?;
    let wanted: std::collections::HashSet<i64> = user_ids.iter().copied().collect();
    let mut found = Vec::new();
    for r in &rows {
        let user_id: i64 = r.try_get(0)?;
        if wanted.contains(&user_id) {
            found.push((user_id, r.try_get(1)?, r.try_get(2)?));
        }
    }
    Ok(found)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScimGroupRow {
    pub id: i64,
    pub name: String,
    pub external_id: Option<String>,
    pub created_at: i64,
    pub modified_at: i64,
    /// Its people's ids, ascending.
    pub members: Vec<i64>,
}

/// The account's groups (one, when `id` is given), with their members.
pub async fn groups(conn: &mut Conn, account_id: i64, id: Option<i64>) -> Result<Vec<ScimGroupRow>> {
    let one = if id.is_some() { "AND g.id = $2" } else { "" };
    let sql = format!(
        "SELECT g.id, g.name, g.external_id, g.created_at, COALESCE(g.modified_at, g.created_at) FROM groups g
         WHERE g.account_id = $1 {one} ORDER BY g.id"
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(account_id);
    if let Some(id) = id {
        query = query.bind(id);
    }
    let mut groups = query
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|r| {
            Ok(ScimGroupRow {
                id: r.try_get(0)?,
                name: r.try_get(1)?,
                external_id: r.try_get(2)?,
                created_at: r.try_get(3)?,
                modified_at: r.try_get(4)?,
                members: vec![],
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let sql = format!(
        "SELECT m.group_id, m.user_id FROM group_members m JOIN groups g ON g.id = m.group_id
         WHERE g.account_id = $1 {one} ORDER BY m.group_id, m.user_id"
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(account_id);
    if let Some(id) = id {
        query = query.bind(id);
    }
    let at: std::collections::HashMap<i64, usize> = groups.iter().enumerate().map(|(i, g)| (g.id, i)).collect();
    for r in &query.fetch_all(conn).await? {
        let group_id: i64 = r.try_get(0)?;
        if let Some(group) = at.get(&group_id).and_then(|&i| groups.get_mut(i)) {
            group.members.push(r.try_get(1)?);
        }
    }
    Ok(groups)
}

/// Renames a group and notes its directory id; `StoreError::Unique` when the account has
/// another group of that name.
pub async fn set_group(conn: &mut Conn, id: i64, name: &str, external_id: Option<&str>, now: i64) -> Result<()> {
    sqlx::query("UPDATE groups SET name = $1, external_id = $2, modified_at = $3 WHERE id = $4")
        .bind(name)
        .bind(external_id)
        .bind(now)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}
