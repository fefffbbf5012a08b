//! Forgotten and changed passwords (SEC-37, SEC-38): every way a person's password is set
//! again ends what the old one opened: sessions, remembered browsers (SEC-23) and reset
//! links, and tells the person by email and SMS.

use serde_json::json;
use twofold_domain::person::Person;
use twofold_domain::person_name::inert;
use twofold_domain::throttle::ThrottleKey;
use twofold_domain::{email::Email, password, token};
use twofold_store::oidc::grants as oidc_grants;
use twofold_store::rate_limits::{self, Spend};
use twofold_store::security_keys::{self, SecurityKeyRow};
use twofold_store::{Conn, Realm, commit, devices, password_resets, sessions, throttles, users};

use crate::proof::ProofFor;

use crate::admin::day;
use crate::audit::Parties;
use crate::mail::Letter;
use crate::sign_in::CurrentSession;
use crate::{App, Error, RequestContext, Result};

/// What ended when a password was set again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Ended {
    sessions: u64,
    remembered_browsers: u64,
    app_grants: u64,
}

impl App {
    /// "Forgot your password?": mails a one-hour link to the address if it is a person's
    /// with a password. The answer is the same whatever the address (SEC-37): nothing here
    /// fails for an unknown one, and both paths do the same work up to the mail itself (a
    /// lookup and a write transaction that spends the address's send allowance).
    pub async fn request_password_reset(&self, email: &str, ctx: &RequestContext) -> Result<()> {
        let email = Email::parse(email).map_err(|e| Error::invalid("invalid_email", e))?;
        let policy = self.config().mail;
        let now = self.now();
        let link = token::generate(self.entropy());
        let mut tx = self.store().begin().await?;
        let user = users::by_email(&mut tx, email.as_str()).await?;
        let subject = format!("password-reset:{}", email.as_str());
        let spend =
            rate_limits::spend(&mut tx, &subject, now, policy.reset_cooldown, policy.reset_per_hour, 3600).await?;
        let Some(user) = user.filter(|u| u.password_hash.is_some()).map(users::UserRow::into_person) else {
            commit(tx).await?;
            return Ok(());
        };
        if let Spend::Wait(wait) = spend {
            let detail = json!({ "retry_after_seconds": wait });
            self.record(&mut tx, now, ctx, Parties::own(&user), "password.reset_throttled", detail).await?;
            commit(tx).await?;
            return Ok(());
        }
        let expires_at = policy.reset_link_expires_at(now);
        // Only the newest link works: an older one, perhaps in a mailbox someone else
        // reads too, stops at once (SEC-54).
        password_resets::delete_for_user(&mut tx, user.id).await?;
        password_resets::insert(&mut tx, &link.hash, user.id, now, expires_at).await?;
        let url = self.url(&format!("/password-reset/{}", link.raw));
        let account = self.account_name_in(&mut tx, user.account_id).await?;
        let letter = Letter::password_reset(&self.config().issuer, &account, &user, &url, expires_at);
        let outbox_id = self.queue_email(&mut tx, &user, "password_reset", &letter, now).await?;
        self.record(
            &mut tx,
            now,
            ctx,
            Parties::own(&user),
            "password.reset_requested",
            json!({ "outbox_id": outbox_id }),
        )
        .await?;
        commit(tx).await?;
        Ok(())
    }

    /// The person a reset link is for, while it works (for the page that asks the password).
    pub async fn password_reset_link(&self, raw: &str) -> Result<Person> {
        if !token::is_well_formed(raw) {
            return Err(Error::LinkExpired);
        }
        let mut conn = self.store().conn().await?;
        let id = password_resets::peek(&mut conn, &token::hash(raw), self.now()).await?.ok_or(Error::LinkExpired)?;
        Ok(users::by_id(&mut conn, id).await?.ok_or(Error::LinkExpired)?.into_person())
    }

