//! The authorization request (OpenID Connect Core §3.1.2.1): which of its faults are shown
//! to the person (the client or its redirect URI cannot be trusted) and which go back to the
//! client as an OAuth error, and what a valid one grants.

use serde::Deserialize;

use super::client::ClientFacts;
use super::{SCOPES, pkce};

/// Longest `state` and `nonce` kept; they come back unchanged (SEC-40), so they are stored.
pub const MAX_STATE_CHARS: usize = 1024;
pub const MAX_NONCE_CHARS: usize = 512;
const MAX_SCOPE_CHARS: usize = 1000;
const MAX_CLIENT_ID_CHARS: usize = 100;

/// The parameters as sent, in the query (GET) or the form (POST). Unknown ones are ignored.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AuthorizeParams {
    pub response_type: Option<String>,
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub scope: Option<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub prompt: Option<String>,
    pub max_age: Option<String>,
    pub response_mode: Option<String>,
    pub request: Option<String>,
    pub request_uri: Option<String>,
    /// `urn:twofold:acr:2fa` among them asks for two-factor as `--require-two-factor` does.
    pub acr_values: Option<String>,
}

/// Faults that are shown on a page and never redirected: sending an error to an
/// unverified URI would make Twofold an open redirector (RFC 6749 §4.1.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Untrusted {
    MissingClient,
    UnknownClient,
    BadRedirectUri,
}

impl Untrusted {
    pub fn message(self) -> &'static str {
        match self {
            Untrusted::MissingClient => "The application sent no client_id.",
            Untrusted::UnknownClient => "This application is not registered here.",
            Untrusted::BadRedirectUri => "The application asked to return to an address it has not registered.",
        }
    }
}

/// An OAuth error for the client, sent to its (verified) redirect URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizeError {
    pub error: &'static str,
    pub description: &'static str,
}

impl AuthorizeError {
    pub const fn new(error: &'static str, description: &'static str) -> Self {
        AuthorizeError { error, description }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prompt {
    /// Use the session if there is one, else sign in.
    Default,
    /// Never show a page: `login_required` without a session.
    None,
    /// Sign in again even with a session.
    Login,
}

/// A valid request, as granted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    pub redirect_uri: String,
    /// The known scopes asked for, space-separated, `openid` first.
    pub scope: String,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub prompt: Prompt,
    pub max_age: Option<i64>,
    /// The request asked for `acr` two-factor (`acr_values`).
    pub two_factor_asked: bool,
}

impl Authorization {
    /// Whether the session must be replaced by a fresh sign-in first.
    pub fn needs_fresh_sign_in(&self, auth_time: i64, now: i64) -> bool {
        self.prompt == Prompt::Login || self.max_age.is_some_and(|max| now.saturating_sub(auth_time) > max)
    }
}

/// The client id as sent, if it could be one.
pub fn client_id(params: &AuthorizeParams) -> Result<&str, Untrusted> {
    match params.client_id.as_deref() {
        Some(id) if !id.is_empty() && id.len() <= MAX_CLIENT_ID_CHARS => Ok(id),
        Some(_) => Err(Untrusted::UnknownClient),
        None => Err(Untrusted::MissingClient),
    }
}

/// The redirect URI, if it is exactly one the client registered (SEC-40).
pub fn redirect_uri<'a>(params: &'a AuthorizeParams, client: &ClientFacts) -> Result<&'a str, Untrusted> {
    match params.redirect_uri.as_deref() {
        Some(uri) if client.allows_redirect(uri) => Ok(uri),
        _ => Err(Untrusted::BadRedirectUri),
    }
}

fn bounded(value: &Option<String>, max: usize, what: &'static str) -> Result<Option<String>, AuthorizeError> {
    match value {
        Some(v) if v.chars().count() > max || v.chars().any(char::is_control) => {
            Err(AuthorizeError::new("invalid_request", what))
        }
        Some(v) if v.is_empty() => Ok(None),
        other => Ok(other.clone()),
    }
}

fn granted_scope(asked: Option<&str>) -> Result<String, AuthorizeError> {
    let asked = asked.unwrap_or_default();
    if asked.len() > MAX_SCOPE_CHARS {
        return Err(AuthorizeError::new("invalid_scope", "The scope is too long."));
    }
    let wanted: Vec<&str> = asked.split(' ').collect();
    if !wanted.contains(&"openid") {
        return Err(AuthorizeError::new(
            "invalid_scope",
            "This provider serves OpenID Connect: include the openid scope.",
        ));
    }
    Ok(SCOPES.into_iter().filter(|s| wanted.contains(s)).collect::<Vec<_>>().join(" "))
}

