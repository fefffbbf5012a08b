//! Encryption at rest (SEC-10): the keyring behind every sealed secret, where it comes
//! from, and its rotation without downtime.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use twofold_store::secret_box::{Keyring, SecretBox, SecretBoxError};
use twofold_store::{Realm, commit, totp};

use crate::credentials::totp_purpose;

use crate::{App, Error, Result};

/// The sealing box, and the key file it can be reloaded from.
pub struct Secrets {
    current: RwLock<Arc<SecretBox>>,
    file: Option<PathBuf>,
}

impl Secrets {
    /// Keys given in configuration (`TWOFOLD_SECRET_KEY`): `id:base64[,id:base64…]`, the
    /// first one current.
    pub fn from_spec(spec: &str) -> Result<Self> {
        let keyring = Keyring::from_spec(spec).map_err(key_error)?;
        Ok(Self::fixed(SecretBox::new(keyring)))
    }

    /// Keys kept in a file, created with mode 0600 and a fresh key on first start.
    pub fn from_file(path: &Path) -> Result<Self> {
        let keyring = Keyring::load_or_create_file(path).map_err(key_error)?;
        Ok(Self { current: RwLock::new(Arc::new(SecretBox::new(keyring))), file: Some(path.to_path_buf()) })
    }

    pub fn fixed(secret_box: SecretBox) -> Self {
        Self { current: RwLock::new(Arc::new(secret_box)), file: None }
    }

    /// The box as it is now: for the store's keyed hashes (the audit chain).
    pub fn sealing_box(&self) -> Arc<SecretBox> {
        self.current()
    }

    fn current(&self) -> Arc<SecretBox> {
        match self.current.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn replace(&self, secret_box: SecretBox) {
        match self.current.write() {
            Ok(mut guard) => *guard = Arc::new(secret_box),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(secret_box),
        }
    }

    pub fn seal(&self, purpose: &str, owner_id: i64, plaintext: &[u8]) -> Result<Vec<u8>> {
        self.current().seal(purpose, owner_id, plaintext).map_err(key_error)
    }

    /// Opens a sealed secret. A key id this process has not seen means another instance
    /// rotated the key file: reload it once and try again, so rotation needs no restart.
    pub fn open(&self, purpose: &str, owner_id: i64, blob: &[u8]) -> Result<Vec<u8>> {
        match self.current().open(purpose, owner_id, blob) {
            Err(SecretBoxError::UnknownKey(_)) if self.file.is_some() => {
                self.reload()?;
                self.current().open(purpose, owner_id, blob).map_err(key_error)
            }
            other => other.map_err(key_error),
        }
    }

    /// `blob` sealed under the current key, or `None` when it already is.
    pub(crate) fn rewrap_if_needed(&self, purpose: &str, owner_id: i64, blob: &[u8]) -> Result<Option<Vec<u8>>> {
        let current = self.current();
        if !current.needs_rewrap(blob) {
            return Ok(None);
        }
        current.rewrap(purpose, owner_id, blob).map(Some).map_err(key_error)
    }

    /// A keyed hash of a short secret (an SMS code), stored instead of it.
    pub fn mac(&self, label: &str, data: &[u8]) -> String {
        self.current().mac(label, data)
    }

    pub fn mac_under_each_key(&self, label: &str, data: &[u8]) -> Vec<String> {
        self.current().mac_under_each_key(label, data)
    }

    pub fn verify_mac(&self, label: &str, data: &[u8], stored: &str) -> bool {
        self.current().verify_mac(label, data, stored)
    }

    fn reload(&self) -> Result<()> {
        if let Some(path) = &self.file {
            let keyring = Keyring::load_or_create_file(path).map_err(key_error)?;
            self.replace(SecretBox::new(keyring));
        }
        Ok(())
    }
}

fn key_error(e: SecretBoxError) -> Error {
    Error::Internal(format!("encryption at rest: {e}"))
}

/// What a rotation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rotation {
    pub new_key_id: u32,
    pub resealed: usize,
    /// Rows that changed meanwhile (re-enrolled during the rotation): already current.
    pub skipped: usize,
}

