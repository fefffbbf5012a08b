//! Mobile numbers: parsed and validated with libphonenumber's metadata, kept in E.164,
//! shown masked (SEC-11).

use phonenumber::{Mode, Type};
use thiserror::Error;

/// Longest input looked at; E.164 has at most 15 digits, so anything longer is noise.
const MAX_INPUT: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PhoneError {
    #[error("Enter your mobile number.")]
    Empty,
    #[error("Start with + and your country code, for example +353 85 123 4567.")]
    MissingCountryCode,
    #[error("This is not a valid phone number. Check the country code and the digits.")]
    Invalid,
    #[error(
        "This number cannot receive SMS codes (premium-rate, toll-free and shared-cost numbers are not accepted). Enter a mobile number."
    )]
    NotMobile,
}

/// A validated mobile number in E.164 form (`+353851234567`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Phone(String);

impl Phone {
    /// Accepts international format only: people abroad and support staff must read the
    /// same number the same way. Spaces, dashes, dots and brackets are ignored.
    pub fn parse(input: &str) -> Result<Phone, PhoneError> {
        if input.len() > MAX_INPUT * 4 {
            return Err(PhoneError::Invalid);
        }
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(PhoneError::Empty);
        }
        if trimmed.chars().count() > MAX_INPUT {
            return Err(PhoneError::Invalid);
        }
        if !trimmed.starts_with('+') {
            return Err(PhoneError::MissingCountryCode);
        }
        if !trimmed.chars().skip(1).all(|c| c.is_ascii_digit() || " -.()".contains(c)) {
            return Err(PhoneError::Invalid);
        }
        let number = phonenumber::parse(None, trimmed).map_err(|_| PhoneError::Invalid)?;
        if !number.is_valid() {
            return Err(PhoneError::Invalid);
        }
        match number.number_type(&phonenumber::metadata::DATABASE) {
            Type::Mobile | Type::FixedLineOrMobile | Type::PersonalNumber => {}
            _ => return Err(PhoneError::NotMobile),
        }
        Ok(Phone(number.format().mode(Mode::E164).to_string()))
    }

    /// A number already stored in E.164 (from our own database).
    pub fn from_stored(e164: String) -> Phone {
        Phone(e164)
    }

    pub fn e164(&self) -> &str {
        &self.0
    }

    /// Shown everywhere but to the person typing it: only the last two digits, and never
    /// the length, so that the mask tells nothing but what the owner recognises.
    pub fn masked(&self) -> String {
        mask(&self.0)
    }
}

/// `+•• ••• ••• 45` for any stored number.
pub fn mask(e164: &str) -> String {
    let digits: Vec<char> = e164.chars().filter(char::is_ascii_digit).collect();
    let last_two: String = digits.iter().skip(digits.len().saturating_sub(2)).collect();
    format!("+•• ••• ••• {last_two}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sec_11_numbers_are_stored_in_e164() {
        assert_eq!(Phone::parse("+353 85 123 4567").map(|p| p.0), Ok("+353851234567".into()));
        assert_eq!(Phone::parse(" +1 (415) 555-2671 ").map(|p| p.0), Ok("+14155552671".into()));
        assert_eq!(Phone::parse("+44 7400 123456").map(|p| p.0), Ok("+447400123456".into()));
    }

    #[test]
    fn sec_11_numbers_are_shown_masked() {
        let phone = Phone::parse("+353 85 123 4567").map(|p| p.masked());
        assert_eq!(phone, Ok("+•• ••• ••• 67".into()));
        assert_eq!(mask("+14155552671"), "+•• ••• ••• 71");
    }

    #[test]
    fn bad_numbers_are_refused_with_a_reason() {
        assert_eq!(Phone::parse(""), Err(PhoneError::Empty));
        assert_eq!(Phone::parse("0851234567"), Err(PhoneError::MissingCountryCode));
        assert_eq!(Phone::parse("+353 85 CALL ME"), Err(PhoneError::Invalid));
        assert_eq!(Phone::parse("+1 415"), Err(PhoneError::Invalid));
        assert_eq!(Phone::parse("+999 123 456 789"), Err(PhoneError::Invalid));
        assert_eq!(Phone::parse("+1234567890123456789"), Err(PhoneError::Invalid));
        assert_eq!(Phone::parse(&"9".repeat(10_000)), Err(PhoneError::Invalid));
    }

    #[test]
    fn premium_and_toll_free_numbers_are_refused() {
        // UK premium rate (09…) and freephone (0800…), Irish landline.
        assert_eq!(Phone::parse("+44 909 876 5432"), Err(PhoneError::NotMobile));
        assert_eq!(Phone::parse("+44 800 123 4567"), Err(PhoneError::NotMobile));
        assert_eq!(Phone::parse("+353 1 234 5678"), Err(PhoneError::NotMobile));
    }
}
