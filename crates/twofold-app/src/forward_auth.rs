//! Forward authentication: a reverse proxy asks, for every request of a protected
//! application, whether the person behind the Twofold session may pass. One statement
//! reads the session and its person (no cache, so a session ended on any instance is
//! refused everywhere at its next check: SEC-43); the rules decide.

use twofold_domain::Role;
use twofold_domain::forward_auth::{self as rules, Decision, Refusal, Visitor};
use twofold_domain::session::Stage;
use twofold_domain::token;
use twofold_store::{Realm, sessions, visitors};

use crate::{App, Result};

/// Who passes, for the identity headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub user_id: i64,
    pub account_id: i64,
    pub email: String,
    pub name: String,
    pub role: Role,
}

/// The answer for the proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gate {
    Allow(Identity),
    SignIn,
    SetUpTwoFactor,
    Forbidden(Refusal),
}

impl App {
    /// The decision for a request to `host` and `path` (as the proxy described them) from a
    /// browser holding `raw_session` (the session cookie's value, if it sent one).
    pub async fn forward_auth(&self, raw_session: Option<&str>, host: &str, path: &str) -> Result<Gate> {
        let rule = self.config().forward_auth.rule_for(host, path);
        if rule.is_none() {
            return Ok(Gate::Forbidden(Refusal::NoRule));
        }
        let Some(raw) = raw_session.filter(|r| token::is_well_formed(r)) else {
            return Ok(Gate::SignIn);
        };
        let now = self.now();
        let hash = token::hash(raw);
        let mut conn = self.store().conn().await?;
        let row = visitors::by_session(&mut conn, &hash, now).await?.filter(|v| v.stage == Stage::SignedIn);
        let Some(row) = row else {
            return Ok(Gate::SignIn);
        };
        // Using a protected application is using the session: it slides like any other use.
        let policy = self.session_policy(Realm::People);
        if policy.should_touch(row.last_seen_at, now) {
            let expires_at = policy.expires_at(Stage::SignedIn, row.created_at, now);
            sessions::touch(&mut conn, Realm::People, &hash, now, expires_at).await?;
        }
        drop(conn);
        let visitor = Visitor { role: row.role, account_id: row.account_id, two_factor_on: row.two_factor_on };
        Ok(match rules::decide(rule, Some(&visitor)) {
            Decision::Allow => Gate::Allow(Identity {
                user_id: row.user_id,
                account_id: row.account_id,
                email: row.email,
                name: row.name,
                role: row.role,
            }),
            Decision::SignIn => Gate::SignIn,
            Decision::SetUpTwoFactor => Gate::SetUpTwoFactor,
            Decision::Forbidden(why) => Gate::Forbidden(why),
        })
    }

    /// Where the login page may send someone back to after sign-in: `rd` if a rule names
    /// its host, else nothing (SEC-43).
    pub fn return_url<'a>(&self, rd: &'a str) -> Option<&'a str> {
        // An application's authorization request, waiting on this server for the sign-in.
        if crate::oidc::authorize::is_return_path(rd) {
            return Some(rd);
        }
        // Signed in over HTTPS, never sent back over plain HTTP.
        if self.config().is_https() && !rd.starts_with("https://") {
            return None;
        }
        self.config().forward_auth.return_url(rd)
    }
}
