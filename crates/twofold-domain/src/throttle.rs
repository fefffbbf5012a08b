//! Throttling of guesses: the decision recorded in the requirements file.
//!
//! After `free_failures` consecutive failures, each further try must wait `first_wait`
//! seconds, doubling with every further failure up to `max_wait`; at `lock_after`
//! consecutive failures the factor is locked until someone resets it. A success resets
//! the count; a counter with `forget_after` also starts again after that long without a
//! failure. The counters live in the database; this module only decides.

/// Consecutive failures and when the last one happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Failures {
    pub consecutive: u32,
    pub last_at: i64,
}

/// Whether a try may go ahead now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    Open,
    Wait { seconds: i64 },
    Locked,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottlePolicy {
    pub free_failures: u32,
    pub first_wait: i64,
    pub max_wait: i64,
    pub lock_after: Option<u32>,
    /// Seconds without a failure after which the count starts again from nothing: for
    /// counters no success resets (a source address's, across all emails).
    pub forget_after: Option<i64>,
}

impl ThrottlePolicy {
    /// For second factors (TOTP, SMS codes): NIST SP 800-63B rev. 4 §3.2.2.
    pub const SECOND_FACTOR: ThrottlePolicy =
        ThrottlePolicy { free_failures: 5, first_wait: 30, max_wait: 3600, lock_after: Some(100), forget_after: None };

    /// For passwords, keyed by the email tried. No hard lock, and a shorter ceiling, so
    /// that a stranger who knows an address cannot shut its owner out for long.
    pub const PASSWORD: ThrottlePolicy =
        ThrottlePolicy { free_failures: 5, first_wait: 30, max_wait: 15 * 60, lock_after: None, forget_after: None };

    /// For one source address (IPv6 by /64) across every email it tries (SEC-44). A
    /// guesser spraying one password over many addresses meets it after 15 failures; an
    /// office behind one NAT address loses nothing, since its people's own browsers are
    /// judged by their own budgets. No success resets it (one good account of the
    /// attacker's would otherwise wipe it): an hour without a failure does.
    pub const SOURCE: ThrottlePolicy = ThrottlePolicy {
        free_failures: 15,
        first_wait: 60,
        max_wait: 15 * 60,
        lock_after: None,
        forget_after: Some(3600),
    };

    /// For a RADIUS client that sends no `Calling-Station-Id`: everyone behind it shares
    /// it, so it lets through 100 failures before it slows down, waits at most a minute,
    /// and forgets after ten quiet minutes. Each email's own budget still protects each
    /// person; this one only caps how fast the client can be used to spray many emails.
    pub const RADIUS_CLIENT: ThrottlePolicy =
        ThrottlePolicy { free_failures: 100, first_wait: 5, max_wait: 60, lock_after: None, forget_after: Some(600) };

    /// How long to wait after the `consecutive`-th failure before the next try.
    pub fn wait_after(&self, consecutive: u32) -> i64 {
        if consecutive < self.free_failures {
            return 0;
        }
        let doublings = consecutive - self.free_failures;
        // 2^12 × 30 s is already far beyond any sane ceiling: stop shifting there.
        let factor = 1_i64 << doublings.min(12);
        self.first_wait.saturating_mul(factor).min(self.max_wait)
    }

    /// Whether these failures are old enough to count as none.
    pub fn forgotten(&self, failures: Failures, now: i64) -> bool {
        self.forget_after.is_some_and(|quiet| now.saturating_sub(failures.last_at) >= quiet)
    }

    /// The `last_at` at or before which a stored count is forgotten at `now`; `i64::MIN`
    /// when counts are never forgotten. What the store's atomic increment compares with.
    pub fn forget_before(&self, now: i64) -> i64 {
        self.forget_after.map_or(i64::MIN, |quiet| now.saturating_sub(quiet))
    }

    /// The gate for a guess that took its place behind `ahead` guesses still in flight
    /// (SEC-47): each of those may yet fail, so they count as failures made now. A lock
    /// is judged on the stored count alone, since guesses in flight have not failed yet.
    pub fn gate_behind(&self, stored: Failures, ahead: u32, now: i64) -> Gate {
        let gate = self.gate(stored, now);
        if gate != Gate::Open || ahead == 0 {
            return gate;
        }
        let counted = if self.forgotten(stored, now) { 0 } else { stored.consecutive };
        let wait = self.wait_after(counted.saturating_add(ahead));
        if wait > 0 { Gate::Wait { seconds: wait } } else { Gate::Open }
    }

