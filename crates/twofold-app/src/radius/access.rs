//! What an Access-Request gets: the password through the sign-in's budgets, then the code
//! (appended, or in answer to a challenge) through the second step's, and an answer that
//! says nothing of why it refuses.
//!
//! ```text
//!  no State ─ password ─┬─ wrong / unknown / throttled ───────────────▶ Reject
//!                       ├─ no 2FA: --allow-one-factor, policy met ────▶ Accept
//!                       ├─ append: the six digits after it ─ code ───▶ Accept | Reject
//!                       └─ challenge: State (single use, 5 min) ──────▶ Challenge
//!  State ─ taken once ─ code (app, SMS under a grant, recovery code) ─▶ Accept | Reject
//! ```

use serde_json::json;
use twofold_domain::assurance::{self, Need, Outcome, PolicyFacts};
use twofold_domain::oidc::SignInMethod;
use twofold_domain::person::Person;
use twofold_domain::radius::{self, AfterPassword, CHALLENGE_SECONDS, Mode};
use twofold_domain::recovery_code::RecoveryCode;
use twofold_domain::sms::Purpose;
use twofold_domain::token;
use twofold_store::{Conn, Realm, accounts, commit, factors, totp, users};

use super::RadiusClient;
use crate::attempt::{Guard, Rejection, Verdict};
use crate::audit::Parties;
use crate::sign_in::{SecondStep, normalised_email};
use crate::{App, Error, RequestContext, Result};

/// An Access-Request as the server decoded it.
#[derive(Clone, Copy)]
pub struct RadiusRequest<'a> {
    pub user_name: &'a str,
    /// The revealed `User-Password`: the password, the password and code (append mode),
    /// or the code (the answer to a challenge).
    pub password: &'a str,
    pub state: Option<&'a [u8]>,
    /// `Calling-Station-Id`: the VPN user's address, the Wi-Fi device.
    pub station: Option<&'a str>,
}

/// Never prints the password or the State.
impl std::fmt::Debug for RadiusRequest<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RadiusRequest").field("user_name", &self.user_name).finish_non_exhaustive()
    }
}

/// What the server sends back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RadiusAnswer {
    Accept {
        class: String,
        message: String,
    },
    Challenge {
        state: Vec<u8>,
        message: String,
    },
    /// The same whatever the cause (SEC-53).
    Reject,
}

/// What a challenge's answer is checked as: a recovery code by its shape, else the SMS
/// code when the challenge sent one, else the authenticator app's code.
fn step_of(typed: &str, by_sms: bool) -> SecondStep {
    if RecoveryCode::parse(typed).is_some() && !typed.trim().bytes().all(|b| b.is_ascii_digit()) {
        SecondStep::RecoveryCode
    } else if by_sms {
        SecondStep::SmsRecovery
    } else {
        SecondStep::Totp
    }
}

/// What the password step leads to.
enum Next {
    Answer(RadiusAnswer),
    /// Append mode: the code that followed the password.
    CheckCode,
    /// Challenge mode: ask for the code; by SMS under support's grant.
    Challenge {
        state: Vec<u8>,
        by_sms: bool,
    },
}

/// Infrastructure failures leave the request unanswered (the client retries); every
/// refusal becomes the one Access-Reject.
fn rejected_or_failed<T>(result: Result<T>, answer: impl FnOnce(T) -> RadiusAnswer) -> Result<RadiusAnswer> {
    match result {
        Ok(done) => Ok(answer(done)),
        Err(e @ (Error::Unavailable | Error::Internal(_))) => Err(e),
        Err(_) => Ok(RadiusAnswer::Reject),
    }
}

impl App {
    /// Answers one Access-Request. `Err` only when the store failed: then nothing is sent.
    pub async fn radius_access(
        &self,
        client: &RadiusClient,
        request: &RadiusRequest<'_>,
        ctx: &RequestContext,
    ) -> Result<RadiusAnswer> {
        match request.state {
            Some(state) => self.radius_challenge_answered(client, state, request, ctx).await,
            None => self.radius_password(client, request, ctx).await,
        }
    }

