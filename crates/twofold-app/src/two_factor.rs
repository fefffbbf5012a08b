//! The authenticator-app factor of people: enrolment (the wizard), the sign-in step, the
//! remembered browsers it leads to, and turning it off.

use serde_json::json;
use sha2::Digest;
use twofold_domain::factors::SecondFactors;
use twofold_domain::oidc::SignInMethod;
use twofold_domain::otp::{Secret, Verification, describe_offset};
use twofold_domain::person::Person;
use twofold_domain::sms::Purpose;
use twofold_domain::throttle::ThrottleKey;
use twofold_store::oidc::grants as oidc_grants;
use twofold_store::{
    Conn, Realm, commit, devices, factors, phones, recovery_codes, security_keys, sessions, throttles, totp,
};

use crate::attempt::{Guard, Rejection, Verdict};
use crate::audit::Parties;
use crate::credentials::step_i64;
use crate::proof::ProofFor;
use crate::sign_in::{CurrentSession, NewSessionToken, PendingSignIn, SecondStep};
use crate::sms::{Delivery, SentCode};
use crate::{App, Error, RequestContext, Result};

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
    /// Every factor: the app (`factors.totp`, what the wizard shows), security keys,
    /// recovery codes left.
    pub factors: SecondFactors,
    /// Some second factor of theirs is locked after 100 wrong codes.
    pub locked: bool,
}

impl TwoFactorStatus {
    /// When 2FA went on, by the app or a security key.
    pub fn enabled_at(&self) -> Option<i64> {
        self.factors.enabled_since()
    }
}

/// A remembered browser ("Remember for 30 days") as the device list shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    pub id: i64,
    pub user_agent: Option<String>,
    pub created_at: i64,
    pub last_used_at: i64,
    pub expires_at: i64,
}

impl From<devices::DeviceRow> for Device {
    fn from(d: devices::DeviceRow) -> Self {
        Device {
            id: d.id,
            user_agent: d.user_agent,
            created_at: d.created_at,
            last_used_at: d.last_used_at,
            expires_at: d.expires_at,
        }
    }
}

impl App {
    pub async fn two_factor_status(&self, user_id: i64) -> Result<TwoFactorStatus> {
        let mut conn = self.store().conn().await?;
        let factors = factors::of_person(&mut conn, user_id).await?;
        let locked = self.any_locked(&mut conn, &ThrottleKey::second_factors_of_person(user_id)).await?;
        Ok(TwoFactorStatus { factors, locked })
    }

    /// Issues a new secret (160 bits from the CSPRNG, SEC-02) for the wizard. Starting again
    /// replaces an unfinished enrolment's key; with 2FA already on it is refused.
    pub async fn start_enrolment(&self, user: &Person, ctx: &RequestContext) -> Result<Enrolment> {
        let secret = Secret::generate(self.entropy());
        let sealed = self.seal_totp_secret(Realm::People, user.id, &secret)?;
        let now = self.now();
        let mut tx = self.store().begin().await?;
        if !totp::begin_enrolment(&mut tx, Realm::People, user.id, &sealed, now).await? {
            return Err(already_enabled());
        }
        self.record(&mut tx, now, ctx, Parties::own(user), "two_factor.enrolment_started", json!({})).await?;
        commit(tx).await?;
        self.enrolment_view(&self.config().issuer, &user.email, &secret)
    }

    /// The unfinished enrolment's key, to show Step 2 again; never once 2FA is on (SEC-04).
    pub async fn pending_enrolment(&self, user: &Person) -> Result<Option<Enrolment>> {
        let mut conn = self.store().conn().await?;
        let Some(row) = totp::get(&mut conn, Realm::People, user.id).await? else {
            return Ok(None);
        };
        if row.is_enabled() {
            return Ok(None);
        }
        let secret = self.open_totp_secret(Realm::People, user.id, &row.secret_box)?;
        Ok(Some(self.enrolment_view(&self.config().issuer, &user.email, &secret)?))
    }

    /// Step 3: the code from the app proves the key was stored. 2FA turns on only after
    /// Step 4 (the phone) succeeds.
    pub async fn confirm_enrolment(&self, user: &Person, code: &str, ctx: &RequestContext) -> Result<()> {
        let code = self.typed_code(code)?;
        self.attempt(Guard::totp_enrolment(user), ctx, |armed| async {
            let now = self.now();
            let mut conn = self.store().conn().await?;
            let row = pending_row(&mut conn, user.id).await?;
            drop(conn);
            let step = match self.check_totp(Realm::People, &row, &code, now)? {
                Verification::Accepted { step } => step,
                other => return Ok(Verdict::Rejected(Rejection::of_totp(other))),
            };
            let mut tx = self.store().begin().await?;
            if !totp::confirm(&mut tx, Realm::People, user.id, &row.secret_box, step_i64(step), now).await? {
                return Err(Error::conflict(
                    "enrolment_changed",
                    "The set-up was restarted elsewhere; use the newest key.",
                ));
            }
            armed.succeeded(&mut tx).await?;
            self.record(&mut tx, now, ctx, Parties::own(user), "two_factor.app_confirmed", json!({})).await?;
            commit(tx).await?;
            Ok(Verdict::Accepted(()))
        })
        .await
    }

