//! What a registered application (an OAuth client) is, and the rules of registering one.

use thiserror::Error;

/// Longest redirect or post-logout URI accepted, in bytes.
pub const MAX_URI_BYTES: usize = 2000;
/// Most redirect URIs (and, separately, post-logout URIs) one application registers.
pub const MAX_URIS: usize = 10;
/// Longest application name shown on the sign-in page.
pub const MAX_NAME_CHARS: usize = 100;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RegistrationError {
    #[error("Give the application a name of 1 to 100 characters.")]
    Name,
    #[error("Register at least one redirect URI, and at most 10.")]
    RedirectCount,
    #[error("At most 10 post-logout redirect URIs.")]
    PostLogoutCount,
    #[error(
        "{0:?} is not a usable redirect URI: use an absolute https:// URI (http:// only to localhost or 127.0.0.1), without a fragment, up to 2000 characters."
    )]
    Uri(String),
}

/// The facts about an application that its requests are judged by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientFacts {
    pub client_id: String,
    pub name: String,
    /// Only this account's people may sign in to it; `None`: every account of the instance.
    pub account_id: Option<i64>,
    /// No secret: a browser or native app, which must use PKCE.
    pub public: bool,
    pub require_two_factor: bool,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    /// How its ID tokens are signed (`id_token_signed_response_alg`).
    pub id_token_alg: super::jws::Alg,
}

impl ClientFacts {
    /// SEC-40: a redirect URI matches a registered one exactly, byte for byte; no prefix,
    /// no normalisation, no wildcard.
    pub fn allows_redirect(&self, uri: &str) -> bool {
        self.redirect_uris.iter().any(|r| r == uri)
    }

    pub fn allows_post_logout_redirect(&self, uri: &str) -> bool {
        self.post_logout_redirect_uris.iter().any(|r| r == uri)
    }

    /// Whether this person may sign in to the application (SEC-41).
    pub fn serves_account(&self, account_id: i64) -> bool {
        self.account_id.is_none_or(|a| a == account_id)
    }
}

/// The hosts plain http is allowed to (a developer's machine, RFC 8252's loopback).
fn is_loopback_authority(rest: &str) -> bool {
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.split(':').next().unwrap_or_default(),
    };
    matches!(host, "localhost" | "127.0.0.1" | "::1")
}

/// An absolute https URI (or http to loopback) with a host, no fragment, no spaces or
/// control characters, within the length limit.
pub fn check_uri(uri: &str) -> Result<(), RegistrationError> {
    let bad = || RegistrationError::Uri(uri.chars().take(80).collect());
    if uri.len() > MAX_URI_BYTES || uri.contains('#') || uri.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad());
    }
    let rest = if let Some(rest) = uri.strip_prefix("https://") {
        rest
    } else if let Some(rest) = uri.strip_prefix("http://").filter(|r| is_loopback_authority(r)) {
        rest
    } else {
        return Err(bad());
    };
    let host = rest.split(['/', '?', ':']).next().unwrap_or_default();
    if host.is_empty() || rest.contains('@') || rest.contains('*') {
        return Err(bad());
    }
    Ok(())
}

/// Checks a new application's name and URIs; answers the name trimmed.
pub fn check_registration(
    name: &str,
    redirect_uris: &[String],
    post_logout_redirect_uris: &[String],
) -> Result<String, RegistrationError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(RegistrationError::Name);
    }
    if redirect_uris.is_empty() || redirect_uris.len() > MAX_URIS {
        return Err(RegistrationError::RedirectCount);
    }
    if post_logout_redirect_uris.len() > MAX_URIS {
        return Err(RegistrationError::PostLogoutCount);
    }
    for uri in redirect_uris.iter().chain(post_logout_redirect_uris) {
        check_uri(uri)?;
    }
    Ok(name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> ClientFacts {
        ClientFacts {
            client_id: "c".into(),
            name: "Wiki".into(),
            account_id: Some(7),
            public: false,
            require_two_factor: false,
            redirect_uris: vec!["https://wiki.example.test/callback".into()],
            post_logout_redirect_uris: vec![],
            id_token_alg: Default::default(),
        }
    }

    #[test]
    fn sec_40_redirect_uris_match_exactly() {
        let c = client();
        assert!(c.allows_redirect("https://wiki.example.test/callback"));
        for near in [
            "https://wiki.example.test/callback/",
            "https://wiki.example.test/callback?x=1",
            "https://wiki.example.test/call",
            "https://wiki.example.test/callbackevil",
            "https://WIKI.example.test/callback",
            "http://wiki.example.test/callback",
        ] {
            assert!(!c.allows_redirect(near), "{near}");
        }
    }

    #[test]
    fn sec_41_an_account_scoped_client_serves_only_its_account() {
        let mut c = client();
        assert!(c.serves_account(7));
        assert!(!c.serves_account(8));
        c.account_id = None;
        assert!(c.serves_account(8));
    }

    #[test]
    fn redirect_uris_must_be_https_or_loopback() {
        for good in ["https://a.example/cb", "http://localhost:8080/cb", "http://127.0.0.1/cb", "http://[::1]:9/cb"] {
            assert_eq!(check_uri(good), Ok(()), "{good}");
        }
        for bad in [
            "http://a.example/cb",
            "https://a.example/cb#frag",
            "https:///cb",
            "javascript:alert(1)",
            "https://a.example/c b",
            "https://user@a.example/cb",
            "https://*.example/cb",
            "http://localhost.evil.example/cb",
            "cb",
        ] {
            assert!(check_uri(bad).is_err(), "{bad}");
        }
        assert!(check_uri(&format!("https://a.example/{}", "x".repeat(2000))).is_err());
    }

    #[test]
    fn a_registration_needs_a_name_and_one_to_ten_redirect_uris() {
        let uris = vec!["https://a.example/cb".to_owned()];
        assert_eq!(check_registration("  Wiki ", &uris, &[]), Ok("Wiki".into()));
        assert_eq!(check_registration(" ", &uris, &[]), Err(RegistrationError::Name));
        assert_eq!(check_registration("Wiki", &[], &[]), Err(RegistrationError::RedirectCount));
        let many = vec!["https://a.example/cb".to_owned(); 11];
        assert_eq!(check_registration("Wiki", &many, &[]), Err(RegistrationError::RedirectCount));
    }
}
