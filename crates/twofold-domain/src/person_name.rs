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
    /// Names go into messages; a mail client would turn a link-like name into a second
    /// link beside the one the message exists for (SEC-54).
    #[error("A name cannot look like a web or email address.")]
    LooksLikeAddress,
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
    if looks_like_address(&folded) {
        return Err(NameError::LooksLikeAddress);
    }
    Ok(folded)
}

/// A name as a message shows it: unchanged, unless it was stored before link-like names
/// were refused and looks like an address; then its `.`, `:`, `/` and `@` become spaces,
/// so that no mail client makes a link of it (SEC-54).
pub fn inert(name: &str) -> String {
    if looks_like_address(name) {
        let spaced: String = name.chars().map(|c| if matches!(c, '.' | ':' | '/' | '@') { ' ' } else { c }).collect();
        spaced.split_whitespace().collect::<Vec<_>>().join(" ")
    } else {
        name.to_owned()
    }
}

/// What mail clients turn into a link: a scheme (`https://`, `mailto:`), `www.`, an `@`
/// between characters, or a host name (`evil.test`, `login.evil.example/x`): a dot
/// between a letter or digit and at least two letters. "Dr. Ada", "J. R. R. Tolkien" and
/// "Acme Inc." stay names.
fn looks_like_address(name: &str) -> bool {
    let lower = name.to_lowercase();
    if lower.contains("://") || lower.contains("www.") || lower.contains("mailto:") {
        return true;
    }
    let chars: Vec<char> = lower.chars().collect();
    chars.windows(3).any(|w| matches!(w, [a, '@', b] if !a.is_whitespace() && !b.is_whitespace()))
        || chars.windows(4).any(|w| match w {
            [before, '.', x, y] => before.is_alphanumeric() && x.is_alphabetic() && y.is_alphabetic(),
            _ => false,
        })
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
    fn sec_54_names_that_a_mail_client_would_link_are_refused() {
        for bad in [
            "https://evil.test/login",
            "Eve http://x",
            "www.evil.test",
            "evil.test",
            "Ada (login.evil.example/x)",
            "ada@evil.test",
            "mailto:ada",
            "Acme.com Support",
        ] {
            assert_eq!(parse(bad), Err(NameError::LooksLikeAddress), "{bad:?}");
        }
        for good in ["Dr. Ada Lovelace", "J. R. R. Tolkien", "Acme Inc.", "O'Neil & Sons", "Ada @ home", "3.5 Team"] {
            assert!(parse(good).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn sec_54_a_link_like_name_stored_before_the_rule_is_shown_inert() {
        assert_eq!(inert("https://evil.test/login"), "https evil test login");
        assert_eq!(inert("Dr. Ada"), "Dr. Ada");
        assert!(!looks_like_address(&inert("ada@evil.test www.x.org")));
    }

    #[test]
    fn empty_and_long_names_are_refused() {
        assert_eq!(parse(" \n "), Err(NameError::Empty));
        assert_eq!(parse(&"a".repeat(101)), Err(NameError::TooLong));
        assert_eq!(parse(&"a".repeat(100)).map(|n| n.len()), Ok(100));
    }
}
