//! The authenticator-app factor: enrolment, the sign-in step, remembered browsers, and
//! turning it off.

use serde_json::json;
use sha2::Digest;
use twofold_domain::otp::{self, Secret, Verification, describe_offset, normalize_code};
use twofold_domain::session::Stage;
use twofold_domain::sms::Purpose;
use twofold_domain::throttle::{Failures, Gate, ThrottlePolicy};
use twofold_domain::token;
use twofold_store::users::{self, UserRow};
use twofold_store::{Conn, commit, devices, phones, sessions, throttles, totp};

use crate::audit::{Parties, record};
use crate::sign_in::{CurrentSession, NewSessionToken};
use crate::sms::{Delivery, SentCode};
use crate::{App, Error, RequestContext, Result};

/// What the secrets are sealed for: part of the AEAD's associated data.
const PURPOSE: &str = "totp";

/// A new key to put into the authenticator app, shown only while enrolment is unfinished.
#[derive(Clone)]
pub struct Enrolment {
    pub secret_base32: String,
    /// The key in groups of four, for typing.
    pub secret_grouped: String,
    pub otpauth_uri: String,
    pub qr_svg: String,
}

impl std::fmt::Debug for Enrolment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Enrolment(..)")
    }
}

/// A person's second-factor state as pages and the API show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TwoFactorStatus {
    pub enabled_at: Option<i64>,
    pub enrolment_pending: bool,
    /// The app code was confirmed (Step 3); the phone (Step 4) is still to be verified.
    pub awaiting_phone: bool,
    pub locked: bool,
}

/// A successful second step: the new session, and the device token when the person asked
/// to be remembered.
#[derive(Debug, Clone)]
pub struct SecondStepDone {
    pub session: NewSessionToken,
    pub device_token: Option<String>,
}

/// A remembered browser as the device list shows it.
pub type Device = devices::DeviceRow;

pub(crate) fn throttle_subject(user_id: i64) -> String {
    format!("totp:{user_id}")
}

impl App {
    pub async fn two_factor_status(&self, user_id: i64) -> Result<TwoFactorStatus> {
        let mut conn = self.store().conn().await?;
        let row = totp::get(&mut conn, user_id).await?;
        let failures = throttles::get(&mut conn, &throttle_subject(user_id)).await?;
        Ok(TwoFactorStatus {
            enabled_at: row.as_ref().and_then(|r| r.enabled_at),
            enrolment_pending: row.as_ref().is_some_and(|r| !r.is_enabled()),
            awaiting_phone: row.as_ref().is_some_and(|r| !r.is_enabled() && r.confirmed_at.is_some()),
            locked: ThrottlePolicy::SECOND_FACTOR.gate(failures, self.now()) == Gate::Locked,
        })
    }

    /// Issues a new secret (160 bits from the CSPRNG, SEC-02) for the wizard. Starting again
    /// replaces an unfinished enrolment's key; with 2FA already on it is refused.
    pub async fn start_enrolment(&self, user: &UserRow, ctx: &RequestContext) -> Result<Enrolment> {
        let secret = Secret::generate(self.entropy());
        let sealed = self.secrets().seal(PURPOSE, user.id, secret.as_bytes())?;
        let now = self.now();
        let mut tx = self.store().begin().await?;
        if !totp::begin_enrolment(&mut tx, user.id, &sealed, now).await? {
            return Err(already_enabled());
        }
        record(&mut tx, now, ctx, Parties::own(user), "two_factor.enrolment_started", json!({})).await?;
        commit(tx).await?;
        self.enrolment_view(user, &secret)
    }

    /// The unfinished enrolment's key, to show Step 2 again; never once 2FA is on (SEC-04).
    pub async fn pending_enrolment(&self, user: &UserRow) -> Result<Option<Enrolment>> {
        let mut conn = self.store().conn().await?;
        let Some(row) = totp::get(&mut conn, user.id).await? else {
            return Ok(None);
        };
        if row.is_enabled() {
            return Ok(None);
        }
        let secret = self.open_secret(user.id, &row.secret_box)?;
        Ok(Some(self.enrolment_view(user, &secret)?))
    }

    fn enrolment_view(&self, user: &UserRow, secret: &Secret) -> Result<Enrolment> {
        let uri = otp::otpauth_uri(&self.config().issuer, &user.email, secret);
        let qr_svg = crate::qr::qr_svg(&uri).map_err(|e| Error::Internal(format!("QR code: {e}")))?;
        Ok(Enrolment {
            secret_base32: secret.to_base32(),
            secret_grouped: secret.to_base32_grouped(),
            otpauth_uri: uri,
            qr_svg,
        })
    }

