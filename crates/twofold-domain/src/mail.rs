//! Email's lifetimes and limits: how long a reset link works, how often one may be asked
//! for, and when the outbox gives up on a message.

/// Decided in the requirements file (SEC-37), configurable within bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MailPolicy {
    /// How long a password-reset link works: one hour, never more.
    pub reset_link_lifetime: i64,
    /// Seconds between two reset mails to one address (a stranger cannot flood a mailbox).
    pub reset_cooldown: i64,
    /// Reset mails per hour to one address.
    pub reset_per_hour: i64,
    /// The outbox gives up on a message older than this (mail relays retry for days; an
    /// invitation lives a week, so two days still delivers something useful).
    pub give_up_after: i64,
}

impl Default for MailPolicy {
    fn default() -> Self {
        Self { reset_link_lifetime: 3600, reset_cooldown: 60, reset_per_hour: 5, give_up_after: 2 * 24 * 3600 }
    }
}

impl MailPolicy {
    pub const MAX_RESET_LINK_LIFETIME: i64 = 3600;

    pub fn is_valid(&self) -> bool {
        (60..=Self::MAX_RESET_LINK_LIFETIME).contains(&self.reset_link_lifetime)
            && self.reset_cooldown >= 1
            && self.reset_per_hour >= 1
            && self.give_up_after >= 60
    }

    /// When a link made at `now` stops working.
    pub fn reset_link_expires_at(&self, now: i64) -> i64 {
        now + self.reset_link_lifetime.min(Self::MAX_RESET_LINK_LIFETIME)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sec_37_a_reset_link_lasts_one_hour_at_most() {
        let policy = MailPolicy::default();
        assert!(policy.is_valid());
        assert_eq!(policy.reset_link_expires_at(1_000), 4_600);
        let longer = MailPolicy { reset_link_lifetime: 7200, ..policy };
        assert!(!longer.is_valid());
        assert_eq!(longer.reset_link_expires_at(0), 3600, "clamped even if asked for more");
        assert!(!MailPolicy { reset_per_hour: 0, ..policy }.is_valid());
    }
}
