//! Customer Success: support operators, a realm outside every customer account with
//! mandatory TOTP and short sessions, who look people up and grant SMS recovery (SEC-29).

use serde_json::json;
use twofold_domain::email::Email;
use twofold_domain::otp::{self, Secret, Verification, normalize_code};
use twofold_domain::phone::mask;
use twofold_domain::recovery::{DEFAULT_GRANT_HOURS, MAX_GRANT_HOURS, check_reason, grant_is_active};
use twofold_domain::session::{SessionPolicy, Stage};
use twofold_domain::throttle::{Gate, ThrottlePolicy};
use twofold_domain::{password, person_name, token};
use twofold_store::audit::{self, EventRow};
use twofold_store::operators::{self, OperatorRow, OperatorSessionRow};
use twofold_store::recovery::{self, GrantRow, NewGrant, RequestRow};
use twofold_store::users::{self, UserRow};
use twofold_store::{Conn, commit, phones, throttles, totp};

use crate::audit::{Parties, record};
use crate::setup::email_taken;
use crate::two_factor::Enrolment;
use crate::{App, Error, RequestContext, Result};

/// Operators sign in for short stretches: 15 minutes idle, 4 hours at most.
pub const OPERATOR_SESSIONS: SessionPolicy =
    SessionPolicy { second_factor_ttl: 600, idle: 15 * 60, absolute: 4 * 3600 };

const TOTP_PURPOSE: &str = "operator_totp";

/// A live operator session, as found from the support cookie.
#[derive(Debug, Clone)]
pub struct OperatorSession {
    pub session: OperatorSessionRow,
    pub operator: OperatorRow,
    pub csrf_token: String,
}

impl OperatorSession {
    pub fn is_signed_in(&self) -> bool {
        self.session.stage == Stage::SignedIn
    }
}

/// A new operator session token (the cookie value) and its CSRF token.
#[derive(Debug, Clone)]
pub struct NewOperatorSession {
    pub token: String,
    pub csrf_token: String,
    pub stage: Stage,
}

/// Everything support may see about a person: nothing else of the account.
#[derive(Debug, Clone)]
pub struct PersonCard {
    pub user: UserRow,
    pub account_name: String,
    pub two_factor_since: Option<i64>,
    pub phone: Option<String>,
    pub grant: Option<GrantRow>,
    pub grant_active: bool,
    pub recent_events: Vec<EventRow>,
}

/// Who granted: an operator, or the command line.
#[derive(Debug, Clone, Copy)]
pub enum Granter<'a> {
    Operator(&'a OperatorRow),
    Cli,
}

impl Granter<'_> {
    fn id(&self) -> Option<i64> {
        match self {
            Granter::Operator(o) => Some(o.id),
            Granter::Cli => None,
        }
    }

    fn label(&self) -> String {
        match self {
            Granter::Operator(o) => o.email.clone(),
            Granter::Cli => "command line".into(),
        }
    }
}

