//! Signing in and out, and finding the session behind a cookie. Every way of finishing a
//! sign-in (the app's code, an SMS code under a recovery grant) ends in
//! [`App::complete_sign_in`], so that what a success does is written once.

use serde_json::json;
use twofold_domain::assurance::{self, Need, Outcome, PolicyFacts, Strength};
use twofold_domain::email::Email;
use twofold_domain::factors::SecondFactors;
use twofold_domain::oidc::SignInMethod;
use twofold_domain::person::Person;
use twofold_domain::policy::{self, Requirement};
use twofold_domain::session::Stage;
use twofold_domain::token;
use twofold_store::sessions::{self, SessionRow};
use twofold_store::{Conn, Realm, accounts, commit, devices, factors, users};

use crate::attempt::{Guard, Rejection, Verdict};
use crate::audit::Parties;
use crate::credentials::{IssuedSession, SessionOptions};
use crate::{App, Error, RequestContext, Result};

/// A live session and its person, as found from a cookie, with the one answer to how
/// strongly it is signed in (SEC-46).
#[derive(Debug, Clone)]
pub struct CurrentSession {
    pub(crate) session: SessionRow,
    pub user: Person,
    /// The token forms and API calls must echo (SEC-25).
    pub csrf_token: String,
    /// How strongly this session is signed in: every consumer asks this, none recomputes it.
    pub strength: Strength,
    /// The names of the person's groups, read with the session (forward auth's headers).
    pub groups: Vec<String>,
}

impl CurrentSession {
    pub fn is_signed_in(&self) -> bool {
        self.session.stage == Stage::SignedIn
    }

    /// When this session signed in (or, half-finished, passed the password).
    pub fn signed_in_at(&self) -> i64 {
        self.session.created_at
    }

    /// This session as a half-finished sign-in, if it is one.
    pub fn pending(&self) -> Option<PendingSignIn> {
        (self.session.stage == Stage::SecondFactor).then(|| PendingSignIn(self.clone()))
    }

    /// What the account's 2FA policy asks of this person now.
    pub fn requirement(&self) -> Requirement {
        self.strength.requirement
    }

    /// Whether this session meets `need` (SEC-46); a half-finished sign-in meets nothing.
    pub fn meets(&self, need: Need) -> Outcome {
        if self.is_signed_in() { self.strength.meets(need) } else { Outcome::SignInAgain }
    }
}

/// A half-finished sign-in: the password is proven and a second factor is due (SEC-19).
/// Only [`CurrentSession::pending`] makes one, from a session the lookup found in that
/// stage, so the second-step use cases cannot be handed a signed-in session and need not
/// check the stage again; [`App::complete_sign_in`] is the one way to finish it.
#[derive(Debug, Clone)]
pub struct PendingSignIn(CurrentSession);

impl std::ops::Deref for PendingSignIn {
    type Target = CurrentSession;

    fn deref(&self) -> &CurrentSession {
        &self.0
    }
}

/// A sign-in step just done: the new session, and everything both faces show about it,
/// so that no handler goes back for more.
#[derive(Debug, Clone)]
pub struct NewSessionToken {
    pub token: String,
    pub csrf_token: String,
    pub stage: Stage,
    pub user: Person,
    /// When 2FA went on, if it is on.
    pub two_factor_since: Option<i64>,
    /// With `stage == SecondFactor`: the second factors offered now (`totp`, `sms`).
    pub methods: Vec<&'static str>,
    /// The remembered-device cookie, when the person asked to be remembered and the
    /// second step just succeeded.
    pub device_token: Option<String>,
    /// The known-browser cookie, after a right password (SEC-44).
    pub known_browser: Option<String>,
    /// Where the person goes next, the same for pages and the API.
    pub next: NextStep,
}

/// What follows a sign-in step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextStep {
    /// The second factor (the code page, or `second_factor_required`).
    SecondFactor,
    /// Signed in, but the account's policy asks for 2FA: the wizard first (skippable
    /// within the grace period).
    SetUpTwoFactor,
    /// Signed in: on to where the person was going.
    Continue,
}

impl NewSessionToken {
    pub(crate) fn new(issued: IssuedSession, user: &Person, two_factor_since: Option<i64>) -> Self {
        NewSessionToken {
            token: issued.token,
            csrf_token: issued.csrf_token,
            stage: issued.stage,
            user: user.clone(),
            two_factor_since,
            methods: Vec::new(),
            device_token: None,
            known_browser: None,
            next: match issued.stage {
                Stage::SecondFactor => NextStep::SecondFactor,
                Stage::SignedIn => NextStep::Continue,
            },
        }
    }
}

