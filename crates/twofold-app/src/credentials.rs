//! Sessions and authenticator-app credentials, written once over the two realms (people
//! and support operators): what differs between them is only the realm's policy below.

use twofold_domain::otp::{self, Secret, Verification};
use twofold_domain::session::{SessionPolicy, Stage};
use twofold_domain::token;
use twofold_store::sessions::{self, NewSession, SessionRow};
use twofold_store::totp::TotpRow;
use twofold_store::{Conn, Realm, totp};

use std::future::Future;

use crate::attempt::{Armed, Guard, Rejection, Verdict};

use crate::two_factor::Enrolment;
use crate::{App, Error, RequestContext, Result};

/// Operators sign in for short stretches: 15 minutes idle, 4 hours at most.
pub const OPERATOR_SESSIONS: SessionPolicy =
    SessionPolicy { second_factor_ttl: 600, idle: 15 * 60, absolute: 4 * 3600 };

/// A new session: the raw token goes into the cookie and is never stored.
#[derive(Clone)]
pub struct IssuedSession {
    pub token: String,
    pub csrf_token: String,
    pub stage: Stage,
}

impl std::fmt::Debug for IssuedSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "IssuedSession({})", self.stage.as_str())
    }
}

/// How a session was opened, beyond its stage.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct SessionOptions<'a> {
    /// The "Remember for 30 days" box, carried from the password step to the code step.
    pub remember_device: bool,
    /// How sign-in completed, when it matters later (`sms_recovery`).
    pub method: Option<&'a str>,
}

/// What the AEAD of a realm's TOTP secrets is bound to.
pub(crate) fn totp_purpose(realm: Realm) -> &'static str {
    match realm {
        Realm::People => "totp",
        Realm::Support => "operator_totp",
    }
}

impl App {
    pub(crate) fn session_policy(&self, realm: Realm) -> SessionPolicy {
        match realm {
            Realm::People => self.config().sessions,
            Realm::Support => OPERATOR_SESSIONS,
        }
    }

    pub(crate) async fn open_session(
        &self,
        conn: &mut Conn,
        realm: Realm,
        subject_id: i64,
        stage: Stage,
        options: SessionOptions<'_>,
        ctx: &RequestContext,
    ) -> Result<IssuedSession> {
        let opened = self.write_session(conn, realm, (subject_id, stage), options, ctx, None).await?;
        opened.ok_or_else(|| Error::Internal("a new session was not written".into()))
    }

    /// Signs in a half-finished session in one statement: it gets a new id (SEC-19), so the
    /// pending cookie is consumed once; `None` when another request consumed it first.
    pub(crate) async fn promote_session(
        &self,
        conn: &mut Conn,
        realm: Realm,
        pending_hash: &str,
        subject_id: i64,
        options: SessionOptions<'_>,
        ctx: &RequestContext,
    ) -> Result<Option<IssuedSession>> {
        self.write_session(conn, realm, (subject_id, Stage::SignedIn), options, ctx, Some(pending_hash)).await
    }

    /// Writes a session with a fresh token: a new row, or the pending row `replacing`.
    async fn write_session(
        &self,
        conn: &mut Conn,
        realm: Realm,
        (subject_id, stage): (i64, Stage),
        options: SessionOptions<'_>,
        ctx: &RequestContext,
        replacing: Option<&str>,
    ) -> Result<Option<IssuedSession>> {
        let now = self.now();
        let new = token::generate(self.entropy());
        let expires_at = self.session_policy(realm).expires_at(stage, now, now);
        let row = NewSession {
            id_hash: &new.hash,
            subject_id,
            stage,
            remember_device: options.remember_device,
            now,
            expires_at,
            ip: ctx.ip.as_deref(),
            user_agent: ctx.user_agent.as_deref(),
            method: options.method,
        };
        match replacing {
            None => sessions::insert(conn, realm, &row).await?,
            Some(pending) => {
                if !sessions::promote(conn, realm, pending, &row).await? {
                    return Ok(None);
                }
            }
        }
        Ok(Some(IssuedSession { csrf_token: token::csrf_for_session(&new.raw), token: new.raw, stage }))
    }

    /// The live session behind a cookie value, with its CSRF token; moves a signed-in
    /// session's idle deadline forward.
    pub(crate) async fn find_session(
        &self,
        conn: &mut Conn,
        realm: Realm,
        raw: &str,
    ) -> Result<Option<(SessionRow, String)>> {
        if !token::is_well_formed(raw) {
            return Ok(None);
        }
        let hash = token::hash(raw);
        let Some(mut session) = sessions::live(conn, realm, &hash, self.now()).await? else {
            return Ok(None);
        };
        self.keep_alive(conn, realm, &mut session).await?;
        Ok(Some((session, token::csrf_for_session(raw))))
    }

