//! RADIUS (RFC 2865, RFC 3579): the wire format and the rules of Twofold's RADIUS server:
//! which client a request comes from, the two ways of giving the code, how long a
//! challenge lives. The UDP socket and the use cases live elsewhere.

pub mod client;
pub mod packet;

use std::net::SocketAddr;

use data_encoding::HEXLOWER;
use sha2::{Digest, Sha256};

use crate::assurance::{Need, Outcome, Strength};

pub use client::{ClientAddress, Mode};
pub use packet::{Attribute, Code, Malformed, Packet, Signature};

/// How long a challenge's `State` may be answered (SEC-53).
pub const CHALLENGE_SECONDS: i64 = 300;

/// How long a request is remembered so that its retransmissions get the same answer
/// instead of a second check. RADIUS clients retransmit after 1–5 seconds, a few times.
pub const RETRANSMISSION_SECONDS: i64 = 30;

/// Attribute numbers used here (RFC 2865 §5, RFC 3579 §3.2).
pub mod attr {
    pub const USER_NAME: u8 = 1;
    pub const USER_PASSWORD: u8 = 2;
    pub const CHAP_PASSWORD: u8 = 3;
    pub const REPLY_MESSAGE: u8 = 18;
    pub const STATE: u8 = 24;
    pub const CLASS: u8 = 25;
    pub const CALLING_STATION_ID: u8 = 31;
    pub const NAS_IDENTIFIER: u8 = 32;
    pub const EAP_MESSAGE: u8 = 79;
    pub const MESSAGE_AUTHENTICATOR: u8 = 80;
}

/// What follows a right password at a RADIUS client, from the one answer to how strongly
/// the person is signed in (SEC-46).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterPassword {
    /// One factor is enough here and the account's policy is not overdue.
    Accept,
    /// The person has a second factor: ask for it (challenge) or check the appended code.
    AskCode,
    /// Refused, for the audit log's reason (the client is answered a plain Access-Reject).
    Refuse(&'static str),
}

/// A person with a second factor always gives it; one without passes only a client
/// registered with `--allow-one-factor`, and not once the account's policy is overdue.
pub fn after_password(password_only: &Strength, allow_one_factor: bool) -> AfterPassword {
    if password_only.has_two_factor {
        AfterPassword::AskCode
    } else if !allow_one_factor {
        AfterPassword::Refuse("two_factor_required")
    } else if password_only.meets(Need::SignedIn) == Outcome::Met {
        AfterPassword::Accept
    } else {
        AfterPassword::Refuse("two_factor_overdue")
    }
}

/// The key under which a request is remembered against retransmission (RFC 5080 §2.2.2):
/// the client, the source address and port, the identifier and the request
/// authenticator. A digest, so that nothing of the packet is stored.
pub fn request_key(client_id: i64, source: SocketAddr, identifier: u8, authenticator: &[u8; 16]) -> String {
    let mut h = Sha256::new();
    h.update(client_id.to_be_bytes());
    h.update(source.to_string().as_bytes());
    h.update([identifier]);
    h.update(authenticator);
    HEXLOWER.encode(&h.finalize())
}

/// The station a `Calling-Station-Id` names, as one budget counts it: an IP address as the
/// web counts a source (an IPv6 address by its /64, which one machine can rotate through),
/// a MAC address without its separators in lower case (`00-1A-2b…` and `00:1a:2b…` are one
/// device), anything else trimmed, lower-cased and cut to 64 characters.
pub fn station_of(calling_station_id: &str) -> Option<String> {
    let raw = calling_station_id.trim();
    if raw.is_empty() {
        return None;
    }
    if let Some(source) = crate::throttle::source_of(raw) {
        return Some(source);
    }
    let hex: String = raw.chars().filter(|c| !matches!(c, ':' | '-' | '.')).collect();
    if hex.len() == 12 && hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return Some(hex.to_ascii_lowercase());
    }
    Some(raw.chars().take(64).collect::<String>().to_lowercase())
}

/// The password and the code of an `append`-mode `User-Password`: the password followed
/// by the six digits of the authenticator app. `None` when it does not end in six digits
/// after at least one character of password.
pub fn split_appended(typed: &str) -> Option<(&str, &str)> {
    let cut = typed.len().checked_sub(6)?;
    if cut == 0 || !typed.is_char_boundary(cut) {
        return None;
    }
    let (password, code) = typed.split_at(cut);
    code.bytes().all(|b| b.is_ascii_digit()).then_some((password, code))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::assurance::{PolicyFacts, assess};
    use crate::oidc::SignInMethod;

    const DAY: i64 = 86_400;

    #[test]
    fn after_a_password_a_second_factor_is_always_asked_for() {
        let none = PolicyFacts::default();
        let with_2fa = assess(SignInMethod::Password, true, none, 0);
        assert_eq!(after_password(&with_2fa, false), AfterPassword::AskCode);
        assert_eq!(after_password(&with_2fa, true), AfterPassword::AskCode);
        let without = assess(SignInMethod::Password, false, none, 0);
        assert_eq!(after_password(&without, false), AfterPassword::Refuse("two_factor_required"));
        assert_eq!(after_password(&without, true), AfterPassword::Accept);
    }

    #[test]
    fn one_factor_ends_when_the_accounts_policy_is_overdue() {
        let policy = PolicyFacts { required_since: Some(0), grace_days: 7 };
        let in_grace = assess(SignInMethod::Password, false, policy, 6 * DAY);
        assert_eq!(after_password(&in_grace, true), AfterPassword::Accept);
        let overdue = assess(SignInMethod::Password, false, policy, 8 * DAY);
        assert_eq!(after_password(&overdue, true), AfterPassword::Refuse("two_factor_overdue"));
    }

    #[test]
    fn sec_53_one_station_is_one_budget_however_it_is_spelled() {
        assert_eq!(station_of("203.0.113.9"), Some("203.0.113.9".into()));
        assert_eq!(station_of("2001:db8:1:2::5"), station_of("2001:db8:1:2:ffff::9"), "one /64");
        assert_eq!(station_of("00-1A-2B-3C-4D-5E"), station_of("00:1a:2b:3c:4d:5e"));
        assert_eq!(station_of("001a.2b3c.4d5e"), Some("001a2b3c4d5e".into()));
        assert_eq!(station_of("  "), None);
        assert_eq!(station_of(&"x".repeat(300)).map(|s| s.len()), Some(64));
    }

    #[test]
    fn a_retransmission_has_the_same_key_and_another_request_another() {
        let from: SocketAddr = "192.0.2.1:40000".parse().unwrap();
        let key = request_key(1, from, 7, &[1; 16]);
        assert_eq!(key, request_key(1, from, 7, &[1; 16]));
        assert_ne!(key, request_key(1, from, 8, &[1; 16]));
        assert_ne!(key, request_key(1, from, 7, &[2; 16]));
        assert_ne!(key, request_key(1, "192.0.2.1:40001".parse().unwrap(), 7, &[1; 16]));
        assert_ne!(key, request_key(2, from, 7, &[1; 16]));
    }

    #[test]
    fn an_appended_code_is_the_last_six_digits() {
        assert_eq!(split_appended("hunter2hunter2123456"), Some(("hunter2hunter2", "123456")));
        assert_eq!(split_appended("pässwörd000042"), Some(("pässwörd", "000042")));
        assert_eq!(split_appended("123456"), None, "a code without a password");
        assert_eq!(split_appended("password12345x"), None);
        assert_eq!(split_appended("short"), None);
        assert_eq!(split_appended("wörd12345"), None, "six bytes that cut a character");
    }
}
