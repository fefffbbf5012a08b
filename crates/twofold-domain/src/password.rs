//! What makes an acceptable new password (NIST SP 800-63B §3.1.1.2, OWASP ASVS 2.1).

use thiserror::Error;

pub const MIN_CHARS: usize = 12;
pub const MAX_CHARS: usize = 128;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PasswordError {
    #[error("Use at least 12 characters.")]
    TooShort,
    #[error("Use at most 128 characters.")]
    TooLong,
    #[error("This password is too common; choose another.")]
    TooCommon,
}

/// A short list of the passwords attackers try first: refusing them is cheap and
/// NIST asks for it. Compared case-insensitively.
const COMMON: &[&str] = &[
    "123456789012",
    "password1234",
    "passwordpassword",
    "qwertyuiopas",
    "111111111111",
    "aaaaaaaaaaaa",
    "letmeinletmein",
    "iloveyou1234",
    "administrator",
    "changemechangeme",
];

/// Length is what counts: no composition rules, any characters, spaces included.
pub fn check_new(password: &str) -> Result<(), PasswordError> {
    if password.len() > MAX_CHARS * 4 {
        return Err(PasswordError::TooLong);
    }
    let chars = password.chars().count();
    if chars < MIN_CHARS {
        return Err(PasswordError::TooShort);
    }
    if chars > MAX_CHARS {
        return Err(PasswordError::TooLong);
    }
    let lower = password.to_lowercase();
    if COMMON.contains(&lower.as_str()) || lower.chars().all(|c| lower.starts_with(c)) {
        return Err(PasswordError::TooCommon);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_decides() {
        assert_eq!(check_new("short"), Err(PasswordError::TooShort));
        assert_eq!(check_new(&"x1".repeat(65)), Err(PasswordError::TooLong));
        assert_eq!(check_new("correct horse battery"), Ok(()));
        assert_eq!(check_new("ünïcödé pässwörd"), Ok(()));
    }

    #[test]
    fn common_and_repeated_passwords_are_refused() {
        assert_eq!(check_new("Password1234"), Err(PasswordError::TooCommon));
        assert_eq!(check_new("zzzzzzzzzzzzzzzz"), Err(PasswordError::TooCommon));
    }
}
