//! Password hashing with Argon2id, off the async runtime and capped in concurrency, so
//! that a flood of sign-ins queues for CPU instead of starving every other request.

use std::sync::Arc;

use std::sync::Mutex;

use argon2::password_hash::PasswordHasher;
use argon2::{Algorithm, Argon2, Block, Params, PasswordHash, Version};
use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;

use crate::{Error, Result};

/// Argon2id cost. The default is OWASP's first recommendation: 19 MiB, 2 passes, 1 lane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordParams {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for PasswordParams {
    fn default() -> Self {
        Self { memory_kib: 19_456, iterations: 2, parallelism: 1 }
    }
}

#[derive(Clone)]
pub struct Passwords {
    params: Params,
    permits: Arc<Semaphore>,
    /// A real hash of a password nobody knows: verified against when the email is unknown,
    /// so that unknown emails cost the same time as wrong passwords (SEC-32).
    decoy: Arc<str>,
    /// Argon2's 19 MiB of working memory, kept between verifications (at most one per
    /// permit): allocating and faulting it in afresh for every sign-in cost 40% of the
    /// time and kept hundreds of MB resident under load (docs/performance.md).
    memory: Arc<Mutex<Vec<Vec<Block>>>>,
    /// Turns for password guesses, twice the hashing permits (so that the hash stays busy
    /// while other guesses do their database work): a guess holds one from
    /// before it takes its places in the budgets until its failure is counted (SEC-47), so
    /// that guesses waiting for the hash are not guesses in flight, and honest sign-ins
    /// arriving together are queued here, not refused by the budgets.
    turns: Arc<Semaphore>,
}

impl Passwords {
    pub fn new(p: PasswordParams) -> Result<Self> {
        let params = Params::new(p.memory_kib, p.iterations, p.parallelism, None)
            .map_err(|e| Error::Internal(format!("invalid Argon2 parameters: {e}")))?;
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        let mut decoy_salt = [0u8; 16];
        crate::OsEntropy.fill_salt(&mut decoy_salt);
        let decoy = argon(&params)
            .hash_password_with_salt(b"decoy password that is never anyone's", &decoy_salt)
            .map_err(|e| Error::Internal(format!("hashing failed: {e}")))?
            .to_string();
        Ok(Self {
            params,
            permits: Arc::new(Semaphore::new(cores)),
            decoy: decoy.into(),
            memory: Arc::default(),
            turns: Arc::new(Semaphore::new(cores * 2)),
        })
    }

    /// Waits for a turn to guess a password (see `turns`).
    pub(crate) async fn turn(&self) -> Result<tokio::sync::OwnedSemaphorePermit> {
        self.turns.clone().acquire_owned().await.map_err(|_| Error::Unavailable)
    }

    /// Hashes a new password with a fresh salt (PHC string format).
    pub async fn hash(&self, password: &str, salt: [u8; 16]) -> Result<String> {
        let params = self.params.clone();
        let password = password.to_owned();
        self.run(move || {
            argon(&params)
                .hash_password_with_salt(password.as_bytes(), &salt)
                .map(|h| h.to_string())
                .map_err(|e| Error::Internal(format!("hashing failed: {e}")))
        })
        .await?
    }

    /// Checks a password against a stored hash, or against the decoy when there is none.
    pub async fn verify(&self, password: &str, stored: Option<&str>) -> Result<bool> {
        let known = stored.is_some();
        let hash = stored.map_or_else(|| self.decoy.to_string(), str::to_owned);
        let password = password.to_owned();
        let memory = self.memory.clone();
        let matches = self.run(move || verify_in(&memory, password.as_bytes(), &hash)).await?;
        Ok(known && matches)
    }

    async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> Result<T> {
        let _permit = self.permits.acquire().await.map_err(|_| Error::Unavailable)?;
        tokio::task::spawn_blocking(work).await.map_err(|e| Error::Internal(format!("hashing task failed: {e}")))
    }
}

/// Verifies `password` against a PHC hash string in reused working memory, comparing the
/// outputs in constant time. Any unreadable hash is simply a mismatch.
fn verify_in(memory: &Mutex<Vec<Vec<Block>>>, password: &[u8], hash: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(hash) else { return false };
    let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else { return false };
    let (Ok(params), Ok(algorithm)) = (Params::try_from(&parsed), Algorithm::try_from(parsed.algorithm.as_str()))
    else {
        return false;
    };
    let Ok(version) = parsed.version.map(Version::try_from).transpose() else { return false };
    let count = params.block_count();
    let mut blocks = memory.lock().ok().and_then(|mut pool| pool.pop()).unwrap_or_default();
    if blocks.len() < count {
        blocks = vec![Block::new(); count];
    }
    let mut out = [0u8; 64];
    let matches = match (out.get_mut(..expected.len()), blocks.get_mut(..count)) {
        (Some(out), Some(work)) => {
            let argon = Argon2::new(algorithm, version.unwrap_or_default(), params);
            argon.hash_password_into_with_memory(password, salt.as_ref(), out, work).is_ok()
                && bool::from(out.ct_eq(expected.as_bytes()))
        }
        _ => false,
    };
    if let Ok(mut pool) = memory.lock() {
        pool.push(blocks);
    }
    matches
}

fn argon(params: &Params) -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> Passwords {
        #[allow(clippy::unwrap_used)]
        Passwords::new(PasswordParams { memory_kib: 1024, iterations: 1, parallelism: 1 }).unwrap()
    }

    #[tokio::test]
    async fn the_right_password_verifies_and_a_wrong_one_does_not() -> Result<()> {
        let p = cheap();
        let hash = p.hash("correct horse battery", [7; 16]).await?;
        assert!(hash.starts_with("$argon2id$"));
        assert!(p.verify("correct horse battery", Some(&hash)).await?);
        assert!(!p.verify("correct horse batterY", Some(&hash)).await?);
        Ok(())
    }

    #[tokio::test]
    async fn sec_32_an_unknown_person_never_verifies_even_with_the_decoy_password() -> Result<()> {
        let p = cheap();
        assert!(!p.verify("decoy password that is never anyone's", None).await?);
        Ok(())
    }

    #[tokio::test]
    async fn working_memory_is_reused_and_malformed_hashes_never_verify() -> Result<()> {
        let p = cheap();
        let hash = p.hash("correct horse battery", [3; 16]).await?;
        for _ in 0..5 {
            assert!(p.verify("correct horse battery", Some(&hash)).await?);
        }
        assert_eq!(p.memory.lock().map(|pool| pool.len()).unwrap_or(0), 1, "one buffer served every sequential check");
        assert!(!p.verify("correct horse battery", Some("$argon2id$v=19$m=1024,t=1,p=1$bm9uc2Vuc2U")).await?);
        assert!(!p.verify("correct horse battery", Some("not a hash")).await?);
        Ok(())
    }

    #[tokio::test]
    async fn default_parameters_are_owasps() -> Result<()> {
        let p = Passwords::new(PasswordParams::default())?;
        let hash = p.hash("correct horse battery", [1; 16]).await?;
        assert!(hash.contains("m=19456,t=2,p=1"), "{hash}");
        Ok(())
    }
}