impl std::fmt::Display for NewSessionToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "session for user {} ({})", self.user.id, self.stage.as_str())
    }
}

pub struct PasswordAttempt<'a> {
    pub email: &'a str,
    pub password: &'a str,
    /// The "Remember for 30 days" box.
    pub remember_device: bool,
    /// The browser's remembered-device cookie, if it sent one.
    pub device_token: Option<&'a str>,
    /// The browser's known-browser cookie, if it sent one (SEC-44).
    pub known_browser: Option<&'a str>,
    /// The session this browser holds already, if any: a new sign-in ends it, on every
    /// face alike (a fresh sign-in asked by an application, or simply signing in again).
    pub previous: Option<&'a CurrentSession>,
}

/// How a second step succeeded, as the audit log and the session record it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SecondStep {
    Totp,
    SmsRecovery,
    RecoveryCode,
    WebAuthn,
}

impl SecondStep {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            SecondStep::Totp => "totp",
            SecondStep::SmsRecovery => "sms_recovery",
            SecondStep::RecoveryCode => "recovery_code",
            SecondStep::WebAuthn => "webauthn",
        }
    }

    /// What the session records, for the `amr` an application is told.
    pub(crate) fn method(self) -> SignInMethod {
        match self {
            SecondStep::Totp => SignInMethod::Totp,
            SecondStep::SmsRecovery => SignInMethod::SmsRecovery,
            SecondStep::RecoveryCode => SignInMethod::RecoveryCode,
            SecondStep::WebAuthn => SignInMethod::SecurityKey,
        }
    }

    /// Support's SMS grant is a way back in, not a factor a browser may be remembered by.
    fn may_remember_browser(self) -> bool {
        self != SecondStep::SmsRecovery
    }
}

/// Longest password accepted at sign-in; longer input is refused before hashing so that
/// nobody can make the server hash megabytes.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// The address as typed, normalised where it parses; a malformed one is just another
/// unknown email. Clipped so that a counter's name stays short.
pub(crate) fn normalised_email(typed: &str) -> String {
    let email = Email::parse(typed).map(Email::into_string).unwrap_or_else(|_| typed.trim().to_lowercase());
    email.chars().take(300).collect()
}

impl App {
    /// The password step. Unknown email, wrong password and a throttled address answer the
    /// same for everyone and cost the same Argon2 work (SEC-32). A browser known to have
    /// signed in as the person is judged by its own budget (SEC-44).
    pub async fn sign_in_with_password(
        &self,
        attempt: &PasswordAttempt<'_>,
        ctx: &RequestContext,
    ) -> Result<NewSessionToken> {
        let email = normalised_email(attempt.email);
        let mut conn = self.store().conn().await?;
        let found = users::by_email(&mut conn, &email).await?;
        let (hash, user) = match found {
            Some(row) => (row.password_hash.clone(), Some(row.into_person())),
            None => (None, None),
        };
        let known = match (&user, hash.as_deref()) {
            (Some(user), Some(hash)) => {
                let (known, device) = (attempt.known_browser, attempt.device_token);
                self.known_browser_digest(&mut conn, (user.id, hash), known, device, self.now()).await?
            }
            _ => None,
        };
        drop(conn);
        let guard = Guard::password(&email, user.as_ref(), known, ctx);
        self.attempt(guard, ctx, |armed| async {
            let ok = self.password_ok(attempt.password, hash.as_deref()).await?;
            let (Some(user), Some(hash)) = (user.as_ref().filter(|_| ok), hash.as_deref()) else {
                let why = if user.is_some() { Rejection::WRONG_PASSWORD } else { Rejection::UNKNOWN_EMAIL };
                return Ok(Verdict::Rejected(why));
            };
            let now = self.now();
            if user.is_deactivated() {
                // Said only now that the password is proven; not counted as a guess.
                let mut conn = self.store().conn().await?;
                let detail = json!({ "reason": "deactivated" });
                self.record(&mut conn, now, ctx, Parties::own(user), "sign_in.refused", detail).await?;
                return Err(Error::AccountDeactivated);
            }
            let mut tx = self.store().begin().await?;
            armed.succeeded(&mut tx).await?;
            let (mut new, factors) = self.after_password(&mut tx, user, attempt, ctx, now).await?;
            commit(tx).await?;
            new.known_browser = Some(self.issue_known_browser(user.id, hash, now));
            // The grant is read after the commit: nothing of the write transaction waits
            // for it. The second step is asked only of people with a factor on.
            if new.stage == Stage::SecondFactor {
                let mut conn = self.store().conn().await?;
                new.methods = self.methods_of(&mut conn, user.id, &factors).await?;
            }
            Ok(Verdict::Accepted(new))
        })
        .await
    }