    pub fn gate(&self, failures: Failures, now: i64) -> Gate {
        if self.forgotten(failures, now) {
            return Gate::Open;
        }
        if self.lock_after.is_some_and(|limit| failures.consecutive >= limit) {
            return Gate::Locked;
        }
        let ready_at = failures.last_at.saturating_add(self.wait_after(failures.consecutive));
        if now < ready_at { Gate::Wait { seconds: ready_at - now } } else { Gate::Open }
    }
}

/// What a failure counter is about: one factor of one person or operator. Every counter
/// the product keeps is named here, so that unlocking a person clears all of theirs and no
/// caller spells a key by hand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ThrottleKey {
    /// Passwords tried for an email (people), known or not, from browsers not known to
    /// belong to that person.
    Password { email: String },
    /// Passwords tried from one browser that has signed in as the person before (its
    /// known-browser or remembered-device token, by digest): its own budget, which
    /// strangers' failures do not touch (SEC-44).
    PasswordFromKnownBrowser { digest: String },
    /// Passwords tried from one source (an IPv4 address, an IPv6 /64), across all emails
    /// and both realms (SEC-44).
    PasswordFromSource { source: String },
    /// A person's authenticator-app codes, at sign-in and in the wizard.
    Totp { user_id: i64 },
    /// A person's SMS sign-in codes while support's recovery grant is active.
    SmsSignIn { user_id: i64 },
    /// A person's phone-verification codes (the wizard's Step 4, changing the number).
    PhoneVerification { user_id: i64 },
    /// A person's recovery codes.
    RecoveryCode { user_id: i64 },
    /// A person's security keys and passkeys (a failed signature, a counter gone back).
    WebAuthn { user_id: i64 },
    /// Passwords tried for an operator's email.
    OperatorPassword { email: String },
    /// An operator's authenticator-app codes.
    OperatorTotp { operator_id: i64 },
    /// Passwords tried through one RADIUS client from one station (its `Calling-Station-Id`:
    /// the VPN user's address, the Wi-Fi device's MAC), across all emails: the source
    /// budget of SEC-44, kept per station so that the gateway's own address, which every
    /// one of its users shares, never becomes everyone's lockout.
    RadiusStation { client_id: i64, station: String },
    /// Passwords tried through one RADIUS client that names no station: a budget of the
    /// client's own, larger and quicker to forget than one address's.
    RadiusClient { client_id: i64 },
}

impl ThrottleKey {
    /// The counter's name in the database.
    pub fn subject(&self) -> String {
        match self {
            ThrottleKey::Password { email } => format!("password:{email}"),
            ThrottleKey::PasswordFromKnownBrowser { digest } => format!("password-browser:{digest}"),
            ThrottleKey::PasswordFromSource { source } => format!("password-source:{source}"),
            ThrottleKey::Totp { user_id } => format!("totp:{user_id}"),
            ThrottleKey::SmsSignIn { user_id } => format!("sms-sign-in:{user_id}"),
            ThrottleKey::PhoneVerification { user_id } => format!("phone-verification:{user_id}"),
            ThrottleKey::RecoveryCode { user_id } => format!("recovery-code:{user_id}"),
            ThrottleKey::WebAuthn { user_id } => format!("webauthn:{user_id}"),
            ThrottleKey::OperatorPassword { email } => format!("operator-password:{email}"),
            ThrottleKey::OperatorTotp { operator_id } => format!("operator-totp:{operator_id}"),
            ThrottleKey::RadiusStation { client_id, station } => format!("radius-station:{client_id}:{station}"),
            ThrottleKey::RadiusClient { client_id } => format!("radius-client:{client_id}"),
        }
    }

    /// Passwords slow down but never lock (a stranger must not shut the owner out); codes
    /// lock at 100; a source address forgets after an hour of quiet.
    pub fn policy(&self) -> ThrottlePolicy {
        match self {
            ThrottleKey::Password { .. }
            | ThrottleKey::PasswordFromKnownBrowser { .. }
            | ThrottleKey::OperatorPassword { .. } => ThrottlePolicy::PASSWORD,
            ThrottleKey::PasswordFromSource { .. } | ThrottleKey::RadiusStation { .. } => ThrottlePolicy::SOURCE,
            ThrottleKey::RadiusClient { .. } => ThrottlePolicy::RADIUS_CLIENT,
            _ => ThrottlePolicy::SECOND_FACTOR,
        }
    }

