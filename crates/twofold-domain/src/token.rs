//! Bearer tokens (sessions, setup and invitation links, remembered devices): random,
//! shown once, stored only as a hash (SEC-20).

use crate::Entropy;
use data_encoding::{BASE64URL_NOPAD, HEXLOWER};
use sha2::{Digest, Sha256};

/// 256 bits: twice the SEC-20 floor, so that a token also serves as a key derivation input.
pub const TOKEN_BYTES: usize = 32;
/// The encoded length of a token; anything else presented is not one of ours.
pub const TOKEN_CHARS: usize = 43;

/// A freshly minted token: give `raw` to the holder, keep `hash`.
#[derive(Clone)]
pub struct NewToken {
    pub raw: String,
    pub hash: String,
}

impl std::fmt::Debug for NewToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewToken").field("hash", &self.hash).finish_non_exhaustive()
    }
}

pub fn generate(entropy: &dyn Entropy) -> NewToken {
    let mut bytes = [0u8; TOKEN_BYTES];
    entropy.fill(&mut bytes);
    let raw = BASE64URL_NOPAD.encode(&bytes);
    let hash = hash(&raw);
    NewToken { raw, hash }
}

/// The stored form of a token. SHA-256 suffices: the input has 256 bits of entropy, so
/// there is nothing to brute-force and no need for a slow hash.
pub fn hash(raw: &str) -> String {
    HEXLOWER.encode(&Sha256::digest(raw.as_bytes()))
}

/// Whether `raw` has the shape of one of our tokens; cheap to check before any lookup.
pub fn is_well_formed(raw: &str) -> bool {
    raw.len() == TOKEN_CHARS && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The anti-CSRF token of a session (SEC-25): derived from the session's own secret so
/// it needs no storage, and useless to anyone who does not already hold the session.
pub fn csrf_for_session(raw_session: &str) -> String {
    let digest = Sha256::new().chain_update(b"twofold/csrf\0").chain_update(raw_session.as_bytes()).finalize();
    BASE64URL_NOPAD.encode(&digest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::CountingEntropy as Counting;
    use std::sync::atomic::AtomicU8;

    #[test]
    fn sec_20_tokens_carry_256_bits_and_are_stored_hashed() {
        let entropy = Counting(AtomicU8::new(7));
        let token = generate(&entropy);
        assert_eq!(token.raw.len(), TOKEN_CHARS);
        assert!(is_well_formed(&token.raw));
        assert_eq!(token.hash, hash(&token.raw));
        assert_ne!(token.hash, token.raw);
        assert_ne!(generate(&entropy).raw, token.raw);
    }

    #[test]
    fn debug_output_never_shows_the_raw_token() {
        let token = generate(&Counting(AtomicU8::new(1)));
        assert!(!format!("{token:?}").contains(&token.raw));
    }

    #[test]
    fn malformed_tokens_are_recognised() {
        assert!(!is_well_formed(""));
        assert!(!is_well_formed(&"a".repeat(44)));
        assert!(!is_well_formed(&format!("{}=", "a".repeat(42))));
    }

    #[test]
    fn csrf_tokens_differ_per_session() {
        assert_ne!(csrf_for_session("a"), csrf_for_session("b"));
        assert_eq!(csrf_for_session("a"), csrf_for_session("a"));
    }
}
