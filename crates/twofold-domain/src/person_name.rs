//! People's display names and account names: free text, but no invisible tricks.

use thiserror::Error;

pub const MAX_CHARS: usize = 100;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum NameError {
    #[error("Enter a name.")]
    Empty,
    #[error("A name can be at most 100 characters long.")]
    TooLong,
    #[error("A name cannot contain control characters or invisible formatting characters.")]
    HiddenCharacters,
}

/// Characters that change how surrounding text is displayed without being seen:
/// bidirectional overrides and isolates (the "Trojan Source" trick), zero-width
/// characters and the byte-order mark. A name holding them could impersonate another.
pub fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{200B}'..='\u{200F}'
        | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{2064}'
        | '\u{2066}'..='\u{2069}'
        | '\u{FEFF}'
        | '\u{00AD}')
}

/// Trims the name, folds runs of white space into one space and refuses hidden characters.
pub fn parse(input: &str) -> Result<String, NameError> {
    if input.len() > MAX_CHARS * 8 {
        return Err(NameError::TooLong);
    }
    if input.chars().any(|c| c.is_control() && !c.is_whitespace() || is_invisible(c)) {
        return Err(NameError::HiddenCharacters);
    }
    let folded = input.split_whitespace().collect::<Vec<_>>().join(" ");
    if folded.is_empty() {
        return Err(NameError::Empty);
    }
    if folded.chars().count() > MAX_CHARS {
        return Err(NameError::TooLong);
    }
    Ok(folded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_white_space_folded() {
        assert_eq!(parse("  Ada \t Lovelace "), Ok("Ada Lovelace".to_string()));
        assert_eq!(parse("Zoë Ñúñez 李"), Ok("Zoë Ñúñez 李".to_string()));
    }

    #[test]
    fn unicode_tricks_are_refused() {
        for bad in ["Ada\u{202E}ecalevol", "Ad\u{200B}a", "Ada\u{0007}", "\u{FEFF}Ada", "Ada\u{2066}x"] {
            assert_eq!(parse(bad), Err(NameError::HiddenCharacters), "{bad:?}");
        }
    }

    #[test]
    fn empty_and_long_names_are_refused() {
        assert_eq!(parse(" \n "), Err(NameError::Empty));
        assert_eq!(parse(&"a".repeat(101)), Err(NameError::TooLong));
        assert_eq!(parse(&"a".repeat(100)).map(|n| n.len()), Ok(100));
    }
}
