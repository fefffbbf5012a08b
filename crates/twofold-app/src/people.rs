//! An account's people: listing, profiles, invitations and roles.

use serde_json::json;
use twofold_domain::email::Email;
use twofold_domain::factors::SecondFactors;
use twofold_domain::permissions::Capabilities;

use twofold_domain::person::Person;
use twofold_domain::phone::mask;
use twofold_domain::policy::{self, Requirement};
use twofold_domain::{Role, password, person_name, token};
use twofold_store::links::InvitationLinks;
use twofold_store::users::{self, NewUser, UserRow};
use twofold_store::{Conn, accounts, commit, factors, links, phones};

use std::collections::HashMap;

use crate::access::{
    AccountPermission, ChangeRole, Invite, ListPeople, ManageGroups, ReadPolicy, SetPolicy, ViewOverview, ViewPerson,
};
use crate::audit::Parties;
use crate::mail::Letter;
use crate::setup::email_taken;
use crate::{App, Error, RequestContext, Result};

/// An invitation just made. `url` is shown once to the inviter; the person gets another
/// link by mail, and only that one proves their address when it is used.
#[derive(Debug, Clone)]
pub struct Invitation {
    pub user: Person,
    pub url: String,
}

/// An invitation just made: the link to show, and the queued mail.
pub(crate) struct SentInvitation {
    pub url: String,
    pub outbox_id: i64,
}

/// A person's profile with what the viewer may do on it.
#[derive(Debug, Clone)]
pub struct Profile {
    pub person: Person,
    pub two_factor: crate::two_factor::TwoFactorStatus,
    /// The verified number, masked.
    pub phone: Option<String>,
    pub capabilities: Capabilities,
}

/// One person as the Users tab lists them.
#[derive(Debug, Clone)]
pub struct PersonSummary {
    pub user: Person,
    pub two_factor_since: Option<i64>,
    /// Which methods they have (the app, keys, codes left).
    pub factors: SecondFactors,
    /// The verified number, masked.
    pub phone: Option<String>,
    /// What the account's 2FA policy asks of them.
    pub requirement: Requirement,
    /// The names of their groups, by name.
    pub groups: Vec<String>,
}

/// An open recovery request as the Users tab shows it.
#[derive(Debug, Clone)]
pub struct OpenRecoveryRequest {
    pub person_name: String,
    pub status: String,
    pub created_at: i64,
}

/// The Users tab as its viewer may see it: everyone for the Owner and Administrators,
/// only oneself for a User (the help article's "Users tab → your profile"), with what the
/// viewer may do there, each asked of its one rule.
#[derive(Debug, Clone)]
pub struct UsersTab {
    pub people: Vec<PersonSummary>,
    /// The roles the viewer may invite people with (none: no invitation form).
    pub invite_roles: Vec<Role>,
    /// Undecided recovery requests about the account's people (managers only).
    pub recovery_requests: Vec<OpenRecoveryRequest>,
    /// Whether the viewer may change the 2FA policy and the applications (the Owner).
    pub manages_account: bool,
    /// Whether the viewer may read the policy (its tab).
    pub reads_policy: bool,
    /// Whether the viewer sees the Overview (its tab).
    pub views_overview: bool,
    /// Whether the viewer makes, fills and deletes groups (the Groups section).
    pub manages_groups: bool,
    /// The account's groups, when the viewer may manage them (else none).
    pub groups: Vec<crate::groups::Group>,
}

#[derive(Debug, Clone)]
pub struct NewPerson<'a> {
    pub email: &'a str,
    pub name: &'a str,
    pub role: Role,
}

impl App {
    /// The account whose Owner has `email`, for the command line's `--account OWNER_EMAIL`.
    pub(crate) async fn account_of_owner(&self, conn: &mut twofold_store::Conn, email: &str) -> Result<i64> {
        match users::by_email(conn, &crate::sign_in::normalised_email(email)).await? {
            Some(row) if row.role == twofold_domain::Role::Owner => Ok(row.account_id),
            _ => Err(Error::NotFound("No Account Owner has that email.")),
        }
    }

    pub async fn account_name(&self, account_id: i64) -> Result<String> {
        let mut conn = self.store().conn().await?;
        self.account_name_in(&mut conn, account_id).await
    }

    /// The people of the actor's account with when each turned 2FA on, for its Owner and
    /// Administrators.
    pub async fn people(&self, actor: &Person, ctx: &RequestContext) -> Result<Vec<PersonSummary>> {
        let allowed = self.allow(actor, ListPeople, ctx).await?;
        self.summaries(allowed.actor().account_id).await
    }