    /// Step 3: the code from the app proves the key was stored. 2FA turns on only after
    /// Step 4 (the phone) succeeds.
    pub async fn confirm_enrolment(&self, user: &UserRow, code: &str, ctx: &RequestContext) -> Result<()> {
        let params = self.config().totp;
        let code = normalize_code(code, params.digits).map_err(|e| Error::invalid("invalid_code_format", e))?;
        let now = self.now();
        let subject = throttle_subject(user.id);
        let mut conn = self.store().conn().await?;
        check_gate(&mut conn, &subject, now).await?;
        let row = pending_row(&mut conn, user.id).await?;
        drop(conn);
        let secret = self.open_secret(user.id, &row.secret_box)?;
        let step = match otp::verify(&params, &secret, &code, now, None) {
            Verification::Accepted { step } => step,
            other => {
                return Err(self.code_failed(user, &subject, other, "two_factor.enrolment_code_rejected", ctx).await);
            }
        };
        let mut tx = self.store().begin().await?;
        if !totp::confirm(&mut tx, user.id, &row.secret_box, to_i64(step), now).await? {
            return Err(Error::conflict(
                "enrolment_changed",
                "The set-up was restarted elsewhere; use the newest key.",
            ));
        }
        throttles::reset(&mut tx, &subject).await?;
        record(&mut tx, now, ctx, Parties::own(user), "two_factor.app_confirmed", json!({})).await?;
        commit(tx).await?;
        Ok(())
    }

    /// Step 4: sends a code to the mobile number typed (again, on Resend).
    pub async fn send_enrolment_phone_code(
        &self,
        user: &UserRow,
        phone: &str,
        ctx: &RequestContext,
    ) -> Result<SentCode> {
        let phone = crate::sms::parse_phone(phone)?;
        let mut conn = self.store().conn().await?;
        let row = pending_row(&mut conn, user.id).await?;
        drop(conn);
        if row.confirmed_at.is_none() {
            return Err(Error::conflict(
                "app_not_confirmed",
                "Enter a code from your authenticator app first (Step 3).",
            ));
        }
        self.send_code(user, Purpose::PhoneVerification, &enrolment_ref(&row.secret_box), &phone, ctx).await
    }

    /// Step 4's Resend: a fresh code to the number the last one went to.
    pub async fn resend_enrolment_phone_code(&self, user: &UserRow, ctx: &RequestContext) -> Result<SentCode> {
        let mut conn = self.store().conn().await?;
        let row = pending_row(&mut conn, user.id).await?;
        let reference = enrolment_ref(&row.secret_box);
        let last =
            twofold_store::challenges::latest(&mut conn, user.id, Purpose::PhoneVerification.as_str(), &reference)
                .await?;
        drop(conn);
        let Some(last) = last else {
            return Err(Error::conflict("no_code_sent", "Enter your mobile number first."));
        };
        let phone = twofold_domain::phone::Phone::from_stored(last.e164);
        self.send_code(user, Purpose::PhoneVerification, &reference, &phone, ctx).await
    }

    /// Step 4's code: the number is verified and 2FA turns on. Remembered browsers of an
    /// earlier enrolment end (SEC-23).
    pub async fn verify_enrolment_phone(&self, user: &UserRow, code: &str, ctx: &RequestContext) -> Result<()> {
        let mut conn = self.store().conn().await?;
        let row = pending_row(&mut conn, user.id).await?;
        drop(conn);
        let phone = self.check_code(user, Purpose::PhoneVerification, &enrolment_ref(&row.secret_box), code).await?;
        let now = self.now();
        let mut tx = self.store().begin().await?;
        if !totp::enable(&mut tx, user.id, now).await? {
            return Err(Error::conflict("enrolment_changed", "The set-up was restarted elsewhere; start again."));
        }
        phones::set_verified(&mut tx, user.id, phone.e164(), now).await?;
        devices::delete_for_user(&mut tx, user.id).await?;
        twofold_store::recovery::close(&mut tx, user.id, "re_enrolled", now).await?;
        let detail = json!({ "method": "totp", "phone": phone.masked() });
        record(&mut tx, now, ctx, Parties::own(user), "two_factor.enabled", detail).await?;
        commit(tx).await?;
        Ok(())
    }

    /// Where the Step 4 code's SMS stands, for the page.
    pub async fn enrolment_phone_delivery(&self, user: &UserRow) -> Result<Option<Delivery>> {
        let mut conn = self.store().conn().await?;
        let row = pending_row(&mut conn, user.id).await?;
        drop(conn);
        self.delivery(user.id, Purpose::PhoneVerification, &enrolment_ref(&row.secret_box)).await
    }

