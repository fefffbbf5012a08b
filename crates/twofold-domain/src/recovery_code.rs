//! Recovery codes (SEC-35): ten single-use codes that stand in for the second factor when
//! the phone or key is lost.
//!
//! Each code is ten characters from Crockford's base32 alphabet (no `i`, `l`, `o`, `u`),
//! so 50 bits from the CSPRNG, shown as two groups of five (`k7m2p-x9qr4`). Input ignores
//! case, spaces and dashes, and reads the look-alikes `o`, `i`, `l` as `0`, `1`, `1`.

use crate::Entropy;

/// Lowercase Crockford base32: 32 symbols, so each random byte's low five bits pick one
/// uniformly (256 is a multiple of 32).
const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
/// Characters in one code: 10 × 5 = 50 bits.
pub const CODE_CHARS: usize = 10;
/// Codes in one set.
pub const CODES_PER_SET: usize = 10;
/// The profile warns once this few or fewer are left.
pub const LOW_AT: u32 = 2;
/// Longest input looked at; anything longer is not a code.
pub const MAX_INPUT_CHARS: usize = 40;

/// One code in its canonical form (ten symbols, no dash).
#[derive(Clone, PartialEq, Eq)]
pub struct RecoveryCode(String);

impl std::fmt::Debug for RecoveryCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RecoveryCode(..)")
    }
}

impl RecoveryCode {
    /// The canonical form, the one that is hashed.
    pub fn canonical(&self) -> &str {
        &self.0
    }

    /// As shown to the person: `k7m2p-x9qr4`.
    pub fn display(&self) -> String {
        let (a, b) = self.0.split_at(CODE_CHARS / 2);
        format!("{a}-{b}")
    }

    /// Reads a typed code; `None` when it cannot be one of ours.
    pub fn parse(typed: &str) -> Option<RecoveryCode> {
        if typed.chars().count() > MAX_INPUT_CHARS {
            return None;
        }
        let mut canonical = String::with_capacity(CODE_CHARS);
        for c in typed.chars().filter(|c| !c.is_whitespace() && *c != '-') {
            let c = match c.to_ascii_lowercase() {
                'o' => '0',
                'i' | 'l' => '1',
                other => other,
            };
            if !c.is_ascii() || !ALPHABET.contains(&(c as u8)) {
                return None;
            }
            canonical.push(c);
        }
        (canonical.len() == CODE_CHARS).then_some(RecoveryCode(canonical))
    }
}

/// A fresh set of codes.
pub fn generate_set(entropy: &dyn Entropy) -> Vec<RecoveryCode> {
    (0..CODES_PER_SET).map(|_| generate(entropy)).collect()
}

fn generate(entropy: &dyn Entropy) -> RecoveryCode {
    let mut bytes = [0u8; CODE_CHARS];
    entropy.fill(&mut bytes);
    // `b & 31` is below 32, the alphabet's length: `get` never misses.
    RecoveryCode(bytes.iter().filter_map(|b| ALPHABET.get(usize::from(b & 31)).copied().map(char::from)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU8, Ordering};

    struct Counting(AtomicU8);
    impl Entropy for Counting {
        fn fill(&self, buf: &mut [u8]) {
            for b in buf.iter_mut() {
                *b = self.0.fetch_add(7, Ordering::SeqCst);
            }
        }
    }

    #[test]
    fn sec_35_a_set_is_ten_codes_of_fifty_bits() {
        let set = generate_set(&Counting(AtomicU8::new(0)));
        assert_eq!(set.len(), 10);
        assert!(set.iter().all(|c| c.canonical().len() == CODE_CHARS));
        // 32 symbols carry 5 bits each: ten of them are 50 bits.
        assert_eq!(ALPHABET.len(), 32);
        assert_eq!(CODE_CHARS * 5, 50);
        let distinct: std::collections::HashSet<_> = set.iter().map(RecoveryCode::canonical).collect();
        assert_eq!(distinct.len(), 10);
    }

    #[test]
    fn codes_are_shown_in_two_groups_and_read_back_however_typed() {
        let code = RecoveryCode::parse("k7m2p-x9qr4").expect("a code");
        assert_eq!(code.display(), "k7m2p-x9qr4");
        assert_eq!(RecoveryCode::parse(" K7M2P X9QR4 "), Some(code.clone()));
        assert_eq!(RecoveryCode::parse("k7m2px9qr4"), Some(code));
        // Look-alikes read as the digits they resemble.
        assert_eq!(RecoveryCode::parse("oooooIIIll").map(|c| c.display()), Some("00000-11111".into()));
    }

    #[test]
    fn anything_else_is_not_a_code() {
        assert_eq!(RecoveryCode::parse("k7m2p-x9qr"), None, "too short");
        assert_eq!(RecoveryCode::parse("k7m2p-x9qr44"), None, "too long");
        assert_eq!(RecoveryCode::parse("k7m2p-x9qu4"), None, "u is not in the alphabet");
        assert_eq!(RecoveryCode::parse("k7m2p-x9qr4é"), None);
        assert_eq!(RecoveryCode::parse(&"-".repeat(10_000)), None);
        assert_eq!(RecoveryCode::parse(""), None);
    }

    #[test]
    fn debug_never_shows_the_code() {
        let code = generate(&Counting(AtomicU8::new(3)));
        assert!(!format!("{code:?}").contains(code.canonical()));
    }
}
