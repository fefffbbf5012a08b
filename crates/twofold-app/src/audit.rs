//! Appending to, reading, exporting and verifying the audit log.

use serde::Serialize;
use twofold_domain::person::Person;
use twofold_store::audit::{self, EventMatch, EventRow, NewEvent, Query};
use twofold_store::{Conn, users};

use crate::access::ViewAudit;
use crate::{App, Error, RequestContext, Result};

pub use twofold_store::audit::checkpoint::Checkpoint;
pub use twofold_store::audit::verify::{Break as ChainBreak, Problem as ChainProblem, Report as ChainReport};

/// What an event is about: who did it, to whom, in which account.
#[derive(Debug, Clone, Copy, Default)]
pub struct Parties {
    pub account_id: Option<i64>,
    pub actor: Option<i64>,
    pub target: Option<i64>,
}

impl Parties {
    /// A person acting on themselves.
    pub fn own(user: &Person) -> Self {
        Self { account_id: Some(user.account_id), actor: Some(user.id), target: Some(user.id) }
    }

    /// A person acting on another person of the same account.
    pub fn on(actor: &Person, target: &Person) -> Self {
        Self { account_id: Some(target.account_id), actor: Some(actor.id), target: Some(target.id) }
    }

    /// A person acting on their account (its groups, its settings), nobody in particular.
    pub fn actor(actor: &Person) -> Self {
        Self { account_id: Some(actor.account_id), actor: Some(actor.id), target: None }
    }
}

impl App {
    /// Appends one event on the caller's connection (usually inside the transaction that
    /// makes the change it records, so that one is never without the other). The event
    /// becomes the next link of its account's hash chain, keyed from the keyring.
    pub(crate) async fn record(
        &self,
        conn: &mut Conn,
        now: i64,
        ctx: &RequestContext,
        parties: Parties,
        event: &str,
        detail: serde_json::Value,
    ) -> Result<()> {
        let event = NewEvent {
            account_id: parties.account_id,
            actor_user_id: parties.actor,
            target_user_id: parties.target,
            event,
            detail: detail.to_string(),
            ip: ctx.ip.as_deref(),
            user_agent: ctx.user_agent.as_deref(),
            now,
        };
        audit::append(conn, &event, &self.secrets().sealing_box()).await?;
        Ok(())
    }
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

/// Most events on one page of the log.
pub const MAX_PAGE: i64 = 500;
/// Most events in one export.
pub const MAX_EXPORT: i64 = 10_000;

/// Filters as typed into the page's form or the API's query string, not yet checked.
#[derive(Debug, Clone, Copy, Default)]
pub struct FilterInput<'a> {
    pub user_id: Option<&'a str>,
    pub event: Option<&'a str>,
    pub from: Option<&'a str>,
    pub to: Option<&'a str>,
    pub before: Option<&'a str>,
    pub limit: Option<&'a str>,
}

/// Checked filters. Times are Unix seconds, both ends inclusive.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub user_id: Option<i64>,
    pub event: Option<EventMatch>,
    pub from: Option<i64>,
    pub to: Option<i64>,
    pub before: Option<i64>,
    pub limit: Option<i64>,
}

/// A filter value that does not parse, with the sentence that says what would.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct BadFilter {
    pub field: &'static str,
    pub message: String,
}

fn bad(field: &'static str, message: impl Into<String>) -> BadFilter {
    BadFilter { field, message: message.into() }
}

/// Latest time accepted: the end of year 9999, far beyond any event and any overflow.
const MAX_TIME: i64 = 253_402_300_799;
const DAY: i64 = 86_400;

impl Filter {
    /// Checks every field; blank fields (an untouched form input) mean "any".
    pub fn parse(input: &FilterInput<'_>) -> Result<Filter, BadFilter> {
        let filter = Filter {
            user_id: id_field("user_id", input.user_id)?,
            event: event_field(input.event)?,
            from: time_field("from", input.from, false)?,
            to: time_field("to", input.to, true)?,
            before: id_field("before", input.before)?,
            limit: limit_field(input.limit)?,
        };
        if let (Some(from), Some(to)) = (filter.from, filter.to)
            && from > to
        {
            return Err(bad("to", "The end of the date range comes before its start."));
        }
        Ok(filter)
    }
}

fn blank_to_none(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|v| !v.is_empty())
}

fn id_field(field: &'static str, value: Option<&str>) -> Result<Option<i64>, BadFilter> {
    let Some(value) = blank_to_none(value) else {
        return Ok(None);
    };
    match value.parse::<i64>() {
        Ok(id) if id > 0 => Ok(Some(id)),
        _ => Err(bad(field, format!("{field} must be a positive whole number."))),
    }
}

fn limit_field(value: Option<&str>) -> Result<Option<i64>, BadFilter> {
    let Some(value) = blank_to_none(value) else {
        return Ok(None);
    };
    value.parse::<i64>().map(Some).map_err(|_| bad("limit", "limit must be a whole number."))
}

