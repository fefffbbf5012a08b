//! People who leave and come back: deactivation ends every way in at once, on every
//! instance (sessions, remembered browsers, applications' tokens, RADIUS challenges);
//! reactivation restores sign-in, not sessions; removal deletes the person, and the audit
//! log keeps naming them.

use serde_json::json;
use twofold_domain::person::Person;
use twofold_store::oidc::grants as oidc_grants;
use twofold_store::{Conn, Realm, commit, devices, sessions, users};

use crate::access::{Deactivate, PersonPermission};
use crate::audit::Parties;
use crate::proof::{Confirmation, ProofFor};
use crate::{App, Error, RequestContext, Result};

impl App {
    /// An Owner or Administrator deactivates (`active: false`) or reactivates a person,
    /// confirming with their own password (SEC-46). Answers the person as they are now.
    pub async fn set_person_active(
        &self,
        actor: &Person,
        target_id: i64,
        active: bool,
        confirmation: Confirmation<'_>,
        ctx: &RequestContext,
    ) -> Result<Person> {
        let allowed = self.allow_on(actor, Deactivate, target_id, ctx).await?;
        let target = allowed.target();
        self.confirm(actor, confirmation, ProofFor::on(target, Deactivate::REFUSED), ctx).await?;
        self.change_active(target, active, Parties::on(actor, target), ctx).await
    }

    /// `twofold person deactivate|reactivate --email`: the shell on the server, for any
    /// person but an Owner.
    pub async fn set_person_active_by_email(&self, email: &str, active: bool) -> Result<Person> {
        let (target, parties) = self.cli_target(email).await?;
        self.change_active(&target, active, parties, &RequestContext::cli()).await
    }

    /// "Remove from account": the same people may remove whom they may deactivate, with
    /// their password (or the token they act with). The person's sessions, factors and applications' grants go with them.
    pub async fn remove_person(
        &self,
        actor: &Person,
        target_id: i64,
        confirmation: Confirmation<'_>,
        ctx: &RequestContext,
    ) -> Result<()> {
        let allowed = self.allow_on(actor, Deactivate, target_id, ctx).await?;
        let target = allowed.target();
        self.confirm(actor, confirmation, ProofFor::on(target, Deactivate::REFUSED), ctx).await?;
        self.remove(target, Parties::on(actor, target), ctx).await
    }

    /// `twofold person remove --email`.
    pub async fn remove_person_by_email(&self, email: &str) -> Result<Person> {
        let (target, parties) = self.cli_target(email).await?;
        self.remove(&target, parties, &RequestContext::cli()).await?;
        Ok(target)
    }

    /// The person the shell names, never an Owner, and the parties of its audit event.
    async fn cli_target(&self, email: &str) -> Result<(Person, Parties)> {
        let mut conn = self.store().conn().await?;
        let target = users::by_email(&mut conn, &crate::sign_in::normalised_email(email)).await?;
        drop(conn);
        let target = target.ok_or(Error::NotFound("Nobody has that email."))?.into_person();
        if target.role == twofold_domain::Role::Owner {
            return Err(Error::Denied(twofold_domain::permissions::Denied::OwnerProtected));
        }
        let parties = Parties { account_id: Some(target.account_id), actor: None, target: Some(target.id) };
        Ok((target, parties))
    }

    async fn remove(&self, target: &Person, parties: Parties, ctx: &RequestContext) -> Result<()> {
        let now = self.now();
        let mut tx = self.store().begin().await?;
        if !users::delete(&mut tx, target.id).await? {
            return Err(Error::NotFound("No such person."));
        }
        // The log outlives the row: the event names who was removed.
        let detail = json!({ "name": target.name, "email": target.email, "role": target.role });
        self.record(&mut tx, now, ctx, parties, "person.removed", detail).await?;
        commit(tx).await?;
        Ok(())
    }

    async fn change_active(
        &self,
        target: &Person,
        active: bool,
        parties: Parties,
        ctx: &RequestContext,
    ) -> Result<Person> {
        let now = self.now();
        let mut tx = self.store().begin().await?;
        if !self.apply_active(&mut tx, target, active, parties, ctx, now).await? {
            return Err(if active {
                Error::conflict("not_deactivated", "This person is not deactivated.")
            } else {
                Error::conflict("already_deactivated", "This person is already deactivated.")
            });
        }
        let row = users::by_id(&mut tx, target.id).await?;
        commit(tx).await?;
        Ok(row.ok_or(Error::NotFound("No such person."))?.into_person())
    }

    /// Deactivates or reactivates `target` in the caller's transaction, ending every way
    /// in on deactivation, with its audit event; false when they already were so.
    pub(crate) async fn apply_active(
        &self,
        tx: &mut Conn,
        target: &Person,
        active: bool,
        parties: Parties,
        ctx: &RequestContext,
        now: i64,
    ) -> Result<bool> {
        if !users::set_deactivated(tx, target.id, (!active).then_some(now)).await? {
            return Ok(false);
        }
        let detail = if active { json!({}) } else { self.end_every_way_in(tx, target, now).await? };
        let event = if active { "person.reactivated" } else { "person.deactivated" };
        self.record(tx, now, ctx, parties, event, detail).await?;
        Ok(true)
    }

    /// Ends everything a deactivated person holds; answers what ended, for the audit log.
    async fn end_every_way_in(&self, tx: &mut Conn, target: &Person, now: i64) -> Result<serde_json::Value> {
        let sessions = sessions::delete_for_subject(tx, Realm::People, target.id).await?;
        devices::delete_for_user(tx, target.id).await?;
        let grants = oidc_grants::revoke_for_user(tx, target.id, now, "deactivated").await?;
        twofold_store::radius::end_challenges_of(tx, target.id).await?;
        let tokens = twofold_store::api_tokens::delete_made_by(tx, target.id).await?;
        Ok(json!({ "sessions": sessions, "app_grants_revoked": grants, "api_tokens_revoked": tokens }))
    }
}
