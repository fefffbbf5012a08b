//! Appending to and reading the audit log.

use serde::Serialize;
use twofold_domain::permissions::{self, Person};
use twofold_store::audit::{self, EventRow, NewEvent, Query};
use twofold_store::{Conn, users::UserRow};

use crate::{App, RequestContext, Result};

/// What an event is about: who did it, to whom, in which account.
#[derive(Debug, Clone, Copy, Default)]
pub struct Parties {
    pub account_id: Option<i64>,
    pub actor: Option<i64>,
    pub target: Option<i64>,
}

impl Parties {
    /// A person acting on themselves.
    pub fn own(user: &UserRow) -> Self {
        Self { account_id: Some(user.account_id), actor: Some(user.id), target: Some(user.id) }
    }

    /// A person acting on another person of the same account.
    pub fn on(actor: &UserRow, target: &UserRow) -> Self {
        Self { account_id: Some(target.account_id), actor: Some(actor.id), target: Some(target.id) }
    }
}

/// Appends one event on the caller's connection (usually inside the transaction that
/// makes the change it records, so that one is never without the other).
pub(crate) async fn record(
    conn: &mut Conn,
    now: i64,
    ctx: &RequestContext,
    parties: Parties,
    event: &str,
    detail: serde_json::Value,
) -> Result<()> {
    audit::append(
        conn,
        &NewEvent {
            account_id: parties.account_id,
            actor_user_id: parties.actor,
            target_user_id: parties.target,
            event,
            detail: detail.to_string(),
            ip: ctx.ip.as_deref(),
            user_agent: ctx.user_agent.as_deref(),
            now,
        },
    )
    .await?;
    Ok(())
}

/// One event as shown to Owners and Administrators.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    pub id: i64,
    pub event: String,
    pub actor_user_id: Option<i64>,
    pub target_user_id: Option<i64>,
    pub detail: serde_json::Value,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub created_at: i64,
}

impl From<EventRow> for Event {
    fn from(r: EventRow) -> Self {
        Self {
            id: r.id,
            event: r.event,
            actor_user_id: r.actor_user_id,
            target_user_id: r.target_user_id,
            detail: serde_json::from_str(&r.detail).unwrap_or(serde_json::Value::Null),
            ip: r.ip,
            user_agent: r.user_agent,
            created_at: r.created_at,
        }
    }
}

pub const MAX_PAGE: i64 = 500;

impl App {
    /// The account's events, newest first, for its Owner and Administrators.
    pub async fn audit_events(
        &self,
        actor: &Person,
        user_id: Option<i64>,
        before: Option<i64>,
        limit: Option<i64>,
    ) -> Result<Vec<Event>> {
        permissions::may_view_audit(actor)?;
        let mut conn = self.store().conn().await?;
        let query = Query {
            account_id: Some(actor.account_id),
            user_id,
            before_id: before,
            limit: limit.unwrap_or(100).clamp(1, MAX_PAGE),
        };
        Ok(audit::list(&mut conn, &query).await?.into_iter().map(Event::from).collect())
    }
}