    /// The Users tab for `actor`: what they may see and do there, in one answer.
    pub async fn users_tab(&self, actor: &Person, ctx: &RequestContext) -> Result<UsersTab> {
        let facts = actor.facts();
        let lists = ListPeople.check(&facts).is_ok();
        let people =
            if lists { self.summaries(actor.account_id).await? } else { vec![self.own_summary(actor, ctx).await?] };
        let manages_groups = ManageGroups.check(&facts).is_ok();
        let groups = if manages_groups {
            let mut conn = self.store().conn().await?;
            let rows = twofold_store::groups::in_account(&mut conn, actor.account_id).await?;
            rows.into_iter().map(crate::groups::Group::from).collect()
        } else {
            Vec::new()
        };
        let recovery_requests = if lists {
            self.recovery_requests_in_account(actor, ctx)
                .await?
                .into_iter()
                .map(|(r, person_name)| OpenRecoveryRequest { person_name, status: r.status, created_at: r.created_at })
                .collect()
        } else {
            Vec::new()
        };
        Ok(UsersTab {
            people,
            invite_roles: self.invitable_roles(actor),
            recovery_requests,
            manages_account: SetPolicy.check(&facts).is_ok(),
            reads_policy: ReadPolicy.check(&facts).is_ok(),
            views_overview: ViewOverview.check(&facts).is_ok(),
            manages_groups,
            groups,
        })
    }

    /// A User's own line of the Users tab, from their profile: nothing else of the account
    /// is read.
    async fn own_summary(&self, actor: &Person, ctx: &RequestContext) -> Result<PersonSummary> {
        let own = self.profile(actor, actor.id, ctx).await?;
        let mut conn = self.store().conn().await?;
        let policy = accounts::policy(&mut conn, actor.account_id).await?;
        let groups = self.group_names(&mut conn, actor.id).await?;
        drop(conn);
        let two_factor_since = own.two_factor.enabled_at();
        let has = two_factor_since.is_some();
        let requirement = policy::requirement(policy.require_two_factor_since, policy.grace_days, has, self.now());
        let factors = own.two_factor.factors;
        Ok(PersonSummary { user: own.person, two_factor_since, factors, phone: own.phone, requirement, groups })
    }

    /// The account's people with their factors, phones and requirement.
    pub(crate) async fn summaries(&self, account: i64) -> Result<Vec<PersonSummary>> {
        let mut conn = self.store().conn().await?;
        let factors: HashMap<i64, SecondFactors> = factors::in_account(&mut conn, account).await?.into_iter().collect();
        let phones: HashMap<i64, String> = phones::in_account(&mut conn, account).await?.into_iter().collect();
        let policy = accounts::policy(&mut conn, account).await?;
        let mut groups: HashMap<i64, Vec<String>> = HashMap::new();
        for group in twofold_store::groups::in_account(&mut conn, account).await? {
            for member in group.members {
                groups.entry(member).or_default().push(group.name.clone());
            }
        }
        let now = self.now();
        let people = users::in_account(&mut conn, account).await?;
        Ok(people
            .into_iter()
            .map(UserRow::into_person)
            .map(|user| {
                let factors = factors.get(&user.id).copied().unwrap_or(SecondFactors::NONE);
                let two_factor_since = factors.enabled_since();
                let phone = phones.get(&user.id).map(|p| mask(p));
                let requirement = policy::requirement(
                    policy.require_two_factor_since,
                    policy.grace_days,
                    two_factor_since.is_some(),
                    now,
                );
                let groups = groups.remove(&user.id).unwrap_or_default();
                PersonSummary { user, two_factor_since, factors, phone, requirement, groups }
            })
            .collect())
    }

    /// A person the actor may see; another account's people answer `NotFound` (SEC-27).
    pub async fn person(&self, actor: &Person, id: i64, ctx: &RequestContext) -> Result<Person> {
        Ok(self.allow_on(actor, ViewPerson, id, ctx).await?.into_target())
    }

    /// A person's profile as both faces show it: who they are, their second factors, and
    /// what the actor may do there, from the same functions that guard the routes.
    pub async fn profile(&self, actor: &Person, id: i64, ctx: &RequestContext) -> Result<Profile> {
        let person = self.person(actor, id, ctx).await?;
        let two_factor = self.two_factor_status(person.id).await?;
        let phone = self.masked_phone(person.id).await?;
        let capabilities = Capabilities::of(&actor.facts(), &person.facts());
        Ok(Profile { person, two_factor, phone, capabilities })
    }

    /// Invites a person; they choose their password through the returned link.
    pub async fn invite(&self, actor: &Person, new: &NewPerson<'_>, ctx: &RequestContext) -> Result<Invitation> {
        let now = self.now();
        self.allow(actor, Invite(new.role), ctx).await?;
        let checked = Email::parse(new.email).map_err(|e| Error::invalid("invalid_email", e)).and_then(|email| {
            let name = person_name::parse(new.name).map_err(|e| Error::invalid("invalid_name", e))?;
            Ok((email, name))
        });
        let (email, name) = match checked {
            Ok(ok) => ok,
            Err(e) => return Err(self.refused(actor, None, Invite::REFUSED, e, ctx).await),
        };
        let mut tx = self.store().begin().await?;
        let new_user = NewUser {
            account_id: actor.account_id,
            email: email.as_str(),
            name: &name,
            role: new.role,
            password_hash: None,
            now,
        };
        let id = users::insert(&mut tx, &new_user).await.map_err(email_taken)?;
        let user = users::by_id(&mut tx, id).await?.ok_or(Error::NotFound("No such person."))?.into_person();
        let sent = self.send_invitation(&mut tx, &user, Some(actor), now).await?;
        self.record(
            &mut tx,
            now,
            ctx,
            Parties::on(actor, &user),
            "invitation.created",
            json!({ "email": user.email, "role": user.role, "outbox_id": sent.outbox_id }),
        )
        .await?;
        commit(tx).await?;
        Ok(Invitation { user, url: sent.url })
    }

