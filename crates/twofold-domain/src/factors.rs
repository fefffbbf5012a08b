//! Which second factors a person has, and what follows from that: whether 2FA is on, and
//! which methods the second step offers. Decided here only.

use crate::credential::TotpState;
use crate::recovery_code::LOW_AT;

/// A way to pass the second step, named as the API names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Totp,
    WebAuthn,
    RecoveryCode,
    /// An SMS code, only while support's recovery grant is active.
    Sms,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Totp => "totp",
            Method::WebAuthn => "webauthn",
            Method::RecoveryCode => "recovery_code",
            Method::Sms => "sms",
        }
    }
}

/// A person's second factors, read in one go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SecondFactors {
    pub totp: TotpState,
    /// Security keys and passkeys registered.
    pub security_keys: u32,
    /// When the first of them was registered.
    pub first_key_at: Option<i64>,
    /// Unused recovery codes of the current set.
    pub recovery_codes_left: u32,
}

impl SecondFactors {
    pub const NONE: SecondFactors =
        SecondFactors { totp: TotpState::None, security_keys: 0, first_key_at: None, recovery_codes_left: 0 };

    /// When 2FA went on: the earlier of the app's enabling and the first key. A person
    /// with only a security key has 2FA on.
    pub fn enabled_since(&self) -> Option<i64> {
        let key = self.first_key_at.filter(|_| self.security_keys > 0);
        match (self.totp.enabled_since(), key) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    pub fn is_on(&self) -> bool {
        self.enabled_since().is_some()
    }

    /// The profile's warning: two or fewer codes left while 2FA is on.
    pub fn recovery_codes_low(&self) -> bool {
        self.is_on() && self.recovery_codes_left <= LOW_AT
    }

    /// What the second step offers, strongest first; `sms_grant` is support's grant.
    pub fn methods(&self, sms_grant: bool) -> Vec<Method> {
        let mut methods = Vec::new();
        if self.security_keys > 0 {
            methods.push(Method::WebAuthn);
        }
        if self.totp.is_enabled() {
            methods.push(Method::Totp);
        }
        if self.is_on() && self.recovery_codes_left > 0 {
            methods.push(Method::RecoveryCode);
        }
        if sms_grant {
            methods.push(Method::Sms);
        }
        methods
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(totp: TotpState, keys: u32, codes: u32) -> SecondFactors {
        SecondFactors { totp, security_keys: keys, first_key_at: (keys > 0).then_some(50), recovery_codes_left: codes }
    }

    #[test]
    fn a_security_key_alone_turns_two_factor_on() {
        let f = with(TotpState::None, 1, 10);
        assert!(f.is_on());
        assert_eq!(f.enabled_since(), Some(50));
        assert_eq!(f.methods(false), vec![Method::WebAuthn, Method::RecoveryCode]);
    }

    #[test]
    fn two_factor_dates_from_the_first_factor() {
        let f = with(TotpState::Enabled { since: 90 }, 2, 0);
        assert_eq!(f.enabled_since(), Some(50));
        assert_eq!(with(TotpState::Enabled { since: 30 }, 1, 0).enabled_since(), Some(30));
        assert_eq!(SecondFactors::NONE.enabled_since(), None);
    }

    #[test]
    fn codes_are_offered_while_some_are_left_and_warned_about_at_two() {
        let on = TotpState::Enabled { since: 1 };
        assert_eq!(with(on, 0, 3).methods(false), vec![Method::Totp, Method::RecoveryCode]);
        assert_eq!(with(on, 0, 0).methods(true), vec![Method::Totp, Method::Sms]);
        assert!(!with(on, 0, 3).recovery_codes_low());
        assert!(with(on, 0, 2).recovery_codes_low());
        // Codes without any factor on (an unfinished wizard) are neither offered nor warned.
        assert_eq!(with(TotpState::KeyIssued { at: 1 }, 0, 10).methods(false), vec![]);
        assert!(!with(TotpState::None, 0, 0).recovery_codes_low());
    }
}
