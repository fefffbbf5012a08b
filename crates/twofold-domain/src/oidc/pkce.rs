//! Proof Key for Code Exchange (RFC 7636), S256 only: `plain` proves nothing against an
//! attacker who sees the authorization request (SEC-40).

use data_encoding::BASE64URL_NOPAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// RFC 7636 §4.1: 43 to 128 characters of the unreserved set.
fn is_unreserved_43_128(s: &str) -> bool {
    (43..=128).contains(&s.len())
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// Whether a `code_challenge` sent with S256 has the shape of one (43 base64url chars).
pub fn is_challenge(challenge: &str) -> bool {
    challenge.len() == 43 && is_unreserved_43_128(challenge)
}

/// Whether `verifier` is the one `challenge` was made from: BASE64URL(SHA-256(verifier)).
pub fn verifies(verifier: &str, challenge: &str) -> bool {
    if !is_unreserved_43_128(verifier) {
        return false;
    }
    let made = BASE64URL_NOPAD.encode(&Sha256::digest(verifier.as_bytes()));
    made.as_bytes().ct_eq(challenge.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 7636, Appendix B.
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    #[test]
    fn sec_40_the_rfc_example_verifies() {
        assert!(is_challenge(CHALLENGE));
        assert!(verifies(VERIFIER, CHALLENGE));
    }

    #[test]
    fn sec_40_a_wrong_short_or_plain_verifier_fails() {
        assert!(!verifies("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXK", CHALLENGE));
        assert!(!verifies("short", CHALLENGE));
        // The `plain` method would send the verifier as the challenge.
        assert!(!verifies(CHALLENGE, CHALLENGE));
        assert!(!verifies(&"a".repeat(129), CHALLENGE));
        assert!(!is_challenge("not a challenge"));
    }
}
