//! Time and randomness, injected so that every rule can be tested with a fake clock.

use std::sync::atomic::{AtomicI64, Ordering};

/// A source of the current time, in whole Unix seconds (UTC).
pub trait Clock: Send + Sync {
    fn now(&self) -> i64;
}

/// A source of unpredictable bytes. Production code passes the OS CSPRNG.
pub trait Entropy: Send + Sync {
    fn fill(&self, buf: &mut [u8]);
}

/// A clock that only moves when told to: for tests and benchmarks.
#[derive(Debug)]
pub struct FixedClock(AtomicI64);

impl FixedClock {
    pub fn new(now: i64) -> Self {
        Self(AtomicI64::new(now))
    }

    pub fn set(&self, now: i64) {
        self.0.store(now, Ordering::SeqCst);
    }

    pub fn advance(&self, seconds: i64) {
        self.0.fetch_add(seconds, Ordering::SeqCst);
    }
}

impl Clock for FixedClock {
    fn now(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// Entropy for tests: every byte of the n-th fill is n (distinct and predictable).
#[cfg(test)]
pub(crate) struct CountingEntropy(pub std::sync::atomic::AtomicU8);

#[cfg(test)]
impl Entropy for CountingEntropy {
    fn fill(&self, buf: &mut [u8]) {
        let n = self.0.fetch_add(1, Ordering::SeqCst);
        buf.iter_mut().for_each(|b| *b = n);
    }
}

/// Test entropy: a SHA-256 stream over (seed, counter). Looks random, is reproducible.
/// The test that enrollment really uses the OS CSPRNG lives in the app crate (SEC-02).
#[cfg(test)]
pub(crate) struct Sha256Stream {
    seed: u64,
    counter: std::sync::Mutex<u64>,
}

#[cfg(test)]
impl Sha256Stream {
    pub(crate) fn new(seed: u64) -> Self {
        Self { seed, counter: std::sync::Mutex::new(0) }
    }
}

#[cfg(test)]
impl Entropy for Sha256Stream {
    fn fill(&self, buf: &mut [u8]) {
        use sha2::{Digest, Sha256};
        let mut counter = self.counter.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        for chunk in buf.chunks_mut(32) {
            let block =
                Sha256::new().chain_update(self.seed.to_be_bytes()).chain_update(counter.to_be_bytes()).finalize();
            *counter += 1;
            chunk.copy_from_slice(&block[..chunk.len()]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_clock_moves_only_when_told() {
        let clock = FixedClock::new(1_000);
        assert_eq!(clock.now(), 1_000);
        clock.advance(30);
        assert_eq!(clock.now(), 1_030);
        clock.set(5);
        assert_eq!(clock.now(), 5);
    }
}

/// A Unix time as RFC 3339 in UTC (`2027-01-15T08:00:00Z`).
pub fn rfc3339(unix: i64) -> String {
    let (day, second) = (unix.div_euclid(86_400), unix.rem_euclid(86_400));
    let date = crate::overview::date_of(day);
    format!("{date}T{:02}:{:02}:{:02}Z", second / 3_600, second % 3_600 / 60, second % 60)
}

#[cfg(test)]
mod rfc3339_tests {
    #[test]
    fn utc_times_in_rfc_3339() {
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::rfc3339(1_800_000_000), "2027-01-15T08:00:00Z");
        assert_eq!(super::rfc3339(-1), "1969-12-31T23:59:59Z");
    }
}
