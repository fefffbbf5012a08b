//! The account's security console: Owners and Administrators act on their people's sign-in
//! (turn off 2FA, unlock, sign out everywhere), the Owner sets the 2FA policy and can hand
//! the account over, and everyone sees and ends their own sessions.

use serde_json::json;
use twofold_domain::Role;

use twofold_domain::person::Person;
use twofold_domain::policy::MAX_GRACE_DAYS;
use twofold_domain::throttle::ThrottleKey;
use twofold_store::accounts::{self, Policy};
use twofold_store::oidc::grants as oidc_grants;
use twofold_store::sessions::{self, SessionRow};
use twofold_store::users;
use twofold_store::{Realm, commit, notices, throttles};

use crate::access::{
    AccountPermission, DisableTwoFactor, ManageSignIn, PersonPermission, ReadPolicy, SetPolicy, TransferOwnership,
    UnlockTwoFactor,
};
use crate::audit::Parties;
use crate::proof::ProofFor;
use crate::sign_in::CurrentSession;
use crate::{App, Error, RequestContext, Result};

/// The account's 2FA policy as its readers see it, with whether the reader may change it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountPolicy {
    /// When the Owner began requiring 2FA; `None` when it is optional.
    pub require_two_factor_since: Option<i64>,
    pub grace_days: i64,
    /// Whether the reader may change it (the Owner).
    pub may_change: bool,
}

impl AccountPolicy {
    fn new(policy: Policy, may_change: bool) -> Self {
        AccountPolicy {
            require_two_factor_since: policy.require_two_factor_since,
            grace_days: policy.grace_days,
            may_change,
        }
    }
}

/// One of a person's open sessions as their session list shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenSession {
    /// The id the list and `DELETE /api/v1/me/sessions/{id}` name it by.
    pub id: String,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
    pub created_at: i64,
    pub last_seen_at: i64,
    /// The session of the request that asked.
    pub current: bool,
}

impl OpenSession {
    fn of(row: SessionRow, current: &CurrentSession) -> Self {
        OpenSession {
            current: row.id_hash == current.session.id_hash,
            id: row.id_hash,
            user_agent: row.user_agent,
            ip: row.ip,
            created_at: row.created_at,
            last_seen_at: row.last_seen_at,
        }
    }
}

/// A note left for a person ("Your administrator … turned off …"), shown once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub text: String,
    pub created_at: i64,
}

/// "29 Nov 2026" for notices.
pub(crate) fn day(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let month = MONTHS.get(usize::try_from(m - 1).unwrap_or(0)).copied().unwrap_or("?");
    format!("{d} {month} {y}")
}

/// Days since 1970-01-01 to (year, month, day): Howard Hinnant's `civil_from_days`, so
/// that notices need no date library in this crate.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

impl App {
    /// An Owner or Administrator turns off another person's 2FA, confirming with their own
    /// password. The person's sessions and remembered browsers end at once and they are
    /// told by SMS and at their next sign-in (SEC-26, SEC-28).
    pub async fn disable_two_factor_of(
        &self,
        actor: &Person,
        target_id: i64,
        password: &str,
        ctx: &RequestContext,
    ) -> Result<()> {
        if actor.id == target_id {
            return self.disable_own_two_factor(actor, password, ctx).await;
        }
        let allowed = self.allow_on(actor, DisableTwoFactor, target_id, ctx).await?;
        let target = allowed.target();
        self.prove_password(actor, password, ProofFor::on(target, DisableTwoFactor::REFUSED), ctx).await?;
        let now = self.now();
        let mut tx = self.store().begin().await?;
        let sms = format!("{} turned off two-factor authentication for your account.", actor.name);
        if !self.tear_down_two_factor(&mut tx, target, &sms, now).await? {
            return Err(Error::conflict("not_enabled", "Two-factor authentication is already off for this person."));
        }
        sessions::delete_for_subject(&mut tx, Realm::People, target.id).await?;
        let text = format!(
            "Your {} {} turned off two-factor authentication on {}. Set it up again from your profile.",
            actor.role.label().to_lowercase(),
            actor.name,
            day(now)
        );
        notices::add(&mut tx, target.id, &text, now).await?;
        self.record(&mut tx, now, ctx, Parties::on(actor, target), "two_factor.disabled", json!({ "by": actor.role }))
            .await?;
        commit(tx).await?;
        Ok(())
    }

    /// Clears every locked (or throttled) second factor of a person: the app, SMS sign-in
    /// and phone verification alike (SEC-34).
    pub async fn unlock_two_factor(&self, actor: &Person, target_id: i64, ctx: &RequestContext) -> Result<()> {
        let target = self.allow_on(actor, UnlockTwoFactor, target_id, ctx).await?.into_target();
        let now = self.now();
        let mut tx = self.store().begin().await?;
        let cleared = throttles::reset_all(&mut tx, &ThrottleKey::second_factors_of_person(target.id)).await?;
        let detail = json!({ "counters_cleared": cleared });
        self.record(&mut tx, now, ctx, Parties::on(actor, &target), "two_factor.unlocked", detail).await?;
        commit(tx).await?;
        Ok(())
    }

