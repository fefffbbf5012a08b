//! The ID-token signing keys (SEC-41): created on first use, sealed at rest, rotated with
//! an overlap, published as a JWKS.

use std::sync::{Arc, RwLock};

use data_encoding::BASE64URL_NOPAD;
use serde_json::{Value, json};
use twofold_domain::oidc::KEY_OVERLAP_SECONDS;
use twofold_domain::oidc::jws::{self, Es256Key, PublicKey};
use twofold_store::oidc::keys::{self, KeyRow};
use twofold_store::{Conn, commit};

use crate::{App, Error, Result};

/// The AEAD purpose of a sealed signing key; bound to owner 0 (the instance).
const PURPOSE: &str = "oidc_signing_key";

/// The parsed signing key, kept while the database names the same key: parsing derives
/// the public point, as costly as a signature.
#[derive(Default)]
pub struct KeyCache(RwLock<Option<(String, Arc<Es256Key>)>>);

impl KeyCache {
    fn get(&self, kid: &str) -> Option<Arc<Es256Key>> {
        let guard = self.0.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        guard.as_ref().filter(|(k, _)| k == kid).map(|(_, key)| key.clone())
    }

    fn put(&self, key: Arc<Es256Key>) {
        let mut guard = self.0.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        *guard = Some((key.kid().to_owned(), key));
    }
}

/// A key as the command line lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    pub kid: String,
    pub created_at: i64,
    pub retired_at: Option<i64>,
}

/// What a rotation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRotation {
    pub new_kid: String,
    pub retired_kid: Option<String>,
    /// Until when the retired key stays published.
    pub published_until: Option<i64>,
}

impl App {
    /// The key that signs now, created on the first call of the instance.
    pub(crate) async fn signing_key(&self) -> Result<Arc<Es256Key>> {
        let mut conn = self.store().conn().await?;
        let row = match keys::signing(&mut conn, jws::ALG).await? {
            Some(row) => row,
            None => {
                // Two instances may race here: the unique index keeps one, the other reads it.
                let _ = self.insert_signing_key(&mut conn).await;
                keys::signing(&mut conn, jws::ALG).await?.ok_or_else(|| Error::Internal("no signing key".into()))?
            }
        };
        drop(conn);
        if let Some(key) = self.signing_key_cache().get(&row.kid) {
            return Ok(key);
        }
        let key = Arc::new(self.open_key(&row)?);
        self.signing_key_cache().put(key.clone());
        Ok(key)
    }

    fn open_key(&self, row: &KeyRow) -> Result<Es256Key> {
        let secret = self.secrets().open(PURPOSE, 0, &row.secret_box)?;
        Es256Key::from_secret(&row.kid, &secret)
            .ok_or_else(|| Error::Internal("a stored signing key is malformed".into()))
    }

    async fn insert_signing_key(&self, conn: &mut Conn) -> Result<String> {
        let secret = Es256Key::generate(self.entropy());
        let mut id = [0u8; 12];
        self.entropy().fill(&mut id);
        let kid = BASE64URL_NOPAD.encode(&id);
        let key = Es256Key::from_secret(&kid, &secret).ok_or_else(|| Error::Internal("key generation".into()))?;
        let sealed = self.secrets().seal(PURPOSE, 0, &secret)?;
        keys::insert(conn, &kid, jws::ALG, &sealed, &key.public().jwk().to_string(), self.now()).await?;
        Ok(kid)
    }

    /// The keys whose signatures may still be met: the signing one and those in overlap.
    pub async fn published_keys(&self) -> Result<Vec<PublicKey>> {
        // The first discovery of a fresh instance publishes the key it will sign with.
        self.signing_key().await?;
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

    /// `twofold oidc keys rotate`: a new key signs from now on; the old one stays published
    /// for the overlap, so tokens it signed still verify (SEC-41).
    pub async fn rotate_signing_key(&self) -> Result<KeyRotation> {
        let now = self.now();
        let mut tx = self.store().begin().await?;
        // The write first: on SQLite a transaction that read first could not write later.
        let retired = keys::retire_signing(&mut tx, jws::ALG, now).await?;
        let new_kid = self.insert_signing_key(&mut tx).await?;
        commit(tx).await?;
        let published_until = retired.as_ref().map(|_| now + KEY_OVERLAP_SECONDS);
        Ok(KeyRotation { new_kid, retired_kid: retired, published_until })
    }

    pub async fn signing_keys(&self) -> Result<Vec<KeyInfo>> {
        let mut conn = self.store().conn().await?;
        let rows = keys::all(&mut conn).await?;
        Ok(rows
            .into_iter()
            .map(|r| KeyInfo { kid: r.kid, created_at: r.created_at, retired_at: r.retired_at })
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
