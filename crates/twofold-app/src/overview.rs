//! The Overview an Owner or Administrator reads at a glance: who is protected, what the
//! policy still waits for, how sign-ins went, what needs them now. One answer for the page
//! and `GET /api/v1/account/overview`, and the people export beside it.

use std::collections::HashMap;

use twofold_domain::factors::SecondFactors;
use twofold_domain::overview::{self as rules, DayActivity};
use twofold_domain::person::{Person, PersonStatus};
use twofold_domain::policy::Requirement;
use twofold_domain::throttle::{Failures, Gate, ThrottleKey};
use twofold_store::overview as reads;

use crate::access::{AccountPermission, ViewOverview};
use crate::audit::Event;
use crate::people::PersonSummary;
use crate::{App, RequestContext, Result};

/// A person the Overview names, linked to their profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Named {
    pub id: i64,
    pub name: String,
}

/// A person the policy still waits for: days over the deadline, or days left before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyLine {
    pub person: Named,
    pub days: i64,
}

/// People with 2FA, of the active ones, and by factor.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Adoption {
    /// People who chose a password (invitations not yet used are left out).
    pub active: usize,
    pub with_two_factor: usize,
    pub authenticator_app: usize,
    /// A security key or passkey.
    pub security_key: usize,
    /// With 2FA and at most `LOW_RECOVERY_CODES` recovery codes left.
    pub recovery_codes_low: usize,
    /// `(day, people with 2FA at its end)` for the last 90 days, oldest first.
    pub trend: Vec<(i64, i64)>,
}

impl Adoption {
    /// Whole per cent of active people with 2FA, rounded down (so 99 of 100 never reads
    /// as 100%); 0 with nobody active.
    pub fn percent(&self) -> usize {
        (self.with_two_factor * 100).checked_div(self.active).unwrap_or(0)
    }
}

/// A list the Overview names in part: the first [`rules::LISTED`], and how many there are
/// (just after 2FA is required, "overdue" can be everyone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed<T> {
    pub shown: Vec<T>,
    pub total: usize,
}

impl<T> Listed<T> {
    fn of(mut all: Vec<T>) -> Self {
        let total = all.len();
        all.truncate(rules::LISTED);
        Listed { shown: all, total }
    }

    /// How many are not named.
    pub fn more(&self) -> usize {
        self.total.saturating_sub(self.shown.len())
    }

    pub fn is_empty(&self) -> bool {
        self.total == 0
    }
}

impl<T> Default for Listed<T> {
    fn default() -> Self {
        Listed { shown: Vec::new(), total: 0 }
    }
}

/// A recovery request waiting for support.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitingRequest {
    pub person: Named,
    pub status: String,
    pub created_at: i64,
}

/// A key added lately.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewKey {
    pub person: Named,
    pub name: String,
    pub passkey: bool,
    pub added_at: i64,
}

/// An application and how many sign-ins it got in 30 days.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppUse {
    pub client_id: String,
    pub name: String,
    pub sign_ins: i64,
}

/// What needs the Owner now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attention {
    pub locked: Listed<Named>,
    pub recovery_requests: Vec<WaitingRequest>,
    /// People with 2FA and no verified phone for recovery.
    pub without_phone: Listed<Named>,
    pub new_keys: Vec<NewKey>,
    pub top_apps: Vec<AppUse>,
}

/// The whole Overview.
#[derive(Debug, Clone)]
pub struct Overview {
    pub generated_at: i64,
    pub adoption: Adoption,
    pub policy_required: bool,
    pub overdue: Listed<PolicyLine>,
    pub in_grace: Listed<PolicyLine>,
    /// The last 30 days, oldest first.
    pub activity: Vec<DayActivity>,
    pub attention: Attention,
    /// The newest security events (at most ten).
    pub recent: Vec<Event>,
}

fn named(p: &Person) -> Named {
    Named { id: p.id, name: p.name.clone() }
}

fn adoption(people: &[PersonSummary]) -> Adoption {
    let active: Vec<&PersonSummary> =
        people.iter().filter(|p| matches!(p.user.status, PersonStatus::Active { .. })).collect();
    let on = |f: &SecondFactors| f.is_on();
    Adoption {
        active: active.len(),
        with_two_factor: active.iter().filter(|p| on(&p.factors)).count(),
        authenticator_app: active.iter().filter(|p| p.factors.totp.enabled_since().is_some()).count(),
        security_key: active.iter().filter(|p| p.factors.security_keys > 0).count(),
        recovery_codes_low: active
            .iter()
            .filter(|p| on(&p.factors) && p.factors.recovery_codes_left <= rules::LOW_RECOVERY_CODES)
            .count(),
        trend: Vec::new(),
    }
}