    /// The password was right: signed in (no 2FA, or a remembered browser), or on to the
    /// second step. Answers the factors it read, for the methods the second step offers.
    async fn after_password(
        &self,
        tx: &mut Conn,
        user: &Person,
        attempt: &PasswordAttempt<'_>,
        ctx: &RequestContext,
        now: i64,
    ) -> Result<(NewSessionToken, SecondFactors)> {
        let factors = factors::of_person(tx, user.id).await?;
        let two_factor = factors.is_on();
        // A remembered browser skips the code, never the password (SEC-23).
        let remembered = two_factor && self.device_is_remembered(tx, user.id, attempt.device_token, now).await?;
        let stage = if two_factor && !remembered { Stage::SecondFactor } else { Stage::SignedIn };
        let method = if remembered { SignInMethod::RememberedBrowser } else { SignInMethod::Password };
        let options = SessionOptions { remember_device: attempt.remember_device, method: Some(method.as_str()) };
        let issued = self.open_session(tx, Realm::People, user.id, stage, options, ctx).await?;
        if let Some(previous) = attempt.previous
            && sessions::delete(tx, Realm::People, &previous.session.id_hash).await?
        {
            let parties = Parties::own(&previous.user);
            self.record(tx, now, ctx, parties, "sign_out", json!({ "replaced_by": "sign_in" })).await?;
        }
        if stage == Stage::SignedIn {
            users::record_sign_in(tx, user.id, now).await?;
            let method = if remembered { "password+remembered_device" } else { "password" };
            self.record(tx, now, ctx, Parties::own(user), "sign_in.succeeded", json!({ "method": method })).await?;
        } else {
            self.record(tx, now, ctx, Parties::own(user), "sign_in.password_ok", json!({ "next": "totp" })).await?;
        }
        let mut new = NewSessionToken::new(issued, user, factors.enabled_since());
        if stage == Stage::SignedIn && !two_factor {
            let policy = accounts::policy(tx, user.account_id).await?;
            let requirement = policy::requirement(policy.require_two_factor_since, policy.grace_days, false, now);
            if requirement != Requirement::Met {
                new.next = NextStep::SetUpTwoFactor;
            }
        }
        Ok((new, factors))
    }

    /// Promotes a half-finished sign-in after its second step: the pending session is
    /// consumed once (SEC-19), a new one opens, the browser is remembered if asked, and the
    /// success is audited. `two_factor_since` comes from the credential the caller read.
    pub(crate) async fn complete_sign_in(
        &self,
        tx: &mut Conn,
        pending: &PendingSignIn,
        how: SecondStep,
        two_factor_since: Option<i64>,
        ctx: &RequestContext,
    ) -> Result<NewSessionToken> {
        let now = self.now();
        let user = &pending.user;
        let options = SessionOptions { remember_device: false, method: Some(how.method().as_str()) };
        let promoted = self.promote_session(tx, Realm::People, &pending.session.id_hash, user.id, options, ctx).await?;
        let issued = promoted.ok_or(Error::Unauthenticated)?;
        let remember = pending.session.remember_device && how.may_remember_browser();
        let device_token = if remember { Some(self.remember_device(tx, user, ctx, now).await?) } else { None };
        users::record_sign_in(tx, user.id, now).await?;
        let detail = json!({ "method": how.as_str(), "remembered": device_token.is_some() });
        self.record(tx, now, ctx, Parties::own(user), "sign_in.succeeded", detail).await?;
        Ok(NewSessionToken { device_token, ..NewSessionToken::new(issued, user, two_factor_since) })
    }

