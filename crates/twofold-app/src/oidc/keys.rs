//! The ID-token signing keys (SEC-41): one per algorithm (ES256, RS256), created on first
//! use, sealed at rest, rotated with an overlap, published together as one JWKS.

use std::sync::{Arc, RwLock};

use data_encoding::BASE64URL_NOPAD;
use serde_json::{Value, json};
use twofold_domain::oidc::KEY_OVERLAP_SECONDS;
use twofold_domain::oidc::jws::{Alg, PublicKey, SigningKey};
use twofold_store::oidc::keys::{self, KeyRow};
use twofold_store::{Conn, commit};

use crate::{App, Error, Result};

/// The AEAD purpose of a sealed signing key; bound to owner 0 (the instance).
pub(crate) const PURPOSE: &str = "oidc_signing_key";

/// The parsed signing keys, kept while the database names the same ones: parsing derives
/// the public half, as costly as a signature (an RSA key's far more).
#[derive(Default)]
pub struct KeyCache(RwLock<Vec<Arc<SigningKey>>>);

impl KeyCache {
    fn get(&self, kid: &str) -> Option<Arc<SigningKey>> {
        let guard = self.0.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        guard.iter().find(|k| k.kid() == kid).cloned()
    }

    /// Keeps `key` as its algorithm's signing key, in place of the one before.
    fn put(&self, key: Arc<SigningKey>) {
        let mut guard = self.0.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        guard.retain(|k| k.alg() != key.alg());
        guard.push(key);
    }
}

/// A key as the command line lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    pub kid: String,
    pub alg: Alg,
    pub created_at: i64,
    pub retired_at: Option<i64>,
}

/// What a rotation did, for one algorithm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRotation {
    pub alg: Alg,
    pub new_kid: String,
    pub retired_kid: Option<String>,
    /// Until when the retired key stays published.
    pub published_until: Option<i64>,
}

/// A key made and sealed, not yet stored.
struct NewKey {
    kid: String,
    alg: Alg,
    sealed: Vec<u8>,
    public_jwk: String,
}

impl App {
    /// The key of `alg` that signs now, created on the first call of the instance.
    pub(crate) async fn signing_key(&self, alg: Alg) -> Result<Arc<SigningKey>> {
        let mut conn = self.store().conn().await?;
        let row = match keys::signing(&mut conn, alg.as_str()).await? {
            Some(row) => row,
            None => {
                drop(conn);
                let new = self.new_key(alg).await?;
                let mut conn = self.store().conn().await?;
                // Two instances may race here: the unique index keeps one, the other reads it.
                let _ = store_key(&mut conn, &new, self.now()).await;
                keys::signing(&mut conn, alg.as_str()).await?.ok_or_else(|| Error::Internal("no signing key".into()))?
            }
        };
        if let Some(key) = self.signing_key_cache().get(&row.kid) {
            return Ok(key);
        }
        let key = Arc::new(self.open_key(alg, &row)?);
        self.signing_key_cache().put(key.clone());
        Ok(key)
    }

    fn open_key(&self, alg: Alg, row: &KeyRow) -> Result<SigningKey> {
        let secret = self.secrets().open(PURPOSE, 0, &row.secret_box)?;
        SigningKey::from_secret(alg, &row.kid, &secret)
            .ok_or_else(|| Error::Internal("a stored signing key is malformed".into()))
    }

    /// Makes and seals a key off the async threads: an RSA key's prime search takes a
    /// good fraction of a second.
    async fn new_key(&self, alg: Alg) -> Result<NewKey> {
        let entropy = self.entropy_handle();
        let secret = tokio::task::spawn_blocking(move || SigningKey::generate(alg, entropy.as_ref()))
            .await
            .map_err(|e| Error::Internal(format!("key generation: {e}")))?
            .map_err(|e| Error::Internal(format!("key generation: {e}")))?;
        let mut id = [0u8; 12];
        self.entropy().fill(&mut id);
        let kid = BASE64URL_NOPAD.encode(&id);
        let key =
            SigningKey::from_secret(alg, &kid, &secret).ok_or_else(|| Error::Internal("key generation".into()))?;
        let sealed = self.secrets().seal(PURPOSE, 0, &secret)?;
        Ok(NewKey { kid, alg, sealed, public_jwk: key.public().jwk().to_string() })
    }

    /// The keys whose signatures may still be met: the signing one and those in overlap.
    pub async fn published_keys(&self) -> Result<Vec<PublicKey>> {
        // The first discovery of a fresh instance publishes the keys it will sign with.
        for alg in Alg::ALL {
            self.signing_key(alg).await?;
        }
        let mut conn = self.store().conn().await?;
        let rows = keys::published(&mut conn, self.now() - KEY_OVERLAP_SECONDS).await?;
        Ok(rows
            .iter()
            .filter_map(|r| serde_json::from_str(&r.public_jwk).ok().and_then(|j| PublicKey::from_jwk(&j)))
            .collect())
    }

    /// The JWKS document (RFC 7517 §5).
    pub async fn jwks(&self) -> Result<Value> {
        let keys: Vec<Value> = self.published_keys().await?.iter().map(PublicKey::jwk).collect();
        Ok(json!({ "keys": keys }))
    }

    /// `twofold oidc keys rotate`: for each algorithm, a new key signs from now on; the old
    /// one stays published for the overlap, so tokens it signed still verify (SEC-41).
    pub async fn rotate_signing_keys(&self) -> Result<Vec<KeyRotation>> {
        let mut rotations = Vec::new();
        for alg in Alg::ALL {
            // Made before the transaction: the write lock is not held through a prime search.
            let new = self.new_key(alg).await?;
            let now = self.now();
            let mut tx = self.store().begin().await?;
            // The write first: on SQLite a transaction that read first could not write later.
            let retired = keys::retire_signing(&mut tx, alg.as_str(), now).await?;
            store_key(&mut tx, &new, now).await?;
            commit(tx).await?;
            let published_until = retired.as_ref().map(|_| now + KEY_OVERLAP_SECONDS);
            rotations.push(KeyRotation { alg, new_kid: new.kid, retired_kid: retired, published_until });
        }
        Ok(rotations)
    }

    pub async fn signing_keys(&self) -> Result<Vec<KeyInfo>> {
        let mut conn = self.store().conn().await?;
        let rows = keys::all(&mut conn).await?;
        Ok(rows
            .into_iter()
            .map(|r| KeyInfo {
                alg: Alg::parse(&r.alg).unwrap_or_default(),
                kid: r.kid,
                created_at: r.created_at,
                retired_at: r.retired_at,
            })
            .collect())
    }

    /// Re-seals the signing keys under the current encryption key (part of `keys rotate`).
    pub(crate) async fn reseal_signing_keys(&self) -> Result<(usize, usize)> {
        let mut conn = self.store().conn().await?;
        let rows = keys::all(&mut conn).await?;
        drop(conn);
        let (mut resealed, mut skipped) = (0, 0);
        for row in rows {
            let Some(new) = self.secrets().rewrap_if_needed(PURPOSE, 0, &row.secret_box)? else { continue };
            let mut conn = self.store().conn().await?;
            if keys::reseal(&mut conn, &row.kid, &row.secret_box, &new).await? {
                resealed += 1;
            } else {
                skipped += 1;
            }
        }
        Ok((resealed, skipped))
    }
}

async fn store_key(conn: &mut Conn, key: &NewKey, now: i64) -> Result<()> {
    keys::insert(conn, &key.kid, key.alg.as_str(), &key.sealed, &key.public_jwk, now).await?;
    Ok(())
}
