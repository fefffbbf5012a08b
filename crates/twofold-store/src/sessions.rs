//! Server-side sessions of both realms, keyed by the SHA-256 of the cookie value (SEC-20).

use sqlx::Row;
use sqlx::any::AnyRow;
use twofold_domain::session::Stage;

use crate::realm::{Realm, sql};
use crate::users::{self, UserRow};
use crate::{Conn, Result, StoreError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRow {
    pub id_hash: String,
    /// The person (people) or operator (support) signed in.
    pub subject_id: i64,
    pub stage: Stage,
    pub remember_device: bool,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub expires_at: i64,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// How sign-in completed, when it matters later (`sms_recovery`).
    pub method: Option<String>,
}

pub struct NewSession<'a> {
    pub id_hash: &'a str,
    pub subject_id: i64,
    pub stage: Stage,
    pub remember_device: bool,
    pub now: i64,
    pub expires_at: i64,
    pub ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    pub method: Option<&'a str>,
}

const COLUMNS: &str =
    "id_hash, {subject}, stage, remember_device, created_at, last_seen_at, expires_at, ip, user_agent, method";
/// How many columns [`COLUMNS`] names.
const SESSION_COLUMNS: usize = 10;

fn from_row(r: &AnyRow) -> Result<SessionRow> {
    let stage: String = r.try_get(2)?;
    let remember: i64 = r.try_get(3)?;
    Ok(SessionRow {
        id_hash: r.try_get(0)?,
        subject_id: r.try_get(1)?,
        stage: Stage::parse(&stage).ok_or_else(|| StoreError::Config(format!("unknown session stage {stage:?}")))?,
        remember_device: remember != 0,
        created_at: r.try_get(4)?,
        last_seen_at: r.try_get(5)?,
        expires_at: r.try_get(6)?,
        ip: r.try_get(7)?,
        user_agent: r.try_get(8)?,
        method: r.try_get(9)?,
    })
}

fn select(realm: Realm, rest: &str) -> sqlx::AssertSqlSafe<String> {
    sql(realm, &format!("SELECT {COLUMNS} FROM {{sessions}} {rest}"))
}

pub async fn insert(conn: &mut Conn, realm: Realm, new: &NewSession<'_>) -> Result<()> {
    sqlx::query(sql(
        realm,
        "INSERT INTO {sessions} (id_hash, {subject}, stage, remember_device, created_at, last_seen_at, expires_at, ip, user_agent, method)
         VALUES ($1, $2, $3, $4, $5, $5, $6, $7, $8, $9)",
    ))
    .bind(new.id_hash)
    .bind(new.subject_id)
    .bind(new.stage.as_str())
    .bind(i64::from(new.remember_device))
    .bind(new.now)
    .bind(new.expires_at)
    .bind(new.ip)
    .bind(new.user_agent)
    .bind(new.method)
    .execute(conn)
    .await?;
    Ok(())
}

/// The session with this hash, if it has not expired by `now`.
pub async fn live(conn: &mut Conn, realm: Realm, id_hash: &str, now: i64) -> Result<Option<SessionRow>> {
    let row = sqlx::query(select(realm, "WHERE id_hash = $1 AND expires_at > $2"))
        .bind(id_hash)
        .bind(now)
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// A person's live session as the assurance answer needs it: the session, its person,
/// whether the person has a second factor now (the app or a security key), and their
/// account's 2FA policy.
#[derive(Debug, Clone)]
pub struct LiveSession {
    pub session: SessionRow,
    pub user: UserRow,
    pub has_two_factor: bool,
    pub policy: crate::accounts::Policy,
    /// The names of the person's groups, by name (for forward auth's headers and rules).
    pub groups: Vec<String>,
}

/// A person's session with this hash, its person (never a deactivated one), their factors,
/// their account's policy and their groups, in one statement: the lookup behind every signed-in request and every
/// forward-auth check (sessions of people only; operators have their own table).
pub async fn live_with_person(conn: &mut Conn, id_hash: &str, now: i64) -> Result<Option<LiveSession>> {
    let columns = COLUMNS.replace("{subject}", "user_id").replace(", ", ", s.");
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT s.{columns}, {},
                CASE WHEN EXISTS (SELECT 1 FROM totp_credentials t WHERE t.user_id = u.id AND t.enabled_at IS NOT NULL)
                       OR EXISTS (SELECT 1 FROM webauthn_credentials w WHERE w.user_id = u.id)
                     THEN 1 ELSE 0 END,
                a.require_two_factor_since, a.two_factor_grace_days,
                (SELECT string_agg(g.name, ',' ORDER BY g.name) FROM group_members m JOIN groups g ON g.id = m.group_id
                 WHERE m.user_id = u.id)
         FROM sessions s JOIN users u ON u.id = s.user_id JOIN accounts a ON a.id = u.account_id
         WHERE s.id_hash = $1 AND s.expires_at > $2 AND u.deactivated_at IS NULL",
        users::JOINED_COLUMNS
    )))
    .bind(id_hash)
    .bind(now)
    .fetch_optional(conn)
    .await?;
    let Some(r) = row else { return Ok(None) };
    let after = SESSION_COLUMNS + users::JOINED_COLUMN_COUNT;
    let on: i64 = r.try_get(after)?;
    Ok(Some(LiveSession {
        session: from_row(&r)?,
        user: users::from_row_at(&r, SESSION_COLUMNS)?,
        has_two_factor: on != 0,
        policy: crate::accounts::Policy {
            require_two_factor_since: r.try_get(after + 1)?,
            grace_days: r.try_get(after + 2)?,
        },
        // Group names hold no comma (twofold-domain's group rule), so the list splits back.
        groups: r
            .try_get::<Option<String>, _>(after + 3)?
            .map(|names| names.split(',').map(str::to_owned).collect())
            .unwrap_or_default(),
    }))
}

