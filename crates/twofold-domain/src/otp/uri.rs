//! The `otpauth://` Key URI that authenticator apps read from the enrollment QR code.
//!
//! Format (Google Authenticator Key URI): `otpauth://totp/Issuer:account?secret=…&issuer=Issuer
//! &algorithm=SHA1&digits=6&period=30`.

use std::fmt::Write as _;

use super::secret::Secret;
use super::totp::TotpParams;

/// The enrollment URI with the standard parameters (SHA1, 6 digits, 30 s) (SEC-03).
pub fn otpauth_uri(issuer: &str, account: &str, secret: &Secret) -> String {
    otpauth_uri_with_params(issuer, account, secret, &TotpParams::default())
}

/// The enrollment URI for the given parameters. Only `algorithm`, `digits` and `period` appear
/// in the URI; the window and drift search are server-side policy.
pub fn otpauth_uri_with_params(issuer: &str, account: &str, secret: &Secret, params: &TotpParams) -> String {
    let issuer = percent_encode(issuer);
    format!(
        "otpauth://totp/{issuer}:{account}?secret={secret}&issuer={issuer}&algorithm={alg}&digits={digits}&period={period}",
        account = percent_encode(account),
        secret = secret.to_base32(),
        alg = params.algorithm.as_str(),
        digits = params.digits,
        period = params.period,
    )
}

/// RFC 3986 percent-encoding: unreserved characters (`A-Z a-z 0-9 - . _ ~`) stay as they are,
/// every other UTF-8 byte becomes `%XX` with uppercase hex (so a space is `%20`, `:` is `%3A`).
pub fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            // Writing to a String cannot fail.
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::otp::Algorithm;

    fn secret() -> Secret {
        Secret::from_bytes(*b"12345678901234567890")
    }

    /// Undoes `percent_encode`, for checking round trips.
    fn percent_decode(text: &str) -> String {
        let bytes = text.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'%' {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
                out.push(u8::from_str_radix(hex, 16).unwrap());
                i += 3;
            } else {
                out.push(bytes[i]);
                i += 1;
            }
        }
        String::from_utf8(out).unwrap()
    }

    // SEC-03: label `Issuer:account`, issuer= equal to the prefix, base32 without padding,
    // SHA1 / 6 digits / 30 s.
    #[test]
    fn sec_03_otpauth_uri_format() {
        assert_eq!(
            otpauth_uri("Twofold", "alice@example.com", &secret()),
            "otpauth://totp/Twofold:alice%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\
             &issuer=Twofold&algorithm=SHA1&digits=6&period=30"
        );
    }

    // SEC-03: spaces, '@', ':' and '+' in issuer and account are percent-encoded.
    #[test]
    fn sec_03_otpauth_uri_encodes_label_and_issuer() {
        let uri = otpauth_uri("Acme Corp: EU", "jo+smith @acme.io", &secret());
        assert_eq!(
            uri,
            "otpauth://totp/Acme%20Corp%3A%20EU:jo%2Bsmith%20%40acme.io\
             ?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Acme%20Corp%3A%20EU\
             &algorithm=SHA1&digits=6&period=30"
        );
        // Exactly one raw ':' in the label (the issuer separator) and no raw spaces anywhere.
        let label = uri.strip_prefix("otpauth://totp/").unwrap().split('?').next().unwrap();
        assert_eq!(label.matches(':').count(), 1);
        assert!(!uri.contains(' '));
        assert!(!uri.contains('+'));
        assert!(!uri.contains('@'));
    }

    // SEC-03: the secret in the URI is the unpadded base32 of the secret and reads back.
    #[test]
    fn sec_03_otpauth_uri_secret_round_trips() {
        let s = secret();
        let uri = otpauth_uri("Twofold", "bob", &s);
        let query = uri.split_once('?').unwrap().1;
        let b32 = query.split('&').find_map(|kv| kv.strip_prefix("secret=")).unwrap();
        assert!(!b32.contains('='));
        assert_eq!(Secret::from_base32(b32).unwrap(), s);
        let issuer = query.split('&').find_map(|kv| kv.strip_prefix("issuer=")).unwrap();
        assert_eq!(issuer, "Twofold");
    }

    #[test]
    fn uri_with_other_params() {
        let params = TotpParams { algorithm: Algorithm::Sha256, digits: 8, period: 60, ..TotpParams::default() };
        assert!(
            otpauth_uri_with_params("T", "a", &secret(), &params).ends_with("&algorithm=SHA256&digits=8&period=60")
        );
    }

    #[test]
    fn percent_encode_cases() {
        assert_eq!(percent_encode("AZaz09-._~"), "AZaz09-._~");
        assert_eq!(percent_encode("a b"), "a%20b");
        assert_eq!(percent_encode("a:b"), "a%3Ab");
        assert_eq!(percent_encode("a+b@c/d?e&f=g#h%"), "a%2Bb%40c%2Fd%3Fe%26f%3Dg%23h%25");
        assert_eq!(percent_encode("é"), "%C3%A9");
        assert_eq!(percent_encode(""), "");
    }

    proptest! {
        #[test]
        fn percent_encode_round_trips_and_is_safe(text in any::<String>()) {
            let encoded = percent_encode(&text);
            prop_assert!(encoded.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~%".contains(&b)));
            prop_assert_eq!(percent_decode(&encoded), text);
        }
    }
}
