//! Recovery codes (SEC-35): ten single-use codes issued when 2FA first goes on, made anew
//! from the profile, and accepted once at the second step in place of the app or key.

use serde_json::json;
use twofold_domain::person::Person;
use twofold_domain::recovery_code::{self, RecoveryCode};
use twofold_store::{Conn, commit, factors, recovery_codes};

use crate::attempt::{Guard, Rejection, Verdict};
use crate::audit::Parties;
use crate::proof::ProofFor;
use crate::sign_in::{NewSessionToken, PendingSignIn, SecondStep};
use crate::{App, Error, RequestContext, Result};

/// What a code's keyed hash is bound to: its person, so that a hash copied to another row
/// matches nothing.
fn mac_label(user_id: i64) -> String {
    format!("recovery-code:{user_id}")
}

impl App {
    /// Makes a new set for `user`, voiding the old one in the same transaction; answers the
    /// codes as shown (`k7m2p-x9qr4`), the only time they exist outside the person's hands.
    pub(crate) async fn issue_recovery_codes(
        &self,
        tx: &mut Conn,
        user: &Person,
        ctx: &RequestContext,
        now: i64,
    ) -> Result<Vec<String>> {
        let set = recovery_code::generate_set(self.entropy());
        let label = mac_label(user.id);
        let macs: Vec<String> =
            set.iter().map(|code| self.secrets().mac(&label, code.canonical().as_bytes())).collect();
        recovery_codes::replace_set(tx, user.id, &macs, now).await?;
        self.record(tx, now, ctx, Parties::own(user), "recovery_codes.issued", json!({ "count": set.len() })).await?;
        Ok(set.iter().map(RecoveryCode::display).collect())
    }

    /// "Regenerate" on the profile, after the password (SEC-24): the old set stops working.
    pub async fn regenerate_recovery_codes(
        &self,
        user: &Person,
        password: &str,
        ctx: &RequestContext,
    ) -> Result<Vec<String>> {
        self.prove_password(user, password, ProofFor::own("recovery_codes.refused"), ctx).await?;
        let now = self.now();
        let mut tx = self.store().begin().await?;
        if !factors::of_person(&mut tx, user.id).await?.is_on() {
            return Err(Error::conflict("not_enabled", "Turn on two-factor authentication first."));
        }
        let codes = self.issue_recovery_codes(&mut tx, user, ctx, now).await?;
        let text = "new recovery codes were made for your account; the old ones no longer work.";
        self.queue_notice(&mut tx, user, "New recovery codes were made", text, now).await?;
        commit(tx).await?;
        Ok(codes)
    }

    /// "Use a recovery code" at the second step. The code is spent by one conditional
    /// update, so of many requests carrying it at once exactly one signs in (SEC-35).
    pub async fn submit_recovery_code(
        &self,
        pending: &PendingSignIn,
        typed: &str,
        ctx: &RequestContext,
    ) -> Result<NewSessionToken> {
        let user = &pending.user;
        self.attempt(Guard::recovery_code(user), ctx, |armed| async {
            let Some(code) = RecoveryCode::parse(typed) else {
                return Ok(Verdict::Rejected(Rejection::because("malformed_code")));
            };
            let mut tx = self.store().begin().await?;
            if !self.spend_recovery_code(&mut tx, user, &code).await? {
                return Ok(Verdict::Rejected(Rejection::because("wrong_or_used_code")));
            }
            armed.succeeded(&mut tx).await?;
            // The sign-in (the person's row) before the code's audit event: every
            // transaction takes the audit chain last, so none waits on another in a circle.
            let since = factors::of_person(&mut tx, user.id).await?.enabled_since();
            let done = self.complete_sign_in(&mut tx, pending, SecondStep::RecoveryCode, since, ctx).await?;
            self.recovery_code_spent(&mut tx, user, ctx).await?;
            commit(tx).await?;
            Ok(Verdict::Accepted(done))
        })
        .await
    }

    /// Spends `code` in `tx` by one conditional update: false when it is wrong or used.
    /// Every way of giving a recovery code (the second step, RADIUS) spends it here, as the
    /// first statement of its transaction; then, after the guard's counter,
    /// [`App::recovery_code_spent`].
    pub(crate) async fn spend_recovery_code(&self, tx: &mut Conn, user: &Person, code: &RecoveryCode) -> Result<bool> {
        let macs = self.secrets().mac_under_each_key(&mac_label(user.id), code.canonical().as_bytes());
        Ok(recovery_codes::consume(tx, user.id, &macs, self.now()).await?)
    }

    /// Audits a spent code and tells the person how many are left.
    pub(crate) async fn recovery_code_spent(&self, tx: &mut Conn, user: &Person, ctx: &RequestContext) -> Result<()> {
        let now = self.now();
        let factors = factors::of_person(tx, user.id).await?;
        let left = factors.recovery_codes_left;
        self.record(tx, now, ctx, Parties::own(user), "recovery_codes.used", json!({ "left": left })).await?;
        let text = format!(
            "a recovery code was used to sign in to your account; {left} {} left. If this was not you, contact your administrator now.",
            if left == 1 { "is" } else { "are" }
        );
        self.queue_notice(tx, user, "A recovery code was used", &text, now).await
    }
}