    /// Sets a new password through a reset link, once. Every session, remembered browser
    /// and application grant ends; 2FA stays on, so the next sign-in still asks for the
    /// code (SEC-37). Security keys and passkeys stay too (a reset must not strip a second
    /// factor from whoever reads the mailbox), but the notice names each one, so that a
    /// key the person does not recognise can be removed (SEC-46, docs/security.md).
    pub async fn reset_password(&self, raw: &str, new_password: &str, ctx: &RequestContext) -> Result<Person> {
        if !token::is_well_formed(raw) {
            return Err(Error::LinkExpired);
        }
        password::check_new(new_password).map_err(|e| Error::invalid("weak_password", e))?;
        let hash = self.passwords().hash(new_password, self.salt()).await?;
        let now = self.now();
        let mut tx = self.store().begin().await?;
        let id = password_resets::take(&mut tx, &token::hash(raw), now).await?.ok_or(Error::LinkExpired)?;
        let user = users::by_id(&mut tx, id).await?.ok_or(Error::LinkExpired)?.into_person();
        let ended = self.set_password(&mut tx, &user, &hash, None, now).await?;
        // The link reached this mailbox alone: the address is proven (`email_verified`).
        users::mark_email_verified(&mut tx, user.id, now).await?;
        // The link proved the mailbox: the wrong-password count starts afresh.
        throttles::reset(&mut tx, &ThrottleKey::Password { email: user.email.clone() }).await?;
        let keys = security_keys::for_user(&mut tx, user.id).await?;
        let text = reset_notice(&keys);
        self.queue_notice(&mut tx, &user, "Your password was reset", &text, now).await?;
        self.record(&mut tx, now, ctx, Parties::own(&user), "password.reset", ended.detail()).await?;
        commit(tx).await?;
        Ok(user)
    }

    /// Changes the password of the person signed in on `session`, with their current one
    /// (SEC-38). Their other sessions and every remembered browser end; this one stays.
    pub async fn change_password(
        &self,
        session: &CurrentSession,
        current: &str,
        new_password: &str,
        ctx: &RequestContext,
    ) -> Result<()> {
        let user = &session.user;
        password::check_new(new_password).map_err(|e| Error::invalid("weak_password", e))?;
        if current == new_password {
            return Err(Error::invalid("weak_password", "Choose a password different from the current one."));
        }
        self.prove_password(user, current, ProofFor::own("password.change_refused"), ctx).await?;
        let hash = self.passwords().hash(new_password, self.salt()).await?;
        let now = self.now();
        let mut tx = self.store().begin().await?;
        // A reset (or a sign-out everywhere) may have ended this session meanwhile.
        if sessions::live(&mut tx, Realm::People, &session.session.id_hash, now).await?.is_none() {
            return Err(Error::Unauthenticated);
        }
        let ended = self.set_password(&mut tx, user, &hash, Some(&session.session.id_hash), now).await?;
        let text = "the password of your account was changed. Your other sessions were signed out.";
        self.queue_notice(&mut tx, user, "Your password was changed", text, now).await?;
        self.record(&mut tx, now, ctx, Parties::own(user), "password.changed", ended.detail()).await?;
        commit(tx).await?;
        Ok(())
    }

    /// The one place a known person's password is set again: the hash, and the end of what
    /// the old one opened (sessions but `keep`, remembered browsers, reset links).
    async fn set_password(
        &self,
        tx: &mut Conn,
        user: &Person,
        hash: &str,
        keep: Option<&str>,
        now: i64,
    ) -> Result<Ended> {
        users::set_password(tx, user.id, hash, now).await?;
        let sessions = match keep {
            Some(keep) => sessions::delete_others(tx, Realm::People, user.id, keep).await?,
            None => sessions::delete_for_subject(tx, Realm::People, user.id).await?,
        };
        let remembered_browsers = devices::delete_for_user(tx, user.id).await?;
        password_resets::delete_for_user(tx, user.id).await?;
        let app_grants = oidc_grants::revoke_for_user(tx, user.id, now, "password_set").await?;
        Ok(Ended { sessions, remembered_browsers, app_grants })
    }
}

impl Ended {
    fn detail(self) -> serde_json::Value {
        json!({
            "sessions_ended": self.sessions,
            "remembered_browsers_forgotten": self.remembered_browsers,
            "app_grants_revoked": self.app_grants,
        })
    }
}

/// What a reset tells the person: that it happened, and the keys and passkeys that still
/// sign in as them, to review.
fn reset_notice(keys: &[SecurityKeyRow]) -> String {
    let mut text =
        "the password of your account was reset through a link sent to this address. Every session was signed out."
            .to_string();
    if !keys.is_empty() {
        let named: Vec<String> = keys
            .iter()
            .map(|k| {
                format!(
                    "\"{}\" ({}, added {})",
                    // Whoever added the key chose its name: never a link here (SEC-54).
                    inert(&k.name),
                    if k.passkey { "passkey" } else { "security key" },
                    day(k.created_at)
                )
            })
            .collect();
        text.push_str(&format!(
            " These security keys and passkeys still sign in as you: {}. Remove any you do not recognise from your profile.",
            named.join(", ")
        ));
    }
    text
}
