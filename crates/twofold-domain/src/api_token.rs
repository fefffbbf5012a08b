//! API tokens (SEC-50): what a token may do (its scopes), how it looks (`tf_` and 256
//! random bits), how long it may live.

use crate::Entropy;
use crate::token::{self, NewToken};

/// What an account token may be used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    /// `GET /users`, `GET /users/{id}`, `GET /groups`.
    PeopleRead,
    /// Inviting, deactivating, removing people and changing roles.
    PeopleWrite,
    /// Making, filling and deleting groups.
    GroupsWrite,
    /// Reading the audit log.
    AuditRead,
    /// SCIM provisioning (`/scim/v2`).
    Scim,
    /// Managing webhooks.
    Webhooks,
    /// Instance tokens only: creating accounts with their Owner (`POST /accounts`).
    AccountsWrite,
}

impl Scope {
    /// What an account token may carry.
    pub const ACCOUNT: [Scope; 6] =
        [Scope::PeopleRead, Scope::PeopleWrite, Scope::GroupsWrite, Scope::AuditRead, Scope::Scim, Scope::Webhooks];
    /// What an instance token (made from the shell, for no account) may carry.
    pub const INSTANCE: [Scope; 1] = [Scope::AccountsWrite];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::PeopleRead => "people:read",
            Scope::PeopleWrite => "people:write",
            Scope::GroupsWrite => "groups:write",
            Scope::AuditRead => "audit:read",
            Scope::Scim => "scim",
            Scope::Webhooks => "webhooks",
            Scope::AccountsWrite => "accounts:write",
        }
    }

    pub fn parse(s: &str) -> Option<Scope> {
        Scope::ACCOUNT.into_iter().chain(Scope::INSTANCE).find(|scope| scope.as_str() == s)
    }
}

/// Scopes as typed: each one of `allowed` (an account's or the instance's), at least one,
/// sorted, once each.
pub fn parse_scopes<'a>(typed: impl IntoIterator<Item = &'a str>, allowed: &[Scope]) -> Result<Vec<Scope>, String> {
    let mut scopes = Vec::new();
    for s in typed {
        let scope = Scope::parse(s.trim()).filter(|scope| allowed.contains(scope));
        scopes.push(scope.ok_or_else(|| {
            let names: Vec<_> = allowed.iter().map(|a| a.as_str()).collect();
            format!("Unknown scope {s:?}: use {}.", names.join(", "))
        })?);
    }
    scopes.sort_unstable();
    scopes.dedup();
    if scopes.is_empty() {
        return Err("A token needs at least one scope.".into());
    }
    Ok(scopes)
}

/// The scopes as stored: space-separated.
pub fn joined(scopes: &[Scope]) -> String {
    scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" ")
}

/// The stored scopes back (unknown words, from a newer version, are ignored).
pub fn split(stored: &str) -> Vec<Scope> {
    stored.split_whitespace().filter_map(Scope::parse).collect()
}

/// What every account token starts with, so that secret scanners and people recognise it.
pub const PREFIX: &str = "tf_";

/// Longest a token may live, and the default.
pub const MAX_DAYS: i64 = 366;
pub const DEFAULT_DAYS: i64 = 90;

/// A new token: `tf_` followed by 256 random bits; only the hash of the whole is kept.
pub fn generate(entropy: &dyn Entropy) -> NewToken {
    let inner = token::generate(entropy);
    let raw = format!("{PREFIX}{}", inner.raw);
    let hash = token::hash(&raw);
    NewToken { raw, hash }
}

/// Whether `raw` has the shape of an account token: cheap to check before any lookup.
pub fn is_well_formed(raw: &str) -> bool {
    raw.strip_prefix(PREFIX).is_some_and(token::is_well_formed)
}

/// When a token made at `now` for `days` ends; `None` when the days are out of range.
pub fn expires_at(now: i64, days: Option<i64>) -> Option<i64> {
    let days = days.unwrap_or(DEFAULT_DAYS);
    (1..=MAX_DAYS).contains(&days).then(|| now + days * 86_400)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::CountingEntropy;

    #[test]
    fn sec_50_scopes_are_known_sorted_and_at_least_one() {
        assert_eq!(
            parse_scopes(["people:write", "people:read", "people:read"], &Scope::ACCOUNT),
            Ok(vec![Scope::PeopleRead, Scope::PeopleWrite])
        );
        assert!(parse_scopes(["people:admin"], &Scope::ACCOUNT).is_err());
        assert!(parse_scopes([], &Scope::ACCOUNT).is_err());
        assert!(parse_scopes(["accounts:write"], &Scope::ACCOUNT).is_err(), "an account token never makes accounts");
        assert!(parse_scopes(["people:read"], &Scope::INSTANCE).is_err(), "an instance token is in no account");
        assert_eq!(parse_scopes(["accounts:write"], &Scope::INSTANCE), Ok(vec![Scope::AccountsWrite]));
        assert_eq!(split(&joined(&[Scope::AuditRead, Scope::Scim])), [Scope::AuditRead, Scope::Scim]);
    }

    #[test]
    fn sec_50_a_token_is_prefixed_random_and_kept_as_a_hash() {
        let t = generate(&CountingEntropy(std::sync::atomic::AtomicU8::new(7)));
        assert!(t.raw.starts_with("tf_") && t.raw.len() == 46, "{}", t.raw);
        assert!(is_well_formed(&t.raw));
        assert!(!is_well_formed(&t.raw[3..]), "without its prefix");
        assert_eq!(t.hash, token::hash(&t.raw));
        assert!(!t.hash.contains(&t.raw[3..]));
    }

    #[test]
    fn tokens_expire_within_a_year() {
        assert_eq!(expires_at(0, None), Some(90 * 86_400));
        assert_eq!(expires_at(0, Some(366)), Some(366 * 86_400));
        assert_eq!(expires_at(0, Some(0)), None);
        assert_eq!(expires_at(0, Some(367)), None);
    }
}
