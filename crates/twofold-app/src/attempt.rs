//! The one attempt pipeline every guess goes through (SEC-09, SEC-34): passwords of both
//! realms, authenticator codes at sign-in and in the wizard, SMS sign-in codes, phone
//! verification codes, the operators' codes, recovery codes, and security keys.
//!
//! ```text
//!  reserve (a place in every counter of the guess, one atomic statement each, SEC-47)
//!      │ the gate counts the guesses in flight ahead as failures made now
//!      ├─ closed ─▶ give the places back ─▶ 429 wait / 403 locked  (nothing verified)
//!      │ open
//!      ▼
//!  verify (the factor's own check, a closure)
//!      ├─ Accepted ─▶ the closure's success transaction calls Armed::succeeded (reset the
//!      │              guard's own counter, give back the others' places)
//!      └─ Rejected ─▶ count the failure on every counter (which gives the places back)
//!                     ─▶ audit `<factor>_rejected` ─▶ at the lock: audit `<realm>.locked`
//!                     and tell the person ─▶ 401 with the hint
//! ```
//! Taking the place before the check is what holds a budget under concurrency: forty
//! wrong passwords sent at once used to all be checked, since each read the count before
//! any had been counted (the check is a slow hash); now the sixth sees five ahead of it.
//! A factor plugs in with a [`Guard`] constructor (its counter, event and parties) and a
//! closure that answers [`Verdict`]; it writes none of the steps above itself.

use std::future::Future;

use serde_json::json;
use twofold_domain::otp::Verification;
use twofold_domain::person::Person;
use twofold_domain::throttle::{Gate, ThrottleKey, source_of};
use twofold_store::operators::OperatorRow;
use twofold_store::{commit, throttles};

use crate::audit::Parties;
use crate::{App, Error, RequestContext, Result};

/// Who guesses, as far as the pipeline must know: where to audit, whom to tell.
#[derive(Debug, Clone, Copy)]
enum Subject<'a> {
    /// A person of an account (known: tell them at the lock).
    Person(&'a Person),
    /// A password tried for an email that may belong to nobody.
    Email { email: &'a str, person: Option<&'a Person> },
    /// A support operator (audited outside every account).
    Operator { email: &'a str },
    /// A person proving their password before a change to themselves or to `target`.
    Prover { person: &'a Person, target: Option<&'a Person> },
}

/// What is being guessed, by whom, and what its failures are called in the audit log.
#[derive(Debug, Clone)]
pub(crate) struct Guard<'a> {
    /// The counter a success clears.
    key: ThrottleKey,
    /// Counters that gate the guess and count its failure too, but that no success clears:
    /// a source address's budget across all emails (SEC-44).
    also: Vec<ThrottleKey>,
    rejected_event: &'static str,
    subject: Subject<'a>,
    /// `totp`, `sms`, `password`…: recorded with every failure.
    method: &'static str,
    /// The RADIUS client the guess came through, named in its audit events.
    radius_client: Option<&'a str>,
}

impl<'a> Guard<'a> {
    fn new(key: ThrottleKey, rejected_event: &'static str, subject: Subject<'a>, method: &'static str) -> Self {
        Guard { key, also: Vec::new(), rejected_event, subject, method, radius_client: None }
    }

