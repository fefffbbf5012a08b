//! The raw Argon2id rate of this machine: verifications per second with every core busy,
//! in this process, with no HTTP, database or async runtime around them.

use std::time::{Duration, Instant};

use argon2::password_hash::PasswordVerifier;
use argon2::{Algorithm, Argon2, Block, Params, PasswordHash, Version};
use serde::Serialize;

use crate::server::cpu_seconds;

#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Rate {
    pub threads: usize,
    pub per_second: f64,
    /// CPU time of one verification (this process's CPU time / verifications).
    pub cpu_ms_each: f64,
}

/// How each verification gets its 19 MiB of working memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Memory {
    /// A fresh allocation each time: what `argon2`'s `verify_password`, and so the product, does.
    Fresh,
    /// One buffer per thread, reused: the compute-only ceiling.
    Reused,
}

/// Verifies `password` against `hash` on every core for `seconds`.
pub fn rate(hash: &str, password: &str, seconds: f64, memory: Memory) -> Rate {
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
    let cpu_before = cpu_seconds("self");
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(seconds);
    let total: u64 = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(move || {
                    let mut buffer = Vec::new();
                    let mut done = 0u64;
                    while Instant::now() < deadline {
                        let ok = match memory {
                            Memory::Fresh => fresh(password, hash),
                            Memory::Reused => reused(password, hash, &mut buffer),
                        };
                        done += u64::from(ok);
                    }
                    done
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or(0)).sum()
    });
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds("self") - cpu_before;
    Rate { threads, per_second: total as f64 / elapsed, cpu_ms_each: cpu * 1000.0 / total.max(1) as f64 }
}

fn fresh(password: &str, hash: &str) -> bool {
    Argon2::default().verify_password(password.as_bytes(), hash).is_ok()
}

/// The same verification into caller-kept memory (`hash_password_into_with_memory`).
fn reused(password: &str, hash: &str, buffer: &mut Vec<Block>) -> bool {
    let Ok(parsed) = PasswordHash::new(hash) else { return false };
    let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else { return false };
    let Ok(params) = Params::try_from(&parsed) else { return false };
    let Ok(algorithm) = Algorithm::try_from(parsed.algorithm.as_str()) else { return false };
    let Ok(version) = parsed.version.map(Version::try_from).transpose() else { return false };
    let count = params.block_count();
    if buffer.len() < count {
        *buffer = vec![Block::new(); count];
    }
    let Some(blocks) = buffer.get_mut(..count) else { return false };
    let mut out = [0u8; 64];
    let Some(out) = out.get_mut(..expected.len()) else { return false };
    Argon2::new(algorithm, version.unwrap_or_default(), params)
        .hash_password_into_with_memory(password.as_bytes(), salt.as_ref(), out, blocks)
        .is_ok()
        && out == expected.as_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::PasswordHasher;

    #[test]
    fn reused_memory_verifies_like_verify_password() {
        let params = Params::new(64, 1, 1, None).expect("params");
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let hash = argon.hash_password_with_salt(b"right", b"saltsaltsaltsalt").expect("hash").to_string();
        let mut buffer = Vec::new();
        assert!(fresh("right", &hash) && reused("right", &hash, &mut buffer));
        assert!(!fresh("wrong", &hash) && !reused("wrong", &hash, &mut buffer));
    }
}
