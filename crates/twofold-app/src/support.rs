//! Customer Success: support operators, a realm outside every customer account with
//! mandatory TOTP and short sessions, who look people up and grant SMS recovery (SEC-29).

use serde_json::json;
use twofold_domain::credential::TotpState;
use twofold_domain::email::Email;
use twofold_domain::otp::Secret;
use twofold_domain::permissions;
use twofold_domain::person::Person;
use twofold_domain::phone::mask;
use twofold_domain::recovery::{DEFAULT_GRANT_HOURS, MAX_GRANT_HOURS, check_reason, grant_is_active};
use twofold_domain::session::Stage;
use twofold_domain::throttle::ThrottleKey;
use twofold_domain::{password, person_name};
use twofold_store::audit;
use twofold_store::operators::{self, OperatorRow};
use twofold_store::recovery::{self, NewGrant};
use twofold_store::sessions::{self, SessionRow};
use twofold_store::{Realm, commit, phones, throttles, totp, users};

use crate::attempt::{Guard, Rejection, Verdict};
use crate::audit::Event;
use crate::audit::Parties;
use crate::credentials::SessionOptions;
use crate::recovery::{RecoveryRequest, SmsGrant};
use crate::setup::email_taken;
use crate::sign_in::normalised_email;
use crate::two_factor::Enrolment;
use crate::{App, Error, RequestContext, Result};

pub use crate::credentials::OPERATOR_SESSIONS;

/// A live operator session, as found from the support cookie.
#[derive(Debug, Clone)]
pub struct OperatorSession {
    pub(crate) session: SessionRow,
    pub(crate) operator: OperatorRow,
    pub csrf_token: String,
}

impl OperatorSession {
    pub fn operator_id(&self) -> i64 {
        self.operator.id
    }

    pub fn operator_name(&self) -> &str {
        &self.operator.name
    }

    pub fn is_signed_in(&self) -> bool {
        self.session.stage == Stage::SignedIn
    }

    /// This operator as the actor of a support use case.
    pub fn actor(&self) -> SupportActor<'_> {
        SupportActor::Operator(&self.operator)
    }
}

/// A new operator session token (the cookie value) and its CSRF token.
pub type NewOperatorSession = crate::credentials::IssuedSession;

/// Everything support may see about a person: nothing else of the account.
#[derive(Debug, Clone)]
pub struct PersonCard {
    pub user: Person,
    pub account_name: String,
    pub two_factor_since: Option<i64>,
    pub phone: Option<String>,
    pub grant: Option<SmsGrant>,
    pub grant_active: bool,
    pub recent_events: Vec<Event>,
}

/// An operator as the operator list shows them.
#[derive(Debug, Clone)]
pub struct OperatorSummary {
    pub id: i64,
    pub email: String,
    pub name: String,
    pub totp: TotpState,
    pub locked: bool,
    pub last_sign_in_at: Option<i64>,
}

/// What an operator (or the shell) does to another operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OperatorChange {
    /// Clear the locks after too many wrong passwords or codes.
    Unlock,
    /// Forget the authenticator app and end the sessions: they enrol again.
    ResetTotp,
    Remove,
}

impl OperatorChange {
    fn as_str(self) -> &'static str {
        match self {
            OperatorChange::Unlock => "unlock",
            OperatorChange::ResetTotp => "reset_totp",
            OperatorChange::Remove => "remove",
        }
    }

    fn event(self) -> &'static str {
        match self {
            OperatorChange::Unlock => "support.operator_unlocked",
            OperatorChange::ResetTotp => "support.operator_totp_reset",
            OperatorChange::Remove => "support.operator_removed",
        }
    }
}

/// Who acts for support: a signed-in operator, or the command line on the server. The web
/// hands out the operator kind only through its signed-in extractors
/// (`twofold-web/src/operator.rs`), via [`OperatorSession::actor`].
#[derive(Debug, Clone, Copy)]
pub enum SupportActor<'a> {
    Operator(&'a OperatorRow),
    Cli,
}

impl SupportActor<'_> {
    fn id(&self) -> Option<i64> {
        match self {
            SupportActor::Operator(o) => Some(o.id),
            SupportActor::Cli => None,
        }
    }

    fn label(&self) -> String {
        match self {
            SupportActor::Operator(o) => o.email.clone(),
            SupportActor::Cli => "command line".into(),
        }
    }

    fn context(&self, ctx: &RequestContext) -> RequestContext {
        match self {
            SupportActor::Operator(_) => ctx.clone(),
            SupportActor::Cli => RequestContext::cli(),
        }
    }
}