fn prompt(asked: Option<&str>) -> Result<Prompt, AuthorizeError> {
    let values: Vec<&str> = asked.unwrap_or_default().split(' ').filter(|v| !v.is_empty()).collect();
    if values.contains(&"none") {
        return if values.len() == 1 {
            Ok(Prompt::None)
        } else {
            Err(AuthorizeError::new("invalid_request", "prompt=none cannot be combined with other values."))
        };
    }
    // `consent` and `select_account` need no page here: applications are first-party and a
    // browser holds one session.
    if values.iter().any(|v| !matches!(*v, "login" | "consent" | "select_account")) {
        return Err(AuthorizeError::new("invalid_request", "Unknown prompt value."));
    }
    Ok(if values.contains(&"login") { Prompt::Login } else { Prompt::Default })
}

fn max_age(asked: Option<&str>) -> Result<Option<i64>, AuthorizeError> {
    const TEN_YEARS: i64 = 10 * 366 * 24 * 60 * 60;
    match asked {
        None | Some("") => Ok(None),
        Some(v) => match v.parse::<i64>() {
            Ok(n) if (0..=TEN_YEARS).contains(&n) => Ok(Some(n)),
            _ => Err(AuthorizeError::new("invalid_request", "max_age must be a number of seconds.")),
        },
    }
}

fn pkce(params: &AuthorizeParams, client: &ClientFacts) -> Result<Option<String>, AuthorizeError> {
    match (params.code_challenge.as_deref(), params.code_challenge_method.as_deref()) {
        (None, _) if client.public => {
            Err(AuthorizeError::new("invalid_request", "PKCE is required: send code_challenge with method S256."))
        }
        (None, _) => Ok(None),
        (Some(c), Some("S256")) if pkce::is_challenge(c) => Ok(Some(c.to_owned())),
        (Some(_), Some("S256")) => Err(AuthorizeError::new("invalid_request", "The code_challenge is malformed.")),
        (Some(_), _) => Err(AuthorizeError::new("invalid_request", "Only code_challenge_method S256 is supported.")),
    }
}

