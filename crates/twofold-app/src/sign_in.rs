//! Signing in and out, and finding the session behind a cookie.

use serde_json::json;
use twofold_domain::email::Email;
use twofold_domain::policy::Requirement;
use twofold_domain::session::Stage;
use twofold_domain::throttle::{Gate, ThrottlePolicy};
use twofold_domain::token;
use twofold_store::sessions::{self, NewSession, SessionRow};
use twofold_store::users::{self, UserRow};
use twofold_store::{Conn, commit, throttles, totp};

use crate::audit::{Parties, record};
use crate::{App, Error, RequestContext, Result};

/// A live session and its person, as found from a cookie.
#[derive(Debug, Clone)]
pub struct CurrentSession {
    pub session: SessionRow,
    pub user: UserRow,
    /// The token forms and API calls must echo (SEC-25).
    pub csrf_token: String,
    /// What the account's 2FA policy asks of this person now.
    pub requirement: Requirement,
}

impl CurrentSession {
    pub fn is_signed_in(&self) -> bool {
        self.session.stage == Stage::SignedIn
    }
}

/// A new session: the raw token goes into the cookie and is never stored.
#[derive(Debug, Clone)]
pub struct NewSessionToken {
    pub token: String,
    pub csrf_token: String,
    pub stage: Stage,
    pub user: UserRow,
}

impl std::fmt::Display for NewSessionToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "session for user {} ({})", self.user.id, self.stage.as_str())
    }
}

pub struct PasswordAttempt<'a> {
    pub email: &'a str,
    pub password: &'a str,
    /// The "Remember for 30 days" box.
    pub remember_device: bool,
    /// The browser's remembered-device cookie, if it sent one.
    pub device_token: Option<&'a str>,
}

/// Longest password accepted at sign-in; longer input is refused before hashing so that
/// nobody can make the server hash megabytes.
pub const MAX_PASSWORD_BYTES: usize = 1024;

fn password_subject(email: &str) -> String {
    format!("password:{email}")
}

impl App {
    /// The password step. Unknown email, wrong password and a throttled address answer the
    /// same for everyone and cost the same Argon2 work (SEC-32).
    pub async fn sign_in_with_password(
        &self,
        attempt: &PasswordAttempt<'_>,
        ctx: &RequestContext,
    ) -> Result<NewSessionToken> {
        let now = self.now();
        // Normalise what we can; a malformed address is just another unknown email.
        let email =
            Email::parse(attempt.email).map(Email::into_string).unwrap_or_else(|_| attempt.email.trim().to_lowercase());
        let email: String = email.chars().take(300).collect();
        let subject = password_subject(&email);
        let mut conn = self.store().conn().await?;
        match password_gate(&mut conn, &subject, now).await? {
            Gate::Open => {}
            Gate::Wait { seconds } => {
                return Err(Error::Throttled { retry_after: seconds.max(1) });
            }
            Gate::Locked => {
                return Err(Error::Throttled { retry_after: ThrottlePolicy::PASSWORD.max_wait });
            }
        }
        let user = users::by_email(&mut conn, &email).await?;
        drop(conn);
        let stored = user.as_ref().and_then(|u| u.password_hash.as_deref());
        let password_ok =
            attempt.password.len() <= MAX_PASSWORD_BYTES && self.passwords().verify(attempt.password, stored).await?;
        let user = match (password_ok, user) {
            (true, Some(user)) => user,
            (_, user) => {
                return Err(self.password_failed(&subject, &email, user.as_ref(), ctx, now).await);
            }
        };
        let mut tx = self.store().begin().await?;
        throttles::reset(&mut tx, &subject).await?;
        let two_factor = totp::get(&mut tx, user.id).await?.is_some_and(|r| r.is_enabled());
        // A remembered browser skips the code, never the password (SEC-23).
        let remembered = two_factor && self.device_is_remembered(&mut tx, user.id, attempt.device_token, now).await?;
        let stage = if two_factor && !remembered { Stage::SecondFactor } else { Stage::SignedIn };
        let new = self.open_session(&mut tx, &user, stage, attempt.remember_device, ctx, now).await?;
        if stage == Stage::SignedIn {
            users::record_sign_in(&mut tx, user.id, now).await?;
            let method = if remembered { "password+remembered_device" } else { "password" };
            record(&mut tx, now, ctx, Parties::own(&user), "sign_in.succeeded", json!({ "method": method })).await?;
        } else {
            record(&mut tx, now, ctx, Parties::own(&user), "sign_in.password_ok", json!({ "next": "totp" })).await?;
        }
        commit(tx).await?;
        Ok(new)
    }