    /// Moves a signed-in session's idle deadline forward (at most once a minute or so, as
    /// the policy says, so that most requests write nothing).
    pub(crate) async fn keep_alive(&self, conn: &mut Conn, realm: Realm, session: &mut SessionRow) -> Result<()> {
        let now = self.now();
        let policy = self.session_policy(realm);
        if session.stage == Stage::SignedIn && policy.should_touch(session.last_seen_at, now) {
            let expires_at = policy.expires_at(session.stage, session.created_at, now);
            sessions::touch(conn, realm, &session.id_hash, now, expires_at).await?;
            session.last_seen_at = now;
            session.expires_at = expires_at;
        }
        Ok(())
    }

    /// Deletes the sessions of both realms past their expiry; answers how many.
    pub async fn sweep_expired_sessions(&self) -> Result<u64> {
        let mut conn = self.store().conn().await?;
        let mut swept = 0;
        for realm in Realm::ALL {
            swept += sessions::delete_expired(&mut conn, realm, self.now()).await?;
        }
        swept += twofold_store::security_keys::sweep_ceremonies(&mut conn, self.now()).await?;
        swept += twofold_store::password_resets::delete_expired(&mut conn, self.now()).await?;
        swept += twofold_store::oidc::grants::delete_expired(&mut conn, self.now()).await?;
        let overlap_over = self.now() - twofold_domain::oidc::KEY_OVERLAP_SECONDS;
        swept += twofold_store::oidc::keys::delete_retired(&mut conn, overlap_over).await?;
        Ok(swept)
    }

    pub(crate) fn seal_totp_secret(&self, realm: Realm, subject_id: i64, secret: &Secret) -> Result<Vec<u8>> {
        self.secrets().seal(totp_purpose(realm), subject_id, secret.as_bytes())
    }

    pub(crate) fn open_totp_secret(&self, realm: Realm, subject_id: i64, sealed: &[u8]) -> Result<Secret> {
        let bytes = self.secrets().open(totp_purpose(realm), subject_id, sealed)?;
        Secret::from_slice(&bytes).map_err(|e| Error::Internal(format!("stored secret unusable: {e}")))
    }

    /// Checks a code against a stored credential and its replay mark (SEC-05, SEC-07).
    pub(crate) fn check_totp(&self, realm: Realm, row: &TotpRow, code: &str, now: i64) -> Result<Verification> {
        let secret = self.open_totp_secret(realm, row.subject_id, &row.secret_box)?;
        let last = row.last_step.and_then(|s| u64::try_from(s).ok());
        Ok(otp::verify(&self.config().totp, &secret, code, now, last))
    }

    /// A code against the realm's authenticator app, through the attempt pipeline: once the
    /// guess has its place in the budget, the credential is read and the code checked
    /// (SEC-05, SEC-07, SEC-47). `verify` gets the row with the step to accept or why the
    /// code failed (`None` when there is no credential) and answers the verdict.
    pub(crate) async fn attempt_totp<T, F, Fut>(
        &self,
        guard: Guard<'_>,
        ctx: &RequestContext,
        (realm, subject_id): (Realm, i64),
        code: &str,
        verify: F,
    ) -> Result<T>
    where
        F: FnOnce(Armed, Option<(TotpRow, Result<i64, Rejection>)>) -> Fut,
        Fut: Future<Output = Result<Verdict<T>>>,
    {
        self.attempt(guard, ctx, |armed| async move {
            let mut conn = self.store().conn().await?;
            let row = totp::get(&mut conn, realm, subject_id).await?;
            drop(conn);
            let found = match row {
                Some(row) => {
                    let matched = match self.check_totp(realm, &row, code, self.now())? {
                        Verification::Accepted { step } => Ok(step_i64(step)),
                        other => Err(Rejection::of_totp(other)),
                    };
                    Some((row, matched))
                }
                None => None,
            };
            verify(armed, found).await
        })
        .await
    }

    /// The key, URI and QR code of an enrolment, for the wizard or the operator's first
    /// sign-in.
    pub(crate) fn enrolment_view(&self, issuer: &str, label: &str, secret: &Secret) -> Result<Enrolment> {
        let uri = otp::otpauth_uri(issuer, label, secret);
        let qr_svg = crate::qr::qr_svg(&uri).map_err(|e| Error::Internal(format!("QR code: {e}")))?;
        Ok(Enrolment {
            secret_base32: secret.to_base32(),
            secret_grouped: secret.to_base32_grouped(),
            otpauth_uri: uri,
            qr_svg,
        })
    }

    /// Normalises a typed code, or answers the format error (not counted as a guess).
    pub(crate) fn typed_code(&self, code: &str) -> Result<String> {
        otp::normalize_code(code, self.config().totp.digits).map_err(|e| Error::invalid("invalid_code_format", e))
    }
}

/// The step as the database stores it.
pub(crate) fn step_i64(step: u64) -> i64 {
    i64::try_from(step).unwrap_or(i64::MAX)
}
