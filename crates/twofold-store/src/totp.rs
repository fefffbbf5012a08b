//! Authenticator-app credentials of both realms: the sealed secret, how far enrolment got,
//! and the replay high-water mark. Every state change is one conditional statement, so
//! that races between instances are settled by the database.

use sqlx::Row;
use sqlx::any::AnyRow;
use twofold_domain::credential::TotpState;

use crate::realm::{Realm, sql};
use crate::{Conn, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TotpRow {
    /// The person (people) or operator (support) it belongs to.
    pub subject_id: i64,
    pub secret_box: Vec<u8>,
    pub created_at: i64,
    pub enabled_at: Option<i64>,
    pub last_step: Option<i64>,
    /// When Step 3 (a code from the app) succeeded; Step 4 (the phone) then turns 2FA on.
    pub confirmed_at: Option<i64>,
}

impl TotpRow {
    /// The one place a credential's timestamps are read as a state.
    pub fn state(&self) -> TotpState {
        TotpState::from_times(Some(self.created_at), self.confirmed_at, self.enabled_at)
    }

    pub fn is_enabled(&self) -> bool {
        self.state().is_enabled()
    }
}

/// Where one person's (or operator's) authenticator app stands, without reading the
/// sealed secret.
pub async fn state(conn: &mut Conn, realm: Realm, subject_id: i64) -> Result<TotpState> {
    let row = sqlx::query(sql(realm, "SELECT created_at, confirmed_at, enabled_at FROM {totp} WHERE {subject} = $1"))
        .bind(subject_id)
        .fetch_optional(conn)
        .await?;
    let Some(r) = row else { return Ok(TotpState::None) };
    Ok(TotpState::from_times(Some(r.try_get(0)?), r.try_get(1)?, r.try_get(2)?))
}

const COLUMNS: &str = "{subject}, secret_box, created_at, enabled_at, last_step, confirmed_at";

fn from_row_at(r: &AnyRow, at: usize) -> Result<TotpRow> {
    Ok(TotpRow {
        subject_id: r.try_get(at)?,
        secret_box: r.try_get(at + 1)?,
        created_at: r.try_get(at + 2)?,
        enabled_at: r.try_get(at + 3)?,
        last_step: r.try_get(at + 4)?,
        confirmed_at: r.try_get(at + 5)?,
    })
}

pub async fn get(conn: &mut Conn, realm: Realm, subject_id: i64) -> Result<Option<TotpRow>> {
    let row = sqlx::query(sql(realm, &format!("SELECT {COLUMNS} FROM {{totp}} WHERE {{subject}} = $1")))
        .bind(subject_id)
        .fetch_optional(conn)
        .await?;
    row.map(|r| from_row_at(&r, 0)).transpose()
}

/// Starts (or restarts) an enrolment with a new sealed secret. Answers false when 2FA is
/// already on: an active secret is never replaced behind the person's back.
pub async fn begin_enrolment(
    conn: &mut Conn,
    realm: Realm,
    subject_id: i64,
    secret_box: &[u8],
    now: i64,
) -> Result<bool> {
    let done = sqlx::query(sql(
        realm,
        "INSERT INTO {totp} ({subject}, secret_box, created_at) VALUES ($1, $2, $3)
         ON CONFLICT ({subject}) DO UPDATE
             SET secret_box = excluded.secret_box, created_at = excluded.created_at,
                 enabled_at = NULL, last_step = NULL, confirmed_at = NULL
             WHERE {totp}.enabled_at IS NULL",
    ))
    .bind(subject_id)
    .bind(secret_box)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records that the person proved they hold the pending secret (Step 3), with the step of
/// the confirming code so that it cannot be used again to sign in.
pub async fn confirm(
    conn: &mut Conn,
    realm: Realm,
    subject_id: i64,
    secret_box: &[u8],
    step: i64,
    now: i64,
) -> Result<bool> {
    let done = sqlx::query(sql(
        realm,
        "UPDATE {totp} SET confirmed_at = $1, last_step = $2
         WHERE {subject} = $3 AND enabled_at IS NULL AND secret_box = $4",
    ))
    .bind(now)
    .bind(step)
    .bind(subject_id)
    .bind(secret_box)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Turns 2FA on once the secret is confirmed (and, for people, the phone verified, SEC-04).
pub async fn enable(conn: &mut Conn, realm: Realm, subject_id: i64, now: i64) -> Result<bool> {
    let done = sqlx::query(sql(
        realm,
        "UPDATE {totp} SET enabled_at = $1
         WHERE {subject} = $2 AND enabled_at IS NULL AND confirmed_at IS NOT NULL",
    ))
    .bind(now)
    .bind(subject_id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Moves the high-water mark to `step` only if it is still below it: of any number of
/// concurrent submissions of one code, on any number of instances, exactly one sees `true`
/// (SEC-05, SEC-06).
pub async fn accept_step(conn: &mut Conn, realm: Realm, subject_id: i64, step: i64) -> Result<bool> {
    let done = sqlx::query(sql(
        realm,
        "UPDATE {totp} SET last_step = $1
         WHERE {subject} = $2 AND enabled_at IS NOT NULL AND (last_step IS NULL OR last_step < $1)",
    ))
    .bind(step)
    .bind(subject_id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn delete(conn: &mut Conn, realm: Realm, subject_id: i64) -> Result<bool> {
    let done =
        sqlx::query(sql(realm, "DELETE FROM {totp} WHERE {subject} = $1")).bind(subject_id).execute(conn).await?;
    Ok(done.rows_affected() == 1)
}

/// Every sealed secret of the realm, for key rotation.
pub async fn all_sealed(conn: &mut Conn, realm: Realm) -> Result<Vec<(i64, Vec<u8>)>> {
    let rows =
        sqlx::query(sql(realm, "SELECT {subject}, secret_box FROM {totp} ORDER BY {subject}")).fetch_all(conn).await?;
    rows.iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).collect()
}

/// Replaces a sealed secret with the same secret sealed under another key, unless it
/// changed meanwhile (a re-enrolment during rotation wins).
pub async fn reseal(conn: &mut Conn, realm: Realm, subject_id: i64, old: &[u8], new: &[u8]) -> Result<bool> {
    let done = sqlx::query(sql(realm, "UPDATE {totp} SET secret_box = $1 WHERE {subject} = $2 AND secret_box = $3"))
        .bind(new)
        .bind(subject_id)
        .bind(old)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}
