//! How long a session lives, by stage.

/// Where a sign-in stands. A session in `SecondFactor` has passed the password only and
/// may reach nothing but the second-factor endpoints (SEC-19).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    SecondFactor,
    SignedIn,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::SecondFactor => "second_factor",
            Stage::SignedIn => "signed_in",
        }
    }

    pub fn parse(s: &str) -> Option<Stage> {
        match s {
            "second_factor" => Some(Stage::SecondFactor),
            "signed_in" => Some(Stage::SignedIn),
            _ => None,
        }
    }
}

/// Session lifetimes in seconds (SEC-22, OWASP Session Management cheat sheet).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionPolicy {
    /// A half-finished sign-in (password done, code not yet) expires this long after it began.
    pub second_factor_ttl: i64,
    /// A signed-in session ends after this long without a request.
    pub idle: i64,
    /// And in any case this long after sign-in.
    pub absolute: i64,
}

impl Default for SessionPolicy {
    fn default() -> Self {
        Self { second_factor_ttl: 10 * 60, idle: 30 * 60, absolute: 12 * 60 * 60 }
    }
}

/// Recording every request's time would turn every read into a write; a minute's
/// precision is plenty for an idle timeout measured in tens of minutes.
pub const TOUCH_EVERY: i64 = 60;

impl SessionPolicy {
    /// The moment the session stops being valid, given when it began and was last used.
    pub fn expires_at(&self, stage: Stage, created_at: i64, last_seen_at: i64) -> i64 {
        match stage {
            Stage::SecondFactor => created_at.saturating_add(self.second_factor_ttl),
            Stage::SignedIn => last_seen_at.saturating_add(self.idle).min(created_at.saturating_add(self.absolute)),
        }
    }

    pub fn is_live(&self, stage: Stage, created_at: i64, last_seen_at: i64, now: i64) -> bool {
        now < self.expires_at(stage, created_at, last_seen_at)
    }

    /// Whether this request should move `last_seen_at` forward.
    pub fn should_touch(&self, last_seen_at: i64, now: i64) -> bool {
        now - last_seen_at >= TOUCH_EVERY
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sec_22_idle_sessions_expire() {
        let p = SessionPolicy::default();
        assert!(p.is_live(Stage::SignedIn, 0, 0, p.idle - 1));
        assert!(!p.is_live(Stage::SignedIn, 0, 0, p.idle));
        // Activity keeps it alive...
        assert!(p.is_live(Stage::SignedIn, 0, 1_000, 1_000 + p.idle - 1));
    }

    #[test]
    fn sec_22_absolute_lifetime_wins_over_activity() {
        let p = SessionPolicy::default();
        let last_seen = p.absolute - 10;
        assert!(!p.is_live(Stage::SignedIn, 0, last_seen, p.absolute));
    }

    #[test]
    fn half_finished_sign_ins_expire_quickly() {
        let p = SessionPolicy::default();
        assert!(p.is_live(Stage::SecondFactor, 100, 100, 100 + p.second_factor_ttl - 1));
        assert!(!p.is_live(Stage::SecondFactor, 100, 100 + 500, 100 + p.second_factor_ttl));
    }

    #[test]
    fn touches_are_rate_limited() {
        let p = SessionPolicy::default();
        assert!(!p.should_touch(100, 159));
        assert!(p.should_touch(100, 160));
    }
}
