//! SMS one-time codes and the outbox's retry policy (SEC-12 to SEC-15, SEC-18).

use crate::Entropy;

/// What a code is for: a code issued for one purpose never works for another (SEC-13).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Step 4 of the enrolment wizard.
    PhoneVerification,
    /// A new number chosen from the profile.
    PhoneChange,
    /// Signing in with SMS while support has granted recovery.
    SignIn,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::PhoneVerification => "phone_verification",
            Purpose::PhoneChange => "phone_change",
            Purpose::SignIn => "sign_in",
        }
    }
}

/// Limits decided in the requirements file, configurable within bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SmsPolicy {
    /// How long a code works: 10 minutes by default, at most 15 (ASVS 2.7.2, NIST 5.1.3.2).
    pub code_lifetime: i64,
    /// Wrong tries allowed on one code before it is void.
    pub attempts_per_code: i64,
    /// Seconds between two sends to one person or one number.
    pub cooldown: i64,
    /// Sends per hour to one person or one number.
    pub per_hour: i64,
    /// The outbox gives up on a message older than this.
    pub give_up_after: i64,
}

impl Default for SmsPolicy {
    fn default() -> Self {
        Self { code_lifetime: 600, attempts_per_code: 5, cooldown: 60, per_hour: 5, give_up_after: 24 * 3600 }
    }
}

impl SmsPolicy {
    pub const MAX_CODE_LIFETIME: i64 = 15 * 60;

    pub fn is_valid(&self) -> bool {
        (60..=Self::MAX_CODE_LIFETIME).contains(&self.code_lifetime)
            && self.attempts_per_code >= 1
            && self.cooldown >= 1
            && self.per_hour >= 1
            && self.give_up_after >= 60
    }
}

/// Six uniformly random digits (rejection sampling: no modulo bias).
pub fn generate_code(entropy: &dyn Entropy) -> String {
    loop {
        let mut bytes = [0u8; 4];
        entropy.fill(&mut bytes);
        let n = u32::from_be_bytes(bytes);
        // 4_294_000_000 is the largest multiple of 1_000_000 below 2^32.
        if n < 4_294_000_000 {
            return format!("{:06}", n % 1_000_000);
        }
    }
}

/// The text of a code message: the code and a short sentence, nothing else (SEC-18). The
/// code is the only run of six digits in it.
pub fn code_message(issuer: &str, code: &str, lifetime_seconds: i64) -> String {
    let minutes = (lifetime_seconds / 60).max(1);
    format!("{code} is your {issuer} verification code. It expires in {minutes} minutes. Never share it.")
}

/// How long the outbox waits before the `attempt`-th retry of a message of any channel
/// (SMS and email alike): exponential from 5 s, at most 10
/// minutes, with "full jitter" (a random part) so that many failed messages do not retry
/// in lockstep. `jitter` is a number in [0, 1).
pub fn retry_delay(attempt: u32, jitter: f64) -> i64 {
    let base = 5_i64.saturating_mul(1_i64 << attempt.min(12)).min(600);
    let jitter = jitter.clamp(0.0, 1.0);
    // Between half and all of the base: never retry immediately, never wait past the cap.
    let half = base / 2;
    half + (half as f64 * jitter) as i64
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    struct Counter(AtomicU32);
    impl Entropy for Counter {
        fn fill(&self, buf: &mut [u8]) {
            let n = self.0.fetch_add(7_919_993, Ordering::SeqCst);
            for (b, v) in buf.iter_mut().zip(n.to_be_bytes()) {
                *b = v;
            }
        }
    }

    #[test]
    fn sec_12_codes_are_six_digits() {
        let entropy = Counter(AtomicU32::new(1));
        for _ in 0..1000 {
            let code = generate_code(&entropy);
            assert_eq!(code.len(), 6);
            assert!(code.bytes().all(|b| b.is_ascii_digit()));
        }
    }

    #[test]
    fn biased_draws_are_rejected() {
        struct Fixed(AtomicU32);
        impl Entropy for Fixed {
            fn fill(&self, buf: &mut [u8]) {
                // First draw is in the biased tail, the second is 42.
                let n = if self.0.fetch_add(1, Ordering::SeqCst) == 0 { u32::MAX } else { 42 };
                for (b, v) in buf.iter_mut().zip(n.to_be_bytes()) {
                    *b = v;
                }
            }
        }
        assert_eq!(generate_code(&Fixed(AtomicU32::new(0))), "000042");
    }

    #[test]
    fn sec_18_the_message_holds_the_code_and_nothing_else_secret() {
        let text = code_message("Twofold", "123456", 600);
        assert!(text.contains("10 minutes"));
        assert!(text.starts_with("123456 "));
        assert!(!text.contains("http"));
        let six_digit_runs = text.split(|c: char| !c.is_ascii_digit()).filter(|run| run.len() == 6).count();
        assert_eq!(six_digit_runs, 1);
    }

    #[test]
    fn sec_18_retries_back_off_exponentially_with_jitter_up_to_ten_minutes() {
        assert_eq!(retry_delay(0, 0.0), 2);
        assert_eq!(retry_delay(1, 0.0), 5);
        assert_eq!(retry_delay(1, 0.999), 9);
        assert_eq!(retry_delay(3, 0.0), 20);
        assert_eq!(retry_delay(20, 0.999), 599);
        assert!(retry_delay(7, 0.5) <= 600);
    }

    #[test]
    fn lifetimes_above_fifteen_minutes_are_invalid() {
        assert!(SmsPolicy::default().is_valid());
        assert!(!SmsPolicy { code_lifetime: 16 * 60, ..SmsPolicy::default() }.is_valid());
    }
}