fn operator_parties(target: &Person) -> Parties {
    Parties { account_id: Some(target.account_id), actor: None, target: Some(target.id) }
}

impl App {
    /// `twofold support operator add`.
    pub async fn add_operator(&self, email: &str, name: &str, password_text: &str) -> Result<i64> {
        let email = Email::parse(email).map_err(|e| Error::invalid("invalid_email", e))?;
        let name = person_name::parse(name).map_err(|e| Error::invalid("invalid_name", e))?;
        password::check_new(password_text).map_err(|e| Error::invalid("weak_password", e))?;
        let hash = self.passwords().hash(password_text, self.salt()).await?;
        let now = self.now();
        let mut tx = self.store().begin().await?;
        let id = operators::insert(&mut tx, email.as_str(), &name, &hash, now).await.map_err(email_taken)?;
        let detail = json!({ "email": email.as_str() });
        self.record(&mut tx, now, &RequestContext::cli(), Parties::default(), "support.operator_added", detail).await?;
        commit(tx).await?;
        Ok(id)
    }

    /// The password step of an operator; TOTP always follows.
    pub async fn operator_sign_in(
        &self,
        email: &str,
        password_text: &str,
        ctx: &RequestContext,
    ) -> Result<NewOperatorSession> {
        let email = normalised_email(email);
        let mut conn = self.store().conn().await?;
        let operator = operators::by_email(&mut conn, &email).await?;
        drop(conn);
        self.attempt(Guard::operator_password(&email, ctx), ctx, |armed| async {
            let stored = operator.as_ref().map(|o| o.password_hash.as_str());
            let ok = self.password_ok(password_text, stored).await?;
            let Some(operator) = operator.as_ref().filter(|_| ok) else {
                let why = if operator.is_some() { Rejection::WRONG_PASSWORD } else { Rejection::UNKNOWN_EMAIL };
                return Ok(Verdict::Rejected(why));
            };
            let mut tx = self.store().begin().await?;
            armed.succeeded(&mut tx).await?;
            let options = SessionOptions::default();
            let new =
                self.open_session(&mut tx, Realm::Support, operator.id, Stage::SecondFactor, options, ctx).await?;
            commit(tx).await?;
            Ok(Verdict::Accepted(new))
        })
        .await
    }

    pub async fn operator_session(&self, raw: &str) -> Result<Option<OperatorSession>> {
        let mut conn = self.store().conn().await?;
        let Some((session, csrf_token)) = self.find_session(&mut conn, Realm::Support, raw).await? else {
            return Ok(None);
        };
        let Some(operator) = operators::by_id(&mut conn, session.subject_id).await? else { return Ok(None) };
        Ok(Some(OperatorSession { session, operator, csrf_token }))
    }

    /// At the first sign-in (or after a reset), the key to put in the operator's
    /// authenticator app; `None` once it is enrolled.
    pub async fn operator_enrolment(&self, pending: &OperatorSession) -> Result<Option<Enrolment>> {
        let op = &pending.operator;
        let mut conn = self.store().conn().await?;
        let row = totp::get(&mut conn, Realm::Support, op.id).await?;
        let secret = match row {
            Some(row) if row.is_enabled() => return Ok(None),
            Some(row) => self.open_totp_secret(Realm::Support, op.id, &row.secret_box)?,
            None => {
                let secret = Secret::generate(self.entropy());
                let sealed = self.seal_totp_secret(Realm::Support, op.id, &secret)?;
                totp::begin_enrolment(&mut conn, Realm::Support, op.id, &sealed, self.now()).await?;
                secret
            }
        };
        drop(conn);
        let issuer = format!("{} Support", self.config().issuer);
        Ok(Some(self.enrolment_view(&issuer, &op.email, &secret)?))
    }