    async fn password_failed(
        &self,
        subject: &str,
        email: &str,
        user: Option<&UserRow>,
        ctx: &RequestContext,
        now: i64,
    ) -> Error {
        let outcome = async {
            let mut tx = self.store().begin().await?;
            let failures = throttles::record_failure(&mut tx, subject, now).await?;
            let parties = user.map(Parties::own).map(|p| Parties { actor: None, ..p }).unwrap_or_default();
            let detail = json!({ "email": email, "reason": if user.is_some() { "wrong_password" } else { "unknown_email" }, "consecutive_failures": failures.consecutive });
            record(&mut tx, now, ctx, parties, "sign_in.failed", detail).await?;
            commit(tx).await?;
            Ok::<_, Error>(())
        };
        match outcome.await {
            Ok(()) => Error::InvalidCredentials,
            Err(e) => e,
        }
    }

    pub(crate) async fn open_session(
        &self,
        conn: &mut Conn,
        user: &UserRow,
        stage: Stage,
        remember_device: bool,
        ctx: &RequestContext,
        now: i64,
    ) -> Result<NewSessionToken> {
        let new = token::generate(self.entropy());
        let expires_at = self.config().sessions.expires_at(stage, now, now);
        sessions::insert(
            conn,
            &NewSession {
                id_hash: &new.hash,
                user_id: user.id,
                stage,
                remember_device,
                now,
                expires_at,
                ip: ctx.ip.as_deref(),
                user_agent: ctx.user_agent.as_deref(),
            },
        )
        .await?;
        Ok(NewSessionToken { csrf_token: token::csrf_for_session(&new.raw), token: new.raw, stage, user: user.clone() })
    }

    /// The live session behind a cookie value, if any; moves its idle deadline forward.
    pub async fn session(&self, raw: &str) -> Result<Option<CurrentSession>> {
        if !token::is_well_formed(raw) {
            return Ok(None);
        }
        let now = self.now();
        let hash = token::hash(raw);
        let mut conn = self.store().conn().await?;
        let Some(mut session) = sessions::live(&mut conn, &hash, now).await? else {
            return Ok(None);
        };
        let Some(user) = users::by_id(&mut conn, session.user_id).await? else {
            return Ok(None);
        };
        let policy = &self.config().sessions;
        if session.stage == Stage::SignedIn && policy.should_touch(session.last_seen_at, now) {
            let expires_at = policy.expires_at(session.stage, session.created_at, now);
            sessions::touch(&mut conn, &hash, now, expires_at).await?;
            session.last_seen_at = now;
            session.expires_at = expires_at;
        }
        drop(conn);
        let requirement =
            if session.stage == Stage::SignedIn { self.requirement(&user).await? } else { Requirement::Met };
        Ok(Some(CurrentSession { session, user, csrf_token: token::csrf_for_session(raw), requirement }))
    }

    /// Ends the session on the server (SEC-22).
    pub async fn sign_out(&self, current: &CurrentSession, ctx: &RequestContext) -> Result<()> {
        let now = self.now();
        let mut tx = self.store().begin().await?;
        if sessions::delete(&mut tx, &current.session.id_hash).await? {
            record(&mut tx, now, ctx, Parties::own(&current.user), "sign_out", json!({})).await?;
        }
        commit(tx).await?;
        Ok(())
    }
}

async fn password_gate(conn: &mut Conn, subject: &str, now: i64) -> Result<Gate> {
    let failures = throttles::get(conn, subject).await?;
    Ok(ThrottlePolicy::PASSWORD.gate(failures, now))
}

impl App {
    /// A random token for a form shown before sign-in (double-submit CSRF protection).
    pub fn new_form_token(&self) -> String {
        token::generate(self.entropy()).raw
    }
}

impl App {
    /// Deletes sessions past their expiry; answers how many.
    pub async fn sweep_expired_sessions(&self) -> Result<u64> {
        let mut conn = self.store().conn().await?;
        Ok(sessions::delete_expired(&mut conn, self.now()).await?)
    }
}
