//! Permissions as values (lldap's `get_admin_handler`): a use case that needs "may manage
//! this person" receives an [`AllowedOn`] (or, for the whole account, an [`Allowed`]) that
//! only [`App::allow_on`] and [`App::allow`] can make, after asking the permission's one
//! rule in `twofold-domain/src/permissions.rs`. A forgotten check does not compile, and
//! every refusal is audited the same way, under the permission's own event.

use serde_json::json;
use twofold_domain::Role;
use twofold_domain::permissions::{self as rules, Denied, Facts};
use twofold_domain::person::Person;
use twofold_store::users;

use crate::audit::Parties;
use crate::{App, Error, RequestContext, Result};

/// A permission over the actor's whole account.
pub(crate) trait AccountPermission: Copy {
    /// The audit event a refusal is recorded as.
    const REFUSED: &'static str;
    fn check(self, actor: &Facts) -> Result<(), Denied>;
}

/// A permission over one person of the actor's account.
pub(crate) trait PersonPermission: Copy {
    /// The audit event a refusal is recorded as.
    const REFUSED: &'static str;
    fn check(self, actor: &Facts, target: &Facts) -> Result<(), Denied>;
}

/// Declares permission types, each bound to its one rule and its refusal event: an
/// `AccountPermission` takes the actor's facts, a `PersonPermission` the target's too.
macro_rules! permissions {
    ($($(#[$doc:meta])* $name:ident: $kind:ident($($facts:ident),+) => $rule:path, $event:literal;)+) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, Copy)]
        pub(crate) struct $name;
        impl $kind for $name {
            const REFUSED: &'static str = $event;
            fn check(self, $($facts: &Facts),+) -> Result<(), Denied> {
                $rule($($facts),+)
            }
        }
    )+};
}

permissions! {
    /// Seeing the account's people (and their recovery requests).
    ListPeople: AccountPermission(actor) => rules::may_list_people, "people.list_refused";
    /// Reading the account's audit log.
    ViewAudit: AccountPermission(actor) => rules::may_view_audit, "audit.view_refused";
    /// The Overview and the people export.
    ViewOverview: AccountPermission(actor) => rules::may_view_overview, "overview.view_refused";
    /// Reading the account's 2FA policy (the page and `GET /api/v1/account/policy`).
    ReadPolicy: AccountPermission(actor) => rules::may_read_policy, "policy.read_refused";
    /// Requiring 2FA of everyone, and the grace period.
    SetPolicy: AccountPermission(actor) => rules::may_set_policy, "policy.change_refused";
    /// Making, filling and deleting the account's groups.
    ManageGroups: AccountPermission(actor) => rules::may_manage_groups, "group.change_refused";
    /// Registering, re-keying and removing the account's applications.
    ManageApps: AccountPermission(actor) => rules::may_manage_apps, "oidc.client_change_refused";
    /// Opening a person's profile.
    ViewPerson: PersonPermission(actor, target) => rules::may_view_person, "person.view_refused";
    /// Turning off a person's 2FA.
    DisableTwoFactor: PersonPermission(actor, target) => rules::may_disable_two_factor, "two_factor.disable_refused";
    /// Unlocking a person's locked second factors.
    UnlockTwoFactor: PersonPermission(actor, target) => rules::may_unlock_two_factor, "two_factor.unlock_refused";
    /// Signing a person out everywhere.
    ManageSignIn: PersonPermission(actor, target) => rules::may_manage_sign_in, "sessions.end_refused";
    /// Deactivating and reactivating a person.
    Deactivate: PersonPermission(actor, target) => rules::may_deactivate, "person.deactivate_refused";
    /// Handing the account to an Administrator.
    TransferOwnership: PersonPermission(actor, target) => rules::may_transfer_ownership, "ownership.transfer_refused";
}

/// Making a person an Administrator or a User.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ChangeRole(pub Role);

impl PersonPermission for ChangeRole {
    const REFUSED: &'static str = "role.change_refused";
    fn check(self, actor: &Facts, target: &Facts) -> Result<(), Denied> {
        rules::may_change_role(actor, target, self.0)
    }
}

/// Inviting a person with a role.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Invite(pub Role);

impl AccountPermission for Invite {
    const REFUSED: &'static str = "invitation.refused";
    fn check(self, actor: &Facts) -> Result<(), Denied> {
        rules::may_invite(actor, self.0)
    }
}

/// `actor` may do `P` in their account: made only by [`App::allow`].
#[derive(Debug)]
pub(crate) struct Allowed<'a, P> {
    actor: &'a Person,
    _permission: P,
}