    /// The TOTP step of an operator (enrolling at the first sign-in); the session id changes.
    pub async fn operator_submit_totp(
        &self,
        pending: &OperatorSession,
        code: &str,
        ctx: &RequestContext,
    ) -> Result<NewOperatorSession> {
        if pending.is_signed_in() {
            return Err(Error::Unauthenticated);
        }
        let op = &pending.operator;
        let code = self.typed_code(code)?;
        self.attempt_totp(Guard::operator_totp(op), ctx, (Realm::Support, op.id), &code, |armed, found| async move {
            let now = self.now();
            let no_key = || Error::conflict("no_enrolment", "Reload the page to get your key.");
            let (row, matched) = found.ok_or_else(no_key)?;
            let step = match matched {
                Ok(step) => step,
                Err(why) => return Ok(Verdict::Rejected(why)),
            };
            let mut tx = self.store().begin().await?;
            let accepted = if row.is_enabled() {
                totp::accept_step(&mut tx, Realm::Support, op.id, step).await?
            } else {
                // The first code confirms and enables at once: operators have no phone step.
                totp::confirm(&mut tx, Realm::Support, op.id, &row.secret_box, step, now).await?
                    && totp::enable(&mut tx, Realm::Support, op.id, now).await?
            };
            if !accepted {
                return Ok(Verdict::Rejected(Rejection::REPLAY));
            }
            armed.succeeded(&mut tx).await?;
            let options = SessionOptions::default();
            let promoted =
                self.promote_session(&mut tx, Realm::Support, &pending.session.id_hash, op.id, options, ctx).await?;
            let new = promoted.ok_or(Error::Unauthenticated)?;
            operators::record_sign_in(&mut tx, op.id, now).await?;
            self.record(&mut tx, now, ctx, Parties::default(), "support.signed_in", json!({ "operator": op.email }))
                .await?;
            commit(tx).await?;
            Ok(Verdict::Accepted(new))
        })
        .await
    }

    pub async fn operator_sign_out(&self, session: &OperatorSession) -> Result<()> {
        let mut conn = self.store().conn().await?;
        sessions::delete(&mut conn, Realm::Support, &session.session.id_hash).await?;
        Ok(())
    }

    /// Every operator with their authenticator state and whether they are locked out.
    pub async fn operators(&self) -> Result<Vec<OperatorSummary>> {
        let mut conn = self.store().conn().await?;
        let mut out = Vec::new();
        for op in operators::all(&mut conn).await? {
            let totp = totp::state(&mut conn, Realm::Support, op.id).await?;
            let locked = self.any_locked(&mut conn, &ThrottleKey::all_of_operator(op.id, &op.email)).await?;
            out.push(OperatorSummary {
                id: op.id,
                email: op.email,
                name: op.name,
                totp,
                locked,
                last_sign_in_at: op.last_sign_in_at,
            });
        }
        Ok(out)
    }

    /// Unlocks, resets or removes an operator: by another operator or from the shell,
    /// never oneself (SEC-34). Every change clears the operator's counters and is audited;
    /// a refusal is audited too.
    pub async fn change_operator(
        &self,
        actor: SupportActor<'_>,
        email: &str,
        change: OperatorChange,
        ctx: &RequestContext,
    ) -> Result<()> {
        let now = self.now();
        let ctx = actor.context(ctx);
        let mut tx = self.store().begin().await?;
        let email = normalised_email(email);
        let op = operators::by_email(&mut tx, &email).await?.ok_or(Error::NotFound("No operator uses this email."))?;
        let mut detail = serde_json::Map::new();
        detail.insert("by".into(), json!(actor.label()));
        detail.insert("operator".into(), json!(op.email));
        detail.insert("change".into(), json!(change.as_str()));
        if let Err(denied) = permissions::may_manage_operator(actor.id(), op.id) {
            drop(tx);
            let mut conn = self.store().conn().await?;
            let refused = serde_json::Value::Object(detail);
            self.record(&mut conn, now, &ctx, Parties::default(), "support.operator_change_refused", refused).await?;
            return Err(denied.into());
        }
        let cleared = throttles::reset_all(&mut tx, &ThrottleKey::all_of_operator(op.id, &op.email)).await?;
        detail.insert("counters_cleared".into(), json!(cleared));
        match change {
            OperatorChange::Unlock => {}
            OperatorChange::ResetTotp => {
                totp::delete(&mut tx, Realm::Support, op.id).await?;
                let ended = sessions::delete_for_subject(&mut tx, Realm::Support, op.id).await?;
                detail.insert("sessions_ended".into(), json!(ended));
            }
            // Sessions and the authenticator app go with the row (cascade).
            OperatorChange::Remove => {
                operators::delete(&mut tx, op.id).await?;
            }
        }
        self.record(&mut tx, now, &ctx, Parties::default(), change.event(), serde_json::Value::Object(detail)).await?;
        commit(tx).await?;
        Ok(())
    }

