//! Forward authentication: a reverse proxy asks, for every request of a protected
//! application, whether the person behind the Twofold session may pass. The session is
//! found by the app's one session lookup, which also answers how strongly it is signed in
//! (SEC-46) and keeps it alive; nothing is cached, so a session ended on any instance is
//! refused everywhere at its next check (SEC-43). The rules decide.

use twofold_domain::Role;
use twofold_domain::forward_auth::{self as rules, Decision, Refusal, Visitor};

use crate::{App, Result};

/// Who passes, for the identity headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub user_id: i64,
    pub account_id: i64,
    pub email: String,
    pub name: String,
    pub role: Role,
    /// The names of their groups.
    pub groups: Vec<String>,
}

/// The answer for the proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gate {
    Allow(Identity),
    SignIn,
    /// Signed in, but not as strongly as the rule asks: a fresh sign-in, then back.
    SignInAgain,
    SetUpTwoFactor,
    Forbidden(Refusal),
}

impl App {
    /// The decision for a request to `host` and `path` (as the proxy described them) from a
    /// browser holding `raw_session` (the session cookie's value, if it sent one).
    pub async fn forward_auth(&self, raw_session: Option<&str>, host: &str, path: &str) -> Result<Gate> {
        // A path that could be read two ways is refused before anything else (SEC-49).
        let rule = match self.config().forward_auth.decide_rule(host, path) {
            Ok(Some(rule)) => Some(rule),
            Ok(None) => return Ok(Gate::Forbidden(Refusal::NoRule)),
            Err(why) => return Ok(Gate::Forbidden(why)),
        };
        let Some(raw) = raw_session else {
            return Ok(Gate::SignIn);
        };
        let Some(current) = self.session(raw).await?.filter(|s| s.is_signed_in()) else {
            return Ok(Gate::SignIn);
        };
        let user = &current.user;
        let visitor = Visitor {
            role: user.role,
            account_id: user.account_id,
            strength: current.strength,
            groups: &current.groups,
        };
        Ok(match rules::decide(rule, Some(&visitor)) {
            Decision::Allow => Gate::Allow(Identity {
                user_id: user.id,
                account_id: user.account_id,
                email: user.email.clone(),
                name: user.name.clone(),
                role: user.role,
                groups: current.groups.clone(),
            }),
            Decision::SignIn => Gate::SignIn,
            Decision::SignInAgain => Gate::SignInAgain,
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
