//! The Overview's arithmetic, apart from where its numbers come from: calendar days, daily
//! series with the quiet days filled in, and the 2FA adoption trend rebuilt backwards from
//! today's count and the log of changes.

/// Seconds in a (UTC) day.
pub const DAY: i64 = 86_400;
/// How far back the sign-in activity goes.
pub const ACTIVITY_DAYS: i64 = 30;
/// How far back the adoption trend goes.
pub const TREND_DAYS: i64 = 90;
/// Security keys and passkeys added this recently are listed.
pub const NEW_KEY_DAYS: i64 = 7;
/// The most people one list of the Overview names; the rest are counted ("and 12 more").
pub const LISTED: usize = 50;
/// Recovery codes left at or below this are "running low".
pub const LOW_RECOVERY_CODES: u32 = 3;

/// The events listed under "Last security events": changes to how people sign in, who may
/// do what, and signs of an attack. Sign-ins themselves are the activity chart's.
pub const SECURITY_EVENTS: [&str; 22] = [
    "two_factor.enabled",
    "authenticator_app.added",
    "two_factor.disabled",
    "two_factor.locked",
    "two_factor.unlocked",
    "two_factor.disable_refused",
    "security_key.registered",
    "security_key.removed",
    "recovery_codes.issued",
    "recovery.requested",
    "support.sms_recovery_granted",
    "support.sms_recovery_revoked",
    "password.changed",
    "password.reset",
    "role.changed",
    "ownership.transferred",
    "policy.changed",
    "sessions.ended_all",
    "oidc.refresh_reused",
    "oidc.code_replayed",
    "oidc.client_created",
    "oidc.client_removed",
];

/// The UTC day a Unix time falls on, counted from 1970-01-01.
pub fn day_of(unix: i64) -> i64 {
    unix.div_euclid(DAY)
}

/// Whole days from `now` until `deadline`, rounded up (a deadline later today is "1 day
/// left", not 0); a passed deadline is 0.
pub fn days_left(deadline: i64, now: i64) -> i64 {
    let seconds = (deadline - now).max(0);
    (seconds + DAY - 1) / DAY
}

/// Whole days since `deadline` passed, rounded down; 0 before it.
pub fn days_over(deadline: i64, now: i64) -> i64 {
    (now - deadline).max(0) / DAY
}

/// `YYYY-MM-DD` of a day number (Howard Hinnant's `civil_from_days`).
pub fn date_of(day: i64) -> String {
    let z = day + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// What a sign-in event counts as on the activity chart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activity {
    Succeeded,
    /// A wrong password, code, recovery code or security-key answer.
    Failed,
    /// Second factors locked after too many wrong codes.
    Locked,
}

impl Activity {
    /// The audit events the chart counts, and as what.
    pub const EVENTS: [(&'static str, Activity); 7] = [
        ("sign_in.succeeded", Activity::Succeeded),
        ("sign_in.failed", Activity::Failed),
        ("sign_in.totp_rejected", Activity::Failed),
        ("sign_in.sms_rejected", Activity::Failed),
        ("sign_in.recovery_code_rejected", Activity::Failed),
        ("sign_in.webauthn_rejected", Activity::Failed),
        ("two_factor.locked", Activity::Locked),
    ];

    pub fn of(event: &str) -> Option<Activity> {
        Activity::EVENTS.iter().find(|(e, _)| *e == event).map(|(_, a)| *a)
    }
}

/// One day of sign-in activity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayActivity {
    pub day: i64,
    pub succeeded: i64,
    pub failed: i64,
    pub locked: i64,
}

