//! The hash that links each audit event to the one before it in its chain.
//!
//! `hash = SHA-256(prev_hash ‖ encoding of the event)`, hex lowercase. The encoding gives
//! every field a presence tag and every text its length, so that no two different events
//! encode alike (`("ab", "c")` is not `("a", "bc")`, and a missing IP is not an empty one).
//! The row id is left out: the database assigns it after the hash is known; `seq` is the
//! event's place instead.

use sha2::{Digest, Sha256};

/// The `prev_hash` of each chain's first event.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Names this encoding, so that a future one cannot collide with it.
const VERSION: &str = "twofold-audit-v1";

/// The chain an event belongs to: its account's, or chain 0 for events without an account
/// (account ids start at 1).
pub fn chain_of(account_id: Option<i64>) -> i64 {
    account_id.unwrap_or(0)
}

/// The facts of one event that its hash covers.
#[derive(Debug, Clone, Copy)]
pub struct Link<'a> {
    pub chain: i64,
    pub seq: i64,
    pub actor: Option<i64>,
    pub target: Option<i64>,
    pub event: &'a str,
    pub detail: &'a str,
    pub ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    pub created_at: i64,
}

/// The hash of `link` following `prev_hash`, hex lowercase.
pub fn hash(prev_hash: &str, link: &Link<'_>) -> String {
    let mut h = Sha256::new();
    text(&mut h, Some(VERSION));
    text(&mut h, Some(prev_hash));
    int(&mut h, Some(link.chain));
    int(&mut h, Some(link.seq));
    int(&mut h, link.actor);
    int(&mut h, link.target);
    text(&mut h, Some(link.event));
    text(&mut h, Some(link.detail));
    text(&mut h, link.ip);
    text(&mut h, link.user_agent);
    int(&mut h, Some(link.created_at));
    data_encoding::HEXLOWER.encode(&h.finalize())
}

fn int(h: &mut Sha256, value: Option<i64>) {
    match value {
        None => h.update([0u8]),
        Some(v) => {
            h.update([1u8]);
            h.update(v.to_be_bytes());
        }
    }
}

fn text(h: &mut Sha256, value: Option<&str>) {
    match value {
        None => h.update([0u8]),
        Some(s) => {
            h.update([1u8]);
            h.update((s.len() as u64).to_be_bytes());
            h.update(s.as_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINK: Link<'static> = Link {
        chain: 7,
        seq: 3,
        actor: Some(1),
        target: Some(2),
        event: "sign_in.failed",
        detail: "{}",
        ip: Some("192.0.2.1"),
        user_agent: Some("curl"),
        created_at: 1_800_000_000,
    };

    #[test]
    fn the_hash_is_stable_hex_and_depends_on_the_previous_one() {
        let a = hash(GENESIS, &LINK);
        assert_eq!(a, hash(GENESIS, &LINK));
        assert_eq!(a.len(), 64);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_ne!(a, hash(&a, &LINK));
    }

    #[test]
    fn every_field_counts() {
        let base = hash(GENESIS, &LINK);
        let variants = [
            Link { chain: 8, ..LINK },
            Link { seq: 4, ..LINK },
            Link { actor: None, ..LINK },
            Link { target: Some(3), ..LINK },
            Link { event: "sign_in.succeeded", ..LINK },
            Link { detail: "{\"a\":1}", ..LINK },
            Link { ip: None, ..LINK },
            Link { user_agent: Some("curl "), ..LINK },
            Link { created_at: 1_800_000_001, ..LINK },
        ];
        for v in variants {
            assert_ne!(hash(GENESIS, &v), base, "{v:?}");
        }
    }

    #[test]
    fn the_encoding_is_unambiguous() {
        let split = |event, detail| hash(GENESIS, &Link { event, detail, ..LINK });
        assert_ne!(split("ab", "c"), split("a", "bc"));
        assert_ne!(hash(GENESIS, &Link { ip: None, ..LINK }), hash(GENESIS, &Link { ip: Some(""), ..LINK }));
        assert_ne!(hash(GENESIS, &Link { actor: None, ..LINK }), hash(GENESIS, &Link { actor: Some(0), ..LINK }));
    }
}
