//! The person's side of recovery: SMS sign-in while support's grant is active, the
//! "Lost your device?" help, and recovery requests (SEC-17).

use serde_json::json;
use twofold_domain::phone::{Phone, mask};
use twofold_domain::recovery::grant_is_active;
use twofold_domain::session::Stage;
use twofold_domain::sms::Purpose;
use twofold_domain::throttle::{Gate, ThrottlePolicy};
use twofold_domain::{Role, phone};
use twofold_store::recovery::{self, GrantRow, RequestRow};
use twofold_store::users::{self, UserRow};
use twofold_store::{commit, phones, sessions, throttles};

use crate::audit::{Parties, record};
use crate::sign_in::{CurrentSession, NewSessionToken};
use crate::sms::SentCode;
use crate::{App, Error, RequestContext, Result};

/// What the "Lost your device?" page tells a person half signed in.
#[derive(Debug, Clone)]
pub struct LostDevice {
    pub role: Role,
    /// The account's Owner and Administrators (other than the person): who can help.
    pub helpers: Vec<(String, Role)>,
    pub request: Option<RequestRow>,
    pub sms_recovery_active: bool,
}

fn sms_subject(user_id: i64) -> String {
    format!("sms-sign-in:{user_id}")
}

fn not_enabled() -> Error {
    Error::Refused {
        code: "sms_recovery_not_enabled",
        message: "SMS sign-in is not enabled for you. Use your authenticator app, or see \"Lost your device?\".".into(),
    }
}

impl App {
    /// The person's grant if it works now, and their verified number: both are needed.
    pub async fn active_grant(&self, user_id: i64) -> Result<Option<(GrantRow, Phone)>> {
        let mut conn = self.store().conn().await?;
        let Some(grant) = recovery::open_grant(&mut conn, user_id).await? else { return Ok(None) };
        if !grant_is_active(grant.expires_at, grant.closed_at, self.now()) {
            return Ok(None);
        }
        let phone = phones::get(&mut conn, user_id).await?;
        Ok(phone.map(|p| (grant, Phone::from_stored(p.e164))))
    }