    /// A password given to a RADIUS client: the email's budget, shared with the web
    /// sign-in; in place of a source address's (which for a VPN gateway is everyone's), the
    /// station's budget at that client when it names one (normalised: one budget per IPv6
    /// /64 or per MAC however spelled); and always the client's own, a ceiling on spraying
    /// through it however many stations an attacker claims.
    pub fn radius_password(
        email: &'a str,
        person: Option<&'a Person>,
        client: (i64, &'a str),
        station: Option<&str>,
    ) -> Self {
        let (client_id, name) = client;
        let key = ThrottleKey::Password { email: email.to_owned() };
        let mut guard =
            Guard::new(key, "sign_in.failed", Subject::Email { email, person }, "password").via_radius(name);
        if let Some(station) = station.and_then(twofold_domain::radius::station_of) {
            guard.also.push(ThrottleKey::RadiusStation { client_id, station });
        }
        guard.also.push(ThrottleKey::RadiusClient { client_id });
        guard
    }

    /// The same guess, named as coming through a RADIUS client in the audit log.
    pub fn via_radius(mut self, client: &'a str) -> Self {
        self.radius_client = Some(client);
        self
    }

    /// A password at sign-in (SEC-44). From a browser that has signed in as this person
    /// before under their current password (`known_browser`: its token's digest), that
    /// browser's own budget counts instead of the email's, so strangers' failures cannot
    /// lock the person out of it. From anywhere else, the email's shared budget. The
    /// source's budget across all emails gates both (SEC-48).
    pub fn password(
        email: &'a str,
        person: Option<&'a Person>,
        known_browser: Option<String>,
        ctx: &RequestContext,
    ) -> Self {
        let subject = Subject::Email { email, person };
        let rejected_event = "sign_in.failed";
        match known_browser {
            // Its own budget instead of the email's, never instead of the source's (SEC-48).
            Some(digest) => {
                let key = ThrottleKey::PasswordFromKnownBrowser { digest };
                Guard::new(key, rejected_event, subject, "password").with_source_budget(ctx)
            }
            None => {
                let key = ThrottleKey::Password { email: email.to_owned() };
                Guard::new(key, rejected_event, subject, "password").with_source_budget(ctx)
            }
        }
    }

    /// Adds the budget of the guess's source address, when it has one.
    fn with_source_budget(mut self, ctx: &RequestContext) -> Self {
        if let Some(source) = ctx.ip.as_deref().and_then(source_of) {
            self.also.push(ThrottleKey::PasswordFromSource { source });
        }
        self
    }

    /// The password re-entered to confirm a change (the password change itself, SEC-38,
    /// and every change of SEC-46): the sign-in's budgets, the email's and the source's,
    /// so a stolen session cannot guess it faster than the login page allows (SEC-09).
    pub fn password_proof(
        person: &'a Person,
        target: Option<&'a Person>,
        rejected_event: &'static str,
        ctx: &RequestContext,
    ) -> Self {
        let key = ThrottleKey::Password { email: person.email.clone() };
        let subject = Subject::Prover { person, target };
        Guard::new(key, rejected_event, subject, "password").with_source_budget(ctx)
    }

    pub fn totp_sign_in(person: &'a Person) -> Self {
        let key = ThrottleKey::Totp { user_id: person.id };
        Guard::new(key, "sign_in.totp_rejected", Subject::Person(person), "totp")
    }

    /// Step 3 of the wizard shares the sign-in counter: both guess the same key.
    pub fn totp_enrolment(person: &'a Person) -> Self {
        let key = ThrottleKey::Totp { user_id: person.id };
        let rejected_event = "two_factor.enrolment_code_rejected";
        Guard::new(key, rejected_event, Subject::Person(person), "totp")
    }

    pub fn sms_sign_in(person: &'a Person) -> Self {
        let key = ThrottleKey::SmsSignIn { user_id: person.id };
        Guard::new(key, "sign_in.sms_rejected", Subject::Person(person), "sms")
    }

    pub fn phone_verification(person: &'a Person) -> Self {
        let key = ThrottleKey::PhoneVerification { user_id: person.id };
        Guard::new(key, "phone.code_rejected", Subject::Person(person), "sms")
    }

    pub fn recovery_code(person: &'a Person) -> Self {
        let key = ThrottleKey::RecoveryCode { user_id: person.id };
        let rejected_event = "sign_in.recovery_code_rejected";
        Guard::new(key, rejected_event, Subject::Person(person), "recovery_code")
    }

    /// Security keys at the second step and passkeys without a password share a counter.
    pub fn webauthn(person: &'a Person) -> Self {
        let key = ThrottleKey::WebAuthn { user_id: person.id };
        Guard::new(key, "sign_in.webauthn_rejected", Subject::Person(person), "webauthn")
    }

    /// An operator's password: the operator's own budget and the source's, which the
    /// people's sign-in shares (one guesser is one guesser, whichever page it uses).
    pub fn operator_password(email: &'a str, ctx: &RequestContext) -> Self {
        let key = ThrottleKey::OperatorPassword { email: email.to_owned() };
        Guard::new(key, "support.sign_in_failed", Subject::Operator { email }, "password").with_source_budget(ctx)
    }

    pub fn operator_totp(operator: &'a OperatorRow) -> Self {
        let key = ThrottleKey::OperatorTotp { operator_id: operator.id };
        let subject = Subject::Operator { email: &operator.email };
        Guard::new(key, "support.totp_rejected", subject, "totp")
    }

    /// Every counter of the guess: the one a success clears first.
    fn keys(&self) -> Vec<ThrottleKey> {
        std::iter::once(self.key.clone()).chain(self.also.iter().cloned()).collect()
    }

    fn parties(&self) -> Parties {
        match self.subject {
            Subject::Person(p) => Parties::own(p),
            Subject::Email { person: Some(p), .. } => Parties { actor: None, ..Parties::own(p) },
            Subject::Prover { person, target: Some(target) } => Parties::on(person, target),
            Subject::Prover { person, target: None } => Parties::own(person),
            Subject::Email { person: None, .. } | Subject::Operator { .. } => Parties::default(),
        }
    }

    /// What the audit detail names besides the reason (the email or operator tried).
    fn detail(&self, rejection: &Rejection, consecutive: u32) -> serde_json::Value {
        let mut detail = serde_json::Map::new();
        detail.insert("method".into(), json!(self.method));
        detail.insert("reason".into(), json!(rejection.reason));
        detail.insert("clock_offset_seconds".into(), json!(rejection.clock_offset_seconds));
        detail.insert("consecutive_failures".into(), json!(consecutive));
        match self.subject {
            Subject::Email { email, .. } => detail.insert("email".into(), json!(email)),
            Subject::Operator { email } => detail.insert("operator".into(), json!(email)),
            Subject::Prover { person, .. } => detail.insert("email".into(), json!(person.email)),
            Subject::Person(_) => None,
        };
        if let Some(client) = self.radius_client {
            detail.insert("via".into(), json!("radius"));
            detail.insert("radius_client".into(), json!(client));
        }
        serde_json::Value::Object(detail)
    }

    fn locked_event(&self) -> &'static str {
        match self.subject {
            Subject::Operator { .. } => "support.locked",
            _ => "two_factor.locked",
        }
    }
}