    /// Finds a person by email for support; the lookup is audited in the person's account.
    pub async fn support_lookup(
        &self,
        actor: SupportActor<'_>,
        email: &str,
        ctx: &RequestContext,
    ) -> Result<PersonCard> {
        let email = Email::parse(email).map_err(|e| Error::invalid("invalid_email", e))?;
        let mut conn = self.store().conn().await?;
        let user =
            users::by_email(&mut conn, email.as_str()).await?.ok_or(Error::NotFound("No one uses this email."))?;
        drop(conn);
        self.person_card(actor, user.into_person(), "support.lookup", ctx).await
    }

    /// A person's card by id; the access is audited in their account like a lookup.
    pub async fn support_person(
        &self,
        actor: SupportActor<'_>,
        user_id: i64,
        ctx: &RequestContext,
    ) -> Result<PersonCard> {
        let mut conn = self.store().conn().await?;
        let user = users::by_id(&mut conn, user_id).await?.ok_or(Error::NotFound("No such person."))?;
        drop(conn);
        self.person_card(actor, user.into_person(), "support.viewed_person", ctx).await
    }

    async fn person_card(
        &self,
        actor: SupportActor<'_>,
        user: Person,
        event: &str,
        ctx: &RequestContext,
    ) -> Result<PersonCard> {
        let mut conn = self.store().conn().await?;
        self.record(&mut conn, self.now(), ctx, operator_parties(&user), event, json!({ "operator": actor.label() }))
            .await?;
        let account_name =
            twofold_store::accounts::get(&mut conn, user.account_id).await?.map(|a| a.name).unwrap_or_default();
        let two_factor_since = twofold_store::factors::of_person(&mut conn, user.id).await?.enabled_since();
        let phone = phones::get(&mut conn, user.id).await?.map(|p| mask(&p.e164));
        let grant = recovery::open_grant(&mut conn, user.id).await?;
        let q =
            audit::Query { account_id: Some(user.account_id), user_id: Some(user.id), limit: 50, ..Default::default() };
        let recent_events = audit::list(&mut conn, &q)
            .await?
            .into_iter()
            .filter(|e| {
                ["two_factor.", "sign_in.", "sms.", "support.", "recovery."].iter().any(|p| e.event.starts_with(p))
            })
            .take(15)
            .map(Event::from)
            .collect();
        let grant_active = grant.as_ref().is_some_and(|g| grant_is_active(g.expires_at, g.closed_at, self.now()));
        let grant = grant.map(SmsGrant::from);
        Ok(PersonCard { user, account_name, two_factor_since, phone, grant, grant_active, recent_events })
    }

    /// Grants SMS recovery for `hours` (48 by default). It needs a reason and a verified
    /// number; the person is told by SMS and the account's Owner sees it in the audit log.
    pub async fn grant_sms_recovery(
        &self,
        granter: SupportActor<'_>,
        user_id: i64,
        reason: &str,
        hours: Option<i64>,
        request_id: Option<i64>,
        ctx: &RequestContext,
    ) -> Result<SmsGrant> {
        let reason = check_reason(reason).map_err(|m| Error::invalid("reason_required", m))?;
        let hours = hours.unwrap_or(DEFAULT_GRANT_HOURS);
        if !(1..=MAX_GRANT_HOURS).contains(&hours) {
            return Err(Error::invalid("invalid_hours", format!("A grant lasts 1 to {MAX_GRANT_HOURS} hours.")));
        }
        let now = self.now();
        let mut tx = self.store().begin().await?;
        let user = users::by_id(&mut tx, user_id).await?.ok_or(Error::NotFound("No such person."))?.into_person();
        if phones::get(&mut tx, user.id).await?.is_none() {
            return Err(Error::conflict(
                "no_verified_phone",
                "This person has no verified mobile number: SMS recovery cannot help.",
            ));
        }
        let new = NewGrant {
            user_id: user.id,
            operator_id: granter.id(),
            reason: &reason,
            request_id,
            now,
            expires_at: now + hours * 3600,
        };
        let id = recovery::open(&mut tx, &new).await?;
        let text = format!(
            "support enabled SMS sign-in for your account for {hours} hours. If you did not ask for this, contact your administrator."
        );
        self.queue_notice(&mut tx, &user, "SMS recovery turned on for your account", &text, now).await?;
        let detail = json!({ "by": granter.label(), "reason": reason, "hours": hours, "grant_id": id });
        self.record(&mut tx, now, ctx, operator_parties(&user), "support.sms_recovery_granted", detail).await?;
        let grant = recovery::open_grant(&mut tx, user.id).await?.ok_or(Error::NotFound("No such grant."))?;
        commit(tx).await?;
        Ok(SmsGrant::from(grant))
    }