    /// The second-factor methods offered to this person now.
    pub async fn second_factor_methods(&self, user_id: i64) -> Result<Vec<&'static str>> {
        let mut methods = vec!["totp"];
        if self.active_grant(user_id).await?.is_some() {
            methods.push("sms");
        }
        Ok(methods)
    }

    /// Sends (or resends) a sign-in code by SMS, bound to this half-finished sign-in.
    pub async fn send_sign_in_sms(&self, pending: &CurrentSession, ctx: &RequestContext) -> Result<SentCode> {
        let user = &pending.user;
        let Some((_, phone)) = self.active_grant(user.id).await? else {
            let mut conn = self.store().conn().await?;
            record(
                &mut conn,
                self.now(),
                ctx,
                Parties::own(user),
                "sign_in.sms_refused",
                json!({ "reason": "no_grant" }),
            )
            .await?;
            return Err(not_enabled());
        };
        self.send_code(user, Purpose::SignIn, &pending.session.id_hash, &phone, ctx).await
    }

    /// The SMS code signs the person in; the session is marked so that the next page asks
    /// them to set 2FA up again with their new device.
    pub async fn verify_sign_in_sms(
        &self,
        pending: &CurrentSession,
        code: &str,
        ctx: &RequestContext,
    ) -> Result<NewSessionToken> {
        let user = &pending.user;
        if self.active_grant(user.id).await?.is_none() {
            return Err(not_enabled());
        }
        let now = self.now();
        let subject = sms_subject(user.id);
        let mut conn = self.store().conn().await?;
        match ThrottlePolicy::SECOND_FACTOR.gate(throttles::get(&mut conn, &subject).await?, now) {
            Gate::Open => {}
            Gate::Wait { seconds } => return Err(Error::Throttled { retry_after: seconds.max(1) }),
            Gate::Locked => return Err(Error::SecondFactorLocked),
        }
        drop(conn);
        if let Err(e) = self.check_code(user, Purpose::SignIn, &pending.session.id_hash, code).await {
            if matches!(e, Error::InvalidCode { .. }) {
                let mut tx = self.store().begin().await?;
                let failures = throttles::record_failure(&mut tx, &subject, now).await?;
                let detail = json!({ "method": "sms", "consecutive_failures": failures.consecutive });
                record(&mut tx, now, ctx, Parties::own(user), "sign_in.sms_rejected", detail).await?;
                commit(tx).await?;
            }
            return Err(e);
        }
        let mut tx = self.store().begin().await?;
        if !sessions::delete(&mut tx, &pending.session.id_hash).await? {
            return Err(Error::Unauthenticated);
        }
        throttles::reset(&mut tx, &subject).await?;
        let session = self.open_session(&mut tx, user, Stage::SignedIn, false, ctx, now).await?;
        sessions::set_method(&mut tx, &twofold_domain::token::hash(&session.token), "sms_recovery").await?;
        users::record_sign_in(&mut tx, user.id, now).await?;
        record(&mut tx, now, ctx, Parties::own(user), "sign_in.succeeded", json!({ "method": "sms_recovery" })).await?;
        commit(tx).await?;
        Ok(session)
    }

    /// What a person half signed in can do about a lost device.
    pub async fn lost_device(&self, pending: &CurrentSession) -> Result<LostDevice> {
        let user = &pending.user;
        let mut conn = self.store().conn().await?;
        let helpers = users::in_account(&mut conn, user.account_id)
            .await?
            .into_iter()
            .filter(|p| p.id != user.id && p.role.is_manager() && p.password_hash.is_some())
            .map(|p| (p.name, p.role))
            .collect();
        let request = recovery::latest_request(&mut conn, user.id).await?;
        drop(conn);
        Ok(LostDevice {
            role: user.role,
            helpers,
            request,
            sms_recovery_active: self.active_grant(user.id).await?.is_some(),
        })
    }

    /// Files a request to support for SMS recovery. One undecided request at a time.
    pub async fn request_recovery(
        &self,
        pending: &CurrentSession,
        message: &str,
        contact: &str,
        ctx: &RequestContext,
    ) -> Result<RequestRow> {
        let user = &pending.user;
        let message = message.trim();
        if message.is_empty() || message.chars().count() > 2000 {
            return Err(Error::invalid("invalid_message", "Describe what happened in up to 2,000 characters."));
        }
        let contact = phone::Phone::parse(contact).map_err(|e| Error::invalid("invalid_phone", e))?;
        let now = self.now();
        let mut tx = self.store().begin().await?;
        if let Some(open) = recovery::latest_request(&mut tx, user.id).await?
            && matches!(open.status.as_str(), "open" | "taken")
        {
            return Err(Error::conflict("request_pending", "Your earlier request is still with support."));
        }
        let id = recovery::add_request(&mut tx, user.id, message, contact.e164(), now).await?;
        record(&mut tx, now, ctx, Parties::own(user), "recovery.requested", json!({ "request_id": id })).await?;
        let row = recovery::request_by_id(&mut tx, id).await?.ok_or(Error::NotFound("No such request."))?;
        commit(tx).await?;
        Ok(row)
    }

    /// Undecided recovery requests about the actor's people (Owner and Administrators).
    pub async fn recovery_requests_in_account(&self, actor: &UserRow) -> Result<Vec<(RequestRow, String)>> {
        twofold_domain::permissions::may_list_people(&actor.person())?;
        let mut conn = self.store().conn().await?;
        let rows = recovery::undecided_in_account(&mut conn, actor.account_id).await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let name = users::by_id(&mut conn, row.user_id).await?.map(|u| u.name).unwrap_or_default();
            out.push((row, name));
        }
        Ok(out)
    }
}

/// The contact number of a request, masked for Owners and Administrators.
pub fn masked_contact(row: &RequestRow) -> String {
    mask(&row.contact)
}
