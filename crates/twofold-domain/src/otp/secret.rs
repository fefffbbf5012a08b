//! The shared TOTP secret: 160 random bits, shown to the user once as base32.

use std::fmt;

use data_encoding::BASE32_NOPAD;
use subtle::ConstantTimeEq;

use crate::Entropy;

/// Length of a secret in bytes (160 bits, the HMAC-SHA1 output size recommended by RFC 4226 §4).
pub const SECRET_LEN: usize = 20;

/// Longest text [`Secret::from_base32`] looks at; a 20-byte secret is 32 characters of base32,
/// so this leaves generous room for spaces and padding.
const MAX_BASE32_INPUT: usize = 128;

/// Why a secret could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("the secret is too long to be a TOTP secret")]
    TooLong,
    #[error("the secret is not valid base32")]
    InvalidBase32,
    #[error("the secret must be {expected} bytes, got {got}")]
    WrongLength { expected: usize, got: usize },
}

/// A TOTP shared secret. `Debug` never prints the bytes.
#[derive(Clone)]
pub struct Secret([u8; SECRET_LEN]);

impl Secret {
    /// A fresh secret filled from `entropy` (the OS CSPRNG in production).
    pub fn generate(entropy: &dyn Entropy) -> Self {
        let mut bytes = [0u8; SECRET_LEN];
        entropy.fill(&mut bytes);
        Self(bytes)
    }

    pub fn from_bytes(bytes: [u8; SECRET_LEN]) -> Self {
        Self(bytes)
    }

    /// A secret from a slice that must be exactly [`SECRET_LEN`] bytes long.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, SecretError> {
        let array: [u8; SECRET_LEN] =
            bytes.try_into().map_err(|_| SecretError::WrongLength { expected: SECRET_LEN, got: bytes.len() })?;
        Ok(Self(array))
    }

    pub fn as_bytes(&self) -> &[u8; SECRET_LEN] {
        &self.0
    }

    /// RFC 4648 base32, uppercase, without padding (32 characters).
    pub fn to_base32(&self) -> String {
        BASE32_NOPAD.encode(&self.0)
    }

    /// Base32 in groups of four separated by spaces, for people typing it into an app.
    pub fn to_base32_grouped(&self) -> String {
        let plain = self.to_base32();
        let mut out = String::with_capacity(plain.len() + plain.len() / 4);
        for (i, c) in plain.chars().enumerate() {
            if i > 0 && i % 4 == 0 {
                out.push(' ');
            }
            out.push(c);
        }
        out
    }

    /// Reads base32, ignoring whitespace, `-`, case and trailing `=` padding.
    pub fn from_base32(text: &str) -> Result<Self, SecretError> {
        if text.len() > MAX_BASE32_INPUT {
            return Err(SecretError::TooLong);
        }
        let cleaned: String = text
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .collect::<String>()
            .trim_end_matches('=')
            .to_ascii_uppercase();
        let bytes = BASE32_NOPAD.decode(cleaned.as_bytes()).map_err(|_| SecretError::InvalidBase32)?;
        Self::from_slice(&bytes)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// Constant-time comparison.
impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl Eq for Secret {}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
mod tests {
    use std::collections::HashSet;

    use proptest::prelude::*;

    use super::*;
    use crate::clock::Sha256Stream;

    // SEC-02: 1,000 generated secrets are all different (and each is 160 bits).
    #[test]
    fn sec_02_thousand_secrets_are_distinct() {
        let entropy = Sha256Stream::new(2);
        let secrets: HashSet<[u8; SECRET_LEN]> = (0..1_000).map(|_| *Secret::generate(&entropy).as_bytes()).collect();
        assert_eq!(secrets.len(), 1_000);
        assert_eq!(SECRET_LEN * 8, 160);
    }

    #[test]
    fn sec_02_secret_is_filled_from_entropy() {
        struct Fixed;
        impl Entropy for Fixed {
            fn fill(&self, buf: &mut [u8]) {
                buf.fill(0xab);
            }
        }
        assert_eq!(Secret::generate(&Fixed).as_bytes(), &[0xab; SECRET_LEN]);
    }

    #[test]
    fn debug_does_not_print_the_secret() {
        let secret = Secret::from_bytes(*b"12345678901234567890");
        let shown = format!("{secret:?}");
        assert_eq!(shown, "Secret(..)");
        assert!(!shown.contains(&secret.to_base32()));
    }

    #[test]
    fn base32_known_value() {
        // RFC 6238 SHA-1 seed, as commonly shown in authenticator test pages.
        let secret = Secret::from_bytes(*b"12345678901234567890");
        assert_eq!(secret.to_base32(), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        assert_eq!(secret.to_base32_grouped(), "GEZD GNBV GY3T QOJQ GEZD GNBV GY3T QOJQ");
    }

    #[test]
    fn base32_round_trip_tolerates_spaces_case_and_padding() {
        let secret = Secret::generate(&Sha256Stream::new(7));
        let plain = secret.to_base32();
        assert_eq!(plain.len(), 32);
        assert!(!plain.contains('='));
        assert_eq!(Secret::from_base32(&plain).unwrap(), secret);
        assert_eq!(Secret::from_base32(&secret.to_base32_grouped()).unwrap(), secret);
        assert_eq!(Secret::from_base32(&plain.to_ascii_lowercase()).unwrap(), secret);
        assert_eq!(Secret::from_base32(&format!("{plain}====")).unwrap(), secret);
        assert_eq!(
            Secret::from_base32(&format!(" {}\t\n", secret.to_base32_grouped().to_lowercase())).unwrap(),
            secret
        );
    }

    #[test]
    fn base32_rejects_bad_input() {
        assert_eq!(Secret::from_base32("not base32!"), Err(SecretError::InvalidBase32));
        assert_eq!(Secret::from_base32("GEZDGNBV"), Err(SecretError::WrongLength { expected: SECRET_LEN, got: 5 }));
        assert_eq!(Secret::from_base32(""), Err(SecretError::WrongLength { expected: SECRET_LEN, got: 0 }));
        assert_eq!(Secret::from_base32(&"A".repeat(1_000_000)), Err(SecretError::TooLong));
    }

    #[test]
    fn from_slice_checks_length() {
        assert!(Secret::from_slice(&[1; SECRET_LEN]).is_ok());
        assert_eq!(Secret::from_slice(&[1; 10]), Err(SecretError::WrongLength { expected: SECRET_LEN, got: 10 }));
    }

    proptest! {
        #[test]
        fn base32_round_trips(bytes in any::<[u8; SECRET_LEN]>()) {
            let secret = Secret::from_bytes(bytes);
            prop_assert_eq!(Secret::from_base32(&secret.to_base32()).unwrap(), secret.clone());
            prop_assert_eq!(Secret::from_base32(&secret.to_base32_grouped()).unwrap(), secret);
        }
    }
}
