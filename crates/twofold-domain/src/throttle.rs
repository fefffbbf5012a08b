//! Throttling of guesses: the decision recorded in the requirements file.
//!
//! After `free_failures` consecutive failures, each further try must wait `first_wait`
//! seconds, doubling with every further failure up to `max_wait`; at `lock_after`
//! consecutive failures the factor is locked until someone resets it. Only a success
//! resets the count. The counters live in the database; this module only decides.

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
}

impl ThrottlePolicy {
    /// For second factors (TOTP, SMS codes): NIST SP 800-63B rev. 4 §3.2.2.
    pub const SECOND_FACTOR: ThrottlePolicy =
        ThrottlePolicy { free_failures: 5, first_wait: 30, max_wait: 3600, lock_after: Some(100) };

    /// For passwords, keyed by the email tried. No hard lock, and a shorter ceiling, so
    /// that a stranger who knows an address cannot shut its owner out for long.
    pub const PASSWORD: ThrottlePolicy =
        ThrottlePolicy { free_failures: 5, first_wait: 30, max_wait: 15 * 60, lock_after: None };

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

    pub fn gate(&self, failures: Failures, now: i64) -> Gate {
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
    /// Passwords tried for an email (people), known or not.
    Password { email: String },
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
}

impl ThrottleKey {
    /// The counter's name in the database.
    pub fn subject(&self) -> String {
        match self {
            ThrottleKey::Password { email } => format!("password:{email}"),
            ThrottleKey::Totp { user_id } => format!("totp:{user_id}"),
            ThrottleKey::SmsSignIn { user_id } => format!("sms-sign-in:{user_id}"),
            ThrottleKey::PhoneVerification { user_id } => format!("phone-verification:{user_id}"),
            ThrottleKey::RecoveryCode { user_id } => format!("recovery-code:{user_id}"),
            ThrottleKey::WebAuthn { user_id } => format!("webauthn:{user_id}"),
            ThrottleKey::OperatorPassword { email } => format!("operator-password:{email}"),
            ThrottleKey::OperatorTotp { operator_id } => format!("operator-totp:{operator_id}"),
        }
    }

    /// Passwords slow down but never lock (a stranger must not shut the owner out); codes
    /// lock at 100.
    pub fn policy(&self) -> ThrottlePolicy {
        match self {
            ThrottleKey::Password { .. } | ThrottleKey::OperatorPassword { .. } => ThrottlePolicy::PASSWORD,
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

#[cfg(test)]
mod tests {
    use super::*;

    const P: ThrottlePolicy = ThrottlePolicy::SECOND_FACTOR;

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
}