/// Why a guess failed, in the words of the audit log, with the clock hint when a code
/// matched a nearby time (SEC-07).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rejection {
    pub reason: &'static str,
    pub clock_offset_seconds: Option<i64>,
}

impl Rejection {
    pub const WRONG_CODE: Rejection = Rejection { reason: "wrong_code", clock_offset_seconds: None };
    pub const REPLAY: Rejection = Rejection { reason: "replay", clock_offset_seconds: None };
    pub const WRONG_PASSWORD: Rejection = Rejection { reason: "wrong_password", clock_offset_seconds: None };
    pub const UNKNOWN_EMAIL: Rejection = Rejection { reason: "unknown_email", clock_offset_seconds: None };

    /// A rejection with only a reason (security keys, recovery codes).
    pub const fn because(reason: &'static str) -> Rejection {
        Rejection { reason, clock_offset_seconds: None }
    }

    /// A TOTP check that did not pass, as a rejection.
    pub fn of_totp(outcome: Verification) -> Rejection {
        match outcome {
            Verification::Replay { .. } => Rejection::REPLAY,
            Verification::ClockDrift { offset_seconds } => {
                Rejection { reason: "clock_drift", clock_offset_seconds: Some(offset_seconds) }
            }
            _ => Rejection::WRONG_CODE,
        }
    }
}

/// The factor's answer: accepted (with what the success produced), or rejected.
pub(crate) enum Verdict<T> {
    Accepted(T),
    Rejected(Rejection),
}

/// Handed to the factor's check once its places are taken and the gate is open; its
/// success transaction calls [`Armed::succeeded`] so that the reset commits with the
/// success, or not at all.
#[must_use = "call succeeded() in the success transaction"]
pub(crate) struct Armed {
    key: ThrottleKey,
    also: Vec<ThrottleKey>,
}

impl Armed {
    /// Clears the guard's own counter (its place with it) and gives back the places in
    /// the counters no success clears.
    pub async fn succeeded(self, conn: &mut twofold_store::Conn) -> Result<()> {
        throttles::reset(conn, &self.key).await?;
        for key in &self.also {
            throttles::release(conn, key).await?;
        }
        Ok(())
    }
}

