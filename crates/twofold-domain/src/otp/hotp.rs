//! HOTP (RFC 4226): HMAC over a big-endian counter, dynamic truncation, decimal code.

use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha1::Sha1;
use sha2::{Sha256, Sha512};

/// Fewest digits a code may have (RFC 4226 §5.3 requires at least 6).
pub const MIN_DIGITS: u32 = 6;
/// Most digits a code may have.
pub const MAX_DIGITS: u32 = 8;

/// Value [`hotp`] returns if the HMAC could not be computed. HMAC accepts keys of any length,
/// so this cannot happen; should it ever, the value formats to ten characters and therefore
/// never equals a 6–8 digit code (the computation fails closed).
const FAIL_CLOSED: u32 = u32::MAX;

/// The HMAC hash function (`algorithm=` in the otpauth URI).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Algorithm {
    #[default]
    Sha1,
    Sha256,
    Sha512,
}

impl Algorithm {
    /// The name used in otpauth URIs: `SHA1`, `SHA256` or `SHA512`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sha1 => "SHA1",
            Self::Sha256 => "SHA256",
            Self::Sha512 => "SHA512",
        }
    }
}

impl std::fmt::Display for Algorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Clamps a digit count into `MIN_DIGITS..=MAX_DIGITS`.
pub(crate) fn clamp_digits(digits: u32) -> u32 {
    digits.clamp(MIN_DIGITS, MAX_DIGITS)
}

/// The HOTP value for `counter` (RFC 4226 §5.3): `digits` is clamped to 6..=8.
///
/// The result is below `10^digits`; use [`format_code`] to zero-pad it.
pub fn hotp(key: &[u8], counter: u64, digits: u32, algorithm: Algorithm) -> u32 {
    let msg = counter.to_be_bytes();
    let truncated = match algorithm {
        Algorithm::Sha1 => truncate_mac::<Hmac<Sha1>>(key, &msg),
        Algorithm::Sha256 => truncate_mac::<Hmac<Sha256>>(key, &msg),
        Algorithm::Sha512 => truncate_mac::<Hmac<Sha512>>(key, &msg),
    };
    match truncated {
        Some(value) => value % 10u32.pow(clamp_digits(digits)),
        None => FAIL_CLOSED,
    }
}

/// Formats a code as decimal, zero-padded on the left to `digits` (clamped to 6..=8).
pub fn format_code(code: u32, digits: u32) -> String {
    let width = clamp_digits(digits) as usize;
    format!("{code:0width$}")
}

fn truncate_mac<M: Mac + KeyInit>(key: &[u8], msg: &[u8]) -> Option<u32> {
    let mut mac = <M as KeyInit>::new_from_slice(key).ok()?;
    mac.update(msg);
    let output = mac.finalize().into_bytes();
    dynamic_truncation(&output)
}

/// RFC 4226 §5.4: the low nibble of the last byte picks 4 bytes; the top bit is masked off.
fn dynamic_truncation(hmac: &[u8]) -> Option<u32> {
    let offset = usize::from(hmac.last()? & 0x0f);
    let bytes: [u8; 4] = hmac.get(offset..offset.checked_add(4)?)?.try_into().ok()?;
    Some(u32::from_be_bytes(bytes) & 0x7fff_ffff)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
mod tests {
    use super::*;

    const RFC4226_KEY: &[u8] = b"12345678901234567890";

    // SEC-01: RFC 4226 Appendix D.
    #[test]
    fn sec_01_rfc4226_vectors() {
        let expected: [u32; 10] = [755224, 287082, 359152, 969429, 338314, 254676, 287922, 162583, 399871, 520489];
        for (counter, want) in expected.iter().enumerate() {
            let got = hotp(RFC4226_KEY, counter as u64, 6, Algorithm::Sha1);
            assert_eq!(got, *want, "counter {counter}");
        }
    }

    // SEC-01: RFC 4226 Appendix D, intermediate "truncated" decimal values (before mod 10^6).
    #[test]
    fn sec_01_rfc4226_truncated_values() {
        let expected: [u32; 10] = [
            1284755224, 1094287082, 137359152, 1726969429, 1640338314, 868254676, 1918287922, 82162583, 673399871,
            645520489,
        ];
        for (counter, want) in expected.iter().enumerate() {
            let mut mac = <Hmac<Sha1> as KeyInit>::new_from_slice(RFC4226_KEY).unwrap();
            mac.update(&(counter as u64).to_be_bytes());
            let out = mac.finalize().into_bytes();
            assert_eq!(dynamic_truncation(&out), Some(*want), "counter {counter}");
        }
    }

    #[test]
    fn format_zero_pads_to_digits() {
        assert_eq!(format_code(0, 6), "000000");
        assert_eq!(format_code(82162583 % 1_000_000, 6), "162583");
        assert_eq!(format_code(42, 8), "00000042");
        assert_eq!(format_code(1234567, 7), "1234567");
    }

    #[test]
    fn digits_are_clamped_to_6_through_8() {
        let six = hotp(RFC4226_KEY, 0, 6, Algorithm::Sha1);
        assert_eq!(hotp(RFC4226_KEY, 0, 4, Algorithm::Sha1), six);
        let eight = hotp(RFC4226_KEY, 0, 8, Algorithm::Sha1);
        assert_eq!(hotp(RFC4226_KEY, 0, 10, Algorithm::Sha1), eight);
        assert_eq!(format_code(5, 3), "000005");
    }

    #[test]
    fn counters_beyond_32_bits_are_used_in_full() {
        let low = hotp(RFC4226_KEY, 1, 8, Algorithm::Sha1);
        let high = hotp(RFC4226_KEY, (1u64 << 32) + 1, 8, Algorithm::Sha1);
        assert_ne!(low, high);
    }

    #[test]
    fn dynamic_truncation_rejects_short_input() {
        assert_eq!(dynamic_truncation(&[]), None);
        // Offset 0x0f needs 19 bytes; a 16-byte input cannot supply them.
        assert_eq!(dynamic_truncation(&[0x0f; 16]), None);
    }

    #[test]
    fn algorithm_names() {
        assert_eq!(Algorithm::Sha1.as_str(), "SHA1");
        assert_eq!(Algorithm::Sha256.to_string(), "SHA256");
        assert_eq!(Algorithm::Sha512.as_str(), "SHA512");
        assert_eq!(Algorithm::default(), Algorithm::Sha1);
    }
}