    /// Ends every session of a person; answers how many.
    pub async fn sign_out_everywhere(&self, actor: &Person, target_id: i64, ctx: &RequestContext) -> Result<u64> {
        let target = self.allow_on(actor, ManageSignIn, target_id, ctx).await?.into_target();
        let now = self.now();
        let mut tx = self.store().begin().await?;
        let ended = sessions::delete_for_subject(&mut tx, Realm::People, target.id).await?;
        let grants = oidc_grants::revoke_for_user(&mut tx, target.id, now, "signed_out_everywhere").await?;
        let detail = json!({ "sessions": ended, "app_grants_revoked": grants });
        self.record(&mut tx, now, ctx, Parties::on(actor, &target), "sessions.ended_all", detail).await?;
        commit(tx).await?;
        Ok(ended)
    }

    /// The open sessions of the person signed in on `current`, which is marked.
    pub async fn my_sessions(&self, current: &CurrentSession) -> Result<Vec<OpenSession>> {
        let mut conn = self.store().conn().await?;
        let rows = sessions::live_for_subject(&mut conn, Realm::People, current.user.id, self.now()).await?;
        Ok(rows.into_iter().map(|row| OpenSession::of(row, current)).collect())
    }

    /// Ends one of your own sessions, by the id the session list shows.
    pub async fn end_my_session(&self, user: &Person, id: &str, ctx: &RequestContext) -> Result<()> {
        let id: String = id.chars().take(64).collect();
        let now = self.now();
        let mut tx = self.store().begin().await?;
        if !sessions::delete_for_subject_session(&mut tx, Realm::People, user.id, &id).await? {
            return Err(Error::NotFound("No such session."));
        }
        self.record(&mut tx, now, ctx, Parties::own(user), "sessions.ended", json!({})).await?;
        commit(tx).await?;
        Ok(())
    }

    /// The account's 2FA policy, for its Owner and Administrators: the page and the API
    /// ask this one rule (`may_read_policy`).
    pub async fn policy(&self, actor: &Person, ctx: &RequestContext) -> Result<AccountPolicy> {
        let allowed = self.allow(actor, ReadPolicy, ctx).await?;
        let mut conn = self.store().conn().await?;
        let policy = accounts::policy(&mut conn, allowed.actor().account_id).await?;
        Ok(AccountPolicy::new(policy, SetPolicy.check(&actor.facts()).is_ok()))
    }

    /// The Owner requires 2FA of everyone (or stops), with a grace period in days.
    pub async fn set_policy(
        &self,
        actor: &Person,
        require: bool,
        grace_days: i64,
        ctx: &RequestContext,
    ) -> Result<AccountPolicy> {
        self.allow(actor, SetPolicy, ctx).await?;
        if !(0..=MAX_GRACE_DAYS).contains(&grace_days) {
            return Err(Error::invalid(
                "invalid_grace_days",
                format!("The grace period is 0 to {MAX_GRACE_DAYS} days."),
            ));
        }
        let now = self.now();
        let mut tx = self.store().begin().await?;
        let current = accounts::policy(&mut tx, actor.account_id).await?;
        // Keep the original start when only the grace period changes: the clock does not restart.
        let since = match (require, current.require_two_factor_since) {
            (false, _) => None,
            (true, Some(since)) => Some(since),
            (true, None) => Some(now),
        };
        let policy = Policy { require_two_factor_since: since, grace_days };
        accounts::set_policy(&mut tx, actor.account_id, policy).await?;
        let parties = Parties { account_id: Some(actor.account_id), actor: Some(actor.id), target: None };
        self.record(
            &mut tx,
            now,
            ctx,
            parties,
            "policy.changed",
            json!({ "require_two_factor": require, "grace_days": grace_days }),
        )
        .await?;
        commit(tx).await?;
        Ok(AccountPolicy::new(policy, true))
    }

    /// The Owner hands the account to an Administrator and becomes an Administrator.
    pub async fn transfer_ownership(
        &self,
        owner: &Person,
        target_id: i64,
        password: &str,
        ctx: &RequestContext,
    ) -> Result<()> {
        let target = self.allow_on(owner, TransferOwnership, target_id, ctx).await?.into_target();
        self.prove_password(owner, password, ProofFor::on(&target, TransferOwnership::REFUSED), ctx).await?;
        let now = self.now();
        let mut tx = self.store().begin().await?;
        // Demote first: the database holds one Owner per account at every statement.
        let demoted = users::set_role(&mut tx, owner.id, Role::Owner, Role::Admin).await?;
        let promoted = demoted && users::set_role(&mut tx, target.id, Role::Admin, Role::Owner).await?;
        if !promoted {
            return Err(Error::conflict("changed_meanwhile", "A role changed meanwhile; reload and try again."));
        }
        notices::add(&mut tx, target.id, &format!("{} made you the Account Owner on {}.", owner.name, day(now)), now)
            .await?;
        self.record(&mut tx, now, ctx, Parties::on(owner, &target), "ownership.transferred", json!({})).await?;
        commit(tx).await?;
        Ok(())
    }

    /// Notices not yet shown; showing them marks them seen.
    pub async fn take_notices(&self, user: &Person) -> Result<Vec<Notice>> {
        let mut conn = self.store().conn().await?;
        let unseen = notices::unseen(&mut conn, user.id).await?;
        if let Some(last) = unseen.last() {
            notices::mark_seen(&mut conn, user.id, last.id, self.now()).await?;
        }
        Ok(unseen.into_iter().map(|n| Notice { text: n.text, created_at: n.created_at }).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_read_like_dates() {
        assert_eq!(day(0), "1 Jan 1970");
        assert_eq!(day(1_800_000_000), "15 Jan 2027");
        assert_eq!(day(951_782_400), "29 Feb 2000");
    }
}