/// Overdue people (days over) and those inside the grace period (days left), by urgency;
/// active people only.
fn policy_lines(
    people: &[PersonSummary],
    required_since: Option<i64>,
    grace_days: i64,
    now: i64,
) -> (Listed<PolicyLine>, Listed<PolicyLine>) {
    let (mut overdue, mut in_grace) = (Vec::new(), Vec::new());
    let deadline = required_since.map(|since| twofold_domain::policy::deadline(since, grace_days));
    // Open invitations are left out, as in the adoption figures: nobody can set up 2FA
    // before choosing a password.
    for p in people.iter().filter(|p| matches!(p.user.status, PersonStatus::Active { .. })) {
        match p.requirement {
            Requirement::Overdue => {
                let over = deadline.map_or(0, |d| rules::days_over(d, now));
                overdue.push(PolicyLine { person: named(&p.user), days: over });
            }
            Requirement::DueBy { deadline } => {
                let left = rules::days_left(deadline, now);
                in_grace.push(PolicyLine { person: named(&p.user), days: left });
            }
            Requirement::Met => {}
        }
    }
    overdue.sort_by(|a, b| b.days.cmp(&a.days).then_with(|| a.person.name.cmp(&b.person.name)));
    in_grace.sort_by(|a, b| a.days.cmp(&b.days).then_with(|| a.person.name.cmp(&b.person.name)));
    (Listed::of(overdue), Listed::of(in_grace))
}

impl App {
    /// Whether Home leads `actor` to the Overview first (asked of the permission's rule,
    /// without a refusal in the audit log: nothing was refused).
    pub fn sees_overview(&self, actor: &Person) -> bool {
        ViewOverview.check(&actor.facts()).is_ok()
    }

    /// The Overview of `actor`'s account: Owners and Administrators.
    pub async fn overview(&self, actor: &Person, ctx: &RequestContext) -> Result<Overview> {
        self.allow(actor, ViewOverview, ctx).await?;
        let account = actor.account_id;
        let now = self.now();
        let today = rules::day_of(now);
        let people = self.summaries(account).await?;
        let mut conn = self.store().conn().await?;
        let policy = twofold_store::accounts::policy(&mut conn, account).await?;
        let mut adoption = adoption(&people);
        let trend_since = (today - rules::TREND_DAYS + 1) * rules::DAY;
        let changes =
            reads::events_per_day(&mut conn, account, &["two_factor.enabled", "two_factor.disabled"], trend_since)
                .await?;
        let deltas: Vec<(i64, i64)> =
            changes.iter().map(|(day, event, n)| (*day, if event == "two_factor.enabled" { *n } else { -n })).collect();
        let (current, ceiling) = (adoption.with_two_factor as i64, adoption.active as i64);
        adoption.trend = rules::adoption_trend(current, &deltas, today, rules::TREND_DAYS, ceiling);
        let activity_since = (today - rules::ACTIVITY_DAYS + 1) * rules::DAY;
        let events: Vec<&str> = rules::Activity::EVENTS.iter().map(|(e, _)| *e).collect();
        let rows = reads::events_per_day(&mut conn, account, &events, activity_since).await?;
        let activity = rules::activity(&rows, today, rules::ACTIVITY_DAYS);
        let recent = reads::newest_of(&mut conn, account, &rules::SECURITY_EVENTS, 10).await?;
        drop(conn);
        let (overdue, in_grace) = policy_lines(&people, policy.require_two_factor_since, policy.grace_days, now);
        let attention = self.attention(actor, &people, activity_since).await?;
        Ok(Overview {
            generated_at: now,
            adoption,
            policy_required: policy.require_two_factor_since.is_some(),
            overdue,
            in_grace,
            activity,
            attention,
            recent: recent.into_iter().map(Event::from).collect(),
        })
    }

    async fn attention(&self, actor: &Person, people: &[PersonSummary], since: i64) -> Result<Attention> {
        let account = actor.account_id;
        let now = self.now();
        // Only counters that could be locked are read: at least the lowest lock of any
        // second factor (100 today); there are few such rows, whatever the account's size.
        let lowest_lock = ThrottleKey::second_factors_of_person(0).iter().filter_map(|k| k.policy().lock_after).min();
        let mut conn = self.store().conn().await?;
        let counters = match lowest_lock {
            Some(at) => twofold_store::throttles::at_least(&mut conn, i64::from(at)).await?,
            None => HashMap::new(),
        };
        let keys = reads::keys_added_since(&mut conn, account, now - rules::NEW_KEY_DAYS * rules::DAY).await?;
        let issued = reads::sign_in_details(&mut conn, account, since).await?;
        let clients = twofold_store::oidc::clients::list(&mut conn, None).await?;
        // On the same connection, named from the people already read: the Overview's
        // permission covers them (asking `recovery_requests_in_account` would check it
        // again and read each name once more).
        let requests = twofold_store::recovery::undecided_in_account(&mut conn, account).await?;
        drop(conn);
        let names: HashMap<i64, &str> = people.iter().map(|p| (p.user.id, p.user.name.as_str())).collect();
        Ok(Attention {
            locked: Listed::of(locked(people, &counters, now)),
            recovery_requests: requests
                .into_iter()
                .map(|r| WaitingRequest {
                    person: Named {
                        id: r.user_id,
                        name: names.get(&r.user_id).map_or_else(String::new, |n| (*n).to_owned()),
                    },
                    status: r.status,
                    created_at: r.created_at,
                })
                .collect(),
            without_phone: Listed::of(
                people.iter().filter(|p| p.factors.is_on() && p.phone.is_none()).map(|p| named(&p.user)).collect(),
            ),
            new_keys: keys
                .into_iter()
                .map(|k| NewKey {
                    person: Named { id: k.user_id, name: k.person_name },
                    name: k.key_name,
                    passkey: k.passkey,
                    added_at: k.created_at,
                })
                .collect(),
            top_apps: top_apps(&issued, &clients),
        })
    }
}