    async fn radius_password(
        &self,
        client: &RadiusClient,
        request: &RadiusRequest<'_>,
        ctx: &RequestContext,
    ) -> Result<RadiusAnswer> {
        let email = normalised_email(request.user_name);
        let mut conn = self.store().conn().await?;
        let found = users::by_email(&mut conn, &email).await?;
        // Someone outside the client's account, or deactivated, is nobody here: the same
        // Argon2 work and the same answer as an unknown email.
        // A deactivated person is refused the same way (SEC-53: every Reject alike).
        let found = found.filter(|row| {
            client.account_id.is_none_or(|account| row.account_id == account) && row.deactivated_at.is_none()
        });
        // In append mode only people with a second factor append a code: the password of
        // someone without one may end in six digits of its own.
        let appends = match &found {
            Some(row) if client.mode == Mode::Append => factors::of_person(&mut conn, row.id).await?.is_on(),
            _ => client.mode == Mode::Append,
        };
        drop(conn);
        let (password, code) = match radius::split_appended(request.password).filter(|_| appends) {
            Some((password, code)) => (password, Some(code)),
            None => (request.password, None),
        };
        let (hash, person) = match found {
            Some(row) => (row.password_hash.clone(), Some(row.into_person())),
            None => (None, None),
        };
        let guard = Guard::radius_password(&email, person.as_ref(), (client.id, &client.name), request.station);
        let next = self
            .attempt(guard, ctx, |armed| async {
                let ok = self.password_ok(password, hash.as_deref()).await?;
                let Some(person) = person.as_ref().filter(|_| ok && hash.is_some()) else {
                    let why = if person.is_some() { Rejection::WRONG_PASSWORD } else { Rejection::UNKNOWN_EMAIL };
                    return Ok(Verdict::Rejected(why));
                };
                let mut tx = self.store().begin().await?;
                armed.succeeded(&mut tx).await?;
                let next = self.after_radius_password(&mut tx, client, person, code.is_some(), ctx).await?;
                commit(tx).await?;
                Ok(Verdict::Accepted(next))
            })
            .await;
        let next = match next {
            Ok(next) => next,
            Err(e @ (Error::Unavailable | Error::Internal(_))) => return Err(e),
            Err(_) => return Ok(RadiusAnswer::Reject),
        };
        let Some(person) = person else { return Ok(RadiusAnswer::Reject) };
        match (next, code) {
            (Next::Challenge { state, by_sms: false }, _) => {
                let message = "Enter the 6-digit code from your authenticator app, or a recovery code.".into();
                Ok(RadiusAnswer::Challenge { state, message })
            }
            (Next::Challenge { state, by_sms: true }, _) => self.radius_sms_sent(&person, state, ctx).await,
            (Next::Answer(answer), _) => Ok(answer),
            (Next::CheckCode, Some(code)) => self.radius_code(client, &person, code, None, ctx).await,
            (Next::CheckCode, None) => Ok(RadiusAnswer::Reject),
        }
    }

    /// The password was right: accept one factor where allowed, open a challenge, or go on
    /// to the appended code. Refusals are audited here, in the password's transaction.
    async fn after_radius_password(
        &self,
        tx: &mut Conn,
        client: &RadiusClient,
        person: &Person,
        code_appended: bool,
        ctx: &RequestContext,
    ) -> Result<Next> {
        let now = self.now();
        let has_two_factor = factors::of_person(tx, person.id).await?.is_on();
        let policy = accounts::policy(tx, person.account_id).await?;
        let policy = PolicyFacts { required_since: policy.require_two_factor_since, grace_days: policy.grace_days };
        let strength = assurance::assess(SignInMethod::Password, has_two_factor, policy, now);
        match radius::after_password(&strength, client.allow_one_factor) {
            AfterPassword::Accept => {
                users::record_sign_in(tx, person.id, now).await?;
                Ok(Next::Answer(self.radius_accepted(tx, client, person, "password", ctx).await?))
            }
            AfterPassword::Refuse(reason) => {
                self.radius_refused(tx, client, Some(person), reason, ctx).await?;
                Ok(Next::Answer(RadiusAnswer::Reject))
            }
            AfterPassword::AskCode if client.mode == Mode::Append => {
                if !code_appended {
                    self.radius_refused(tx, client, Some(person), "code_missing", ctx).await?;
                    return Ok(Next::Answer(RadiusAnswer::Reject));
                }
                let detail = json!({ "next": "totp", "via": "radius", "radius_client": client.name });
                self.record(tx, now, ctx, Parties::own(person), "sign_in.password_ok", detail).await?;
                Ok(Next::CheckCode)
            }
            AfterPassword::AskCode => {
                let by_sms = self.active_grant_on(tx, person.id).await?.is_some();
                let state = token::generate(self.entropy());
                let lifetime = (now, now + CHALLENGE_SECONDS);
                twofold_store::radius::open_challenge(tx, &state.hash, client.id, person.id, by_sms, lifetime).await?;
                let detail = json!({ "next": if by_sms { "sms" } else { "totp" }, "via": "radius", "radius_client": client.name });
                self.record(tx, now, ctx, Parties::own(person), "sign_in.password_ok", detail).await?;
                Ok(Next::Challenge { state: state.raw.into_bytes(), by_sms })
            }
        }
    }