/// The last `days` days up to `today`, oldest first, from `(day, event, count)` rows;
/// days without events are zero, events the chart does not count are ignored.
pub fn activity(rows: &[(i64, String, i64)], today: i64, days: i64) -> Vec<DayActivity> {
    let first = today - days + 1;
    let mut series: Vec<DayActivity> =
        (first..=today).map(|day| DayActivity { day, succeeded: 0, failed: 0, locked: 0 }).collect();
    for (day, event, n) in rows {
        let (Some(kind), Some(slot)) = (Activity::of(event), usize::try_from(day - first).ok()) else { continue };
        let Some(d) = series.get_mut(slot) else { continue };
        match kind {
            Activity::Succeeded => d.succeeded += n,
            Activity::Failed => d.failed += n,
            Activity::Locked => d.locked += n,
        }
    }
    series
}

/// How many people had 2FA at the end of each of the last `days` days, oldest first:
/// today's `current`, and before it what the changes after each day undo. `changes` are
/// `(day, +1 or -1 per event, count)`; the result never leaves `0..=ceiling`.
pub fn adoption_trend(current: i64, changes: &[(i64, i64)], today: i64, days: i64, ceiling: i64) -> Vec<(i64, i64)> {
    let mut trend = Vec::with_capacity(usize::try_from(days).unwrap_or(0));
    let mut count = current;
    for day in (today - days + 1..=today).rev() {
        trend.push((day, count.clamp(0, ceiling.max(0))));
        // Before this day began, this day's changes had not happened.
        count -= changes.iter().filter(|(d, _)| *d == day).map(|(_, delta)| delta).sum::<i64>();
    }
    trend.reverse();
    trend
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_utc_calendar_dates() {
        assert_eq!(date_of(0), "1970-01-01");
        assert_eq!(date_of(day_of(1_796_601_600)), "2026-12-07");
        assert_eq!(date_of(day_of(951_782_400)), "2000-02-29");
        assert_eq!(day_of(-1), -1, "before 1970 still counts down");
        assert_eq!(date_of(-1), "1969-12-31");
    }

    #[test]
    fn days_left_round_up_and_days_over_round_down() {
        let now = 1_000 * DAY;
        assert_eq!(days_left(now + 1, now), 1, "later today is one day left, not none");
        assert_eq!(days_left(now + DAY, now), 1);
        assert_eq!(days_left(now + DAY + 1, now), 2);
        assert_eq!(days_left(now - 5, now), 0);
        assert_eq!(days_over(now - DAY + 1, now), 0, "not yet a whole day over");
        assert_eq!(days_over(now - 3 * DAY, now), 3);
        assert_eq!(days_over(now + 10, now), 0);
    }

    #[test]
    fn activity_fills_quiet_days_and_counts_each_event_once_as_its_kind() {
        let rows = vec![
            (100, "sign_in.succeeded".to_owned(), 5),
            (100, "sign_in.failed".to_owned(), 2),
            (100, "sign_in.totp_rejected".to_owned(), 1),
            (98, "two_factor.locked".to_owned(), 1),
            (98, "role.changed".to_owned(), 9),
            (60, "sign_in.succeeded".to_owned(), 7),
        ];
        let series = activity(&rows, 100, 3);
        assert_eq!(series.iter().map(|d| d.day).collect::<Vec<_>>(), [98, 99, 100]);
        assert_eq!(series[0], DayActivity { day: 98, succeeded: 0, failed: 0, locked: 1 });
        assert_eq!(series[1], DayActivity { day: 99, succeeded: 0, failed: 0, locked: 0 });
        assert_eq!(series[2], DayActivity { day: 100, succeeded: 5, failed: 3, locked: 0 });
    }

    #[test]
    fn the_trend_undoes_each_days_changes_going_back() {
        // Today 10 with 2FA; two turned it on today, one turned it off yesterday.
        let trend = adoption_trend(10, &[(50, 2), (49, -1)], 50, 3, 20);
        assert_eq!(trend, [(48, 9), (49, 8), (50, 10)]);
        // A log that does not add up (people removed) stays within 0..=ceiling.
        assert_eq!(adoption_trend(1, &[(5, 3)], 5, 2, 20), [(4, 0), (5, 1)]);
        assert_eq!(adoption_trend(30, &[], 5, 1, 20), [(5, 20)]);
    }
}