    /// The second step of sign-in. A code is accepted once (SEC-05), even when submitted
    /// many times at once on several instances (SEC-06); the half-finished session is
    /// replaced by a new one (SEC-19).
    pub async fn submit_totp(
        &self,
        pending: &CurrentSession,
        code: &str,
        ctx: &RequestContext,
    ) -> Result<SecondStepDone> {
        if pending.session.stage != Stage::SecondFactor {
            return Err(Error::Unauthenticated);
        }
        let user = &pending.user;
        let params = self.config().totp;
        let code = normalize_code(code, params.digits).map_err(|e| Error::invalid("invalid_code_format", e))?;
        let now = self.now();
        let subject = throttle_subject(user.id);
        let mut conn = self.store().conn().await?;
        check_gate(&mut conn, &subject, now).await?;
        let row = totp::get(&mut conn, user.id).await?.filter(|r| r.is_enabled()).ok_or(Error::Unauthenticated)?;
        drop(conn);
        let secret = self.open_secret(user.id, &row.secret_box)?;
        let last = row.last_step.and_then(|s| u64::try_from(s).ok());
        let step = match otp::verify(&params, &secret, &code, now, last) {
            Verification::Accepted { step } => step,
            other => {
                return Err(self.code_failed(user, &subject, other, "sign_in.totp_rejected", ctx).await);
            }
        };
        // The conditional update is the first statement of the transaction, so SQLite takes
        // the write lock at once and PostgreSQL row-locks: the loser of a race sees `false`.
        let mut tx = self.store().begin().await?;
        if !totp::accept_step(&mut tx, user.id, to_i64(step)).await? {
            drop(tx);
            let replay = Verification::Replay { step };
            return Err(self.code_failed(user, &subject, replay, "sign_in.totp_rejected", ctx).await);
        }
        if !sessions::delete(&mut tx, &pending.session.id_hash).await? {
            return Err(Error::Unauthenticated);
        }
        throttles::reset(&mut tx, &subject).await?;
        let session = self.open_session(&mut tx, user, Stage::SignedIn, false, ctx, now).await?;
        let device_token = if pending.session.remember_device {
            Some(self.remember_device(&mut tx, user, ctx, now).await?)
        } else {
            None
        };
        users::record_sign_in(&mut tx, user.id, now).await?;
        let detail = json!({ "method": "totp", "remembered": device_token.is_some() });
        record(&mut tx, now, ctx, Parties::own(user), "sign_in.succeeded", detail).await?;
        commit(tx).await?;
        Ok(SecondStepDone { session, device_token })
    }

    /// Counts a failed code (replays included, SEC-08), audits it, and answers the error
    /// the person sees, with the clock hint when the code matched a nearby time (SEC-07).
    async fn code_failed(
        &self,
        user: &UserRow,
        subject: &str,
        outcome: Verification,
        event: &str,
        ctx: &RequestContext,
    ) -> Error {
        let now = self.now();
        let (reason, offset) = match outcome {
            Verification::Replay { .. } => ("replay", None),
            Verification::ClockDrift { offset_seconds } => ("clock_drift", Some(offset_seconds)),
            _ => ("wrong_code", None),
        };
        let written = async {
            let mut tx = self.store().begin().await?;
            let failures = throttles::record_failure(&mut tx, subject, now).await?;
            let detail = json!({ "reason": reason, "clock_offset_seconds": offset, "consecutive_failures": failures.consecutive });
            record(&mut tx, now, ctx, Parties::own(user), event, detail).await?;
            if just_locked(failures) {
                let detail = json!({ "after_failures": failures.consecutive });
                record(&mut tx, now, ctx, Parties::own(user), "two_factor.locked", detail).await?;
                let text =
                    "two-factor sign-in was locked after too many wrong codes. Ask your administrator to unlock it.";
                self.queue_notice(&mut tx, user, text, now).await?;
            }
            commit(tx).await?;
            Ok::<_, Error>(())
        };
        match written.await {
            Ok(()) => Error::InvalidCode { clock_offset_seconds: offset },
            Err(e) => e,
        }
    }