/// An event type (`sign_in.failed`) or a prefix ending in a dot (`sign_in.`).
fn event_field(value: Option<&str>) -> Result<Option<EventMatch>, BadFilter> {
    let Some(value) = blank_to_none(value) else {
        return Ok(None);
    };
    let well_formed = value.len() <= 64
        && value.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'.');
    if !well_formed {
        return Err(bad(
            "event",
            "event must be an event type like sign_in.failed, or the start of one ending in a dot like sign_in.",
        ));
    }
    Ok(Some(if value.ends_with('.') {
        EventMatch::Prefix(value.to_string())
    } else {
        EventMatch::Exact(value.to_string())
    }))
}

/// Unix seconds, or a `YYYY-MM-DD` day in UTC: its first second as a start, its last as
/// an end, so that `from=to=` one day keeps that whole day.
fn time_field(field: &'static str, value: Option<&str>, end_of_day: bool) -> Result<Option<i64>, BadFilter> {
    let Some(value) = blank_to_none(value) else {
        return Ok(None);
    };
    let seconds = if value.bytes().all(|b| b.is_ascii_digit()) {
        value.parse::<i64>().ok().filter(|s| *s <= MAX_TIME)
    } else {
        day_start(value).map(|start| if end_of_day { start + DAY - 1 } else { start })
    };
    seconds.map(Some).ok_or_else(|| bad(field, format!("{field} must be a date (YYYY-MM-DD) or Unix seconds.")))
}

/// The first second of a `YYYY-MM-DD` day (UTC), if it is a real day from 1970 on.
fn day_start(value: &str) -> Option<i64> {
    let mut parts = value.split('-');
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return None;
    }
    let (y, m, d): (i64, i64, i64) = (y.parse().ok()?, m.parse().ok()?, d.parse().ok()?);
    if y < 1970 || !(1..=12).contains(&m) || d < 1 || d > days_in_month(y, m) {
        return None;
    }
    Some(days_from_civil(y, m, d) * DAY)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A person of the account, as the log's filter and columns name them.
#[derive(Debug, Clone, Serialize)]
pub struct Named {
    pub id: i64,
    pub name: String,
    pub email: String,
}

impl App {
    /// One page of the account's events matching `filter`, newest first (at most
    /// [`MAX_PAGE`], 100 unless the filter says).
    pub async fn audit_search(&self, actor: &Person, filter: &Filter, ctx: &RequestContext) -> Result<Vec<Event>> {
        self.audit_query(actor, filter, ctx, filter.limit.unwrap_or(100).clamp(1, MAX_PAGE)).await
    }

    /// Every event matching `filter` for an export, newest first, up to [`MAX_EXPORT`].
    pub async fn audit_export(&self, actor: &Person, filter: &Filter, ctx: &RequestContext) -> Result<Vec<Event>> {
        self.audit_query(actor, filter, ctx, filter.limit.unwrap_or(MAX_EXPORT).clamp(1, MAX_EXPORT)).await
    }

    async fn audit_query(
        &self,
        actor: &Person,
        filter: &Filter,
        ctx: &RequestContext,
        limit: i64,
    ) -> Result<Vec<Event>> {
        self.allow(actor, ViewAudit, ctx).await?;
        let mut conn = self.store().conn().await?;
        // Always the caller's own account: a person id from another account just matches nothing.
        let query = Query {
            account_id: Some(actor.account_id),
            user_id: filter.user_id,
            event: filter.event.clone(),
            from: filter.from,
            to: filter.to,
            before_id: filter.before,
            limit,
        };
        Ok(audit::list(&mut conn, &query).await?.into_iter().map(Event::from).collect())
    }

    /// The account's people (to name actors and targets and to filter by) and the event
    /// types its log holds (to suggest in the filter), in one permission check.
    pub async fn audit_choices(&self, actor: &Person, ctx: &RequestContext) -> Result<(Vec<Named>, Vec<String>)> {
        let allowed = self.allow(actor, ViewAudit, ctx).await?;
        let account_id = allowed.actor().account_id;
        let mut conn = self.store().conn().await?;
        let people = users::in_account(&mut conn, account_id).await?;
        let people = people.into_iter().map(|u| Named { id: u.id, name: u.name, email: u.email }).collect();
        Ok((people, audit::event_types(&mut conn, account_id).await?))
    }

