//! The real clock and the real randomness, for production wiring.

use std::time::{SystemTime, UNIX_EPOCH};

use twofold_domain::{Clock, Entropy};

#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
            .unwrap_or(0)
    }
}

/// The operating system's CSPRNG (getrandom).
#[derive(Debug, Clone, Copy, Default)]
pub struct OsEntropy;

impl Entropy for OsEntropy {
    fn fill(&self, buf: &mut [u8]) {
        // Without randomness no secret can be made safely; the OS failing to provide it
        // is unrecoverable for this process.
        #[allow(clippy::expect_used)]
        getrandom::fill(buf).expect("the operating system's random number generator failed");
    }
}

impl OsEntropy {
    pub fn fill_salt(&self, buf: &mut [u8]) {
        self.fill(buf);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_entropy_gives_different_bytes_each_time() {
        let (mut a, mut b) = ([0u8; 32], [0u8; 32]);
        OsEntropy.fill(&mut a);
        OsEntropy.fill(&mut b);
        assert_ne!(a, b);
        assert_ne!(a, [0u8; 32]);
    }

    #[test]
    fn system_clock_is_past_2024() {
        assert!(SystemClock.now() > 1_700_000_000);
    }
}