/// Promotes a half-finished sign-in in one conditional statement: the pending session's
/// id is replaced by a new one (SEC-19), so the old cookie stops working at the same
/// moment; answers `false` when the pending session was already consumed or gone.
pub async fn promote(conn: &mut Conn, realm: Realm, pending_hash: &str, new: &NewSession<'_>) -> Result<bool> {
    let done = sqlx::query(sql(
        realm,
        "UPDATE {sessions} SET id_hash = $1, stage = $2, remember_device = $3, created_at = $4, last_seen_at = $4,
                expires_at = $5, ip = $6, user_agent = $7, method = $8
         WHERE id_hash = $9 AND {subject} = $10 AND stage = 'second_factor' AND expires_at > $4",
    ))
    .bind(new.id_hash)
    .bind(new.stage.as_str())
    .bind(i64::from(new.remember_device))
    .bind(new.now)
    .bind(new.expires_at)
    .bind(new.ip)
    .bind(new.user_agent)
    .bind(new.method)
    .bind(pending_hash)
    .bind(new.subject_id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Every session of a subject counts as signed in with the password alone from now on
/// (their factors were turned off).
pub async fn forget_methods(conn: &mut Conn, realm: Realm, subject_id: i64) -> Result<u64> {
    let done = sqlx::query(sql(realm, "UPDATE {sessions} SET method = 'password' WHERE {subject} = $1"))
        .bind(subject_id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected())
}

/// Records a second factor proven inside an open session (the 2FA wizard's code).
pub async fn set_method(conn: &mut Conn, realm: Realm, id_hash: &str, method: &str) -> Result<()> {
    sqlx::query(sql(realm, "UPDATE {sessions} SET method = $2 WHERE id_hash = $1"))
        .bind(id_hash)
        .bind(method)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn touch(conn: &mut Conn, realm: Realm, id_hash: &str, now: i64, expires_at: i64) -> Result<()> {
    sqlx::query(sql(realm, "UPDATE {sessions} SET last_seen_at = $1, expires_at = $2 WHERE id_hash = $3"))
        .bind(now)
        .bind(expires_at)
        .bind(id_hash)
        .execute(conn)
        .await?;
    Ok(())
}

/// Deletes one session; answers whether it existed. Used both for logout and to consume
/// a half-finished sign-in exactly once when it is promoted.
pub async fn delete(conn: &mut Conn, realm: Realm, id_hash: &str) -> Result<bool> {
    let done = sqlx::query(sql(realm, "DELETE FROM {sessions} WHERE id_hash = $1")).bind(id_hash).execute(conn).await?;
    Ok(done.rows_affected() == 1)
}

/// Ends every session of one person or operator; answers how many.
pub async fn delete_for_subject(conn: &mut Conn, realm: Realm, subject_id: i64) -> Result<u64> {
    let done =
        sqlx::query(sql(realm, "DELETE FROM {sessions} WHERE {subject} = $1")).bind(subject_id).execute(conn).await?;
    Ok(done.rows_affected())
}

/// Ends every session of one person or operator but the one they are using; answers how many.
pub async fn delete_others(conn: &mut Conn, realm: Realm, subject_id: i64, keep_hash: &str) -> Result<u64> {
    let done = sqlx::query(sql(realm, "DELETE FROM {sessions} WHERE {subject} = $1 AND id_hash <> $2"))
        .bind(subject_id)
        .bind(keep_hash)
        .execute(conn)
        .await?;
    Ok(done.rows_affected())
}

pub async fn delete_expired(conn: &mut Conn, realm: Realm, now: i64) -> Result<u64> {
    let done = sqlx::query(sql(realm, "DELETE FROM {sessions} WHERE expires_at <= $1")).bind(now).execute(conn).await?;
    Ok(done.rows_affected())
}

/// Signed-in sessions of one person or operator, most recently used first.
pub async fn live_for_subject(conn: &mut Conn, realm: Realm, subject_id: i64, now: i64) -> Result<Vec<SessionRow>> {
    let rows = sqlx::query(select(
        realm,
        "WHERE {subject} = $1 AND expires_at > $2 AND stage = 'signed_in' ORDER BY last_seen_at DESC",
    ))
    .bind(subject_id)
    .bind(now)
    .fetch_all(conn)
    .await?;
    rows.iter().map(from_row).collect()
}

/// Ends one session of a person or operator; answers whether it was theirs.
pub async fn delete_for_subject_session(conn: &mut Conn, realm: Realm, subject_id: i64, id_hash: &str) -> Result<bool> {
    let done = sqlx::query(sql(realm, "DELETE FROM {sessions} WHERE {subject} = $1 AND id_hash = $2"))
        .bind(subject_id)
        .bind(id_hash)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}
