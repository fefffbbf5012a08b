//! A backup with its keyring inside, sealed under a passphrase (`twofold backup
//! --include-keys`): whoever holds the file and the passphrase holds every secret, so the
//! file is encrypted as a whole.
//!
//! Layout (version 1):
//!
//! ```text
//! "TWOFOLD-BACKUP1\n" ‖ m_cost ‖ t_cost ‖ p_cost (u32, big-endian; Argon2id) ‖ salt (16)
//!   ‖ nonce (12) ‖ AES-256-GCM( len(keyring) (u32) ‖ keyring spec ‖ SQLite database )
//! ```
//!
//! The header is the associated data: a changed cost or salt fails like a wrong passphrase.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use argon2::{Algorithm, Argon2, Params, Version};
use thiserror::Error;
use zeroize::Zeroizing;

/// The first bytes of a sealed backup.
pub const MAGIC: &[u8; 16] = b"TWOFOLD-BACKUP1\n";
const SALT_LEN: usize = 16;
const NONCE_LEN: usize = 12;
const HEADER_LEN: usize = MAGIC.len() + 12 + SALT_LEN + NONCE_LEN;
/// Argon2id at 64 MiB and three passes (RFC 9106's second recommendation): the passphrase
/// is all that protects every secret of the instance.
const M_COST_KIB: u32 = 64 * 1024;
const T_COST: u32 = 3;
const P_COST: u32 = 1;
/// The most a file may ask of this machine before it is believed.
const MAX_M_COST_KIB: u32 = 1024 * 1024;
const MAX_T_COST: u32 = 16;
/// A passphrase shorter than this is refused when sealing.
pub const MIN_PASSPHRASE_CHARS: usize = 12;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum SealedError {
    #[error("this is not a sealed Twofold backup, or one of a newer version")]
    NotSealed,
    #[error("the passphrase is wrong, or the file was changed")]
    WrongPassphrase,
    #[error("the passphrase must have at least {MIN_PASSPHRASE_CHARS} characters")]
    WeakPassphrase,
    #[error("could not seal the backup: {0}")]
    Crypto(String),
}

/// What a sealed backup holds.
pub struct Contents {
    /// The keyring as `id:base64[,…]` (the current key first).
    pub keyring: Zeroizing<String>,
    pub database: Vec<u8>,
}

/// Whether `bytes` begin like a sealed backup.
pub fn is_sealed(bytes: &[u8]) -> bool {
    bytes.starts_with(MAGIC)
}

fn key_from(passphrase: &str, salt: &[u8], m: u32, t: u32, p: u32) -> Result<Zeroizing<[u8; 32]>, SealedError> {
    let params = Params::new(m, t, p, Some(32)).map_err(|_| SealedError::NotSealed)?;
    let mut key = Zeroizing::new([0u8; 32]);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into(passphrase.as_bytes(), salt, key.as_mut())
        .map_err(|e| SealedError::Crypto(e.to_string()))?;
    Ok(key)
}

/// Seals `contents` under `passphrase`.
pub fn seal(contents: &Contents, passphrase: &str) -> Result<Vec<u8>, SealedError> {
    if passphrase.chars().count() < MIN_PASSPHRASE_CHARS {
        return Err(SealedError::WeakPassphrase);
    }
    let mut salt = [0u8; SALT_LEN];
    let mut nonce = [0u8; NONCE_LEN];
    getrandom::fill(&mut salt).map_err(|e| SealedError::Crypto(e.to_string()))?;
    getrandom::fill(&mut nonce).map_err(|e| SealedError::Crypto(e.to_string()))?;
    let mut header = Vec::with_capacity(HEADER_LEN);
    header.extend_from_slice(MAGIC);
    for n in [M_COST_KIB, T_COST, P_COST] {
        header.extend_from_slice(&n.to_be_bytes());
    }
    header.extend_from_slice(&salt);
    header.extend_from_slice(&nonce);
    let key = key_from(passphrase, &salt, M_COST_KIB, T_COST, P_COST)?;
    let keyring_len = u32::try_from(contents.keyring.len()).map_err(|_| SealedError::Crypto("keyring".into()))?;
    let mut plain = Zeroizing::new(Vec::with_capacity(4 + contents.keyring.len() + contents.database.len()));
    plain.extend_from_slice(&keyring_len.to_be_bytes());
    plain.extend_from_slice(contents.keyring.as_bytes());
    plain.extend_from_slice(&contents.database);
    let cipher = Aes256Gcm::new_from_slice(key.as_ref()).map_err(|e| SealedError::Crypto(e.to_string()))?;
    let sealed = cipher
        .encrypt(&Nonce::from(nonce), Payload { msg: &plain, aad: &header })
        .map_err(|e| SealedError::Crypto(e.to_string()))?;
    header.extend_from_slice(&sealed);
    Ok(header)
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    bytes.get(at..at + 4).and_then(|b| b.try_into().ok()).map(u32::from_be_bytes)
}

