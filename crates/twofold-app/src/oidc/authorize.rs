//! The authorization endpoint. It does not sign anyone in itself: a person without a
//! session (or who must sign in again) goes through Twofold's own sign-in and comes back
//! here by the `rd` that sign-in keeps; a person an application requires 2FA of goes
//! through the wizard first. Then the application gets a code, bound to its grant.

use serde_json::json;
use twofold_domain::oidc::client::ClientFacts;
use twofold_domain::oidc::request::{self, Authorization, AuthorizeError, AuthorizeParams, Prompt, Untrusted};
use twofold_domain::oidc::{CODE_SECONDS, GRANT_MAX_SECONDS, SignInMethod};
use twofold_domain::policy::Requirement;
use twofold_domain::token;
use twofold_store::oidc::clients;
use twofold_store::oidc::grants::{self, NewCode, NewGrant};
use twofold_store::{commit, factors};

use super::with_query;
use crate::audit::{Parties, record};
use crate::sign_in::CurrentSession;
use crate::{App, RequestContext, Result};

/// Where the endpoint is served; sign-in may return here.
pub const PATH: &str = "/oauth2/authorize";
/// Longest authorization request kept for after sign-in.
pub const MAX_RETURN_CHARS: usize = 4096;

/// What the endpoint answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorizeAnswer {
    /// Shown on a page, never redirected: the client or its redirect URI is not trusted.
    Refused(Untrusted),
    /// Back to the application, with a code or an OAuth error.
    Redirect(String),
    /// Sign in (again, if there was a session: it has just been ended), then `return_to`.
    SignIn { return_to: String },
    /// Turn 2FA on in the wizard, then `return_to`.
    EnableTwoFactor { return_to: String },
}

/// The request again as a path on this server, for after sign-in; `prompt=login` is dropped
/// (the sign-in it asked for is the one about to happen).
fn return_path(params: &AuthorizeParams, client_id: &str) -> String {
    let prompt = params
        .prompt
        .as_deref()
        .map(|p| p.split(' ').filter(|v| *v != "login" && !v.is_empty()).collect::<Vec<_>>().join(" "));
    let fields = [
        ("response_type", params.response_type.as_deref()),
        ("client_id", Some(client_id)),
        ("redirect_uri", params.redirect_uri.as_deref()),
        ("scope", params.scope.as_deref()),
        ("state", params.state.as_deref()),
        ("nonce", params.nonce.as_deref()),
        ("code_challenge", params.code_challenge.as_deref()),
        ("code_challenge_method", params.code_challenge_method.as_deref()),
        ("prompt", prompt.as_deref().filter(|p| !p.is_empty())),
        ("max_age", params.max_age.as_deref()),
        ("response_mode", params.response_mode.as_deref()),
    ];
    let present: Vec<(&str, &str)> = fields.iter().filter_map(|(k, v)| v.map(|v| (*k, v))).collect();
    with_query(PATH, &present)
}

/// Whether `rd` is an authorization request of this server that sign-in may return to.
pub fn is_return_path(rd: &str) -> bool {
    rd.len() <= MAX_RETURN_CHARS
        && rd.strip_prefix(PATH).is_some_and(|q| q.starts_with('?'))
        && !rd.chars().any(|c| c.is_control() || c == '\\')
}

impl App {
    pub async fn authorize(
        &self,
        params: &AuthorizeParams,
        session: Option<&CurrentSession>,
        ctx: &RequestContext,
    ) -> Result<AuthorizeAnswer> {
        let client_id = match request::client_id(params) {
            Ok(id) => id,
            Err(untrusted) => return Ok(AuthorizeAnswer::Refused(untrusted)),
        };
        let mut conn = self.store().conn().await?;
        let Some(client) = clients::by_id(&mut conn, client_id).await?.map(|r| r.facts) else {
            return Ok(AuthorizeAnswer::Refused(Untrusted::UnknownClient));
        };
        drop(conn);
        let redirect_uri = match request::redirect_uri(params, &client) {
            Ok(uri) => uri,
            Err(untrusted) => return Ok(AuthorizeAnswer::Refused(untrusted)),
        };
        let back = |e: AuthorizeError| self.error_redirect(redirect_uri, params.state.as_deref(), &e);
        let granted = match request::check(params, &client, redirect_uri) {
            Ok(granted) => granted,
            Err(e) => return Ok(AuthorizeAnswer::Redirect(back(e))),
        };
        let return_to = return_path(params, client_id);
        let now = self.now();
        let Some(current) = session.filter(|s| s.is_signed_in()) else {
            return Ok(self.sign_in_first(&granted, return_to, back));
        };
        if granted.needs_fresh_sign_in(current.session.created_at, now) {
            if granted.prompt == Prompt::None {
                return Ok(AuthorizeAnswer::Redirect(back(LOGIN_REQUIRED)));
            }
            self.sign_out(current, ctx).await?;
            return Ok(AuthorizeAnswer::SignIn { return_to });
        }
        if !client.serves_account(current.user.account_id) {
            self.audit_refusal(current, &client, "other_account", ctx).await?;
            return Ok(AuthorizeAnswer::Redirect(back(OTHER_ACCOUNT)));
        }
        let method = SignInMethod::parse(current.session.method.as_deref());
        let overdue = current.requirement == Requirement::Overdue;
        if overdue || (client.require_two_factor && !method.is_two_factor()) {
            return self.two_factor_first(current, &client, &granted, return_to, ctx, back).await;
        }
        let code = self.issue_code(current, &client, &granted, method, ctx).await?;
        let mut answer = vec![("code", code.as_str())];
        if let Some(state) = granted.state.as_deref() {
            answer.push(("state", state));
        }
        answer.push(("iss", self.issuer()));
        Ok(AuthorizeAnswer::Redirect(with_query(&granted.redirect_uri, &answer)))
    }

