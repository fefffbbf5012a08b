//! TOTP (RFC 6238) and Twofold's verification policy: window, replay, clock-drift hint.

use serde::{Deserialize, Serialize};
use subtle::{Choice, ConditionallySelectable, ConstantTimeEq};

use super::hotp::{Algorithm, MAX_DIGITS, MIN_DIGITS, format_code, hotp};
use super::secret::Secret;

/// Longest input [`normalize_code`] will look at. Anything longer is refused without being read.
pub const MAX_CODE_INPUT: usize = 64;

/// Upper bound on `window` (steps each side) that [`verify`] honours, whatever the configuration.
pub const MAX_WINDOW_STEPS: u64 = 10;

/// Upper bound on the steps each side that [`verify`] searches for a clock-drift hint.
pub const MAX_DRIFT_STEPS: u64 = 240;

/// How codes are made and checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TotpParams {
    pub algorithm: Algorithm,
    /// Code length, 6..=8.
    pub digits: u32,
    /// Seconds per step.
    pub period: u64,
    /// Steps accepted on each side of the current one (RFC 6238 §5.2).
    pub window: u64,
    /// How far (in seconds, each side) to look for a code outside the window, to tell the user
    /// that their phone's clock is off. The code is still rejected.
    pub drift_search_seconds: u64,
}

impl Default for TotpParams {
    fn default() -> Self {
        Self { algorithm: Algorithm::Sha1, digits: 6, period: 30, window: 1, drift_search_seconds: 600 }
    }
}

impl TotpParams {
    /// Whether `verify` can work with these parameters (period ≥ 1 s, digits 6..=8).
    pub fn is_valid(&self) -> bool {
        self.period >= 1 && (MIN_DIGITS..=MAX_DIGITS).contains(&self.digits)
    }
}

/// The outcome of checking a code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verification {
    /// The code matches `step`, which is newer than the last accepted step. The caller must
    /// record `step` as the new high-water mark (only if still below it).
    Accepted {
        step: u64,
    },
    /// The code matches `step`, but a step at least as new was already accepted (SEC-05).
    Replay {
        step: u64,
    },
    /// The code is wrong now but matches a step outside the window: the phone's clock is off by
    /// about `offset_seconds` (positive: the phone is ahead / fast; negative: behind / slow).
    ClockDrift {
        offset_seconds: i64,
    },
    Rejected,
}

/// Why typed input is not a code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodeFormatError {
    #[error("enter the code")]
    Empty,
    #[error("the code is far too long")]
    TooLong,
    #[error("the code must contain only digits")]
    NotDigits,
    #[error("the code must have {expected} digits, not {got}")]
    WrongLength { expected: usize, got: usize },
}

/// Turns what the user typed into a code: drops spaces, dashes and tabs, then requires exactly
/// `digits` ASCII digits. Input longer than [`MAX_CODE_INPUT`] bytes is refused up front.
pub fn normalize_code(input: &str, digits: u32) -> Result<String, CodeFormatError> {
    if input.len() > MAX_CODE_INPUT {
        return Err(CodeFormatError::TooLong);
    }
    let code: String = input.chars().filter(|c| !matches!(c, ' ' | '-' | '\t')).collect();
    if code.is_empty() {
        return Err(CodeFormatError::Empty);
    }
    if !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CodeFormatError::NotDigits);
    }
    let expected = digits as usize;
    if code.len() != expected {
        return Err(CodeFormatError::WrongLength { expected, got: code.len() });
    }
    Ok(code)
}

/// RFC 6238 TOTP value for a raw key at `unix_time` (the HOTP of `unix_time / period`).
/// A `period` of 0 is treated as 1.
pub fn totp(key: &[u8], unix_time: u64, period: u64, digits: u32, algorithm: Algorithm) -> u32 {
    hotp(key, unix_time / period.max(1), digits, algorithm)
}

