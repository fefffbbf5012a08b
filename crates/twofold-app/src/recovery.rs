//! The person's side of recovery: SMS sign-in while support's grant is active, the
//! "Lost your device?" help, and recovery requests (SEC-17).

use serde_json::json;
use twofold_domain::factors::{Method, SecondFactors};
use twofold_domain::person::Person;
use twofold_domain::phone::{Phone, mask};
use twofold_domain::recovery::grant_is_active;
use twofold_domain::sms::Purpose;
use twofold_domain::{Role, phone};
use twofold_store::recovery::{self, GrantRow, RequestRow};
use twofold_store::{Conn, commit, factors, phones, users};

use crate::attempt::{Guard, Rejection, Verdict};
use crate::audit::Parties;
use crate::sign_in::{NewSessionToken, PendingSignIn, SecondStep};
use crate::sms::SentCode;
use crate::{App, Error, RequestContext, Result};

/// What the "Lost your device?" page tells a person half signed in.
#[derive(Debug, Clone)]
pub struct LostDevice {
    pub role: Role,
    /// The account's Owner and Administrators (other than the person): who can help.
    pub helpers: Vec<(String, Role)>,
    pub request: Option<RecoveryRequest>,
    pub sms_recovery_active: bool,
}

/// A request to support for SMS recovery, as the app shows it: support sees the contact
/// number whole; the person and their account's managers see it masked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveryRequest {
    pub id: i64,
    pub user_id: i64,
    pub message: String,
    pub contact: String,
    /// `open`, `taken`, `granted` or `declined`.
    pub status: String,
    /// The operator who took it.
    pub operator_id: Option<i64>,
    pub created_at: i64,
    pub decided_at: Option<i64>,
}

impl RecoveryRequest {
    /// For support, who call the number back.
    pub(crate) fn whole(row: RequestRow) -> Self {
        RecoveryRequest {
            id: row.id,
            user_id: row.user_id,
            message: row.message,
            contact: row.contact,
            status: row.status,
            operator_id: row.operator_id,
            created_at: row.created_at,
            decided_at: row.decided_at,
        }
    }

    /// For the person and their account's Owner and Administrators.
    pub(crate) fn masked(row: RequestRow) -> Self {
        let contact = mask(&row.contact);
        RecoveryRequest { contact, ..Self::whole(row) }
    }
}

/// Support's SMS recovery for a person, as support's card shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsGrant {
    pub id: i64,
    pub reason: String,
    pub created_at: i64,
    pub expires_at: i64,
}

impl From<GrantRow> for SmsGrant {
    fn from(g: GrantRow) -> Self {
        SmsGrant { id: g.id, reason: g.reason, created_at: g.created_at, expires_at: g.expires_at }
    }
}

fn not_enabled() -> Error {
    Error::Refused {
        code: "sms_recovery_not_enabled",
        message: "SMS sign-in is not enabled for you. Use your authenticator app, or see \"Lost your device?\".".into(),
    }
}

impl App {
    /// The person's grant if it works now, and their verified number: both are needed.
    async fn active_grant(&self, user_id: i64) -> Result<Option<(GrantRow, Phone)>> {
        let mut conn = self.store().conn().await?;
        self.active_grant_on(&mut conn, user_id).await
    }

    /// Whether support's SMS recovery works for the person now (a grant and a number).
    pub async fn sms_recovery_active(&self, user_id: i64) -> Result<bool> {
        Ok(self.active_grant(user_id).await?.is_some())
    }

    /// Refuses unless support's SMS recovery works for the person now.
    pub(crate) async fn require_sms_recovery(&self, user_id: i64) -> Result<()> {
        if self.sms_recovery_active(user_id).await? { Ok(()) } else { Err(not_enabled()) }
    }

    pub(crate) async fn active_grant_on(&self, conn: &mut Conn, user_id: i64) -> Result<Option<(GrantRow, Phone)>> {
        let Some(grant) = recovery::open_grant(conn, user_id).await? else { return Ok(None) };
        if !grant_is_active(grant.expires_at, grant.closed_at, self.now()) {
            return Ok(None);
        }
        let phone = phones::get(conn, user_id).await?;
        Ok(phone.map(|p| (grant, Phone::from_stored(p.e164))))
    }