/// Opens a sealed backup with `passphrase`.
pub fn open(bytes: &[u8], passphrase: &str) -> Result<Contents, SealedError> {
    let header = bytes.get(..HEADER_LEN).filter(|h| is_sealed(h)).ok_or(SealedError::NotSealed)?;
    let at = MAGIC.len();
    let (m, t, p) = match (u32_at(header, at), u32_at(header, at + 4), u32_at(header, at + 8)) {
        (Some(m), Some(t), Some(p)) if m <= MAX_M_COST_KIB && t <= MAX_T_COST && (1..=16).contains(&p) => (m, t, p),
        _ => return Err(SealedError::NotSealed),
    };
    let salt = header.get(at + 12..at + 12 + SALT_LEN).ok_or(SealedError::NotSealed)?;
    let nonce: [u8; NONCE_LEN] =
        header.get(at + 12 + SALT_LEN..HEADER_LEN).and_then(|n| n.try_into().ok()).ok_or(SealedError::NotSealed)?;
    let key = key_from(passphrase, salt, m, t, p)?;
    let cipher = Aes256Gcm::new_from_slice(key.as_ref()).map_err(|e| SealedError::Crypto(e.to_string()))?;
    let body = bytes.get(HEADER_LEN..).ok_or(SealedError::NotSealed)?;
    let plain = Zeroizing::new(
        cipher
            .decrypt(&Nonce::from(nonce), Payload { msg: body, aad: header })
            .map_err(|_| SealedError::WrongPassphrase)?,
    );
    let keyring_len = u32_at(&plain, 0).ok_or(SealedError::NotSealed)? as usize;
    let keyring = plain.get(4..4 + keyring_len).ok_or(SealedError::NotSealed)?;
    let keyring = Zeroizing::new(String::from_utf8(keyring.to_vec()).map_err(|_| SealedError::NotSealed)?);
    let database = plain.get(4 + keyring_len..).ok_or(SealedError::NotSealed)?.to_vec();
    Ok(Contents { keyring, database })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contents() -> Contents {
        Contents { keyring: Zeroizing::new("1:AAAA".into()), database: b"SQLite format 3\0 and the rest".to_vec() }
    }

    #[test]
    fn a_sealed_backup_opens_with_its_passphrase_only() {
        let sealed = seal(&contents(), "correct horse battery").unwrap();
        assert!(is_sealed(&sealed));
        assert!(!sealed.windows(6).any(|w| w == b"SQLite"), "the database is not there in the clear");
        let opened = open(&sealed, "correct horse battery").unwrap();
        assert_eq!((opened.keyring.as_str(), opened.database.as_slice()), ("1:AAAA", contents().database.as_slice()));
        assert_eq!(open(&sealed, "wrong horse battery").err(), Some(SealedError::WrongPassphrase));
    }

    #[test]
    fn a_changed_header_or_body_or_a_short_file_is_refused() {
        let sealed = seal(&contents(), "correct horse battery").unwrap();
        for at in [MAGIC.len() + 13, HEADER_LEN - 1, sealed.len() - 1] {
            let mut changed = sealed.clone();
            changed[at] ^= 1;
            assert!(open(&changed, "correct horse battery").is_err(), "byte {at}");
        }
        assert_eq!(open(&sealed[..20], "x").err(), Some(SealedError::NotSealed));
        assert_eq!(open(b"SQLite format 3\0", "x").err(), Some(SealedError::NotSealed));
        // A header asking for absurd memory is not believed.
        let mut greedy = sealed.clone();
        greedy[MAGIC.len()..MAGIC.len() + 4].copy_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(open(&greedy, "correct horse battery").err(), Some(SealedError::NotSealed));
    }

    #[test]
    fn a_short_passphrase_is_refused() {
        assert_eq!(seal(&contents(), "short").err(), Some(SealedError::WeakPassphrase));
    }
}
