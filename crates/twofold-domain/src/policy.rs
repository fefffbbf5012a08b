//! The account's 2FA requirement: who must enrol, and by when.

/// What the policy asks of one person now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requirement {
    /// 2FA is optional here, or the person already has it.
    Met,
    /// Required, but the person may still skip the wizard until `deadline`.
    DueBy { deadline: i64 },
    /// Required and overdue: nothing but the wizard until it is done.
    Overdue,
}

/// Longest grace period the Owner can give.
pub const MAX_GRACE_DAYS: i64 = 90;

/// When the grace period of a policy required since `since` ends.
pub fn deadline(since: i64, grace_days: i64) -> i64 {
    since.saturating_add(grace_days.clamp(0, MAX_GRACE_DAYS) * 86_400)
}

pub fn requirement(required_since: Option<i64>, grace_days: i64, has_two_factor: bool, now: i64) -> Requirement {
    let Some(since) = required_since else { return Requirement::Met };
    if has_two_factor {
        return Requirement::Met;
    }
    let deadline = deadline(since, grace_days);
    if now < deadline { Requirement::DueBy { deadline } } else { Requirement::Overdue }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn optional_or_done_is_met() {
        assert_eq!(requirement(None, 0, false, 100), Requirement::Met);
        assert_eq!(requirement(Some(0), 0, true, 100), Requirement::Met);
    }

    #[test]
    fn the_grace_period_lets_people_skip_until_it_ends() {
        let day = 86_400;
        assert_eq!(
            requirement(Some(1_000), 7, false, 1_000 + 7 * day - 1),
            Requirement::DueBy { deadline: 1_000 + 7 * day }
        );
        assert_eq!(requirement(Some(1_000), 7, false, 1_000 + 7 * day), Requirement::Overdue);
        assert_eq!(requirement(Some(1_000), 0, false, 1_000), Requirement::Overdue);
    }
}