/// Longest a guess waits behind guesses in flight before it is answered 429.
const QUEUE_FOR: std::time::Duration = std::time::Duration::from_secs(5);

/// How often a waiting guess asks again: a password check takes 20–50 ms.
const QUEUE_POLL: std::time::Duration = std::time::Duration::from_millis(50);

/// The strictest of several gates: a lock over any wait, the longest wait over none.
fn strictest(gates: impl IntoIterator<Item = Gate>) -> Gate {
    gates.into_iter().fold(Gate::Open, |worst, gate| match (worst, gate) {
        (Gate::Locked, _) | (_, Gate::Locked) => Gate::Locked,
        (Gate::Wait { seconds: a }, Gate::Wait { seconds: b }) => Gate::Wait { seconds: a.max(b) },
        (Gate::Open, other) | (other, Gate::Open) => other,
    })
}

/// The gate of a guess over its counters with the places ahead of it, and the gate their
/// own failures alone would give.
fn gates(keys: &[ThrottleKey], seen: &[throttles::Reserved], now: i64) -> (Gate, Gate) {
    let with_ahead = keys.iter().zip(seen).map(|(k, r)| k.policy().gate_behind(r.failures, r.ahead, now));
    let by_failures = keys.iter().zip(seen).map(|(k, r)| k.policy().gate(r.failures, now));
    (strictest(with_ahead), strictest(by_failures))
}

/// The one place a throttle decision becomes an answer.
fn gate_error(gate: Gate) -> Result<()> {
    match gate {
        Gate::Open => Ok(()),
        Gate::Wait { seconds } => Err(Error::Throttled { retry_after: seconds.max(1) }),
        Gate::Locked => Err(Error::SecondFactorLocked),
    }
}

impl App {
    /// Whether any of these counters has reached its lock (an administrator or support
    /// must clear it), in one statement.
    pub(crate) async fn any_locked(&self, conn: &mut twofold_store::Conn, keys: &[ThrottleKey]) -> Result<bool> {
        let now = self.now();
        let failures = throttles::get_many(conn, keys).await?;
        Ok(keys.iter().zip(failures).any(|(key, f)| key.policy().gate(f, now) == Gate::Locked))
    }

