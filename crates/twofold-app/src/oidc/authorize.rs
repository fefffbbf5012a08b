//! The authorization endpoint. It does not sign anyone in itself: a person without a
//! session (or who must sign in again) goes through Twofold's own sign-in and comes back
//! here by the `rd` that sign-in keeps; a person an application requires 2FA of goes
//! through the wizard first. Then the application gets a code, bound to its grant.

use serde_json::json;
use twofold_domain::assurance::{Need, Outcome};
use twofold_domain::oidc::client::ClientFacts;
use twofold_domain::oidc::request::{self, Authorization, AuthorizeError, AuthorizeParams, Prompt, Untrusted};
use twofold_domain::oidc::{CODE_SECONDS, GRANT_MAX_SECONDS, SignInMethod};
use twofold_domain::token;
use twofold_store::commit;
use twofold_store::oidc::clients;
use twofold_store::oidc::grants::{self, NewCode, NewGrant};

use super::with_query;
use crate::audit::Parties;
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
    /// An OAuth error shown on a page: the application was registered by an account's Owner
    /// and this browser holds no session of that account, so its redirect URI is not
    /// followed (else any Owner's registration would be an open redirector, RFC 9700 §4.11.2).
    Failed(AuthorizeError),
    /// Back to the application, with a code or an OAuth error.
    Redirect(String),
    /// Sign in, then `return_to`. `fresh`: even with a session (which the new sign-in
    /// replaces; nothing is ended by this GET).
    SignIn { return_to: String, fresh: bool },
    /// Turn 2FA on in the wizard, then `return_to`.
    EnableTwoFactor { return_to: String },
}

/// How recent a fresh sign-in must be when the request comes back to this endpoint after
/// it: `prompt=login` becomes this `max_age`, and a smaller `max_age` grows to it, so that
/// the walk back from the sign-in never asks for another.
pub const FRESH_SIGN_IN_SECONDS: i64 = 300;

/// The request again as a path on this server, for after sign-in. After a fresh sign-in,
/// `prompt=login` is replaced by a `max_age` the new session meets.
fn return_path(params: &AuthorizeParams, client_id: &str, fresh: Option<&Authorization>) -> String {
    let prompt = params.prompt.as_deref().map(|p| {
        p.split(' ').filter(|v| !v.is_empty() && (fresh.is_none() || *v != "login")).collect::<Vec<_>>().join(" ")
    });
    let max_age = match fresh {
        Some(granted) if granted.prompt == Prompt::Login || granted.max_age.is_some() => {
            Some(granted.max_age.unwrap_or(0).max(FRESH_SIGN_IN_SECONDS).to_string())
        }
        _ => params.max_age.clone(),
    };
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
        ("max_age", max_age.as_deref()),
        ("acr_values", params.acr_values.as_deref()),
        ("response_mode", params.response_mode.as_deref()),
    ];
    let present: Vec<(&str, &str)> = fields.iter().filter_map(|(k, v)| v.map(|v| (*k, v))).collect();
    with_query(PATH, &present)
}

/// Whether `rd` is an authorization request of this server that sign-in may return to.
/// Only the characters [`return_path`] writes: nothing that could end a cookie attribute.
pub fn is_return_path(rd: &str) -> bool {
    rd.len() <= MAX_RETURN_CHARS
        && rd.strip_prefix(PATH).is_some_and(|q| q.starts_with('?'))
        && rd.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~%&=?/".contains(&b))
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
        let current = session.filter(|s| s.is_signed_in());
        let follows_redirects =
            client.account_id.is_none() || current.is_some_and(|s| client.serves_account(s.user.account_id));
        let back = |e: AuthorizeError| {
            if follows_redirects {
                AuthorizeAnswer::Redirect(self.error_redirect(redirect_uri, params.state.as_deref(), &e))
            } else {
                AuthorizeAnswer::Failed(e)
            }
        };
        let granted = match request::check(params, &client, redirect_uri) {
            Ok(granted) => granted,
            Err(e) => return Ok(back(e)),
        };
        let now = self.now();
        let Some(current) = current else {
            return Ok(self.sign_in_first(&granted, return_path(params, client_id, None), false, back));
        };
        if granted.needs_fresh_sign_in(current.session.created_at, now) {
            return Ok(self.sign_in_first(&granted, return_path(params, client_id, Some(&granted)), true, back));
        }
        if !client.serves_account(current.user.account_id) {
            self.audit_refusal(current, &client, "other_account", ctx).await?;
            return Ok(back(OTHER_ACCOUNT));
        }
        let need = if client.require_two_factor || granted.two_factor_asked { Need::TwoFactor } else { Need::SignedIn };
        let outcome = current.meets(need);
        if outcome != Outcome::Met {
            if granted.prompt == Prompt::None {
                return Ok(back(INTERACTION_REQUIRED));
            }
            self.audit_refusal(current, &client, "two_factor_required", ctx).await?;
            let return_to = return_path(params, client_id, None);
            return Ok(if outcome == Outcome::SignInAgain {
                AuthorizeAnswer::SignIn { return_to, fresh: true }
            } else {
                AuthorizeAnswer::EnableTwoFactor { return_to }
            });
        }
        let method = current.strength.method;
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
        fresh: bool,
        back: impl Fn(AuthorizeError) -> AuthorizeAnswer,
    ) -> AuthorizeAnswer {
        if granted.prompt == Prompt::None { back(LOGIN_REQUIRED) } else { AuthorizeAnswer::SignIn { return_to, fresh } }
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
        self.record(&mut conn, self.now(), ctx, Parties::own(&current.user), "oidc.authorization_refused", detail).await
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
        self.record(&mut tx, now, ctx, Parties::own(&current.user), "oidc.code_issued", detail).await?;
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

    fn client() -> ClientFacts {
        ClientFacts {
            client_id: "c1".into(),
            name: "App".into(),
            account_id: None,
            public: false,
            require_two_factor: false,
            redirect_uris: vec!["https://a.test/cb".into()],
            post_logout_redirect_uris: vec![],
            id_token_alg: Default::default(),
        }
    }

    #[test]
    fn a_fresh_sign_ins_return_path_trades_prompt_login_for_a_max_age_and_keeps_the_rest() {
        let params = AuthorizeParams {
            response_type: Some("code".into()),
            client_id: Some("c1".into()),
            redirect_uri: Some("https://a.test/cb".into()),
            state: Some("x&y".into()),
            prompt: Some("login consent".into()),
            scope: Some("openid".into()),
            ..AuthorizeParams::default()
        };
        let granted = request::check(&params, &client(), "https://a.test/cb").unwrap();
        let path = return_path(&params, "c1", Some(&granted));
        assert_eq!(
            path,
            "/oauth2/authorize?response_type=code&client_id=c1&redirect_uri=https%3A%2F%2Fa.test%2Fcb&scope=openid&state=x%26y&prompt=consent&max_age=300"
        );
        assert!(is_return_path(&path));
        assert!(return_path(&params, "c1", None).contains("prompt=login%20consent"), "kept unless fresh");
        assert!(!is_return_path("/oauth2/authorize?a=1;Domain=evil.test"), "nothing that ends a cookie attribute");
        assert!(!is_return_path("/oauth2/authorize?a=\"b"));
        assert!(!is_return_path("/oauth2/authorizeX?a=1"));
        assert!(!is_return_path("https://evil.test/oauth2/authorize?a=1"));
        assert!(!is_return_path(&format!("{PATH}?{}", "a".repeat(MAX_RETURN_CHARS))));
    }
}
