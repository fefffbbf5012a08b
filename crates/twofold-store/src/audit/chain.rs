//! The hash that links each audit event to the one before it in its chain.
//!
//! Keyed (version 2, every event written now): `hash = HMAC-SHA256(K, encoding)` in the
//! keyring's MAC form `k<key id>:<hex>`, with K derived from the keyring for this purpose
//! alone, so that whoever can write the database but does not hold the keyring cannot
//! forge a link, nor rewrite the chain and its head unseen. Unkeyed (version 1, events
//! written before): `hash = SHA-256(encoding)`, 64 hex digits; a chain may start with
//! version-1 links, never return to them after a keyed one. The encoding gives
//! every field a presence tag and every text its length, so that no two different events
//! encode alike (`("ab", "c")` is not `("a", "bc")`, and a missing IP is not an empty one).
//! The row id is left out: the database assigns it after the hash is known; `seq` is the
//! event's place instead.

use sha2::{Digest, Sha256};

use crate::secret_box::SecretBox;

/// The `prev_hash` of each chain's first event.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Names each encoding, so that one cannot collide with another.
const VERSION: &str = "twofold-audit-v1";
const VERSION_KEYED: &str = "twofold-audit-v2";

/// The label the chain's MAC key is derived under (no other keyed hash shares it).
pub const MAC_LABEL: &str = "twofold/audit-chain/v2";

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

/// The unkeyed (version 1) hash of `link` following `prev_hash`, hex lowercase: how events
/// were linked before the chain was keyed.
pub fn hash(prev_hash: &str, link: &Link<'_>) -> String {
    data_encoding::HEXLOWER.encode(&Sha256::digest(encode(VERSION, prev_hash, link)))
}

/// The keyed (version 2) hash of `link` following `prev_hash`.
pub fn keyed_hash(key: &SecretBox, prev_hash: &str, link: &Link<'_>) -> String {
    key.mac(MAC_LABEL, &encode(VERSION_KEYED, prev_hash, link))
}

/// Whether a stored hash is a keyed one.
pub fn is_keyed(stored: &str) -> bool {
    stored.starts_with('k')
}

/// Whether `stored` is the hash of `link` following `prev_hash`, in the version it names.
pub fn holds(key: &SecretBox, prev_hash: &str, link: &Link<'_>, stored: &str) -> bool {
    if is_keyed(stored) {
        key.verify_mac(MAC_LABEL, &encode(VERSION_KEYED, prev_hash, link), stored)
    } else {
        hash(prev_hash, link) == stored
    }
}

/// Every field with a presence tag, every text with its length.
fn encode(version: &str, prev_hash: &str, link: &Link<'_>) -> Vec<u8> {
    let mut out = Vec::with_capacity(256 + link.detail.len());
    text(&mut out, Some(version));
    text(&mut out, Some(prev_hash));
    int(&mut out, Some(link.chain));
    int(&mut out, Some(link.seq));
    int(&mut out, link.actor);
    int(&mut out, link.target);
    text(&mut out, Some(link.event));
    text(&mut out, Some(link.detail));
    text(&mut out, link.ip);
    text(&mut out, link.user_agent);
    int(&mut out, Some(link.created_at));
    out
}

fn int(out: &mut Vec<u8>, value: Option<i64>) {
    match value {
        None => out.push(0),
        Some(v) => {
            out.push(1);
            out.extend_from_slice(&v.to_be_bytes());
        }
    }
}

fn text(out: &mut Vec<u8>, value: Option<&str>) {
    match value {
        None => out.push(0),
        Some(s) => {
            out.push(1);
            out.extend_from_slice(&(s.len() as u64).to_be_bytes());
            out.extend_from_slice(s.as_bytes());
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

    fn key() -> SecretBox {
        SecretBox::new(crate::secret_box::Keyring::generate().unwrap())
    }

    #[test]
    fn version_1_hashes_are_unchanged() {
        // Pinned from an independent implementation of the version-1 encoding, so that
        // chains written before the key still verify.
        assert_eq!(hash(GENESIS, &LINK), "97982d301e4978a2eff3ded35112ab97e7012e9e3813e12ac495631ef8ede6f1");
        assert!(!is_keyed(&hash(GENESIS, &LINK)));
    }

    #[test]
    fn keyed_hashes_hold_only_under_their_key_and_for_their_contents() {
        let (k, other) = (key(), key());
        let h = keyed_hash(&k, GENESIS, &LINK);
        assert!(is_keyed(&h), "{h}");
        assert!(holds(&k, GENESIS, &LINK, &h));
        assert!(!holds(&other, GENESIS, &LINK, &h), "another keyring cannot vouch for it");
        assert!(!holds(&k, GENESIS, &Link { detail: "{\"forged\":1}", ..LINK }, &h));
        assert!(!holds(&k, &h, &LINK, &h), "the previous hash counts");
        // The unkeyed hash of the same link is not the keyed one, and proves nothing keyed.
        assert_ne!(hash(GENESIS, &LINK), h);
        assert!(holds(&k, GENESIS, &LINK, &hash(GENESIS, &LINK)), "a version-1 link checks as version 1");
    }
}