    /// A passkey with user verification signed the person in: both factors at once.
    pub(crate) async fn complete_passkey_sign_in(
        &self,
        tx: &mut Conn,
        user: &Person,
        ctx: &RequestContext,
    ) -> Result<NewSessionToken> {
        if user.is_deactivated() {
            return Err(Error::AccountDeactivated);
        }
        let now = self.now();
        let options = SessionOptions { remember_device: false, method: Some(SignInMethod::Passkey.as_str()) };
        let issued = self.open_session(tx, Realm::People, user.id, Stage::SignedIn, options, ctx).await?;
        users::record_sign_in(tx, user.id, now).await?;
        self.record(tx, now, ctx, Parties::own(user), "sign_in.succeeded", json!({ "method": "passkey" })).await?;
        let since = factors::of_person(tx, user.id).await?.enabled_since();
        Ok(NewSessionToken::new(issued, user, since))
    }

    /// Whether `password` matches the stored hash (or costs the same when there is none).
    pub(crate) async fn password_ok(&self, password: &str, stored: Option<&str>) -> Result<bool> {
        Ok(password.len() <= MAX_PASSWORD_BYTES && self.passwords().verify(password, stored).await?)
    }

    /// The person's password again, for confirmations (SEC-24).
    pub(crate) async fn password_matches(&self, user: &Person, password: &str) -> Result<bool> {
        let mut conn = self.store().conn().await?;
        let stored = users::password_hash(&mut conn, user.id).await?;
        drop(conn);
        self.password_ok(password, stored.as_deref()).await
    }

    /// The live session behind a cookie value, if any, with its strength (SEC-46); moves
    /// its idle deadline forward. One statement reads the session, the person, whether
    /// they have a second factor and their account's policy; nothing is cached, so a
    /// session ended on any instance is refused everywhere at its next use (SEC-43).
    pub async fn session(&self, raw: &str) -> Result<Option<CurrentSession>> {
        if !token::is_well_formed(raw) {
            return Ok(None);
        }
        let now = self.now();
        let mut conn = self.store().conn().await?;
        let found = sessions::live_with_person(&mut conn, &token::hash(raw), now).await?;
        let Some(mut live) = found else {
            return Ok(None);
        };
        self.keep_alive(&mut conn, Realm::People, &mut live.session).await?;
        drop(conn);
        let method = SignInMethod::parse(live.session.method.as_deref());
        let policy =
            PolicyFacts { required_since: live.policy.require_two_factor_since, grace_days: live.policy.grace_days };
        let strength = assurance::assess(method, live.has_two_factor, policy, now);
        let csrf_token = token::csrf_for_session(raw);
        let (session, user, groups) = (live.session, live.user.into_person(), live.groups);
        Ok(Some(CurrentSession { session, user, csrf_token, strength, groups }))
    }

    /// Ends the session on the server (SEC-22).
    pub async fn sign_out(&self, current: &CurrentSession, ctx: &RequestContext) -> Result<()> {
        let now = self.now();
        let mut tx = self.store().begin().await?;
        if sessions::delete(&mut tx, Realm::People, &current.session.id_hash).await? {
            self.record(&mut tx, now, ctx, Parties::own(&current.user), "sign_out", json!({})).await?;
        }
        commit(tx).await?;
        Ok(())
    }

    /// A random token for a form shown before sign-in (double-submit CSRF protection).
    pub fn new_form_token(&self) -> String {
        token::generate(self.entropy()).raw
    }

    /// Whether `raw` is a live remembered device of this person; touches it if so.
    pub(crate) async fn device_is_remembered(
        &self,
        conn: &mut Conn,
        user_id: i64,
        raw: Option<&str>,
        now: i64,
    ) -> Result<bool> {
        let Some(raw) = raw.filter(|r| token::is_well_formed(r)) else {
            return Ok(false);
        };
        match devices::live_for_user(conn, &token::hash(raw), user_id, now).await? {
            Some(device) => {
                devices::touch(conn, device.id, now).await?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn remember_device(&self, conn: &mut Conn, user: &Person, ctx: &RequestContext, now: i64) -> Result<String> {
        let new = token::generate(self.entropy());
        let expires = now + self.config().remember_device_days * 24 * 60 * 60;
        devices::insert(conn, user.id, &new.hash, ctx.user_agent.as_deref(), now, expires).await?;
        let text = format!(
            "a browser was remembered on your account for {} days: it will skip the code step. If this was not you, change your password and forget the browser on your profile.",
            self.config().remember_device_days
        );
        self.queue_notice(conn, user, "A browser was remembered", &text, now).await?;
        Ok(new.raw)
    }
}
