//! Twofold as an OpenID Provider: applications sign people in through Twofold's own sign-in
//! (password, second factor, the 2FA wizard where an application requires it). The rules
//! are in `twofold_domain::oidc`; the endpoints' HTTP faces in the web crate.

pub mod authorize;
pub mod claims;
pub mod clients;
pub mod keys;
pub mod logout;
pub mod tokens;

use crate::Error;

/// An error in OAuth's own words (RFC 6749 §5.2): the token, userinfo and revocation
/// endpoints answer with these, never with the API's error shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    pub status: u16,
    pub error: &'static str,
    pub description: String,
}

impl OAuthError {
    pub fn new(status: u16, error: &'static str, description: impl Into<String>) -> Self {
        OAuthError { status, error, description: description.into() }
    }

    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(400, "invalid_request", description)
    }

    pub fn invalid_grant(description: impl Into<String>) -> Self {
        Self::new(400, "invalid_grant", description)
    }

    pub fn invalid_client() -> Self {
        Self::new(401, "invalid_client", "Client authentication failed.")
    }

    pub fn invalid_token() -> Self {
        Self::new(401, "invalid_token", "The access token is invalid, expired or revoked.")
    }
}

impl From<Error> for OAuthError {
    fn from(e: Error) -> Self {
        match e {
            Error::Unavailable => Self::new(503, "temporarily_unavailable", "Try again shortly."),
            other => {
                tracing::error!(error = %other, "OpenID Connect request failed");
                Self::new(500, "server_error", "The request could not be completed.")
            }
        }
    }
}

impl From<twofold_store::StoreError> for OAuthError {
    fn from(e: twofold_store::StoreError) -> Self {
        Error::from(e).into()
    }
}

/// `base` with `params` appended to its query, percent-encoded.
pub(crate) fn with_query(base: &str, params: &[(&str, &str)]) -> String {
    let mut url = base.to_owned();
    let mut separator = if base.contains('?') { '&' } else { '?' };
    for (name, value) in params {
        url.push(separator);
        url.push_str(name);
        url.push('=');
        url.push_str(&twofold_domain::percent::encode(value));
        separator = '&';
    }
    url
}

#[cfg(test)]
mod tests {
    use super::with_query;

    #[test]
    fn parameters_join_an_existing_query() {
        assert_eq!(with_query("https://a.test/cb", &[("code", "x y")]), "https://a.test/cb?code=x%20y");
        assert_eq!(with_query("https://a.test/cb?t=1", &[("a", "1"), ("b", "&")]), "https://a.test/cb?t=1&a=1&b=%26");
    }
}