/// Checks everything but the client and redirect URI (already verified by the caller).
pub fn check(
    params: &AuthorizeParams,
    client: &ClientFacts,
    redirect_uri: &str,
) -> Result<Authorization, AuthorizeError> {
    if params.request.is_some() {
        return Err(AuthorizeError::new("request_not_supported", "Request objects are not supported."));
    }
    if params.request_uri.is_some() {
        return Err(AuthorizeError::new("request_uri_not_supported", "request_uri is not supported."));
    }
    match params.response_type.as_deref() {
        Some("code") => {}
        None => return Err(AuthorizeError::new("invalid_request", "response_type is missing.")),
        Some(_) => {
            return Err(AuthorizeError::new(
                "unsupported_response_type",
                "Only the authorization code flow is offered.",
            ));
        }
    }
    if params.response_mode.as_deref().is_some_and(|m| m != "query") {
        return Err(AuthorizeError::new("invalid_request", "Only response_mode=query is supported."));
    }
    Ok(Authorization {
        redirect_uri: redirect_uri.to_owned(),
        scope: granted_scope(params.scope.as_deref())?,
        state: bounded(&params.state, MAX_STATE_CHARS, "state is too long.")?,
        nonce: bounded(&params.nonce, MAX_NONCE_CHARS, "nonce is too long.")?,
        code_challenge: pkce(params, client)?,
        prompt: prompt(params.prompt.as_deref())?,
        max_age: max_age(params.max_age.as_deref())?,
        two_factor_asked: params
            .acr_values
            .as_deref()
            .is_some_and(|v| v.split(' ').any(|a| a == super::ACR_TWO_FACTOR)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    const REDIRECT: &str = "https://app.example.test/cb";

    fn client(public: bool) -> ClientFacts {
        ClientFacts {
            client_id: "c1".into(),
            name: "App".into(),
            account_id: None,
            public,
            require_two_factor: false,
            redirect_uris: vec![REDIRECT.into()],
            post_logout_redirect_uris: vec![],
            id_token_alg: Default::default(),
        }
    }

    fn params() -> AuthorizeParams {
        AuthorizeParams {
            response_type: Some("code".into()),
            client_id: Some("c1".into()),
            redirect_uri: Some(REDIRECT.into()),
            scope: Some("openid email".into()),
            state: Some("s".into()),
            nonce: Some("n".into()),
            code_challenge: Some(CHALLENGE.into()),
            code_challenge_method: Some("S256".into()),
            ..AuthorizeParams::default()
        }
    }

    #[test]
    fn a_valid_request_is_granted_its_known_scopes() {
        let mut p = params();
        p.scope = Some("email openid unknown offline_access".into());
        let granted = check(&p, &client(true), REDIRECT).unwrap();
        assert_eq!(granted.scope, "openid email offline_access");
        assert_eq!(granted.state.as_deref(), Some("s"));
        assert_eq!(granted.nonce.as_deref(), Some("n"));
    }

    #[test]
    fn sec_40_an_unregistered_or_prefix_matching_redirect_uri_is_not_trusted() {
        let mut p = params();
        p.redirect_uri = Some(format!("{REDIRECT}/../evil"));
        assert_eq!(redirect_uri(&p, &client(false)), Err(Untrusted::BadRedirectUri));
        p.redirect_uri = None;
        assert_eq!(redirect_uri(&p, &client(false)), Err(Untrusted::BadRedirectUri));
    }

    #[test]
    fn sec_40_public_clients_must_send_an_s256_challenge() {
        let mut p = params();
        p.code_challenge = None;
        assert_eq!(check(&p, &client(true), REDIRECT).unwrap_err().error, "invalid_request");
        assert!(check(&p, &client(false), REDIRECT).is_ok());
        let mut plain = params();
        plain.code_challenge_method = Some("plain".into());
        assert_eq!(check(&plain, &client(false), REDIRECT).unwrap_err().error, "invalid_request");
        let mut absent = params();
        absent.code_challenge_method = None;
        assert!(check(&absent, &client(false), REDIRECT).is_err());
    }

    #[test]
    fn the_openid_scope_and_the_code_flow_are_required() {
        let mut p = params();
        p.scope = Some("email".into());
        assert_eq!(check(&p, &client(false), REDIRECT).unwrap_err().error, "invalid_scope");
        let mut t = params();
        t.response_type = Some("token".into());
        assert_eq!(check(&t, &client(false), REDIRECT).unwrap_err().error, "unsupported_response_type");
        let mut r = params();
        r.request = Some("eyJ...".into());
        assert_eq!(check(&r, &client(false), REDIRECT).unwrap_err().error, "request_not_supported");
    }

    #[test]
    fn prompt_and_max_age_decide_a_fresh_sign_in() {
        let mut p = params();
        p.prompt = Some("login".into());
        assert!(check(&p, &client(false), REDIRECT).unwrap().needs_fresh_sign_in(100, 100));
        p.prompt = Some("none login".into());
        assert!(check(&p, &client(false), REDIRECT).is_err());
        p.prompt = Some("none".into());
        assert_eq!(check(&p, &client(false), REDIRECT).unwrap().prompt, Prompt::None);
        let mut m = params();
        m.max_age = Some("60".into());
        let granted = check(&m, &client(false), REDIRECT).unwrap();
        assert!(!granted.needs_fresh_sign_in(1000, 1060));
        assert!(granted.needs_fresh_sign_in(1000, 1061));
        m.max_age = Some("-1".into());
        assert!(check(&m, &client(false), REDIRECT).is_err());
    }

    #[test]
    fn acr_values_can_ask_for_two_factor() {
        let mut p = params();
        assert!(!check(&p, &client(false), REDIRECT).unwrap().two_factor_asked);
        p.acr_values = Some("urn:twofold:acr:pwd urn:twofold:acr:2fa".into());
        assert!(check(&p, &client(false), REDIRECT).unwrap().two_factor_asked);
    }

    #[test]
    fn oversized_state_or_nonce_is_an_invalid_request() {
        let mut p = params();
        p.state = Some("x".repeat(MAX_STATE_CHARS + 1));
        assert_eq!(check(&p, &client(false), REDIRECT).unwrap_err().error, "invalid_request");
        let mut n = params();
        n.nonce = Some("x".repeat(MAX_NONCE_CHARS + 1));
        assert_eq!(check(&n, &client(false), REDIRECT).unwrap_err().error, "invalid_request");
    }
}
