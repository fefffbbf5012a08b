//! The known-browser token (SEC-44): a browser that has signed in as a person keeps a
//! signed note saying so, and is then judged by a failure budget of its own, which no
//! stranger's wrong passwords can spend. OWASP's "device cookie" (Slow Down Online
//! Guessing Attacks with Device Cookies).
//!
//! The token is stateless: `v2.<user_id>.<issued_at>.<mac>`, the MAC keyed from the
//! keyring, so nothing is stored until the browser's first failure, and forging one needs
//! the key. It grants no access at all, only a budget of guesses for the person it names.
//! The MAC also covers a digest of the password hash it was minted under (SEC-48): a
//! password change or reset gives the person a new hash, and every older token stops
//! vouching, with nothing to store or sweep.

/// How long a browser stays known without signing in again; every successful password
/// step issues a fresh token.
pub const LIFETIME_SECONDS: i64 = 365 * 24 * 60 * 60;

/// The MAC's label, so that no other keyed hash of the product can pass for one.
pub const MAC_LABEL: &str = "twofold/known-browser/v2";

/// Longest token looked at; anything longer is not one of ours.
const MAX_CHARS: usize = 160;

/// Tolerated clock difference between instances for a token issued "in the future".
const CLOCK_SKEW_SECONDS: i64 = 300;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownBrowser {
    pub user_id: i64,
    pub issued_at: i64,
}

impl KnownBrowser {
    /// The token's visible part.
    pub fn payload(&self) -> String {
        format!("v2.{}.{}", self.user_id, self.issued_at)
    }

    /// What the MAC covers: the visible part and the password generation it was minted
    /// under (`password_digest`, a digest of the stored hash, which changes with every
    /// password set).
    pub fn mac_input(&self, password_digest: &str) -> String {
        format!("{}.{password_digest}", self.payload())
    }

    /// The cookie's value, given the MAC of [`KnownBrowser::payload`].
    pub fn token(&self, mac: &str) -> String {
        format!("{}.{mac}", self.payload())
    }

    /// The claim and MAC a presented token carries, if it has the shape of one; the MAC is
    /// the caller's to check.
    pub fn parse(raw: &str) -> Option<(KnownBrowser, &str)> {
        if raw.len() > MAX_CHARS {
            return None;
        }
        let mut parts = raw.splitn(4, '.');
        let (version, user_id, issued_at, mac) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if version != "v2" || mac.is_empty() {
            return None;
        }
        let claim = KnownBrowser { user_id: user_id.parse().ok()?, issued_at: issued_at.parse().ok()? };
        Some((claim, mac))
    }

    /// Whether the claim is for `user_id` and still within its lifetime at `now`.
    pub fn vouches_for(&self, user_id: i64, now: i64) -> bool {
        self.user_id == user_id
            && self.issued_at <= now.saturating_add(CLOCK_SKEW_SECONDS)
            && now.saturating_sub(self.issued_at) < LIFETIME_SECONDS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sec_44_a_token_round_trips_and_names_its_person() {
        let claim = KnownBrowser { user_id: 42, issued_at: 1_700_000_000 };
        let raw = claim.token("k1:abcd");
        assert_eq!(raw, "v2.42.1700000000.k1:abcd");
        assert_eq!(KnownBrowser::parse(&raw), Some((claim, "k1:abcd")));
        assert!(claim.vouches_for(42, 1_700_000_000));
        assert!(!claim.vouches_for(43, 1_700_000_000));
    }

    #[test]
    fn sec_44_a_token_expires_after_a_year_and_cannot_come_from_the_future() {
        let claim = KnownBrowser { user_id: 1, issued_at: 1_000_000 };
        assert!(claim.vouches_for(1, 1_000_000 + LIFETIME_SECONDS - 1));
        assert!(!claim.vouches_for(1, 1_000_000 + LIFETIME_SECONDS));
        assert!(claim.vouches_for(1, 1_000_000 - 300));
        assert!(!claim.vouches_for(1, 1_000_000 - 301));
    }

    #[test]
    fn sec_44_malformed_tokens_are_not_parsed() {
        // `v1` tokens were minted before tokens were bound to the password (SEC-48).
        for raw in ["", "v2", "v2.1.2", "v2.1.2.", "v1.1.2.k1:ab", "v3.1.2.k1:ab", "v2.x.2.k1:ab", "v2.1.y.k1:ab"] {
            assert_eq!(KnownBrowser::parse(raw), None, "{raw}");
        }
        assert_eq!(KnownBrowser::parse(&format!("v2.1.2.{}", "a".repeat(200))), None);
    }
}