    pub async fn revoke_sms_recovery(
        &self,
        granter: SupportActor<'_>,
        user_id: i64,
        ctx: &RequestContext,
    ) -> Result<()> {
        let now = self.now();
        let mut tx = self.store().begin().await?;
        let user = users::by_id(&mut tx, user_id).await?.ok_or(Error::NotFound("No such person."))?.into_person();
        if !recovery::close(&mut tx, user.id, "revoked", now).await? {
            return Err(Error::conflict("no_grant", "SMS recovery is not enabled for this person."));
        }
        self.record(
            &mut tx,
            now,
            ctx,
            operator_parties(&user),
            "support.sms_recovery_revoked",
            json!({ "by": granter.label() }),
        )
        .await?;
        commit(tx).await?;
        Ok(())
    }

    /// The person with this email, for the command line.
    pub async fn user_by_email(&self, email: &str) -> Result<Person> {
        let email = Email::parse(email).map_err(|e| Error::invalid("invalid_email", e))?;
        let mut conn = self.store().conn().await?;
        let user =
            users::by_email(&mut conn, email.as_str()).await?.ok_or(Error::NotFound("No one uses this email."))?;
        Ok(user.into_person())
    }

    /// Undecided requests, oldest first, with the person they are about.
    pub async fn support_queue(&self, _actor: SupportActor<'_>) -> Result<Vec<(RecoveryRequest, Person)>> {
        let mut conn = self.store().conn().await?;
        let rows = recovery::undecided(&mut conn, 200).await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            if let Some(user) = users::by_id(&mut conn, row.user_id).await? {
                out.push((RecoveryRequest::whole(row), user.into_person()));
            }
        }
        Ok(out)
    }

    pub async fn support_request(&self, _actor: SupportActor<'_>, id: i64) -> Result<(RecoveryRequest, Person)> {
        let mut conn = self.store().conn().await?;
        let row = recovery::request_by_id(&mut conn, id).await?.ok_or(Error::NotFound("No such request."))?;
        let user = users::by_id(&mut conn, row.user_id).await?.ok_or(Error::NotFound("No such person."))?;
        Ok((RecoveryRequest::whole(row), user.into_person()))
    }

    /// An operator takes a request; another operator's take wins if it came first.
    pub async fn take_request(&self, actor: SupportActor<'_>, id: i64, ctx: &RequestContext) -> Result<()> {
        let SupportActor::Operator(operator) = actor else {
            return Err(Error::conflict("operator_only", "Requests are taken by an operator."));
        };
        let now = self.now();
        let (_, user) = self.support_request(actor, id).await?;
        let mut tx = self.store().begin().await?;
        if !recovery::take(&mut tx, id, operator.id, now).await? {
            return Err(Error::conflict("already_taken", "Someone already took this request."));
        }
        self.record(
            &mut tx,
            now,
            ctx,
            operator_parties(&user),
            "support.request_taken",
            json!({ "operator": operator.email, "request_id": id }),
        )
        .await?;
        commit(tx).await?;
        Ok(())
    }

    /// Decides a taken request, noting how identity was checked; granting opens SMS recovery.
    pub async fn decide_request(
        &self,
        actor: SupportActor<'_>,
        id: i64,
        grant: bool,
        identity_check: &str,
        reason: &str,
        ctx: &RequestContext,
    ) -> Result<()> {
        let identity_check = identity_check.trim();
        if identity_check.chars().count() < 3 || identity_check.chars().count() > 1000 {
            return Err(Error::invalid("identity_check_required", "Note how you checked the person's identity."));
        }
        let SupportActor::Operator(operator) = actor else {
            return Err(Error::conflict("operator_only", "Requests are decided by an operator."));
        };
        let (row, user) = self.support_request(actor, id).await?;
        if row.operator_id != Some(operator.id) || row.status != "taken" {
            return Err(Error::conflict("not_yours", "Take the request before deciding it."));
        }
        if grant {
            self.grant_sms_recovery(actor, user.id, reason, None, Some(id), ctx).await?;
        }
        let now = self.now();
        let status = if grant { "granted" } else { "declined" };
        let mut tx = self.store().begin().await?;
        if !recovery::decide(&mut tx, id, operator.id, status, identity_check, reason.trim(), now).await? {
            return Err(Error::conflict("changed_meanwhile", "The request changed meanwhile; reload it."));
        }
        let detail = json!({ "operator": operator.email, "request_id": id, "decision": status });
        self.record(&mut tx, now, ctx, operator_parties(&user), "support.request_decided", detail).await?;
        commit(tx).await?;
        Ok(())
    }
}