    /// The second-factor methods offered to this person now (`webauthn`, `totp`,
    /// `recovery_code`, `sms`), for the code page.
    pub async fn second_factor_methods(&self, user_id: i64) -> Result<Vec<&'static str>> {
        let mut conn = self.store().conn().await?;
        self.second_factor_methods_on(&mut conn, user_id).await
    }

    pub(crate) async fn second_factor_methods_on(&self, conn: &mut Conn, user_id: i64) -> Result<Vec<&'static str>> {
        let factors = factors::of_person(conn, user_id).await?;
        self.methods_of(conn, user_id, &factors).await
    }

    /// The methods of factors already read: only support's grant is looked up.
    pub(crate) async fn methods_of(
        &self,
        conn: &mut Conn,
        user_id: i64,
        factors: &SecondFactors,
    ) -> Result<Vec<&'static str>> {
        let grant = self.active_grant_on(conn, user_id).await?.is_some();
        Ok(factors.methods(grant).into_iter().map(Method::as_str).collect())
    }

    /// Sends (or resends) a sign-in code by SMS, bound to this half-finished sign-in.
    pub async fn send_sign_in_sms(&self, pending: &PendingSignIn, ctx: &RequestContext) -> Result<SentCode> {
        let user = &pending.user;
        let Some((_, phone)) = self.active_grant(user.id).await? else {
            let mut conn = self.store().conn().await?;
            let detail = json!({ "reason": "no_grant" });
            self.record(&mut conn, self.now(), ctx, Parties::own(user), "sign_in.sms_refused", detail).await?;
            return Err(not_enabled());
        };
        self.send_code(user, Purpose::SignIn, &pending.session.id_hash, &phone, ctx).await
    }

    /// The SMS code signs the person in; the session is marked so that the next page asks
    /// them to set 2FA up again with their new device.
    pub async fn verify_sign_in_sms(
        &self,
        pending: &PendingSignIn,
        code: &str,
        ctx: &RequestContext,
    ) -> Result<NewSessionToken> {
        let user = &pending.user;
        self.require_sms_recovery(user.id).await?;
        let code = crate::sms::typed_sms_code(code)?;
        self.attempt(Guard::sms_sign_in(user), ctx, |armed| async {
            if self.check_code(user, Purpose::SignIn, &pending.session.id_hash, &code).await?.is_none() {
                return Ok(Verdict::Rejected(Rejection::WRONG_CODE));
            }
            let mut tx = self.store().begin().await?;
            armed.succeeded(&mut tx).await?;
            // A rare path: the read stays in the transaction rather than costing a connection.
            let since = factors::of_person(&mut tx, user.id).await?.enabled_since();
            let done = self.complete_sign_in(&mut tx, pending, SecondStep::SmsRecovery, since, ctx).await?;
            commit(tx).await?;
            Ok(Verdict::Accepted(done))
        })
        .await
    }

    /// What a person half signed in can do about a lost device.
    pub async fn lost_device(&self, pending: &PendingSignIn) -> Result<LostDevice> {
        let user = &pending.user;
        let mut conn = self.store().conn().await?;
        let helpers = users::in_account(&mut conn, user.account_id)
            .await?
            .into_iter()
            .map(twofold_store::users::UserRow::into_person)
            .filter(|p| p.id != user.id && p.role.is_manager() && p.is_active())
            .map(|p| (p.name, p.role))
            .collect();
        let request = recovery::latest_request(&mut conn, user.id).await?.map(RecoveryRequest::masked);
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
        pending: &PendingSignIn,
        message: &str,
        contact: &str,
        ctx: &RequestContext,
    ) -> Result<RecoveryRequest> {
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
        self.record(&mut tx, now, ctx, Parties::own(user), "recovery.requested", json!({ "request_id": id })).await?;
        let row = recovery::request_by_id(&mut tx, id).await?.ok_or(Error::NotFound("No such request."))?;
        commit(tx).await?;
        Ok(RecoveryRequest::masked(row))
    }

    /// Undecided recovery requests about the actor's people (Owner and Administrators).
    pub async fn recovery_requests_in_account(
        &self,
        actor: &Person,
        ctx: &RequestContext,
    ) -> Result<Vec<(RecoveryRequest, String)>> {
        self.allow(actor, crate::access::ListPeople, ctx).await?;
        let mut conn = self.store().conn().await?;
        let rows = recovery::undecided_in_account(&mut conn, actor.account_id).await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let name = users::by_id(&mut conn, row.user_id).await?.map(|u| u.name).unwrap_or_default();
            out.push((RecoveryRequest::masked(row), name));
        }
        Ok(out)
    }
}