/// The code shown by a correct authenticator at `now` (times before 1970 count as 0).
pub fn current_code(params: &TotpParams, secret: &Secret, now_unix: i64) -> String {
    let now = u64::try_from(now_unix).unwrap_or(0);
    let code = totp(secret.as_bytes(), now, params.period, params.digits, params.algorithm);
    format_code(code, params.digits)
}

/// Checks an already-normalized `code` at `now_unix` against the steps around now.
///
/// Every candidate in the window is computed and compared in constant time; the match chosen
/// is the highest matching step. If it is newer than `last_accepted_step` the result is
/// `Accepted`, otherwise `Replay`. Outside the window, steps up to `drift_search_seconds` away
/// are tried (closest first) to produce a `ClockDrift` hint. Times before 1970 and invalid
/// parameters give `Rejected`.
pub fn verify(
    params: &TotpParams,
    secret: &Secret,
    code: &str,
    now_unix: i64,
    last_accepted_step: Option<u64>,
) -> Verification {
    if !params.is_valid() {
        return Verification::Rejected;
    }
    let Ok(now) = u64::try_from(now_unix) else {
        return Verification::Rejected;
    };
    let period = params.period;
    let current = now / period;
    let window = params.window.min(MAX_WINDOW_STEPS);
    let key = secret.as_bytes().as_slice();
    let code = code.as_bytes();
    let matches = |step: u64| -> Choice {
        let candidate = format_code(hotp(key, step, params.digits, params.algorithm), params.digits);
        candidate.as_bytes().ct_eq(code)
    };

    // The window: every step is computed and compared; the highest match wins.
    let mut found = Choice::from(0);
    let mut best = 0u64;
    let first = current.saturating_sub(window);
    let last = current.saturating_add(window);
    for step in first..=last {
        let hit = matches(step);
        best = u64::conditional_select(&best, &step, hit);
        found |= hit;
    }
    if bool::from(found) {
        return if last_accepted_step >= Some(best) {
            Verification::Replay { step: best }
        } else {
            Verification::Accepted { step: best }
        };
    }

    // Outside the window: only a hint for the user, never an acceptance.
    let reach = (params.drift_search_seconds / period).min(MAX_DRIFT_STEPS);
    let mut drift_found = Choice::from(0);
    let mut drift_step = 0u64;
    for distance in window.saturating_add(1)..=reach {
        // Ahead before behind at equal distance; closest distance wins.
        for step in [current.checked_add(distance), current.checked_sub(distance)].into_iter().flatten() {
            let take = matches(step) & !drift_found;
            drift_step = u64::conditional_select(&drift_step, &step, take);
            drift_found |= take;
        }
    }
    if bool::from(drift_found) {
        return Verification::ClockDrift { offset_seconds: drift_offset(drift_step, period, now) };
    }
    Verification::Rejected
}

/// Seconds from `now` to the middle of `step`, rounded to the nearest second (halves away from
/// zero): positive when the step lies in the future, i.e. the phone is fast.
fn drift_offset(step: u64, period: u64, now: u64) -> i64 {
    let twice = 2 * i128::from(step) * i128::from(period) + i128::from(period) - 2 * i128::from(now);
    let rounded = if twice >= 0 { (twice + 1) / 2 } else { (twice - 1) / 2 };
    i64::try_from(rounded).unwrap_or(if rounded > 0 { i64::MAX } else { i64::MIN })
}

/// Describes a clock offset for people: "about 2 minutes 10 seconds fast", "about 45 seconds
/// slow", "about 3 minutes slow". Above one minute it is rounded to 10 seconds.
pub fn describe_offset(offset_seconds: i64) -> String {
    let direction = if offset_seconds > 0 { "fast" } else { "slow" };
    let magnitude = offset_seconds.unsigned_abs();
    if magnitude == 0 {
        return "on time".to_owned();
    }
    let rounded = if magnitude > 60 { magnitude.saturating_add(5) / 10 * 10 } else { magnitude };
    let minutes = rounded / 60;
    let seconds = rounded % 60;
    let mut parts = Vec::with_capacity(2);
    if minutes > 0 {
        parts.push(plural(minutes, "minute"));
    }
    if seconds > 0 {
        parts.push(plural(seconds, "second"));
    }
    format!("about {} {direction}", parts.join(" "))
}

