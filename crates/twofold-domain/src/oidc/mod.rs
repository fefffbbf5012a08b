//! Twofold as an OpenID Provider: the rules of its requests, codes, tokens and claims.
//! The endpoints live in the app and web crates; what they decide is decided here.

pub mod client;
pub mod jws;
pub mod pkce;
pub mod request;

/// An authorization code is redeemed within this (SEC-40: at most 60 seconds).
pub const CODE_SECONDS: i64 = 60;
/// Access tokens are opaque and short: userinfo is read right after sign-in.
pub const ACCESS_TOKEN_SECONDS: i64 = 600;
/// ID tokens say who signed in, for the relying party's own session to begin.
pub const ID_TOKEN_SECONDS: i64 = 600;
/// A refresh token lasts this long unused; each use rotates it and starts it again.
pub const REFRESH_TOKEN_SECONDS: i64 = 30 * 24 * 60 * 60;
/// A grant (one sign-in to one application) is refreshed at most this long after the
/// sign-in itself; then the person signs in again.
pub const GRANT_MAX_SECONDS: i64 = 90 * 24 * 60 * 60;
/// A signing key retired by a rotation stays in the JWKS this long, so that tokens signed
/// before the rotation still verify (SEC-41): far longer than an ID token lives, and than
/// relying parties cache a JWKS (mod_auth_openidc: an hour).
pub const KEY_OVERLAP_SECONDS: i64 = 2 * 24 * 60 * 60;

/// `acr` of a session that passed a second factor (or a browser remembered after one).
pub const ACR_TWO_FACTOR: &str = "urn:twofold:acr:2fa";
/// `acr` of a session signed in by password alone.
pub const ACR_PASSWORD: &str = "urn:twofold:acr:pwd";

/// How a session was signed in, as the session row records it (`sessions.method`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignInMethod {
    Password,
    /// The password, and a browser remembered after an earlier second step.
    RememberedBrowser,
    Totp,
    /// The 2FA wizard's code, entered in this session: the app is proven here.
    Enrolled,
    RecoveryCode,
    SmsRecovery,
    SecurityKey,
    Passkey,
}

impl SignInMethod {
    pub const ALL: [SignInMethod; 8] = [
        SignInMethod::Password,
        SignInMethod::RememberedBrowser,
        SignInMethod::Totp,
        SignInMethod::Enrolled,
        SignInMethod::RecoveryCode,
        SignInMethod::SmsRecovery,
        SignInMethod::SecurityKey,
        SignInMethod::Passkey,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SignInMethod::Password => "password",
            SignInMethod::RememberedBrowser => "remembered_device",
            SignInMethod::Totp => "totp",
            SignInMethod::Enrolled => "enrolled",
            SignInMethod::RecoveryCode => "recovery_code",
            SignInMethod::SmsRecovery => "sms_recovery",
            SignInMethod::SecurityKey => "webauthn",
            SignInMethod::Passkey => "passkey",
        }
    }

    /// The name `GET /api/v1/me` gives (the contract's `session.method`): what the person
    /// did, without the internal distinctions of the stored value.
    pub fn public_name(self) -> &'static str {
        match self {
            SignInMethod::Password => "password",
            SignInMethod::RememberedBrowser => "remembered",
            SignInMethod::Totp | SignInMethod::Enrolled => "totp",
            SignInMethod::RecoveryCode => "recovery_code",
            SignInMethod::SmsRecovery => "sms",
            SignInMethod::SecurityKey => "webauthn",
            SignInMethod::Passkey => "passkey",
        }
    }

    /// The stored value; a session written before methods were recorded (NULL) counts as
    /// the password alone, the conservative reading.
    pub fn parse(stored: Option<&str>) -> SignInMethod {
        stored.and_then(|s| Self::ALL.into_iter().find(|m| m.as_str() == s)).unwrap_or(SignInMethod::Password)
    }

    /// Whether the session passed a second factor: what `--require-two-factor` asks.
    pub fn is_two_factor(self) -> bool {
        self != SignInMethod::Password
    }

    /// RFC 8176 values naming what this session actually did.
    pub fn amr(self) -> Vec<&'static str> {
        let mut amr = match self {
            SignInMethod::Password => return vec!["pwd"],
            // The browser's cookie stood in for the code: two factors, one of them earlier.
            SignInMethod::RememberedBrowser => vec!["pwd"],
            SignInMethod::Totp | SignInMethod::Enrolled | SignInMethod::RecoveryCode => vec!["pwd", "otp"],
            SignInMethod::SmsRecovery => vec!["pwd", "sms"],
            SignInMethod::SecurityKey => vec!["pwd", "hwk"],
            SignInMethod::Passkey => vec!["hwk", "user"],
        };
        amr.push("mfa");
        amr
    }

    pub fn acr(self) -> &'static str {
        if self.is_two_factor() { ACR_TWO_FACTOR } else { ACR_PASSWORD }
    }
}

/// The scopes Twofold grants; anything else asked for is ignored (RFC 6749 §3.3).
pub const SCOPES: [&str; 5] = ["openid", "profile", "email", "groups", "offline_access"];

/// Whether a stored, space-separated scope holds `scope`.
pub fn has_scope(scopes: &str, scope: &str) -> bool {
    scopes.split(' ').any(|s| s == scope)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sec_41_amr_names_the_factors_the_session_used() {
        assert_eq!(SignInMethod::Password.amr(), ["pwd"]);
        assert_eq!(SignInMethod::Totp.amr(), ["pwd", "otp", "mfa"]);
        assert_eq!(SignInMethod::SmsRecovery.amr(), ["pwd", "sms", "mfa"]);
        assert_eq!(SignInMethod::SecurityKey.amr(), ["pwd", "hwk", "mfa"]);
        assert_eq!(SignInMethod::Passkey.amr(), ["hwk", "user", "mfa"]);
        assert_eq!(SignInMethod::RememberedBrowser.amr(), ["pwd", "mfa"]);
        assert_eq!(SignInMethod::Password.acr(), ACR_PASSWORD);
        assert_eq!(SignInMethod::RememberedBrowser.acr(), ACR_TWO_FACTOR);
    }

    #[test]
    fn an_unrecorded_method_is_the_password_alone() {
        assert_eq!(SignInMethod::parse(None), SignInMethod::Password);
        assert_eq!(SignInMethod::parse(Some("something else")), SignInMethod::Password);
        for m in SignInMethod::ALL {
            assert_eq!(SignInMethod::parse(Some(m.as_str())), m);
        }
    }

    #[test]
    fn scopes_are_matched_whole() {
        assert!(has_scope("openid email", "email"));
        assert!(!has_scope("openid emails", "email"));
    }
}