    /// Step 4: sends a code to the mobile number typed (again, on Resend).
    pub async fn send_enrolment_phone_code(
        &self,
        user: &Person,
        phone: &str,
        ctx: &RequestContext,
    ) -> Result<SentCode> {
        let phone = crate::sms::parse_phone(phone)?;
        let mut conn = self.store().conn().await?;
        let row = pending_row(&mut conn, user.id).await?;
        drop(conn);
        if !row.state().awaits_phone() {
            return Err(Error::conflict(
                "app_not_confirmed",
                "Enter a code from your authenticator app first (Step 3).",
            ));
        }
        self.send_code(user, Purpose::PhoneVerification, &enrolment_ref(&row.secret_box), &phone, ctx).await
    }

    /// Step 4's Resend: a fresh code to the number the last one went to.
    pub async fn resend_enrolment_phone_code(&self, user: &Person, ctx: &RequestContext) -> Result<SentCode> {
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
    /// earlier enrolment end (SEC-23). When this is the person's first factor, answers their
    /// new recovery codes (SEC-35), shown once on the wizard's last screen. The session that
    /// finished the wizard has proven the app and the phone: an application that requires
    /// two-factor accepts it from here on (its `amr` says `otp`), not before 2FA is on.
    pub async fn verify_enrolment_phone(
        &self,
        current: &CurrentSession,
        code: &str,
        ctx: &RequestContext,
    ) -> Result<Option<Vec<String>>> {
        let user = &current.user;
        let mut conn = self.store().conn().await?;
        let row = pending_row(&mut conn, user.id).await?;
        let has_key = factors::of_person(&mut conn, user.id).await?.security_keys > 0;
        drop(conn);
        // Beside a security key, the app is a second factor added to an account that has
        // one: a session that did not pass it may not add another, nor count as two-factor
        // for having done so (SEC-46).
        if has_key && !current.strength.is_two_factor() {
            return Err(Error::Refused {
                code: "two_factor_required",
                message: "Sign in again with your security key to add an authenticator app.".into(),
            });
        }
        let reference = enrolment_ref(&row.secret_box);
        let code = crate::sms::typed_sms_code(code)?;
        self.attempt(Guard::phone_verification(user), ctx, |armed| async {
            let Some(phone) = self.check_code(user, Purpose::PhoneVerification, &reference, &code).await? else {
                return Ok(Verdict::Rejected(Rejection::WRONG_CODE));
            };
            let now = self.now();
            let mut tx = self.store().begin().await?;
            if !totp::enable(&mut tx, Realm::People, user.id, now).await? {
                return Err(Error::conflict("enrolment_changed", "The set-up was restarted elsewhere; start again."));
            }
            // The counter before the audit head: every transaction takes the two in this order.
            armed.succeeded(&mut tx).await?;
            // A security key may have turned 2FA on before: then its codes stay.
            let first_factor = factors::of_person(&mut tx, user.id).await?.security_keys == 0;
            let codes =
                if first_factor { Some(self.issue_recovery_codes(&mut tx, user, ctx, now).await?) } else { None };
            let enrolled = SignInMethod::Enrolled.as_str();
            sessions::set_method(&mut tx, Realm::People, &current.session.id_hash, enrolled).await?;
            phones::set_verified(&mut tx, user.id, phone.e164(), now).await?;
            let text = "two-factor authentication was turned on for your account, with an authenticator app and this number for recovery.";
            self.queue_notice(&mut tx, user, "Two-factor authentication turned on", text, now).await?;
            devices::delete_for_user(&mut tx, user.id).await?;
            twofold_store::recovery::close(&mut tx, user.id, "re_enrolled", now).await?;
            let detail = json!({ "method": "totp", "phone": phone.masked() });
            // "Enabled" only when 2FA turns on: the Overview's adoption trend counts these.
            let event = if first_factor { "two_factor.enabled" } else { "authenticator_app.added" };
            self.record(&mut tx, now, ctx, Parties::own(user), event, detail).await?;
            commit(tx).await?;
            Ok(Verdict::Accepted(codes))
        })
        .await
    }

    /// Where the Step 4 code's SMS stands, for the page.
    pub async fn enrolment_phone_delivery(&self, user: &Person) -> Result<Option<Delivery>> {
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
        pending: &PendingSignIn,
        code: &str,
        ctx: &RequestContext,
    ) -> Result<NewSessionToken> {
        let user = &pending.user;
        let code = self.typed_code(code)?;
        self.attempt_totp(Guard::totp_sign_in(user), ctx, (Realm::People, user.id), &code, |armed, found| async move {
            let (row, matched) = found.filter(|(row, _)| row.is_enabled()).ok_or(Error::Unauthenticated)?;
            let step = match matched {
                Ok(step) => step,
                Err(why) => return Ok(Verdict::Rejected(why)),
            };
            // The conditional update is the first statement of the transaction, so SQLite
            // takes the write lock at once and PostgreSQL row-locks: the loser of a race
            // sees `false`, and its try counts as a replay (SEC-08).
            let mut tx = self.store().begin().await?;
            if !totp::accept_step(&mut tx, Realm::People, user.id, step).await? {
                return Ok(Verdict::Rejected(Rejection::REPLAY));
            }
            armed.succeeded(&mut tx).await?;
            let done = self.complete_sign_in(&mut tx, pending, SecondStep::Totp, row.enabled_at, ctx).await?;
            commit(tx).await?;
            Ok(Verdict::Accepted(done))
        })
        .await
    }

    pub async fn devices(&self, user: &Person) -> Result<Vec<Device>> {
        let mut conn = self.store().conn().await?;
        Ok(devices::for_user(&mut conn, user.id, self.now()).await?.into_iter().map(Device::from).collect())
    }

    pub async fn revoke_device(&self, user: &Person, id: i64, ctx: &RequestContext) -> Result<()> {
        let now = self.now();
        let mut tx = self.store().begin().await?;
        if !devices::delete(&mut tx, id, user.id).await? {
            return Err(Error::NotFound("No such remembered device."));
        }
        self.record(&mut tx, now, ctx, Parties::own(user), "device.revoked", json!({ "device_id": id })).await?;
        commit(tx).await?;
        Ok(())
    }

    /// Turns off your own 2FA after re-entering the password (SEC-24). The key and every
    /// remembered browser are deleted.
    pub async fn disable_own_two_factor(&self, user: &Person, password: &str, ctx: &RequestContext) -> Result<()> {
        self.prove_password(user, password, ProofFor::own("two_factor.disable_refused"), ctx).await?;
        let now = self.now();
        let mut tx = self.store().begin().await?;
        let text = "two-factor authentication was turned off for your account. If this was not you, contact your administrator now.";
        if !self.tear_down_two_factor(&mut tx, user, text, now).await? {
            return Err(Error::conflict("not_enabled", "Two-factor authentication is already off."));
        }
        self.record(&mut tx, now, ctx, Parties::own(user), "two_factor.disabled", json!({ "by": "self" })).await?;
        commit(tx).await?;
        Ok(())
    }

    /// Removes the app's key, security keys, recovery codes, remembered browsers, every
    /// failure count and the verified number of `user`, telling the number first (SEC-28).
    /// Answers false when 2FA was not on.
    pub(crate) async fn tear_down_two_factor(
        &self,
        conn: &mut Conn,
        user: &Person,
        sms: &str,
        now: i64,
    ) -> Result<bool> {
        let was_on = factors::of_person(conn, user.id).await?.is_on();
        totp::delete(conn, Realm::People, user.id).await?;
        security_keys::delete_for_user(conn, user.id).await?;
        recovery_codes::delete_for_user(conn, user.id).await?;
        if !was_on {
            return Ok(false);
        }
        devices::delete_for_user(conn, user.id).await?;
        // Sessions that passed the factor keep no credit for it: a factor added later must
        // be passed again before a session counts as two-factor (SEC-46).
        sessions::forget_methods(conn, Realm::People, user.id).await?;
        // Applications signed in through the factor lose their tokens with it (SEC-42).
        oidc_grants::revoke_for_user(conn, user.id, now, "two_factor_off").await?;
        throttles::reset_all(conn, &ThrottleKey::second_factors_of_person(user.id)).await?;
        self.queue_notice(conn, user, "Two-factor authentication turned off", sms, now).await?;
        phones::delete(conn, user.id).await?;
        // SMS recovery ends with the set-up it recovered (SEC-17).
        twofold_store::recovery::close(conn, user.id, "two_factor_disabled", now).await?;
        Ok(true)
    }
}

/// The unfinished enrolment of this person; with 2FA on or none begun, a clear conflict.
async fn pending_row(conn: &mut Conn, user_id: i64) -> Result<totp::TotpRow> {
    match totp::get(conn, Realm::People, user_id).await? {
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

fn already_enabled() -> Error {
    Error::conflict(
        "already_enabled",
        "Two-factor authentication is already on. Turn it off first to use a new device.",
    )
}

/// The sentence for a rejected code: already used (say to wait for the next), or with the
/// clock hint when there is one.
pub fn invalid_code_message(clock_offset_seconds: Option<i64>, already_used: bool) -> String {
    match clock_offset_seconds {
        // A right code a second time: most often the one just entered in the wizard.
        _ if already_used => "That code was already used. Wait for the next code from your authenticator app (a new one appears every 30 seconds) and enter it.".into(),
        Some(offset) => format!(
            "That code is not valid now. Your phone's clock seems to be {}. Set it to update automatically, then try a new code.",
            describe_offset(offset)
        ),
        None => "That code is not valid. Enter the current 6-digit code from your authenticator app.".into(),
    }
}