    async fn remember_device(&self, conn: &mut Conn, user: &UserRow, ctx: &RequestContext, now: i64) -> Result<String> {
        let new = token::generate(self.entropy());
        let expires = now + self.config().remember_device_days * 24 * 60 * 60;
        devices::insert(conn, user.id, &new.hash, ctx.user_agent.as_deref(), now, expires).await?;
        Ok(new.raw)
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

    pub async fn devices(&self, user: &UserRow) -> Result<Vec<Device>> {
        let mut conn = self.store().conn().await?;
        Ok(devices::for_user(&mut conn, user.id, self.now()).await?)
    }

    pub async fn revoke_device(&self, user: &UserRow, id: i64, ctx: &RequestContext) -> Result<()> {
        let now = self.now();
        let mut tx = self.store().begin().await?;
        if !devices::delete(&mut tx, id, user.id).await? {
            return Err(Error::NotFound("No such remembered device."));
        }
        record(&mut tx, now, ctx, Parties::own(user), "device.revoked", json!({ "device_id": id })).await?;
        commit(tx).await?;
        Ok(())
    }

    /// Turns off your own 2FA after re-entering the password (SEC-24). The key and every
    /// remembered browser are deleted.
    pub async fn disable_own_two_factor(&self, user: &UserRow, password: &str, ctx: &RequestContext) -> Result<()> {
        let ok = self.password_matches(user, password).await?;
        if !ok {
            let mut conn = self.store().conn().await?;
            record(
                &mut conn,
                self.now(),
                ctx,
                Parties::own(user),
                "two_factor.disable_refused",
                json!({ "reason": "wrong_password" }),
            )
            .await?;
            return Err(Error::InvalidCredentials);
        }
        let now = self.now();
        let mut tx = self.store().begin().await?;
        let text = "two-factor authentication was turned off for your account. If this was not you, contact your administrator now.";
        if !self.tear_down_two_factor(&mut tx, user, text, now).await? {
            return Err(Error::conflict("not_enabled", "Two-factor authentication is already off."));
        }
        record(&mut tx, now, ctx, Parties::own(user), "two_factor.disabled", json!({ "by": "self" })).await?;
        commit(tx).await?;
        Ok(())
    }

    /// Removes the key, remembered browsers, failure count and verified number of `user`,
    /// telling the number first (SEC-28). Answers false when 2FA was not on.
    pub(crate) async fn tear_down_two_factor(
        &self,
        conn: &mut Conn,
        user: &UserRow,
        sms: &str,
        now: i64,
    ) -> Result<bool> {
        if !totp::delete(conn, user.id).await? {
            return Ok(false);
        }
        devices::delete_for_user(conn, user.id).await?;
        throttles::reset(conn, &throttle_subject(user.id)).await?;
        self.queue_notice(conn, user, sms, now).await?;
        phones::delete(conn, user.id).await?;
        // SMS recovery ends with the set-up it recovered (SEC-17).
        twofold_store::recovery::close(conn, user.id, "two_factor_disabled", now).await?;
        Ok(true)
    }

    /// The password again, for confirmations (SEC-24).
    pub(crate) async fn password_matches(&self, user: &UserRow, password: &str) -> Result<bool> {
        let stored = user.password_hash.as_deref();
        Ok(password.len() <= crate::sign_in::MAX_PASSWORD_BYTES && self.passwords().verify(password, stored).await?)
    }

    fn open_secret(&self, user_id: i64, sealed: &[u8]) -> Result<Secret> {
        let bytes = self.secrets().open(PURPOSE, user_id, sealed)?;
        Secret::from_slice(&bytes).map_err(|e| Error::Internal(format!("stored secret unusable: {e}")))
    }
}

async fn check_gate(conn: &mut Conn, subject: &str, now: i64) -> Result<()> {
    match ThrottlePolicy::SECOND_FACTOR.gate(throttles::get(conn, subject).await?, now) {
        Gate::Open => Ok(()),
        Gate::Wait { seconds } => Err(Error::Throttled { retry_after: seconds.max(1) }),
        Gate::Locked => Err(Error::SecondFactorLocked),
    }
}

/// The unfinished enrolment of this person; with 2FA on or none begun, a clear conflict.
async fn pending_row(conn: &mut Conn, user_id: i64) -> Result<totp::TotpRow> {
    match totp::get(conn, user_id).await? {
        Some(row) if row.is_enabled() => Err(already_enabled()),
        Some(row) => Ok(row),
        None => Err(Error::conflict("no_enrolment", "Start the set-up again: no key is waiting.")),
    }
}

/// What Step 4's code is bound to: this enrolment's sealed key, which every restart
/// replaces, so that a code sent during an abandoned attempt never completes a new one.
fn enrolment_ref(secret_box: &[u8]) -> String {
    let digest = sha2::Sha256::digest(secret_box);
    format!("enrolment:{}", data_encoding::HEXLOWER.encode(digest.get(..12).unwrap_or_default()))
}

fn just_locked(failures: Failures) -> bool {
    ThrottlePolicy::SECOND_FACTOR.lock_after == Some(failures.consecutive)
}

fn already_enabled() -> Error {
    Error::conflict(
        "already_enabled",
        "Two-factor authentication is already on. Turn it off first to use a new device.",
    )
}

fn to_i64(step: u64) -> i64 {
    i64::try_from(step).unwrap_or(i64::MAX)
}

/// The sentence for a rejected code, with the clock hint when there is one.
pub fn invalid_code_message(clock_offset_seconds: Option<i64>) -> String {
    match clock_offset_seconds {
        Some(offset) => format!(
            "That code is not valid now. Your phone's clock seems to be {}. Set it to update automatically, then try a new code.",
            describe_offset(offset)
        ),
        None => "That code is not valid. Enter the current 6-digit code from your authenticator app.".into(),
    }
}