fn plural(n: u64, unit: &str) -> String {
    if n == 1 { format!("1 {unit}") } else { format!("{n} {unit}s") }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::clock::Sha256Stream;

    const SEED_SHA1: &[u8] = b"12345678901234567890";
    const SEED_SHA256: &[u8] = b"12345678901234567890123456789012";
    const SEED_SHA512: &[u8] = b"1234567890123456789012345678901234567890123456789012345678901234";

    /// RFC 6238 Appendix B: (time, SHA1, SHA256, SHA512), 8 digits, period 30.
    const RFC6238: [(u64, u32, u32, u32); 6] = [
        (59, 94287082, 46119246, 90693936),
        (1111111109, 7081804, 68084774, 25091201),
        (1111111111, 14050471, 67062674, 99943326),
        (1234567890, 89005924, 91819424, 93441116),
        (2000000000, 69279037, 90698825, 38618901),
        (20000000000, 65353130, 77737706, 47863826),
    ];

    fn secret() -> Secret {
        Secret::from_bytes(*b"12345678901234567890")
    }

    fn code_at_step(params: &TotpParams, secret: &Secret, step: u64) -> String {
        format_code(hotp(secret.as_bytes(), step, params.digits, params.algorithm), params.digits)
    }

    // SEC-01: RFC 6238 Appendix B, 8 digits, including times beyond 32 bits.
    #[test]
    fn sec_01_rfc6238_vectors_8_digits() {
        for (time, sha1, sha256, sha512) in RFC6238 {
            assert_eq!(totp(SEED_SHA1, time, 30, 8, Algorithm::Sha1), sha1, "SHA1 at {time}");
            assert_eq!(totp(SEED_SHA256, time, 30, 8, Algorithm::Sha256), sha256, "SHA256 at {time}");
            assert_eq!(totp(SEED_SHA512, time, 30, 8, Algorithm::Sha512), sha512, "SHA512 at {time}");
        }
    }

    // SEC-01: the same vectors as 6-digit codes (the last six digits).
    #[test]
    fn sec_01_rfc6238_vectors_6_digits() {
        for (time, sha1, sha256, sha512) in RFC6238 {
            let cases = [
                (SEED_SHA1, Algorithm::Sha1, sha1),
                (SEED_SHA256, Algorithm::Sha256, sha256),
                (SEED_SHA512, Algorithm::Sha512, sha512),
            ];
            for (seed, alg, value) in cases {
                let got = totp(seed, time, 30, 6, alg);
                assert_eq!(got, value % 1_000_000, "{alg} at {time}");
                assert_eq!(format_code(got, 6), format!("{:06}", value % 1_000_000));
            }
        }
    }

    // SEC-01: verify() accepts the RFC 6238 SHA1 codes, including 20000000000 (> 2^32).
    #[test]
    fn sec_01_verify_accepts_rfc6238_sha1_codes() {
        let params = TotpParams { digits: 8, ..TotpParams::default() };
        for (time, sha1, _, _) in RFC6238 {
            let code = format_code(sha1, 8);
            assert_eq!(
                verify(&params, &secret(), &code, time as i64, None),
                Verification::Accepted { step: time / 30 },
                "at {time}"
            );
        }
    }

    #[test]
    fn current_code_matches_rfc6238() {
        let params = TotpParams::default();
        assert_eq!(current_code(&params, &secret(), 59), "287082");
        assert_eq!(current_code(&params, &secret(), 20_000_000_000), "353130");
        let eight = TotpParams { digits: 8, ..params };
        assert_eq!(current_code(&eight, &secret(), 1_111_111_109), "07081804");
    }

    #[test]
    fn defaults() {
        let p = TotpParams::default();
        assert_eq!(p.algorithm, Algorithm::Sha1);
        assert_eq!((p.digits, p.period, p.window, p.drift_search_seconds), (6, 30, 1, 600));
        assert!(p.is_valid());
    }

    // SEC-05: after step T is accepted, the codes for T and T-1 are replays.
    #[test]
    fn sec_05_accepted_step_cannot_be_reused() {
        let params = TotpParams::default();
        let s = secret();
        let now = 1_700_000_015;
        let t = now as u64 / 30;
        let code = current_code(&params, &s, now);
        assert_eq!(verify(&params, &s, &code, now, None), Verification::Accepted { step: t });
        assert_eq!(verify(&params, &s, &code, now, Some(t)), Verification::Replay { step: t });
        // The same code later in the window is still a replay.
        assert_eq!(verify(&params, &s, &code, now + 30, Some(t)), Verification::Replay { step: t });
        let previous = code_at_step(&params, &s, t - 1);
        assert_eq!(verify(&params, &s, &previous, now, Some(t)), Verification::Replay { step: t - 1 });
        // The next step is still fine.
        let next = code_at_step(&params, &s, t + 1);
        assert_eq!(verify(&params, &s, &next, now, Some(t)), Verification::Accepted { step: t + 1 });
    }

    // SEC-05: when two steps in the window share a code, the highest one is used, so an
    // accepted code can never be accepted again through its twin.
    #[test]
    fn sec_05_duplicate_codes_in_window_prefer_highest_step() {
        let params = TotpParams::default();
        let s = secret();
        // Found offline: with the RFC secret, steps 57017782 and 57017784 both give 882938,
        // and steps 57766335 and 57766336 both give 251166.
        let (low, high) = (57_017_782u64, 57_017_784u64);
        let code = code_at_step(&params, &s, low);
        assert_eq!(code, "882938");
        assert_eq!(code_at_step(&params, &s, high), code);
        let now = ((low + 1) * 30) as i64;
        assert_eq!(verify(&params, &s, &code, now, None), Verification::Accepted { step: high });
        assert_eq!(verify(&params, &s, &code, now, Some(low)), Verification::Accepted { step: high });
        assert_eq!(verify(&params, &s, &code, now, Some(low + 1)), Verification::Accepted { step: high });
        assert_eq!(verify(&params, &s, &code, now, Some(high)), Verification::Replay { step: high });

        let (t, next) = (57_766_335u64, 57_766_336u64);
        let code = code_at_step(&params, &s, t);
        assert_eq!(code, "251166");
        assert_eq!(code_at_step(&params, &s, next), code);
        let now = (t * 30) as i64;
        assert_eq!(verify(&params, &s, &code, now, None), Verification::Accepted { step: next });
        assert_eq!(verify(&params, &s, &code, now, Some(next)), Verification::Replay { step: next });
    }

    // SEC-07: T-1, T, T+1 accepted; T±2 rejected with the clock offset; 11 minutes away rejected.
    #[test]
    fn sec_07_window_and_clock_drift() {
        let params = TotpParams::default();
        let s = secret();
        let now: i64 = 1_700_000_020; // 10 s into its step
        let t = now as u64 / 30;
        let step_start = (t * 30) as i64;
        assert_eq!(step_start + 10, now);
        for step in [t - 1, t, t + 1] {
            let code = code_at_step(&params, &s, step);
            assert_eq!(verify(&params, &s, &code, now, None), Verification::Accepted { step });
        }
        // T+2: the phone is ahead. Middle of T+2 is step_start + 75 → +65 s.
        let ahead = code_at_step(&params, &s, t + 2);
        assert_eq!(verify(&params, &s, &ahead, now, None), Verification::ClockDrift { offset_seconds: 65 });
        // T-2: the phone is behind. Middle of T-2 is step_start - 45 → -55 s.
        let behind = code_at_step(&params, &s, t - 2);
        assert_eq!(verify(&params, &s, &behind, now, None), Verification::ClockDrift { offset_seconds: -55 });
        // Ten minutes out is still found (±20 steps).
        let ten_ahead = code_at_step(&params, &s, t + 20);
        assert_eq!(
            verify(&params, &s, &ten_ahead, now, None),
            Verification::ClockDrift { offset_seconds: 20 * 30 + 15 - 10 }
        );
        let ten_behind = code_at_step(&params, &s, t - 20);
        assert_eq!(
            verify(&params, &s, &ten_behind, now, None),
            Verification::ClockDrift { offset_seconds: -20 * 30 + 15 - 10 }
        );
        // Eleven minutes away: nothing.
        for step in [t + 22, t - 22] {
            let code = code_at_step(&params, &s, step);
            assert_eq!(verify(&params, &s, &code, now, None), Verification::Rejected);
        }
    }

    #[test]
    fn sec_07_drift_offset_rounds_to_nearest_second() {
        // Odd period: the middle of a step falls on a half second.
        assert_eq!(drift_offset(10, 31, 100), 226); // 325.5 - 100 = 225.5 → 226
        assert_eq!(drift_offset(0, 31, 100), -85); // 15.5 - 100 = -84.5 → -85
        assert_eq!(drift_offset(5, 30, 100), 65); // 165 - 100
        assert_eq!(drift_offset(1, 30, 100), -55); // 45 - 100
    }

    #[test]
    fn wrong_or_malformed_codes_are_rejected() {
        let params = TotpParams::default();
        let s = secret();
        let now = 1_700_000_000;
        let good = current_code(&params, &s, now);
        let wrong = format_code((good.parse::<u32>().unwrap() + 1) % 1_000_000, 6);
        // A wrong code could by chance match a drift step; with this secret and time it does not.
        assert_eq!(verify(&params, &s, &wrong, now, None), Verification::Rejected);
        assert_eq!(verify(&params, &s, "", now, None), Verification::Rejected);
        assert_eq!(verify(&params, &s, &good[..5], now, None), Verification::Rejected);
        assert_eq!(verify(&params, &s, &format!("{good}0"), now, None), Verification::Rejected);
    }

    #[test]
    fn times_before_1970_and_bad_params_are_rejected() {
        let params = TotpParams::default();
        let s = secret();
        let code = current_code(&params, &s, 0);
        assert_eq!(verify(&params, &s, &code, 0, None), Verification::Accepted { step: 0 });
        assert_eq!(verify(&params, &s, &code, -1, None), Verification::Rejected);
        assert_eq!(verify(&params, &s, &code, i64::MIN, None), Verification::Rejected);
        let zero_period = TotpParams { period: 0, ..params };
        assert_eq!(verify(&zero_period, &s, &code, 0, None), Verification::Rejected);
        let nine_digits = TotpParams { digits: 9, ..params };
        assert_eq!(verify(&nine_digits, &s, &code, 0, None), Verification::Rejected);
    }

    #[test]
    fn extreme_times_do_not_overflow() {
        let params = TotpParams::default();
        let s = secret();
        let code = current_code(&params, &s, i64::MAX);
        assert_eq!(verify(&params, &s, &code, i64::MAX, None), Verification::Accepted { step: i64::MAX as u64 / 30 });
        let huge = TotpParams { window: u64::MAX, drift_search_seconds: u64::MAX, ..params };
        // Window and drift search are capped, so this finishes quickly and accepts nothing.
        for now in [0, 1_000, i64::MAX] {
            let outcome = verify(&huge, &s, "000000", now, Some(u64::MAX));
            assert!(!matches!(outcome, Verification::Accepted { .. }), "{outcome:?}");
        }
    }

    #[test]
    fn normalize_accepts_spaces_dashes_and_tabs() {
        assert_eq!(normalize_code("123456", 6).unwrap(), "123456");
        assert_eq!(normalize_code("123 456", 6).unwrap(), "123456");
        assert_eq!(normalize_code("123-456", 6).unwrap(), "123456");
        assert_eq!(normalize_code("\t12 34-56 ", 6).unwrap(), "123456");
        assert_eq!(normalize_code("1234 5678", 8).unwrap(), "12345678");
    }

    #[test]
    fn normalize_rejects_bad_input() {
        use CodeFormatError::*;
        assert_eq!(normalize_code("12345", 6), Err(WrongLength { expected: 6, got: 5 }));
        assert_eq!(normalize_code("1234567", 6), Err(WrongLength { expected: 6, got: 7 }));
        assert_eq!(normalize_code("abcdef", 6), Err(NotDigits));
        assert_eq!(normalize_code("12345six", 6), Err(NotDigits));
        assert_eq!(normalize_code("１２３４５６", 6), Err(NotDigits)); // full-width digits
        assert_eq!(normalize_code("", 6), Err(Empty));
        assert_eq!(normalize_code(" - \t", 6), Err(Empty));
        assert_eq!(normalize_code(&"1".repeat(1 << 20), 6), Err(TooLong));
        assert_eq!(normalize_code(&" ".repeat(65), 6), Err(TooLong));
        assert_eq!(normalize_code(&"1".repeat(64), 6), Err(WrongLength { expected: 6, got: 64 }));
    }

    #[test]
    fn describe_offset_reads_naturally() {
        assert_eq!(describe_offset(130), "about 2 minutes 10 seconds fast");
        assert_eq!(describe_offset(-45), "about 45 seconds slow");
        assert_eq!(describe_offset(-180), "about 3 minutes slow");
        assert_eq!(describe_offset(-178), "about 3 minutes slow");
        assert_eq!(describe_offset(134), "about 2 minutes 10 seconds fast");
        assert_eq!(describe_offset(135), "about 2 minutes 20 seconds fast");
        assert_eq!(describe_offset(60), "about 1 minute fast");
        assert_eq!(describe_offset(61), "about 1 minute fast");
        assert_eq!(describe_offset(1), "about 1 second fast");
        assert_eq!(describe_offset(65), "about 1 minute 10 seconds fast");
        assert_eq!(describe_offset(-55), "about 55 seconds slow");
        assert_eq!(describe_offset(0), "on time");
        assert!(describe_offset(i64::MIN).ends_with(" slow"));
        assert!(describe_offset(i64::MAX).ends_with(" fast"));
    }

    proptest! {
        // SEC-01 / SEC-07: a correct authenticator's code is accepted at any time up to 2^40.
        #[test]
        fn current_code_is_accepted(t in 0i64..(1i64 << 40), seed in any::<u64>()) {
            let params = TotpParams::default();
            let s = Secret::generate(&Sha256Stream::new(seed));
            let code = current_code(&params, &s, t);
            let current = t as u64 / 30;
            // Normally `current`; `current + 1` only if that step happens to share the code.
            match verify(&params, &s, &code, t, None) {
                Verification::Accepted { step } => {
                    prop_assert!(step == current || step == current + 1);
                    prop_assert_eq!(code_at_step(&params, &s, step), code);
                }
                other => prop_assert!(false, "{:?}", other),
            }
        }

        #[test]
        fn any_code_round_trips_through_normalize(seed in any::<u64>(), t in 0i64..(1i64 << 40), digits in 6u32..=8) {
            let s = Secret::generate(&Sha256Stream::new(seed));
            let params = TotpParams { digits, ..TotpParams::default() };
            let code = current_code(&params, &s, t);
            prop_assert_eq!(normalize_code(&code, digits).unwrap(), code.clone());
            let spaced = format!("{} {}", &code[..3], &code[3..]);
            prop_assert_eq!(normalize_code(&spaced, digits).unwrap(), code);
        }
    }
}
