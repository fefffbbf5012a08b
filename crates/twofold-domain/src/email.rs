//! Email addresses as sign-in names: normalised so that one person has one spelling.

use thiserror::Error;

/// Longest address SMTP can carry (RFC 5321 §4.5.3.1.3, less the angle brackets).
pub const MAX_LEN: usize = 254;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EmailError {
    #[error("Enter an email address.")]
    Empty,
    #[error("An email address can be at most 254 characters long.")]
    TooLong,
    #[error("Enter an email address like name@example.com.")]
    Malformed,
}

/// A syntactically plausible, lower-cased, trimmed email address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    /// Checks the shape only (one `@`, a dotted domain, no spaces or control characters);
    /// whether the mailbox exists is the invitation's job.
    pub fn parse(input: &str) -> Result<Email, EmailError> {
        if input.len() > MAX_LEN * 4 {
            return Err(EmailError::TooLong);
        }
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(EmailError::Empty);
        }
        if trimmed.chars().count() > MAX_LEN {
            return Err(EmailError::TooLong);
        }
        let lower = trimmed.to_lowercase();
        let (local, domain) = lower.split_once('@').ok_or(EmailError::Malformed)?;
        let plausible = !local.is_empty()
            && local.len() <= 64
            && !domain.contains('@')
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..")
            && lower.chars().all(|c| !c.is_whitespace() && !c.is_control() && !crate::person_name::is_invisible(c));
        if plausible { Ok(Email(lower)) } else { Err(EmailError::Malformed) }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl std::fmt::Display for Email {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// An address as lists and logs show it: `p***@acme.test`.
pub fn mask(address: &str) -> String {
    match address.split_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => "***".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_trimmed_and_lower_cased() {
        let email = Email::parse("  Ada.Lovelace@Example.COM ").map(Email::into_string);
        assert_eq!(email, Ok("ada.lovelace@example.com".to_string()));
    }

    #[test]
    fn malformed_addresses_are_refused() {
        for bad in [
            "ada",
            "@example.com",
            "ada@",
            "ada@example",
            "a b@example.com",
            "ada@@example.com",
            "ada@.example.com",
            "ada@example..com",
            "ada\u{202e}@example.com",
        ] {
            assert_eq!(Email::parse(bad), Err(EmailError::Malformed), "{bad:?}");
        }
        assert_eq!(Email::parse("   "), Err(EmailError::Empty));
    }

    #[test]
    fn masked_addresses_keep_the_first_letter_and_the_domain() {
        assert_eq!(mask("pat@acme.test"), "p***@acme.test");
        assert_eq!(mask("nonsense"), "***");
    }

    #[test]
    fn five_thousand_characters_are_too_long() {
        let long = format!("{}@example.com", "a".repeat(5_000));
        assert_eq!(Email::parse(&long), Err(EmailError::TooLong));
    }
}