impl<'a, P> Allowed<'a, P> {
    pub fn actor(&self) -> &'a Person {
        self.actor
    }
}

/// The actor may do `P` to `target`: made only by [`App::allow_on`].
#[derive(Debug)]
pub(crate) struct AllowedOn<P> {
    target: Person,
    _permission: P,
}

impl<P> AllowedOn<P> {
    pub fn target(&self) -> &Person {
        &self.target
    }

    pub fn into_target(self) -> Person {
        self.target
    }
}

impl App {
    /// Asks `permission` of `actor` for their account; a refusal is audited.
    pub(crate) async fn allow<'a, P: AccountPermission>(
        &self,
        actor: &'a Person,
        permission: P,
        ctx: &RequestContext,
    ) -> Result<Allowed<'a, P>> {
        match permission.check(&actor.facts()) {
            Ok(()) => Ok(Allowed { actor, _permission: permission }),
            Err(denied) => Err(self.refused(actor, None, P::REFUSED, denied.into(), ctx).await),
        }
    }

    /// Asks `permission` of `actor` on the person `target_id`; a refusal is audited (a
    /// person of another account answers `NotFound`, SEC-27, and is not named).
    pub(crate) async fn allow_on<P: PersonPermission>(
        &self,
        actor: &Person,
        permission: P,
        target_id: i64,
        ctx: &RequestContext,
    ) -> Result<AllowedOn<P>> {
        let target = if target_id == actor.id {
            Some(actor.clone())
        } else {
            let mut conn = self.store().conn().await?;
            users::by_id(&mut conn, target_id).await?.map(users::UserRow::into_person)
        };
        let verdict = match &target {
            Some(t) => permission.check(&actor.facts(), &t.facts()),
            None => Err(Denied::NotFound),
        };
        match (verdict, target) {
            (Ok(()), Some(target)) => Ok(AllowedOn { target, _permission: permission }),
            (Err(denied), target) => Err(self.refused(actor, target.as_ref(), P::REFUSED, denied.into(), ctx).await),
            (Ok(()), None) => Err(Denied::NotFound.into()),
        }
    }

    /// Records a refused attempt (SEC-30) and hands the refusal back. Attempts on other
    /// accounts' people are recorded in the actor's account only, without the target.
    pub(crate) async fn refused(
        &self,
        actor: &Person,
        target: Option<&Person>,
        event: &str,
        why: Error,
        ctx: &RequestContext,
    ) -> Error {
        let same_account = target.is_some_and(|t| t.account_id == actor.account_id);
        let parties = Parties {
            account_id: Some(actor.account_id),
            actor: Some(actor.id),
            target: target.filter(|_| same_account).map(|t| t.id),
        };
        let reason = match &why {
            Error::Denied(d) => format!("{d:?}"),
            Error::Invalid { code, .. } => (*code).to_string(),
            Error::InvalidCredentials => "wrong_password".to_string(),
            other => other.to_string(),
        };
        let written = async {
            let mut conn = self.store().conn().await?;
            self.record(&mut conn, self.now(), ctx, parties, event, json!({ "reason": reason })).await
        };
        match written.await {
            Ok(()) => why,
            Err(e) => e,
        }
    }
}
