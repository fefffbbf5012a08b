//! One-time passwords: HOTP (RFC 4226) and TOTP (RFC 6238), with the verification policy.

mod hotp;
mod secret;
mod totp;
mod uri;

pub use hotp::{Algorithm, MAX_DIGITS, MIN_DIGITS, format_code, hotp};
pub use secret::{SECRET_LEN, Secret, SecretError};
pub use totp::{
    CodeFormatError, MAX_CODE_INPUT, MAX_DRIFT_STEPS, MAX_WINDOW_STEPS, TotpParams, Verification, current_code,
    describe_offset, normalize_code, totp, verify,
};
pub use uri::{otpauth_uri, otpauth_uri_with_params, percent_encode};