/// People any of whose second factors is locked, judged by the attempt pipeline's own gate
/// over every counter that locks a person (the app, SMS sign-in, phone check, recovery
/// codes, security keys), as the profile judges it.
fn locked(people: &[PersonSummary], counters: &HashMap<String, Failures>, now: i64) -> Vec<Named> {
    let is_locked =
        |key: &ThrottleKey| counters.get(&key.subject()).is_some_and(|f| key.policy().gate(*f, now) == Gate::Locked);
    people
        .iter()
        .filter(|p| ThrottleKey::second_factors_of_person(p.user.id).iter().any(is_locked))
        .map(|p| named(&p.user))
        .collect()
}

/// The application a token-issued detail names, when it records a sign-in (a code
/// redeemed), not an application keeping its session (a refresh).
fn signed_in_to(detail: &str) -> Option<String> {
    let d = serde_json::from_str::<serde_json::Value>(detail).ok()?;
    if d.get("grant_type").and_then(|g| g.as_str()) == Some("refresh_token") {
        return None;
    }
    d.get("client_id").and_then(|v| v.as_str()).map(str::to_owned)
}

/// Sign-ins per application from the `oidc.token_issued` details, most first (five).
fn top_apps(details: &[String], clients: &[twofold_store::oidc::clients::ClientRow]) -> Vec<AppUse> {
    let mut counts: HashMap<String, i64> = HashMap::new();
    for detail in details {
        if let Some(client) = signed_in_to(detail) {
            *counts.entry(client).or_default() += 1;
        }
    }
    let mut apps: Vec<AppUse> = counts
        .into_iter()
        .filter_map(|(client_id, sign_ins)| {
            let name = clients.iter().find(|c| c.facts.client_id == client_id)?.facts.name.clone();
            Some(AppUse { client_id, name, sign_ins })
        })
        .collect();
    apps.sort_by(|a, b| b.sign_ins.cmp(&a.sign_ins).then_with(|| a.name.cmp(&b.name)));
    apps.truncate(5);
    apps
}

impl App {
    /// The account's people with their 2FA state and factors, for the Owner's own reports
    /// (the web face writes them as CSV).
    pub async fn people_export(&self, actor: &Person, ctx: &RequestContext) -> Result<Vec<PersonSummary>> {
        self.allow(actor, ViewOverview, ctx).await?;
        self.summaries(actor.account_id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_apps_counts_each_sign_in_not_refreshes_and_names_only_registered_applications() {
        let client = |id: &str, name: &str| twofold_store::oidc::clients::ClientRow {
            facts: twofold_domain::oidc::client::ClientFacts {
                client_id: id.into(),
                name: name.into(),
                account_id: None,
                public: false,
                require_two_factor: false,
                redirect_uris: vec![],
                post_logout_redirect_uris: vec![],
                id_token_alg: Default::default(),
            },
            secret_hash: None,
            created_at: 0,
            secret_rotated_at: None,
        };
        let clients = [client("a", "Wiki"), client("b", "Reports")];
        let details: Vec<String> = [
            r#"{"client_id":"b"}"#,
            r#"{"client_id":"a"}"#,
            r#"{"client_id":"b"}"#,
            r#"{"client_id":"gone"}"#,
            r#"{"client_id":"a","grant_type":"refresh_token"}"#,
            "not json",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        let apps = top_apps(&details, &clients);
        assert_eq!(
            apps.iter().map(|a| (a.name.as_str(), a.sign_ins)).collect::<Vec<_>>(),
            [("Reports", 2), ("Wiki", 1)]
        );
    }

    #[test]
    fn the_percentage_rounds_down_and_survives_an_empty_account() {
        let of = |with_two_factor, active| Adoption { with_two_factor, active, ..Adoption::default() }.percent();
        assert_eq!((of(2, 3), of(99, 100), of(5, 5), of(0, 0)), (66, 99, 100, 0));
    }
}