fn operator_parties(target: &UserRow) -> Parties {
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
        record(
            &mut tx,
            now,
            &RequestContext::cli(),
            Parties::default(),
            "support.operator_added",
            json!({ "email": email.as_str() }),
        )
        .await?;
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
        let now = self.now();
        let email = Email::parse(email).map(Email::into_string).unwrap_or_else(|_| email.trim().to_lowercase());
        let subject = format!("operator-password:{}", email.chars().take(300).collect::<String>());
        let mut conn = self.store().conn().await?;
        gate(&mut conn, ThrottlePolicy::PASSWORD, &subject, now).await?;
        let operator = operators::by_email(&mut conn, &email).await?;
        drop(conn);
        let stored = operator.as_ref().map(|o| o.password_hash.as_str());
        let ok = password_text.len() <= crate::sign_in::MAX_PASSWORD_BYTES
            && self.passwords().verify(password_text, stored).await?;
        let mut tx = self.store().begin().await?;
        let Some(operator) = operator.filter(|_| ok) else {
            throttles::record_failure(&mut tx, &subject, now).await?;
            record(&mut tx, now, ctx, Parties::default(), "support.sign_in_failed", json!({ "email": email })).await?;
            commit(tx).await?;
            return Err(Error::InvalidCredentials);
        };
        throttles::reset(&mut tx, &subject).await?;
        let new = self.open_operator_session(&mut tx, &operator, Stage::SecondFactor, ctx, now).await?;
        commit(tx).await?;
        Ok(new)
    }

    async fn open_operator_session(
        &self,
        conn: &mut Conn,
        operator: &OperatorRow,
        stage: Stage,
        ctx: &RequestContext,
        now: i64,
    ) -> Result<NewOperatorSession> {
        let new = token::generate(self.entropy());
        let expires = OPERATOR_SESSIONS.expires_at(stage, now, now);
        operators::insert_session(
            conn,
            &new.hash,
            operator.id,
            stage,
            now,
            expires,
            ctx.ip.as_deref(),
            ctx.user_agent.as_deref(),
        )
        .await?;
        Ok(NewOperatorSession { csrf_token: token::csrf_for_session(&new.raw), token: new.raw, stage })
    }

    pub async fn operator_session(&self, raw: &str) -> Result<Option<OperatorSession>> {
        if !token::is_well_formed(raw) {
            return Ok(None);
        }
        let now = self.now();
        let hash = token::hash(raw);
        let mut conn = self.store().conn().await?;
        let Some(mut session) = operators::live_session(&mut conn, &hash, now).await? else { return Ok(None) };
        let Some(operator) = operators::by_id(&mut conn, session.operator_id).await? else { return Ok(None) };
        if session.stage == Stage::SignedIn && OPERATOR_SESSIONS.should_touch(session.last_seen_at, now) {
            let expires = OPERATOR_SESSIONS.expires_at(Stage::SignedIn, session.created_at, now);
            operators::touch_session(&mut conn, &hash, now, expires).await?;
            session.last_seen_at = now;
        }
        Ok(Some(OperatorSession { session, operator, csrf_token: token::csrf_for_session(raw) }))
    }

    /// At the first sign-in, the key to put in the operator's authenticator app.
    pub async fn operator_enrolment(&self, pending: &OperatorSession) -> Result<Option<Enrolment>> {
        let op = &pending.operator;
        if op.totp_enabled_at.is_some() {
            return Ok(None);
        }
        let secret = match &op.totp_box {
            Some(sealed) => self.open_operator_secret(op.id, sealed)?,
            None => {
                let secret = Secret::generate(self.entropy());
                let sealed = self.secrets().seal(TOTP_PURPOSE, op.id, secret.as_bytes())?;
                let mut conn = self.store().conn().await?;
                operators::set_pending_totp(&mut conn, op.id, &sealed).await?;
                secret
            }
        };
        let issuer = format!("{} Support", self.config().issuer);
        let uri = otp::otpauth_uri(&issuer, &op.email, &secret);
        let qr_svg = crate::qr::qr_svg(&uri).map_err(|e| Error::Internal(format!("QR code: {e}")))?;
        Ok(Some(Enrolment {
            secret_base32: secret.to_base32(),
            secret_grouped: secret.to_base32_grouped(),
            otpauth_uri: uri,
            qr_svg,
        }))
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
        let params = self.config().totp;
        let code = normalize_code(code, params.digits).map_err(|e| Error::invalid("invalid_code_format", e))?;
        let now = self.now();
        let subject = format!("operator-totp:{}", op.id);
        let mut conn = self.store().conn().await?;
        gate(&mut conn, ThrottlePolicy::SECOND_FACTOR, &subject, now).await?;
        drop(conn);
        let sealed =
            op.totp_box.as_ref().ok_or_else(|| Error::conflict("no_enrolment", "Reload the page to get your key."))?;
        let secret = self.open_operator_secret(op.id, sealed)?;
        let last = op.totp_last_step.and_then(|s| u64::try_from(s).ok());
        let mut tx = self.store().begin().await?;
        let accepted = match otp::verify(&params, &secret, &code, now, last) {
            Verification::Accepted { step } => {
                let step = i64::try_from(step).unwrap_or(i64::MAX);
                if op.totp_enabled_at.is_none() {
                    operators::enable_totp(&mut tx, op.id, step, now).await?
                } else {
                    operators::accept_step(&mut tx, op.id, step).await?
                }
            }
            _ => false,
        };
        if !accepted {
            throttles::record_failure(&mut tx, &subject, now).await?;
            record(&mut tx, now, ctx, Parties::default(), "support.totp_rejected", json!({ "operator": op.email }))
                .await?;
            commit(tx).await?;
            return Err(Error::InvalidCode { clock_offset_seconds: None });
        }
        operators::delete_session(&mut tx, &pending.session.id_hash).await?;
        throttles::reset(&mut tx, &subject).await?;
        let new = self.open_operator_session(&mut tx, op, Stage::SignedIn, ctx, now).await?;
        operators::record_sign_in(&mut tx, op.id, now).await?;
        record(&mut tx, now, ctx, Parties::default(), "support.signed_in", json!({ "operator": op.email })).await?;
        commit(tx).await?;
        Ok(new)
    }

    pub async fn operator_sign_out(&self, session: &OperatorSession) -> Result<()> {
        let mut conn = self.store().conn().await?;
        operators::delete_session(&mut conn, &session.session.id_hash).await?;
        Ok(())
    }

    fn open_operator_secret(&self, operator_id: i64, sealed: &[u8]) -> Result<Secret> {
        let bytes = self.secrets().open(TOTP_PURPOSE, operator_id, sealed)?;
        Secret::from_slice(&bytes).map_err(|e| Error::Internal(format!("stored secret unusable: {e}")))
    }

    /// Finds a person by email for support; the lookup is audited in the person's account.
    pub async fn support_lookup(
        &self,
        operator: &OperatorRow,
        email: &str,
        ctx: &RequestContext,
    ) -> Result<PersonCard> {
        let email = Email::parse(email).map_err(|e| Error::invalid("invalid_email", e))?;
        let mut conn = self.store().conn().await?;
        let user =
            users::by_email(&mut conn, email.as_str()).await?.ok_or(Error::NotFound("No one uses this email."))?;
        record(
            &mut conn,
            self.now(),
            ctx,
            operator_parties(&user),
            "support.lookup",
            json!({ "operator": operator.email }),
        )
        .await?;
        drop(conn);
        self.person_card(user).await
    }

    pub async fn support_person(&self, user_id: i64) -> Result<PersonCard> {
        let mut conn = self.store().conn().await?;
        let user = users::by_id(&mut conn, user_id).await?.ok_or(Error::NotFound("No such person."))?;
        drop(conn);
        self.person_card(user).await
    }

    async fn person_card(&self, user: UserRow) -> Result<PersonCard> {
        let mut conn = self.store().conn().await?;
        let account_name =
            twofold_store::accounts::get(&mut conn, user.account_id).await?.map(|a| a.name).unwrap_or_default();
        let two_factor_since = totp::get(&mut conn, user.id).await?.and_then(|r| r.enabled_at);
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
            .collect();
        let grant_active = grant.as_ref().is_some_and(|g| grant_is_active(g.expires_at, g.closed_at, self.now()));
        Ok(PersonCard { user, account_name, two_factor_since, phone, grant, grant_active, recent_events })
    }

    /// Grants SMS recovery for `hours` (48 by default). It needs a reason and a verified
    /// number; the person is told by SMS and the account's Owner sees it in the audit log.
    pub async fn grant_sms_recovery(
        &self,
        granter: Granter<'_>,
        user_id: i64,
        reason: &str,
        hours: Option<i64>,
        request_id: Option<i64>,
        ctx: &RequestContext,
    ) -> Result<GrantRow> {
        let reason = check_reason(reason).map_err(|m| Error::invalid("reason_required", m))?;
        let hours = hours.unwrap_or(DEFAULT_GRANT_HOURS);
        if !(1..=MAX_GRANT_HOURS).contains(&hours) {
            return Err(Error::invalid("invalid_hours", format!("A grant lasts 1 to {MAX_GRANT_HOURS} hours.")));
        }
        let now = self.now();
        let mut tx = self.store().begin().await?;
        let user = users::by_id(&mut tx, user_id).await?.ok_or(Error::NotFound("No such person."))?;
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
        self.queue_notice(&mut tx, &user, &text, now).await?;
        let detail = json!({ "by": granter.label(), "reason": reason, "hours": hours, "grant_id": id });
        record(&mut tx, now, ctx, operator_parties(&user), "support.sms_recovery_granted", detail).await?;
        let grant = recovery::open_grant(&mut tx, user.id).await?.ok_or(Error::NotFound("No such grant."))?;
        commit(tx).await?;
        Ok(grant)
    }

    pub async fn revoke_sms_recovery(&self, granter: Granter<'_>, user_id: i64, ctx: &RequestContext) -> Result<()> {
        let now = self.now();
        let mut tx = self.store().begin().await?;
        let user = users::by_id(&mut tx, user_id).await?.ok_or(Error::NotFound("No such person."))?;
        if !recovery::close(&mut tx, user.id, "revoked", now).await? {
            return Err(Error::conflict("no_grant", "SMS recovery is not enabled for this person."));
        }
        record(
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
    pub async fn user_by_email(&self, email: &str) -> Result<UserRow> {
        let email = Email::parse(email).map_err(|e| Error::invalid("invalid_email", e))?;
        let mut conn = self.store().conn().await?;
        users::by_email(&mut conn, email.as_str()).await?.ok_or(Error::NotFound("No one uses this email."))
    }

    /// Undecided requests, oldest first, with the person they are about.
    pub async fn support_queue(&self) -> Result<Vec<(RequestRow, UserRow)>> {
        let mut conn = self.store().conn().await?;
        let rows = recovery::undecided(&mut conn, 200).await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            if let Some(user) = users::by_id(&mut conn, row.user_id).await? {
                out.push((row, user));
            }
        }
        Ok(out)
    }

    pub async fn support_request(&self, id: i64) -> Result<(RequestRow, UserRow)> {
        let mut conn = self.store().conn().await?;
        let row = recovery::request_by_id(&mut conn, id).await?.ok_or(Error::NotFound("No such request."))?;
        let user = users::by_id(&mut conn, row.user_id).await?.ok_or(Error::NotFound("No such person."))?;
        Ok((row, user))
    }

    /// An operator takes a request; another operator's take wins if it came first.
    pub async fn take_request(&self, operator: &OperatorRow, id: i64, ctx: &RequestContext) -> Result<()> {
        let now = self.now();
        let (_, user) = self.support_request(id).await?;
        let mut tx = self.store().begin().await?;
        if !recovery::take(&mut tx, id, operator.id, now).await? {
            return Err(Error::conflict("already_taken", "Someone already took this request."));
        }
        record(
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
        operator: &OperatorRow,
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
        let (row, user) = self.support_request(id).await?;
        if row.operator_id != Some(operator.id) || row.status != "taken" {
            return Err(Error::conflict("not_yours", "Take the request before deciding it."));
        }
        if grant {
            self.grant_sms_recovery(Granter::Operator(operator), user.id, reason, None, Some(id), ctx).await?;
        }
        let now = self.now();
        let status = if grant { "granted" } else { "declined" };
        let mut tx = self.store().begin().await?;
        if !recovery::decide(&mut tx, id, operator.id, status, identity_check, reason.trim(), now).await? {
            return Err(Error::conflict("changed_meanwhile", "The request changed meanwhile; reload it."));
        }
        let detail = json!({ "operator": operator.email, "request_id": id, "decision": status });
        record(&mut tx, now, ctx, operator_parties(&user), "support.request_decided", detail).await?;
        commit(tx).await?;
        Ok(())
    }
}

async fn gate(conn: &mut Conn, policy: ThrottlePolicy, subject: &str, now: i64) -> Result<()> {
    match policy.gate(throttles::get(conn, subject).await?, now) {
        Gate::Open => Ok(()),
        Gate::Wait { seconds } => Err(Error::Throttled { retry_after: seconds.max(1) }),
        Gate::Locked => Err(Error::SecondFactorLocked),
    }
}