    /// Every second-factor counter of a person: what an unlock or turning 2FA off clears.
    pub fn second_factors_of_person(user_id: i64) -> Vec<ThrottleKey> {
        vec![
            ThrottleKey::Totp { user_id },
            ThrottleKey::SmsSignIn { user_id },
            ThrottleKey::PhoneVerification { user_id },
            ThrottleKey::RecoveryCode { user_id },
            ThrottleKey::WebAuthn { user_id },
        ]
    }

    /// Every counter of an operator: what unlocking them clears.
    pub fn all_of_operator(operator_id: i64, email: &str) -> Vec<ThrottleKey> {
        vec![ThrottleKey::OperatorTotp { operator_id }, ThrottleKey::OperatorPassword { email: email.to_owned() }]
    }

    /// Whether `failures` just reached the lock: the moment to audit and tell the person.
    pub fn just_locked(&self, failures: Failures) -> bool {
        self.policy().lock_after == Some(failures.consecutive)
    }
}

/// The source a password budget is kept for: an IPv4 address as it is, an IPv6 address by
/// its /64 (one subscriber's whole prefix, which a single machine can rotate through at
/// will), an IPv4-mapped IPv6 address as the IPv4 it carries. Answers `None` for what does
/// not parse (no address: the command line, a test harness).
pub fn source_of(ip: &str) -> Option<String> {
    let addr: std::net::IpAddr = ip.trim().parse().ok()?;
    Some(match addr {
        std::net::IpAddr::V4(v4) => v4.to_string(),
        std::net::IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                let prefix = std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
                format!("{prefix}/64")
            }
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: ThrottlePolicy = ThrottlePolicy::SECOND_FACTOR;

    #[test]
    fn sec_47_guesses_in_flight_count_as_failures_made_now() {
        let none = Failures::default();
        // Of forty guesses arriving together, the first five go ahead, the rest wait.
        let open: Vec<u32> = (0..40).filter(|ahead| P.gate_behind(none, *ahead, 1_000) == Gate::Open).collect();
        assert_eq!(open, [0, 1, 2, 3, 4]);
        assert_eq!(P.gate_behind(none, 5, 1_000), Gate::Wait { seconds: 30 });
        // Three stored failures leave room for two in flight.
        assert_eq!(P.gate_behind(after(3, 900), 1, 1_000), Gate::Open);
        assert_eq!(P.gate_behind(after(3, 900), 2, 1_000), Gate::Wait { seconds: 30 });
        // The source budget: fifteen, and a count forgotten after an hour starts afresh.
        let source = ThrottlePolicy::SOURCE;
        assert_eq!(source.gate_behind(none, 14, 1_000), Gate::Open);
        assert_eq!(source.gate_behind(none, 15, 1_000), Gate::Wait { seconds: 60 });
        assert_eq!(source.gate_behind(after(15, 0), 3, 10_000), Gate::Open);
        // A lock is judged on what failed, not on what is in flight.
        assert_eq!(P.gate_behind(after(100, 0), 0, 1_000_000), Gate::Locked);
        assert!(matches!(P.gate_behind(after(99, 0), 5, 1_000_000), Gate::Wait { .. }));
    }

    fn after(consecutive: u32, last_at: i64) -> Failures {
        Failures { consecutive, last_at }
    }

    #[test]
    fn sec_09_four_failures_cost_nothing() {
        assert_eq!(P.gate(after(4, 100), 100), Gate::Open);
    }

    #[test]
    fn sec_09_fifth_failure_waits_thirty_seconds_then_doubles() {
        assert_eq!(P.gate(after(5, 100), 100), Gate::Wait { seconds: 30 });
        assert_eq!(P.gate(after(5, 100), 129), Gate::Wait { seconds: 1 });
        assert_eq!(P.gate(after(5, 100), 130), Gate::Open);
        assert_eq!(P.wait_after(6), 60);
        assert_eq!(P.wait_after(7), 120);
    }

    #[test]
    fn sec_09_waits_stop_growing_at_an_hour() {
        assert_eq!(P.wait_after(12), 3600);
        assert_eq!(P.wait_after(99), 3600);
        assert_eq!(P.wait_after(u32::MAX), 3600);
    }

    #[test]
    fn sec_09_hundred_failures_lock_until_reset() {
        assert_eq!(P.gate(after(99, 0), 10_000), Gate::Open);
        assert_eq!(P.gate(after(100, 0), i64::MAX), Gate::Locked);
        assert_eq!(P.gate(Failures::default(), 0), Gate::Open);
    }

    #[test]
    fn sec_34_every_counter_has_its_own_name_and_unlock_reaches_them_all() {
        let keys = ThrottleKey::second_factors_of_person(7);
        let names: std::collections::HashSet<String> = keys.iter().map(ThrottleKey::subject).collect();
        assert_eq!(names.len(), 5);
        assert!(names.contains("totp:7") && names.contains("sms-sign-in:7"));
        assert!(names.contains("recovery-code:7") && names.contains("webauthn:7"));
        assert!(keys.iter().all(|k| k.policy() == ThrottlePolicy::SECOND_FACTOR));
        let op = ThrottleKey::all_of_operator(3, "cs@example.com");
        assert_eq!(op.len(), 2);
        assert_eq!(op[1].policy(), ThrottlePolicy::PASSWORD);
        assert!(ThrottleKey::Totp { user_id: 1 }.just_locked(after(100, 0)));
        assert!(!ThrottleKey::Totp { user_id: 1 }.just_locked(after(101, 0)));
        assert!(!ThrottleKey::Password { email: "a@b.c".into() }.just_locked(after(100, 0)));
    }

    #[test]
    fn passwords_never_lock_and_wait_at_most_fifteen_minutes() {
        let p = ThrottlePolicy::PASSWORD;
        assert_eq!(p.gate(after(1_000, 0), 900), Gate::Open);
        assert_eq!(p.gate(after(1_000, 0), 899), Gate::Wait { seconds: 1 });
    }

    #[test]
    fn sec_44_a_source_is_forgotten_after_an_hour_without_failures() {
        let p = ThrottlePolicy::SOURCE;
        assert_eq!(p.gate(after(14, 1_000), 1_000), Gate::Open);
        assert_eq!(p.gate(after(15, 1_000), 1_000), Gate::Wait { seconds: 60 });
        assert_eq!(p.gate(after(40, 1_000), 1_000 + 899), Gate::Wait { seconds: 1 });
        assert!(!p.forgotten(after(40, 1_000), 1_000 + 3_599));
        assert!(p.forgotten(after(40, 1_000), 1_000 + 3_600));
        assert_eq!(p.forget_before(10_000), 6_400);
        assert_eq!(ThrottlePolicy::PASSWORD.forget_before(10_000), i64::MIN);
        assert!(!ThrottlePolicy::PASSWORD.forgotten(after(40, 0), i64::MAX));
    }

    #[test]
    fn sec_44_sources_group_ipv6_by_64_and_unwrap_mapped_ipv4() {
        assert_eq!(source_of("203.0.113.7").as_deref(), Some("203.0.113.7"));
        assert_eq!(source_of("2001:db8:1:2:aaaa::1").as_deref(), Some("2001:db8:1:2::/64"));
        assert_eq!(source_of("2001:db8:1:2:ffff:1:2:3"), source_of("2001:db8:1:2::9"));
        assert_ne!(source_of("2001:db8:1:3::1"), source_of("2001:db8:1:2::1"));
        assert_eq!(source_of("::ffff:198.51.100.4").as_deref(), Some("198.51.100.4"));
        assert_eq!(source_of("not an address"), None);
        assert_eq!(source_of(""), None);
    }

    #[test]
    fn sec_44_each_password_budget_has_its_own_counter_and_policy() {
        let browser = ThrottleKey::PasswordFromKnownBrowser { digest: "ab".into() };
        let source = ThrottleKey::PasswordFromSource { source: "192.0.2.1".into() };
        assert_eq!(browser.subject(), "password-browser:ab");
        assert_eq!(source.subject(), "password-source:192.0.2.1");
        assert_eq!(browser.policy(), ThrottlePolicy::PASSWORD);
        assert_eq!(source.policy(), ThrottlePolicy::SOURCE);
    }
}
