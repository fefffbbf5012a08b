//! Groups of an account's people, as applications see them: a name that travels in a
//! claim, a SAML attribute and a comma-separated header.

/// Longest group name.
pub const MAX_NAME_CHARS: usize = 64;

/// A group's name: 1–64 ASCII letters, digits, spaces, `-`, `_` or `.`, trimmed. Nothing
/// that a header list (`Remote-Groups: user,vpn,eng`) or a claim would have to escape.
pub fn parse_name(input: &str) -> Result<String, &'static str> {
    let name = input.trim();
    if name.is_empty() {
        return Err("A group needs a name.");
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err("A group's name has at most 64 characters.");
    }
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, ' ' | '-' | '_' | '.')) {
        return Err("A group's name has letters, digits, spaces, '-', '_' and '.' only.");
    }
    Ok(name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_travel_in_headers_and_claims_unescaped() {
        assert_eq!(parse_name("  vpn-users "), Ok("vpn-users".into()));
        assert_eq!(parse_name("Team 2.0_beta"), Ok("Team 2.0_beta".into()));
        assert!(parse_name("").is_err());
        assert!(parse_name("a,b").is_err(), "a comma would split the header");
        assert!(parse_name("x\r\nSet-Cookie: y").is_err());
        assert!(parse_name("ünïcode").is_err());
        assert!(parse_name(&"g".repeat(65)).is_err());
    }
}