impl App {
    /// Re-encrypts every stored secret under the current key. With a key file, first adds a
    /// new key and makes it current; the old key stays in the file so that instances still
    /// reading it keep working until they reload.
    pub async fn rotate_keys(&self) -> Result<Rotation> {
        let secrets = self.secrets();
        if let Some(path) = &secrets.file {
            let rotated = secrets.current().keyring().rotated().map_err(key_error)?;
            rotated.write_file(path).map_err(key_error)?;
            secrets.replace(SecretBox::new(rotated));
        }
        let current = secrets.current();
        let (mut resealed, mut skipped) = (0, 0);
        // Both realms' authenticator keys: people's and the support operators'.
        for realm in Realm::ALL {
            let mut conn = self.store().conn().await?;
            let sealed = totp::all_sealed(&mut conn, realm).await?;
            drop(conn);
            for (subject_id, blob) in sealed {
                if !current.needs_rewrap(&blob) {
                    continue;
                }
                let new = current.rewrap(totp_purpose(realm), subject_id, &blob).map_err(key_error)?;
                let mut tx = self.store().begin().await?;
                if totp::reseal(&mut tx, realm, subject_id, &blob, &new).await? {
                    resealed += 1;
                } else {
                    skipped += 1;
                }
                commit(tx).await?;
            }
        }
        // The ID-token signing keys are secrets too.
        let (keys_resealed, keys_skipped) = self.reseal_signing_keys().await?;
        // And the RADIUS clients' shared secrets.
        let (radius_resealed, radius_skipped) = self.reseal_radius_secrets().await?;
        // And the webhooks' signing secrets.
        let (hooks_resealed, hooks_skipped) = self.reseal_webhook_secrets().await?;
        Ok(Rotation {
            new_key_id: current.current_key_id(),
            resealed: resealed + keys_resealed + radius_resealed + hooks_resealed,
            skipped: skipped + keys_skipped + radius_skipped + hooks_skipped,
        })
    }
}

/// What the keyring makes of every stored secret: the check a restore runs before it puts
/// a backup in place (`twofold restore`), since a backup without its keys is only as good
/// as the keyring it will be opened with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyringCheck {
    pub opened: usize,
    pub failed: usize,
    /// Key ids that sealed secrets name and the keyring does not hold.
    pub missing_key_ids: std::collections::BTreeSet<u32>,
}

impl KeyringCheck {
    pub fn opens_everything(&self) -> bool {
        self.failed == 0
    }

    fn tally(&mut self, blob: &[u8], opened: std::result::Result<Vec<u8>, SecretBoxError>) {
        match opened {
            Ok(_) => self.opened += 1,
            Err(e) => {
                self.failed += 1;
                if let (SecretBoxError::UnknownKey(_), Ok(id)) = (e, SecretBox::key_id_of(blob)) {
                    self.missing_key_ids.insert(id);
                }
            }
        }
    }
}

impl App {
    /// Opens every sealed secret (both realms' authenticator keys, the ID-token signing
    /// keys, the RADIUS clients' secrets) with the current keyring, without changing anything.
    pub async fn check_keyring(&self) -> Result<KeyringCheck> {
        let sealing = self.secrets().current();
        let mut check = KeyringCheck::default();
        let mut conn = self.store().conn().await?;
        for realm in Realm::ALL {
            for (subject_id, blob) in totp::all_sealed(&mut conn, realm).await? {
                check.tally(&blob, sealing.open(totp_purpose(realm), subject_id, &blob));
            }
        }
        for row in twofold_store::oidc::keys::all(&mut conn).await? {
            check.tally(&row.secret_box, sealing.open(crate::oidc::keys::PURPOSE, 0, &row.secret_box));
        }
        for row in twofold_store::radius::clients(&mut conn).await? {
            let purpose = crate::radius::secret_purpose(&row.name);
            check.tally(&row.secret_box, sealing.open(&purpose, 0, &row.secret_box));
        }
        for (id, blob) in twofold_store::webhooks::all_sealed(&mut conn).await? {
            check.tally(&blob, sealing.open(crate::webhooks::SECRET_PURPOSE, id, &blob));
        }
        Ok(check)
    }
}