    /// A challenge just opened under support's SMS grant: the code goes out now, and the
    /// challenge says where it went.
    async fn radius_sms_sent(&self, person: &Person, state: Vec<u8>, ctx: &RequestContext) -> Result<RadiusAnswer> {
        let mut conn = self.store().conn().await?;
        let grant = self.active_grant_on(&mut conn, person.id).await?;
        drop(conn);
        let Some((_, phone)) = grant else { return Ok(RadiusAnswer::Reject) };
        let reference = token::hash(&String::from_utf8_lossy(&state));
        // The State lives five minutes: a slower SMS is answered by signing in again.
        let message = match self.send_code(person, Purpose::SignIn, &reference, &phone, ctx).await {
            Ok(sent) => {
                format!("A code was sent by SMS to {}. Enter it within 5 minutes, or a recovery code.", sent.sent_to)
            }
            Err(Error::Throttled { retry_after }) => {
                format!("No SMS can be sent for {retry_after} seconds. Enter a recovery code, or try again later.")
            }
            Err(e) => {
                tracing::warn!(error = %e, "the RADIUS challenge's SMS code was not queued");
                "No SMS could be sent now. Enter a recovery code, or try again later.".to_owned()
            }
        };
        Ok(RadiusAnswer::Challenge { state, message })
    }

    /// The answer to a challenge: the State is taken once whatever comes of the code.
    async fn radius_challenge_answered(
        &self,
        client: &RadiusClient,
        state: &[u8],
        request: &RadiusRequest<'_>,
        ctx: &RequestContext,
    ) -> Result<RadiusAnswer> {
        let raw = std::str::from_utf8(state).ok().filter(|s| token::is_well_formed(s));
        let now = self.now();
        let mut conn = self.store().conn().await?;
        let taken = match raw {
            Some(raw) => twofold_store::radius::take_challenge(&mut conn, &token::hash(raw), client.id, now).await?,
            None => None,
        };
        // The State answers for the person who gave the password, and no one else.
        let named = normalised_email(request.user_name);
        let person = match taken {
            Some(c) => users::by_id(&mut conn, c.user_id)
                .await?
                .filter(|row| row.email == named && row.deactivated_at.is_none())
                .map(|row| (row.into_person(), c)),
            None => None,
        };
        let Some((person, challenge)) = person else {
            self.radius_refused(&mut conn, client, None, "unknown_or_used_state", ctx).await?;
            return Ok(RadiusAnswer::Reject);
        };
        drop(conn);
        let reference = challenge.by_sms.then(|| raw.map(token::hash)).flatten();
        self.radius_code(client, &person, request.password, reference.as_deref(), ctx).await
    }