    fn sign_in_first(
        &self,
        granted: &Authorization,
        return_to: String,
        back: impl Fn(AuthorizeError) -> String,
    ) -> AuthorizeAnswer {
        if granted.prompt == Prompt::None {
            AuthorizeAnswer::Redirect(back(LOGIN_REQUIRED))
        } else {
            AuthorizeAnswer::SignIn { return_to }
        }
    }

    /// The application requires two-factor and this session has not passed it: the wizard
    /// for a person without 2FA; a fresh sign-in (with the code) for one who has it.
    async fn two_factor_first(
        &self,
        current: &CurrentSession,
        client: &ClientFacts,
        granted: &Authorization,
        return_to: String,
        ctx: &RequestContext,
        back: impl Fn(AuthorizeError) -> String,
    ) -> Result<AuthorizeAnswer> {
        if granted.prompt == Prompt::None {
            return Ok(AuthorizeAnswer::Redirect(back(INTERACTION_REQUIRED)));
        }
        self.audit_refusal(current, client, "two_factor_required", ctx).await?;
        let mut conn = self.store().conn().await?;
        let has_two_factor = factors::of_person(&mut conn, current.user.id).await?.is_on();
        drop(conn);
        if has_two_factor {
            self.sign_out(current, ctx).await?;
            Ok(AuthorizeAnswer::SignIn { return_to })
        } else {
            Ok(AuthorizeAnswer::EnableTwoFactor { return_to })
        }
    }

    async fn audit_refusal(
        &self,
        current: &CurrentSession,
        client: &ClientFacts,
        why: &str,
        ctx: &RequestContext,
    ) -> Result<()> {
        let mut conn = self.store().conn().await?;
        let detail = json!({ "client_id": client.client_id, "why": why });
        record(&mut conn, self.now(), ctx, Parties::own(&current.user), "oidc.authorization_refused", detail).await
    }

    /// A grant for this session and a single-use code for it (SEC-40: 60 seconds).
    async fn issue_code(
        &self,
        current: &CurrentSession,
        client: &ClientFacts,
        granted: &Authorization,
        method: SignInMethod,
        ctx: &RequestContext,
    ) -> Result<String> {
        let now = self.now();
        let code = token::generate(self.entropy());
        let auth_time = current.session.created_at;
        let mut tx = self.store().begin().await?;
        let grant = NewGrant {
            client_id: &client.client_id,
            user_id: current.user.id,
            session_hash: &current.session.id_hash,
            scope: &granted.scope,
            nonce: granted.nonce.as_deref(),
            auth_time,
            method: method.as_str(),
            expires_at: auth_time + GRANT_MAX_SECONDS,
        };
        let grant_id = grants::insert_grant(&mut tx, &grant, now).await?;
        let new_code = NewCode {
            code_hash: &code.hash,
            grant_id,
            redirect_uri: &granted.redirect_uri,
            code_challenge: granted.code_challenge.as_deref(),
            expires_at: now + CODE_SECONDS,
        };
        grants::insert_code(&mut tx, &new_code, now).await?;
        let detail =
            json!({ "client_id": client.client_id, "grant": grant_id, "scope": granted.scope, "amr": method.amr() });
        record(&mut tx, now, ctx, Parties::own(&current.user), "oidc.code_issued", detail).await?;
        commit(tx).await?;
        Ok(code.raw)
    }

    fn error_redirect(&self, redirect_uri: &str, state: Option<&str>, e: &AuthorizeError) -> String {
        let mut params = vec![("error", e.error), ("error_description", e.description)];
        // `state` comes back unchanged (SEC-40), within the bound the request was held to.
        if let Some(state) = state.filter(|s| s.chars().count() <= request::MAX_STATE_CHARS) {
            params.push(("state", state));
        }
        params.push(("iss", self.issuer()));
        with_query(redirect_uri, &params)
    }
}

const LOGIN_REQUIRED: AuthorizeError = AuthorizeError::new("login_required", "Sign in to Twofold first.");
const INTERACTION_REQUIRED: AuthorizeError =
    AuthorizeError::new("interaction_required", "This application requires two-factor authentication first.");
const OTHER_ACCOUNT: AuthorizeError =
    AuthorizeError::new("access_denied", "This application is not available to your account.");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_return_path_drops_prompt_login_and_keeps_the_rest() {
        let params = AuthorizeParams {
            response_type: Some("code".into()),
            client_id: Some("c1".into()),
            redirect_uri: Some("https://a.test/cb".into()),
            state: Some("x&y".into()),
            prompt: Some("login consent".into()),
            ..AuthorizeParams::default()
        };
        let path = return_path(&params, "c1");
        assert_eq!(
            path,
            "/oauth2/authorize?response_type=code&client_id=c1&redirect_uri=https%3A%2F%2Fa.test%2Fcb&state=x%26y&prompt=consent"
        );
        assert!(is_return_path(&path));
        assert!(!is_return_path("/oauth2/authorizeX?a=1"));
        assert!(!is_return_path("https://evil.test/oauth2/authorize?a=1"));
        assert!(!is_return_path(&format!("{PATH}?{}", "a".repeat(MAX_RETURN_CHARS))));
    }
}