    /// Makes the two links of an invitation (one mailed, one shown to whoever invited) and
    /// queues the mail. `inviter` is the person who asked, or none for the instance's own
    /// back end (an account created by API, whose Owner the instance invites).
    pub(crate) async fn send_invitation(
        &self,
        conn: &mut Conn,
        user: &Person,
        inviter: Option<&Person>,
        now: i64,
    ) -> Result<SentInvitation> {
        let (mailed, shown) = (token::generate(self.entropy()), token::generate(self.entropy()));
        let expires_at = now + self.config().invitation_ttl;
        let both = InvitationLinks { mailed_hash: &mailed.hash, shown_hash: &shown.hash };
        links::insert_invitation(conn, &both, user.id, inviter.map(|p| p.id), now, expires_at).await?;
        let url = self.url(&format!("/invitations/{}", shown.raw));
        let mailed_url = self.url(&format!("/invitations/{}", mailed.raw));
        let account = self.account_name_in(conn, user.account_id).await?;
        let issuer = &self.config().issuer;
        let inviter_name = inviter.map_or(issuer.as_str(), |p| p.name.as_str());
        let letter = Letter::invitation(issuer, &account, user, inviter_name, &mailed_url, expires_at);
        let outbox_id = self.queue_email(conn, user, "invitation", &letter, now).await?;
        Ok(SentInvitation { url, outbox_id })
    }

    /// The person an invitation link is for, if the link still works.
    pub async fn invitation(&self, raw: &str) -> Result<Person> {
        if !token::is_well_formed(raw) {
            return Err(Error::LinkInvalid);
        }
        let mut conn = self.store().conn().await?;
        let id = links::invitation_user(&mut conn, &token::hash(raw), self.now()).await?.ok_or(Error::LinkInvalid)?;
        Ok(users::by_id(&mut conn, id).await?.ok_or(Error::LinkInvalid)?.into_person())
    }

    /// Sets the invited person's password; the link works once.
    pub async fn accept_invitation(&self, raw: &str, password: &str, ctx: &RequestContext) -> Result<Person> {
        if !token::is_well_formed(raw) {
            return Err(Error::LinkInvalid);
        }
        password::check_new(password).map_err(|e| Error::invalid("weak_password", e))?;
        let hash = self.passwords().hash(password, self.salt()).await?;
        let now = self.now();
        let mut tx = self.store().begin().await?;
        let used = links::consume_invitation(&mut tx, &token::hash(raw), now).await?.ok_or(Error::LinkInvalid)?;
        users::set_password(&mut tx, used.user_id, &hash, now).await?;
        if used.mailed {
            // The mailed link reached this mailbox alone: the address is proven (`email_verified`).
            users::mark_email_verified(&mut tx, used.user_id, now).await?;
        }
        let user = users::by_id(&mut tx, used.user_id).await?.ok_or(Error::LinkInvalid)?.into_person();
        let link = if used.mailed { "mailed" } else { "shown" };
        self.record(&mut tx, now, ctx, Parties::own(&user), "invitation.accepted", json!({ "link": link })).await?;
        commit(tx).await?;
        Ok(user)
    }

    /// Promotes a User to Administrator or back; the Owner's alone.
    pub async fn change_role(
        &self,
        actor: &Person,
        target_id: i64,
        role: Role,
        ctx: &RequestContext,
    ) -> Result<Person> {
        let target = self.allow_on(actor, ChangeRole(role), target_id, ctx).await?.into_target();
        let now = self.now();
        let mut tx = self.store().begin().await?;
        if target.role == role {
            return Ok(target);
        }
        if !users::set_role(&mut tx, target.id, target.role, role).await? {
            return Err(Error::conflict(
                "changed_meanwhile",
                "This person's role changed meanwhile; reload and try again.",
            ));
        }
        self.record(
            &mut tx,
            now,
            ctx,
            Parties::on(actor, &target),
            "role.changed",
            json!({ "from": target.role, "to": role }),
        )
        .await?;
        let article = if role == Role::Admin { "an Administrator" } else { "a User" };
        let text = format!("{} made you {article}.", actor.name);
        twofold_store::notices::add(&mut tx, target.id, &text, now).await?;
        self.queue_notice(
            &mut tx,
            &target,
            "Your role was changed",
            &format!("{} made you {article} of your account.", actor.name),
            now,
        )
        .await?;
        commit(tx).await?;
        Ok(Person { role, ..target })
    }

    /// The roles `actor` may invite people with, for the Users tab's form: asked of the
    /// same rule that guards the invitation.
    pub fn invitable_roles(&self, actor: &Person) -> Vec<Role> {
        [Role::Admin, Role::User].into_iter().filter(|r| Invite(*r).check(&actor.facts()).is_ok()).collect()
    }
}