    /// Checks a code through the second step's budgets. `sms_reference` names the
    /// challenge an SMS code was sent for.
    async fn radius_code(
        &self,
        client: &RadiusClient,
        person: &Person,
        typed: &str,
        sms_reference: Option<&str>,
        ctx: &RequestContext,
    ) -> Result<RadiusAnswer> {
        let step = step_of(typed, sms_reference.is_some());
        let name = client.name.as_str();
        let result = match (step, sms_reference) {
            (SecondStep::RecoveryCode, _) => {
                self.attempt(Guard::recovery_code(person).via_radius(name), ctx, |armed| async {
                    let Some(code) = RecoveryCode::parse(typed) else {
                        return Ok(Verdict::Rejected(Rejection::because("malformed_code")));
                    };
                    let mut tx = self.store().begin().await?;
                    if !self.spend_recovery_code(&mut tx, person, &code).await? {
                        return Ok(Verdict::Rejected(Rejection::because("wrong_or_used_code")));
                    }
                    armed.succeeded(&mut tx).await?;
                    self.radius_second_factor_passed(tx, client, person, step, ctx).await
                })
                .await
            }
            (SecondStep::SmsRecovery, Some(reference)) => {
                let Ok(code) = crate::sms::typed_sms_code(typed) else {
                    let mut conn = self.store().conn().await?;
                    self.radius_refused(&mut conn, client, Some(person), "malformed_code", ctx).await?;
                    return Ok(RadiusAnswer::Reject);
                };
                self.attempt(Guard::sms_sign_in(person).via_radius(name), ctx, |armed| async {
                    if self.check_code(person, Purpose::SignIn, reference, &code).await?.is_none() {
                        return Ok(Verdict::Rejected(Rejection::WRONG_CODE));
                    }
                    let mut tx = self.store().begin().await?;
                    // Support may have ended the grant since the challenge sent the code.
                    if self.active_grant_on(&mut tx, person.id).await?.is_none() {
                        return Ok(Verdict::Rejected(Rejection::because("no_grant")));
                    }
                    armed.succeeded(&mut tx).await?;
                    self.radius_second_factor_passed(tx, client, person, step, ctx).await
                })
                .await
            }
            _ => {
                let Ok(code) = self.typed_code(typed) else {
                    let mut conn = self.store().conn().await?;
                    self.radius_refused(&mut conn, client, Some(person), "malformed_code", ctx).await?;
                    return Ok(RadiusAnswer::Reject);
                };
                let guard = Guard::totp_sign_in(person).via_radius(name);
                self.attempt_totp(guard, ctx, (Realm::People, person.id), &code, |armed, found| async move {
                    let Some((row, matched)) = found.filter(|(row, _)| row.is_enabled()) else {
                        return Ok(Verdict::Rejected(Rejection::because("no_authenticator_app")));
                    };
                    let time_step = match matched {
                        Ok(time_step) => time_step,
                        Err(why) => return Ok(Verdict::Rejected(why)),
                    };
                    // As at the web's second step: the conditional update first, so that a
                    // code is accepted once whichever face or instance it reaches (SEC-05).
                    let mut tx = self.store().begin().await?;
                    if !totp::accept_step(&mut tx, Realm::People, person.id, time_step).await? {
                        return Ok(Verdict::Rejected(Rejection::REPLAY));
                    }
                    armed.succeeded(&mut tx).await?;
                    drop(row);
                    self.radius_second_factor_passed(tx, client, person, step, ctx).await
                })
                .await
            }
        };
        rejected_or_failed(result, |answer| answer)
    }

    /// The code was right: asks the one answer whether two factors are met (they are,
    /// unless 2FA went off meanwhile), audits the sign-in and commits. The person's row is
    /// written before the audit chain, the order every transaction keeps.
    async fn radius_second_factor_passed(
        &self,
        mut tx: twofold_store::Tx,
        client: &RadiusClient,
        person: &Person,
        step: SecondStep,
        ctx: &RequestContext,
    ) -> Result<Verdict<RadiusAnswer>> {
        let now = self.now();
        let has_two_factor = factors::of_person(&mut tx, person.id).await?.is_on();
        let strength = assurance::assess(step.method(), has_two_factor, PolicyFacts::default(), now);
        if strength.meets(Need::TwoFactor) != Outcome::Met {
            self.radius_refused(&mut tx, client, Some(person), "two_factor_off", ctx).await?;
            commit(tx).await?;
            return Ok(Verdict::Accepted(RadiusAnswer::Reject));
        }
        users::record_sign_in(&mut tx, person.id, now).await?;
        if step == SecondStep::RecoveryCode {
            self.recovery_code_spent(&mut tx, person, ctx).await?;
        }
        let answer = self.radius_accepted(&mut tx, client, person, step.as_str(), ctx).await?;
        commit(tx).await?;
        Ok(Verdict::Accepted(answer))
    }

    /// Audits a sign-in through RADIUS (its row already written) and answers the
    /// Access-Accept.
    async fn radius_accepted(
        &self,
        tx: &mut Conn,
        client: &RadiusClient,
        person: &Person,
        method: &'static str,
        ctx: &RequestContext,
    ) -> Result<RadiusAnswer> {
        let now = self.now();
        let detail = json!({ "method": method, "via": "radius", "radius_client": client.name });
        self.record(tx, now, ctx, Parties::own(person), "sign_in.succeeded", detail).await?;
        Ok(RadiusAnswer::Accept {
            class: format!("twofold:{}:{method}", person.id),
            message: format!("Welcome, {}.", person.name),
        })
    }

    /// A refusal the attempt pipeline does not audit (it audits wrong passwords and codes).
    async fn radius_refused(
        &self,
        conn: &mut Conn,
        client: &RadiusClient,
        person: Option<&Person>,
        reason: &'static str,
        ctx: &RequestContext,
    ) -> Result<()> {
        let parties = match person {
            Some(p) => Parties::own(p),
            None => Parties { account_id: client.account_id, ..Parties::default() },
        };
        let detail = json!({ "reason": reason, "radius_client": client.name });
        self.record(conn, self.now(), ctx, parties, "radius.refused", detail).await
    }
}
