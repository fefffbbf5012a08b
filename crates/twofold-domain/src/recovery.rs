//! SMS recovery: support's grant that lets a person who lost their device sign in with an
//! SMS code for a limited time (SEC-17).

/// How long a grant lasts unless configured otherwise: the help article's 48 hours.
pub const DEFAULT_GRANT_HOURS: i64 = 48;
/// The longest grant support can give.
pub const MAX_GRANT_HOURS: i64 = 7 * 24;
/// How soon support aims to decide a recovery request.
pub const REQUEST_TARGET_SECONDS: i64 = 48 * 3600;

/// Whether an open grant still works at `now`: until its expiry, not a second after.
pub fn grant_is_active(expires_at: i64, closed_at: Option<i64>, now: i64) -> bool {
    closed_at.is_none() && now < expires_at
}

/// A grant needs a reason that says something: a ticket reference at least.
pub fn check_reason(reason: &str) -> Result<String, &'static str> {
    let reason = reason.trim();
    match reason.chars().count() {
        0..=2 => Err("Give a reason, such as the ticket reference (at least 3 characters)."),
        3..=500 => Ok(reason.to_string()),
        _ => Err("The reason can be at most 500 characters."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sec_17_a_grant_works_until_its_expiry_and_not_after() {
        let granted = 1_000;
        let expires = granted + DEFAULT_GRANT_HOURS * 3600;
        assert!(grant_is_active(expires, None, expires - 1));
        assert!(!grant_is_active(expires, None, expires));
        assert!(!grant_is_active(expires, Some(granted + 10), granted + 20), "closed early");
    }

    #[test]
    fn sec_29_a_grant_needs_a_reason() {
        assert!(check_reason("  ").is_err());
        assert!(check_reason("ab").is_err());
        assert_eq!(check_reason(" TICKET-4521 "), Ok("TICKET-4521".into()));
        assert!(check_reason(&"x".repeat(501)).is_err());
    }
}