    /// Walks every account's hash chain (an operator's check, from the command line), and
    /// compares the database with a checkpoint taken before, if one is given. A checkpoint
    /// this keyring did not sign, or one altered since, is refused.
    pub async fn verify_audit_log(&self, checkpoint: Option<&Checkpoint>) -> Result<ChainReport> {
        let key = self.secrets().sealing_box();
        if checkpoint.is_some_and(|c| !c.is_authentic(&key)) {
            return Err(Error::Invalid {
                code: "checkpoint_invalid",
                message: "The checkpoint was not signed by this installation's keys, or was changed since.".into(),
            });
        }
        let mut conn = self.store().conn().await?;
        let mut report = audit::verify::verify(&mut conn, &key).await?;
        if let Some(checkpoint) = checkpoint {
            let differ = audit::checkpoint::compare(&mut conn, checkpoint).await?;
            // A chain already broken keeps its first break; the checkpoint adds the others.
            let known: std::collections::HashSet<i64> = report.breaks.iter().map(|b| b.chain).collect();
            report.breaks.extend(differ.into_iter().filter(|b| !known.contains(&b.chain)));
        }
        Ok(report)
    }

    /// Each chain's head now, signed with a key from the keyring: to keep outside the
    /// database and check against it later (`twofold audit verify --checkpoint`).
    pub async fn audit_checkpoint(&self) -> Result<Checkpoint> {
        let mut conn = self.store().conn().await?;
        Ok(audit::checkpoint::take(&mut conn, &self.secrets().sealing_box(), self.now()).await?)
    }

    /// Links every chain begun before the chain was keyed to a keyed event, so that its
    /// unkeyed history is covered by the key from now on (once, after the upgrade that
    /// brought the key). Answers how many chains were sealed.
    pub async fn seal_unkeyed_audit_chains(&self) -> Result<usize> {
        let mut conn = self.store().conn().await?;
        let chains = audit::unkeyed_chains(&mut conn).await?;
        drop(conn);
        let now = self.now();
        for chain in &chains {
            let parties = Parties { account_id: (*chain != 0).then_some(*chain), actor: None, target: None };
            let detail = serde_json::json!({ "reason": "the chain is keyed from here on" });
            let mut tx = self.store().begin().await?;
            self.record(&mut tx, now, &RequestContext::cli(), parties, "audit.chain_keyed", detail).await?;
            twofold_store::commit(tx).await?;
        }
        Ok(chains.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(input: FilterInput<'_>) -> Result<Filter, BadFilter> {
        Filter::parse(&input)
    }

    #[test]
    fn blank_fields_mean_any() {
        let f = parse(FilterInput { user_id: Some(""), event: Some(" "), from: Some(""), ..Default::default() });
        assert_eq!(f, Ok(Filter::default()));
    }

    #[test]
    fn days_cover_whole_utc_days_and_seconds_pass_through() {
        let f = parse(FilterInput { from: Some("2027-01-15"), to: Some("2027-01-15"), ..Default::default() });
        let f = f.unwrap_or_default();
        assert_eq!(f.from, Some(1_800_000_000 - 8 * 3600));
        assert_eq!(f.to, Some(1_800_000_000 - 8 * 3600 + DAY - 1));
        assert_eq!(day_start("1970-01-01"), Some(0));
        assert_eq!(day_start("2000-03-01"), Some(951_868_800));
        assert_eq!(day_start("2024-02-29"), Some(1_709_164_800));
        let f = parse(FilterInput { from: Some("1800000000"), ..Default::default() });
        assert_eq!(f.map(|f| f.from), Ok(Some(1_800_000_000)));
    }

    #[test]
    fn impossible_dates_and_reversed_ranges_are_refused() {
        for bad in
            ["2027-02-29", "2027-13-01", "2027-1-5", "15/01/2027", "-5", "2027-01-15T00:00", "99999999999999999999"]
        {
            assert!(parse(FilterInput { from: Some(bad), ..Default::default() }).is_err(), "{bad}");
        }
        let reversed = parse(FilterInput { from: Some("2027-01-16"), to: Some("2027-01-15"), ..Default::default() });
        assert_eq!(reversed.map_err(|e| e.field), Err("to"));
    }

    #[test]
    fn an_event_ending_in_a_dot_is_a_prefix() {
        let f = parse(FilterInput { event: Some("sign_in."), ..Default::default() });
        assert_eq!(f.map(|f| f.event), Ok(Some(EventMatch::Prefix("sign_in.".into()))));
        let f = parse(FilterInput { event: Some("sign_in.failed"), ..Default::default() });
        assert_eq!(f.map(|f| f.event), Ok(Some(EventMatch::Exact("sign_in.failed".into()))));
        for bad in ["Sign_in", "sign in", "a%", "x'--", &"a".repeat(65)] {
            assert!(parse(FilterInput { event: Some(bad), ..Default::default() }).is_err(), "{bad}");
        }
    }

    #[test]
    fn ids_are_positive_whole_numbers() {
        for bad in ["0", "-3", "abc", "1.5"] {
            assert!(parse(FilterInput { user_id: Some(bad), ..Default::default() }).is_err(), "{bad}");
            assert!(parse(FilterInput { before: Some(bad), ..Default::default() }).is_err(), "{bad}");
        }
        assert!(parse(FilterInput { limit: Some("ten"), ..Default::default() }).is_err());
    }
}
