//! SMS codes and notices: issuing a code (through the outbox, within send limits),
//! and checking it.

use serde_json::json;
use twofold_domain::person::Person;
use twofold_domain::phone::{Phone, mask};
use twofold_domain::sms::{self, Purpose};
use twofold_store::challenges::{self, NewChallenge};
use twofold_store::outbox::NewMessage;
use twofold_store::rate_limits::{self, Spend};
use twofold_store::{commit, outbox, phones};

use crate::audit::Parties;
use crate::{App, Error, RequestContext, Result};

/// What the AEAD of an outbox body is bound to.
pub(crate) const BODY_PURPOSE: &str = "sms_body";

/// A code just sent: what the page and the API tell the person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentCode {
    pub sent_to: String,
    pub sent_at: i64,
    pub resend_after_seconds: i64,
}

/// Where a code's message stands, in words a person understands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub sent_to: String,
    pub requested_at: i64,
    /// `pending` (waiting for the provider), `sent` (handed over), `failed`.
    pub status: String,
    pub provider_status: Option<String>,
}

impl App {
    /// Sends a fresh code for `purpose` bound to `request_ref`, voiding any earlier one for
    /// the same request (SEC-14). Refused with the wait when the person or the number is
    /// over its limits; then nothing is sent (SEC-15).
    pub(crate) async fn send_code(
        &self,
        user: &Person,
        purpose: Purpose,
        request_ref: &str,
        phone: &Phone,
        ctx: &RequestContext,
    ) -> Result<SentCode> {
        let policy = self.config().sms;
        let now = self.now();
        let code = sms::generate_code(self.entropy());
        let body = sms::code_message(&self.config().issuer, &code, policy.code_lifetime);
        let sealed = self.secrets().seal(BODY_PURPOSE, user.id, body.as_bytes())?;
        let code_mac = self.secrets().mac(&mac_label(user.id, purpose, request_ref), code.as_bytes());
        let mut tx = self.store().begin().await?;
        for subject in [format!("sms:user:{}", user.id), format!("sms:phone:{}", phone.e164())] {
            if let Spend::Wait(seconds) =
                rate_limits::spend(&mut tx, &subject, now, policy.cooldown, policy.per_hour, 3600).await?
            {
                drop(tx);
                self.record_refused_send(user, purpose, seconds, ctx).await?;
                return Err(Error::Throttled { retry_after: seconds });
            }
        }
        let message = sms_message(user.id, phone.e164(), "code", &sealed);
        let outbox_id = outbox::enqueue(&mut tx, &message, now).await?;
        let new = NewChallenge {
            user_id: user.id,
            purpose: purpose.as_str(),
            request_ref,
            e164: phone.e164(),
            code_mac: &code_mac,
            outbox_id,
            now,
            expires_at: now + policy.code_lifetime,
        };
        challenges::replace(&mut tx, &new).await?;
        let detail = json!({ "purpose": purpose.as_str(), "to": phone.masked(), "outbox_id": outbox_id });
        self.record(&mut tx, now, ctx, Parties::own(user), "sms.code_sent", detail).await?;
        commit(tx).await?;
        Ok(SentCode { sent_to: phone.masked(), sent_at: now, resend_after_seconds: policy.cooldown })
    }

    async fn record_refused_send(
        &self,
        user: &Person,
        purpose: Purpose,
        wait: i64,
        ctx: &RequestContext,
    ) -> Result<()> {
        let mut conn = self.store().conn().await?;
        let detail = json!({ "purpose": purpose.as_str(), "retry_after_seconds": wait });
        self.record(&mut conn, self.now(), ctx, Parties::own(user), "sms.send_refused", detail).await
    }

    /// Checks a code for `purpose` and `request_ref`; on success it is used up and the
    /// number it was sent to is answered. Codes of another purpose or request, resent,
    /// expired or used codes all fail alike (SEC-12 to SEC-14): `None`, for the attempt
    /// pipeline to count.
    pub(crate) async fn check_code(
        &self,
        user: &Person,
        purpose: Purpose,
        request_ref: &str,
        code: &str,
    ) -> Result<Option<Phone>> {
        let code =
            twofold_domain::otp::normalize_code(code, 6).map_err(|e| Error::invalid("invalid_code_format", e))?;
        let now = self.now();
        let mut conn = self.store().conn().await?;
        let Some(challenge) = challenges::open(&mut conn, user.id, purpose.as_str(), request_ref, now).await? else {
            return Ok(None);
        };
        let label = mac_label(user.id, purpose, request_ref);
        if !self.secrets().verify_mac(&label, code.as_bytes(), &challenge.code_mac) {
            challenges::count_attempt(&mut conn, challenge.id, self.config().sms.attempts_per_code, now).await?;
            return Ok(None);
        }
        if !challenges::close_used(&mut conn, challenge.id, now).await? {
            return Ok(None);
        }
        Ok(Some(Phone::from_stored(challenge.e164)))
    }

    /// Where the latest sign-in SMS code of this half-finished sign-in stands; refused
    /// unless support's SMS recovery works for the person now.
    pub async fn sign_in_sms_delivery(&self, pending: &crate::sign_in::PendingSignIn) -> Result<Option<Delivery>> {
        self.require_sms_recovery(pending.user.id).await?;
        self.delivery(pending.user.id, Purpose::SignIn, &pending.session.id_hash).await
    }

    /// Where the latest code for this request stands.
    pub(crate) async fn delivery(&self, user_id: i64, purpose: Purpose, request_ref: &str) -> Result<Option<Delivery>> {
        let mut conn = self.store().conn().await?;
        let Some(challenge) = challenges::latest(&mut conn, user_id, purpose.as_str(), request_ref).await? else {
            return Ok(None);
        };
        let message = match challenge.outbox_id {
            Some(id) => outbox::get(&mut conn, id).await?,
            None => None,
        };
        Ok(Some(Delivery {
            sent_to: mask(&challenge.e164),
            requested_at: challenge.created_at,
            status: message.as_ref().map_or_else(
                || "pending".into(),
                |m| {
                    if m.status == "sending" { "pending".into() } else { m.status.clone() }
                },
            ),
            provider_status: message.and_then(|m| m.provider_status),
        }))
    }

    /// The person's verified number, masked.
    pub async fn masked_phone(&self, user_id: i64) -> Result<Option<String>> {
        let mut conn = self.store().conn().await?;
        Ok(phones::get(&mut conn, user_id).await?.map(|p| mask(&p.e164)))
    }
}

/// An SMS for the outbox.
pub(crate) fn sms_message<'a>(user_id: i64, e164: &'a str, kind: &'a str, sealed: &'a [u8]) -> NewMessage<'a> {
    NewMessage { user_id: Some(user_id), channel: "sms", recipient: e164, kind, body_box: sealed }
}

/// What a code's MAC is bound to: the person, the purpose and the request (SEC-13).
fn mac_label(user_id: i64, purpose: Purpose, request_ref: &str) -> String {
    format!("sms-code:{user_id}:{}:{request_ref}", purpose.as_str())
}

/// Normalises a typed SMS code, or answers the format error (not counted as a guess).
pub(crate) fn typed_sms_code(code: &str) -> Result<String> {
    twofold_domain::otp::normalize_code(code, 6).map_err(|e| Error::invalid("invalid_code_format", e))
}

/// Parses a number typed by a person into the answer the API and pages give (422).
pub fn parse_phone(input: &str) -> Result<Phone> {
    Phone::parse(input).map_err(|e| Error::invalid("invalid_phone", e))
}
