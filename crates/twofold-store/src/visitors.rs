//! The person behind a session, and whether their 2FA is on, in one statement: what a
//! reverse proxy's forward-auth check needs on every request of a protected application.
//! Read from the database each time, so that a session ended on any instance is refused
//! by every instance at its next check (SEC-43).

use sqlx::Row;
use twofold_domain::Role;
use twofold_domain::session::Stage;

use crate::{Conn, Result, StoreError};

/// A live session and its person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VisitorRow {
    pub stage: Stage,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub user_id: i64,
    pub account_id: i64,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub two_factor_on: bool,
}

/// The live session `id_hash` with its person, or `None`.
pub async fn by_session(conn: &mut Conn, id_hash: &str, now: i64) -> Result<Option<VisitorRow>> {
    let row = sqlx::query(
        "SELECT s.stage, s.created_at, s.last_seen_at, u.id, u.account_id, u.email, u.name, u.role,
                CASE WHEN EXISTS (SELECT 1 FROM totp_credentials t WHERE t.user_id = u.id AND t.enabled_at IS NOT NULL)
                       OR EXISTS (SELECT 1 FROM webauthn_credentials w WHERE w.user_id = u.id)
                     THEN 1 ELSE 0 END
         FROM sessions s JOIN users u ON u.id = s.user_id
         WHERE s.id_hash = $1 AND s.expires_at > $2",
    )
    .bind(id_hash)
    .bind(now)
    .fetch_optional(conn)
    .await?;
    let Some(r) = row else { return Ok(None) };
    let stage: String = r.try_get(0)?;
    let role: String = r.try_get(7)?;
    let on: i64 = r.try_get(8)?;
    Ok(Some(VisitorRow {
        stage: Stage::parse(&stage).ok_or_else(|| StoreError::Config(format!("unknown session stage {stage:?}")))?,
        created_at: r.try_get(1)?,
        last_seen_at: r.try_get(2)?,
        user_id: r.try_get(3)?,
        account_id: r.try_get(4)?,
        email: r.try_get(5)?,
        name: r.try_get(6)?,
        role: Role::parse(&role).ok_or_else(|| StoreError::Config(format!("unknown role {role:?}")))?,
        two_factor_on: on != 0,
    }))
}
