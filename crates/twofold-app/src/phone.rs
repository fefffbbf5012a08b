//! Changing the verified mobile number from the profile (SEC-16): the password again, a
//! code to the new number, and a notice to the old one.

use serde_json::json;
use twofold_domain::sms::Purpose;
use twofold_store::{commit, phones};

use crate::attempt::{Guard, Rejection, Verdict};
use crate::audit::Parties;
use crate::proof::ProofFor;
use crate::sign_in::CurrentSession;
use crate::sms::{Delivery, SentCode, parse_phone};
use crate::{App, Error, RequestContext, Result};

/// The change is bound to the session that started it, so a code cannot finish a change
/// begun elsewhere.
fn change_ref(session: &CurrentSession) -> String {
    format!("phone_change:{}", session.session.id_hash)
}

impl App {
    /// Starts a change of number: checks the password, then sends a code to the new number.
    pub async fn start_phone_change(
        &self,
        session: &CurrentSession,
        password: &str,
        phone: &str,
        ctx: &RequestContext,
    ) -> Result<SentCode> {
        let user = &session.user;
        self.prove_password(user, password, ProofFor::own("phone.change_refused"), ctx).await?;
        let phone = parse_phone(phone)?;
        let mut conn = self.store().conn().await?;
        let current = phones::get(&mut conn, user.id).await?;
        drop(conn);
        match current {
            None => {
                return Err(Error::conflict(
                    "no_phone",
                    "Turn on two-factor authentication first: it verifies your number.",
                ));
            }
            Some(c) if c.e164 == phone.e164() => {
                return Err(Error::conflict("same_phone", "This is already your number."));
            }
            Some(_) => {}
        }
        self.send_code(user, Purpose::PhoneChange, &change_ref(session), &phone, ctx).await
    }

    /// Finishes the change with the code sent to the new number; the old number is told.
    pub async fn confirm_phone_change(
        &self,
        session: &CurrentSession,
        code: &str,
        ctx: &RequestContext,
    ) -> Result<String> {
        let user = &session.user;
        let code = crate::sms::typed_sms_code(code)?;
        self.attempt(Guard::phone_verification(user), ctx, |armed| async {
            let Some(phone) = self.check_code(user, Purpose::PhoneChange, &change_ref(session), &code).await? else {
                return Ok(Verdict::Rejected(Rejection::WRONG_CODE));
            };
            let now = self.now();
            let mut tx = self.store().begin().await?;
            armed.succeeded(&mut tx).await?;
            let text =
                "the mobile number on your account was changed. If this was not you, contact your administrator now.";
            self.queue_notice(&mut tx, user, "Your recovery phone number was changed", text, now).await?;
            phones::set_verified(&mut tx, user.id, phone.e164(), now).await?;
            self.record(&mut tx, now, ctx, Parties::own(user), "phone.changed", json!({ "to": phone.masked() }))
                .await?;
            commit(tx).await?;
            Ok(Verdict::Accepted(phone.masked()))
        })
        .await
    }

    pub async fn phone_change_delivery(&self, session: &CurrentSession) -> Result<Option<Delivery>> {
        self.delivery(session.user.id, Purpose::PhoneChange, &change_ref(session)).await
    }
}