    /// Runs one guess through the pipeline: reserve and gate, `verify`, then count and
    /// audit a failure.
    pub(crate) async fn attempt<T, F, Fut>(&self, guard: Guard<'_>, ctx: &RequestContext, verify: F) -> Result<T>
    where
        F: FnOnce(Armed) -> Fut,
        Fut: Future<Output = Result<Verdict<T>>>,
    {
        // A password guess waits for its turn at the hash before it takes its places, and
        // keeps the turn until its failure is counted.
        let _turn = if guard.method == "password" { Some(self.passwords().turn().await?) } else { None };
        let armed = self.reserve(&guard).await?;
        match verify(armed).await {
            Ok(Verdict::Accepted(done)) => Ok(done),
            Ok(Verdict::Rejected(rejection)) => Err(self.count_failure(&guard, rejection, ctx).await),
            Err(e) => {
                // The check did not run to a verdict: its places go back, nothing is counted.
                self.release(&guard).await;
                Err(e)
            }
        }
    }

    /// Takes the guess's place in each of its counters (SEC-47) and decides the gate with
    /// the guesses in flight ahead of it; a closed gate gives the places back. A gate closed
    /// only by guesses still in flight (none of the counters' own failures closes it) waits
    /// for them, up to [`QUEUE_FOR`], and asks again: sign-ins arriving together from one
    /// office address pass once those ahead succeed, while an attacker's guesses, once they
    /// have failed, close the gate for the rest.
    async fn reserve(&self, guard: &Guard<'_>) -> Result<Armed> {
        let keys = guard.keys();
        let queued = std::time::Instant::now();
        loop {
            let now = self.now();
            let mut conn = self.store().conn().await?;
            let mut reserved = Vec::with_capacity(keys.len());
            for key in &keys {
                reserved.push(throttles::reserve(&mut conn, key, now).await?);
            }
            drop(conn);
            let (gate, by_failures) = gates(&keys, &reserved, now);
            let Err(closed) = gate_error(gate) else {
                return Ok(Armed { key: guard.key.clone(), also: guard.also.clone() });
            };
            self.release(guard).await;
            if by_failures != Gate::Open {
                return Err(closed);
            }
            // Only guesses in flight close it: look (one read, no place taken) until they
            // have answered, then take places again.
            loop {
                if queued.elapsed() >= QUEUE_FOR {
                    return Err(closed);
                }
                tokio::time::sleep(QUEUE_POLL).await;
                let now = self.now();
                let mut conn = self.store().conn().await?;
                let seen = throttles::peek_many(&mut conn, &keys, now).await?;
                drop(conn);
                let (gate, by_failures) = gates(&keys, &seen, now);
                if by_failures != Gate::Open {
                    return Err(gate_error(by_failures).err().unwrap_or(closed));
                }
                if gate == Gate::Open {
                    break;
                }
            }
        }
    }

    /// Gives back the guess's places; a failure to do so only delays them by
    /// [`throttles::RESERVATION_SECONDS`], so it is logged, not answered.
    async fn release(&self, guard: &Guard<'_>) {
        let released = async {
            let mut conn = self.store().conn().await?;
            for key in guard.keys() {
                throttles::release(&mut conn, &key).await?;
            }
            Ok::<_, Error>(())
        };
        if let Err(e) = released.await {
            tracing::warn!(error = %e, "a guess's places in its budgets were not given back");
        }
    }

    /// Counts, audits and (at the lock) tells; answers the error the person sees.
    async fn count_failure(&self, guard: &Guard<'_>, rejection: Rejection, ctx: &RequestContext) -> Error {
        let now = self.now();
        let written = async {
            let mut tx = self.store().begin().await?;
            let failures = throttles::record_failure(&mut tx, &guard.key, now).await?;
            for key in &guard.also {
                throttles::record_failure(&mut tx, key, now).await?;
            }
            let parties = guard.parties();
            self.record(
                &mut tx,
                now,
                ctx,
                parties,
                guard.rejected_event,
                guard.detail(&rejection, failures.consecutive),
            )
            .await?;
            if guard.key.just_locked(failures) {
                let detail = json!({ "method": guard.method, "after_failures": failures.consecutive });
                self.record(&mut tx, now, ctx, parties, guard.locked_event(), detail).await?;
                if let Subject::Person(person) = guard.subject {
                    let text = "two-factor sign-in was locked after too many wrong codes. Ask your administrator to unlock it.";
                    self.queue_notice(&mut tx, person, "Two-factor sign-in locked", text, now).await?;
                }
            }
            commit(tx).await?;
            Ok::<_, Error>(())
        };
        let written = written.await;
        if written.is_err() {
            // Not counted: at least give the places back.
            self.release(guard).await;
        }
        match written {
            Ok(()) => match guard.method {
                "password" => Error::InvalidCredentials,
                "recovery_code" => Error::InvalidRecoveryCode,
                "webauthn" => Error::InvalidSecurityKey,
                _ => Error::InvalidCode {
                    clock_offset_seconds: rejection.clock_offset_seconds,
                    already_used: rejection == Rejection::REPLAY,
                },
            },
            Err(e) => e,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sec_34_each_gate_maps_to_one_answer() {
        assert!(gate_error(Gate::Open).is_ok());
        assert!(matches!(gate_error(Gate::Wait { seconds: 0 }), Err(Error::Throttled { retry_after: 1 })));
        assert!(matches!(gate_error(Gate::Locked), Err(Error::SecondFactorLocked)));
    }

    #[test]
    fn sec_44_the_strictest_gate_of_a_guess_decides() {
        let wait = |seconds| Gate::Wait { seconds };
        assert_eq!(strictest([]), Gate::Open);
        assert_eq!(strictest([Gate::Open, wait(30)]), wait(30));
        assert_eq!(strictest([wait(900), Gate::Open, wait(60)]), wait(900));
        assert_eq!(strictest([wait(60), Gate::Locked, Gate::Open]), Gate::Locked);
    }

    #[test]
    fn a_drifted_clock_is_kept_in_the_rejection() {
        let r = Rejection::of_totp(Verification::ClockDrift { offset_seconds: -140 });
        assert_eq!(r.clock_offset_seconds, Some(-140));
        assert_eq!(Rejection::of_totp(Verification::Replay { step: 1 }), Rejection::REPLAY);
    }
}
