//! Encryption at rest for secrets such as TOTP seeds (SEC-10).
//!
//! Every secret is sealed with AES-256-GCM under the *current* key of a [`Keyring`], with a
//! fresh random 96-bit nonce, and with associated data that binds the blob to its purpose and
//! its owner: a blob copied to another user's row, or into another column, fails to open. A
//! database dump therefore holds only ciphertext, never a base32 secret.
//!
//! Blob layout (version 1):
//!
//! ```text
//! 0x01 ‖ key id (u32, big-endian) ‖ nonce (12 bytes) ‖ ciphertext ‖ tag (16 bytes)
//! ```
//!
//! Associated data: `b"twofold/v1\0" ‖ purpose ‖ b"\0" ‖ owner id (i64, big-endian)`.
//!
//! Keys come from configuration (`id:base64key[,id:base64key…]`, see [`Keyring::from_spec`]) or
//! from a key file that is created with mode 0600 when missing and refused when group or others
//! have any access to it ([`Keyring::load_or_create_file`]). Rotation adds a new current key and
//! keeps the old ones for decryption ([`Keyring::rotated`]); [`SecretBox::needs_rewrap`] and
//! [`SecretBox::rewrap`] move blobs onto the current key, after which the old keys can be
//! dropped ([`Keyring::current_only`]).
//!
//! Random nonces are safe for well over 2^32 seals per key, far beyond what a 2FA service
//! stores; rotate keys long before that.

use std::fmt;
use std::fs::{self, File, OpenOptions, Permissions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{self, Aead, KeyInit, Payload};
use data_encoding::{BASE64, BASE64_NOPAD, HEXLOWER};
use zeroize::Zeroizing;

/// Length of a key in bytes (AES-256).
pub const KEY_LEN: usize = 32;

/// The first byte of every blob this module writes.
const VERSION: u8 = 1;
const KEY_ID_LEN: usize = 4;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
/// Version, key id and nonce.
const HEADER_LEN: usize = 1 + KEY_ID_LEN + NONCE_LEN;
/// Domain separation for the associated data.
const AAD_PREFIX: &[u8] = b"twofold/v1\0";
/// A key file is a few lines; anything bigger is not one.
const MAX_KEY_FILE_LEN: u64 = 64 * 1024;

/// Why a key could not be loaded or a blob could not be sealed or opened.
///
/// No message ever contains key material or plaintext.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretBoxError {
    /// The blob was sealed under a key id the keyring does not hold.
    #[error("secret was sealed under key id {0}, which is not in the keyring")]
    UnknownKey(u32),
    /// The blob is truncated or has an unknown version byte.
    #[error("sealed secret is malformed (truncated or unknown version)")]
    Corrupt,
    /// Authentication failed: the blob was altered, or it belongs to another owner or purpose.
    #[error("sealed secret failed authentication (altered, or bound to another owner or purpose)")]
    Tampered,
    /// The key specification (configuration value or key file) is invalid.
    #[error("invalid encryption key spec: {0}")]
    BadKeySpec(String),
    /// Reading or writing a key file failed.
    #[error("key file I/O failed: {0}")]
    Io(String),
    /// The key file is accessible to group or others.
    #[error("insecure key file: {0}")]
    InsecureKeyFile(String),
    /// The operating system's random number generator failed.
    #[error("the OS random number generator failed: {0}")]
    Random(String),
    /// The plaintext is too long for one AES-GCM message (about 64 GiB).
    #[error("plaintext too long to seal")]
    TooLong,
}

/// One key: its id, its bytes (wiped on drop) and the cipher keyed with it.
#[derive(Clone)]
struct KeyEntry {
    id: u32,
    key: Zeroizing<[u8; KEY_LEN]>,
    cipher: Aes256Gcm,
}

impl KeyEntry {
    fn new(id: u32, key: Zeroizing<[u8; KEY_LEN]>) -> Self {
        let cipher = Aes256Gcm::new(<&aead::Key<Aes256Gcm>>::from(&*key));
        Self { id, key, cipher }
    }

    fn random(id: u32) -> Result<Self, SecretBoxError> {
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        fill_random(key.as_mut_slice())?;
        Ok(Self::new(id, key))
    }

    /// `id:base64key`, in a buffer that is wiped on drop.
    fn to_spec_entry(&self) -> Zeroizing<String> {
        let mut encoded = Zeroizing::new(vec![0u8; BASE64.encode_len(KEY_LEN)]);
        let b64 = BASE64.encode_mut_str(self.key.as_slice(), encoded.as_mut_slice());
        let id = self.id.to_string();
        let mut out = Zeroizing::new(String::with_capacity(id.len() + 1 + b64.len()));
        out.push_str(&id);
        out.push(':');
        out.push_str(b64);
        out
    }
}

/// One or more 256-bit keys, each with an id. The current key seals; every key opens.
///
/// `Debug` shows key ids only, never key bytes.
#[derive(Clone)]
pub struct Keyring {
    /// The key new blobs are sealed under.
    current: KeyEntry,
    /// Older keys, kept to open blobs not yet rewrapped. Ids are unique across the ring.
    older: Vec<KeyEntry>,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("current_key_id", &self.current.id)
            .field("key_ids", &self.key_ids())
            .finish_non_exhaustive()
    }
}

impl Keyring {
    /// A keyring holding one fresh random key with id 1.
    pub fn generate() -> Result<Self, SecretBoxError> {
        Ok(Self { current: KeyEntry::random(1)?, older: Vec::new() })
    }

    /// Parses `id:base64key[,id:base64key…]`; the first key is the current one.
    ///
    /// Keys are 32 bytes in standard base64, padded or not. A single bare base64 key (no
    /// `id:`) means key id 1. Whitespace around entries and empty entries are ignored; ids
    /// must be unique.
    pub fn from_spec(spec: &str) -> Result<Self, SecretBoxError> {
        parse_entries(spec.split(','))
    }

    /// Loads the keyring from a key file, creating it with one fresh key (id 1) if missing.
    ///
    /// The file holds one `id:base64key` per line, the first being the current key; `#`
    /// starts a comment. A new file is created with mode 0600 from the start (no window with
    /// wider permissions). An existing file is refused with
    /// [`SecretBoxError::InsecureKeyFile`] if group or others have any permission on it.
    pub fn load_or_create_file(path: &Path) -> Result<Self, SecretBoxError> {
        match File::open(path) {
            Ok(file) => read_key_file(path, file),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let ring = Self::generate()?;
                match create_private(path) {
                    Ok(file) => {
                        if let Err(e) = write_and_sync(file, &ring.file_contents()) {
                            // Leave no half-written key file behind to trip up the next start.
                            let _ = fs::remove_file(path);
                            return Err(io_error("writing", path, &e));
                        }
                        sync_parent_dir(path);
                        tracing::info!(path = %path.display(), "created a new secret-encryption key file");
                        Ok(ring)
                    }
                    // Another process created it between our open and our create: use theirs.
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                        let file = File::open(path).map_err(|e| io_error("opening", path, &e))?;
                        read_key_file(path, file)
                    }
                    Err(e) => Err(io_error("creating", path, &e)),
                }
            }
            Err(e) => Err(io_error("opening", path, &e)),
        }
    }

    /// A copy of this keyring with a new random key, id = highest id + 1, as the current key;
    /// all existing keys are kept for opening older blobs.
    pub fn rotated(&self) -> Result<Self, SecretBoxError> {
        let max_id = self.entries().map(|k| k.id).max().unwrap_or(self.current.id);
        let id = max_id.checked_add(1).ok_or_else(|| {
            SecretBoxError::BadKeySpec(format!("key id {max_id} is the highest possible; cannot rotate"))
        })?;
        let mut older = Vec::with_capacity(self.older.len() + 1);
        older.push(self.current.clone());
        older.extend(self.older.iter().cloned());
        Ok(Self { current: KeyEntry::random(id)?, older })
    }

    /// A copy of this keyring holding only the current key: drop retired keys once every blob
    /// has been rewrapped.
    pub fn current_only(&self) -> Self {
        Self { current: self.current.clone(), older: Vec::new() }
    }

    /// The id of the key new blobs are sealed under.
    pub fn current_key_id(&self) -> u32 {
        self.current.id
    }

    /// Every key id, the current one first.
    pub fn key_ids(&self) -> Vec<u32> {
        self.entries().map(|k| k.id).collect()
    }

    /// The keyring as `id:base64key,id:base64key…` (current first), the format
    /// [`Keyring::from_spec`] reads. The buffer is wiped when dropped.
    pub fn to_spec(&self) -> Zeroizing<String> {
        let mut out = Zeroizing::new(String::with_capacity(self.spec_capacity()));
        for (i, entry) in self.entries().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&entry.to_spec_entry());
        }
        out
    }

    /// Writes the keyring to `path` atomically: a temporary 0600 file in the same directory
    /// is written, synced and renamed over `path`.
    pub fn write_file(&self, path: &Path) -> Result<(), SecretBoxError> {
        let name =
            path.file_name().ok_or_else(|| SecretBoxError::Io(format!("{} is not a file path", path.display())))?;
        let mut suffix = [0u8; 8];
        fill_random(&mut suffix)?;
        let tmp_name = format!(".{}.{}.tmp", name.to_string_lossy(), HEXLOWER.encode(&suffix));
        let tmp = path.with_file_name(tmp_name);

        let file = create_private(&tmp).map_err(|e| io_error("creating", &tmp, &e))?;
        if let Err(e) = write_and_sync(file, &self.file_contents()) {
            let _ = fs::remove_file(&tmp);
            return Err(io_error("writing", &tmp, &e));
        }
        if let Err(e) = fs::rename(&tmp, path) {
            let _ = fs::remove_file(&tmp);
            return Err(io_error("renaming onto", path, &e));
        }
        sync_parent_dir(path);
        Ok(())
    }

    fn entries(&self) -> impl Iterator<Item = &KeyEntry> {
        std::iter::once(&self.current).chain(self.older.iter())
    }

    fn find(&self, id: u32) -> Option<&KeyEntry> {
        self.entries().find(|k| k.id == id)
    }

    /// Enough for every `id:base64,` without reallocating (which would leave unwiped copies).
    fn spec_capacity(&self) -> usize {
        (self.older.len() + 1) * (10 + 1 + BASE64.encode_len(KEY_LEN) + 1)
    }

    fn file_contents(&self) -> Zeroizing<String> {
        const HEADER: &str = "# Twofold secret-encryption keyring (SEC-10). Keep it private: mode 0600.\n\
                              # One `id:base64key` per line; the first key seals, every key opens.\n";
        let mut out = Zeroizing::new(String::with_capacity(HEADER.len() + self.spec_capacity()));
        out.push_str(HEADER);
        for entry in self.entries() {
            out.push_str(&entry.to_spec_entry());
            out.push('\n');
        }
        out
    }
}

/// Seals and opens secrets under a [`Keyring`], bound to a purpose and an owner.
///
/// `Debug` shows key ids only.
#[derive(Clone, Debug)]
pub struct SecretBox {
    keyring: Keyring,
}

impl SecretBox {
    pub fn new(keyring: Keyring) -> Self {
        Self { keyring }
    }

    pub fn keyring(&self) -> &Keyring {
        &self.keyring
    }

    /// The id of the key new blobs are sealed under.
    pub fn current_key_id(&self) -> u32 {
        self.keyring.current_key_id()
    }

    /// Encrypts `plaintext` under the current key, bound to `purpose` and `owner_id`.
    ///
    /// Fails only if the OS random number generator fails or the plaintext exceeds the
    /// AES-GCM limit.
    pub fn seal(&self, purpose: &str, owner_id: i64, plaintext: &[u8]) -> Result<Vec<u8>, SecretBoxError> {
        let key = &self.keyring.current;
        let mut nonce = [0u8; NONCE_LEN];
        fill_random(&mut nonce)?;
        let aad = associated_data(purpose, owner_id);
        let sealed = key
            .cipher
            .encrypt(<&aead::Nonce<Aes256Gcm>>::from(&nonce), Payload { msg: plaintext, aad: &aad })
            .map_err(|_| SecretBoxError::TooLong)?;
        let mut blob = Vec::with_capacity(HEADER_LEN + sealed.len());
        blob.push(VERSION);
        blob.extend_from_slice(&key.id.to_be_bytes());
        blob.extend_from_slice(&nonce);
        blob.extend_from_slice(&sealed);
        Ok(blob)
    }

    /// Decrypts a blob made by [`SecretBox::seal`] with the same `purpose` and `owner_id`,
    /// under whichever key of the keyring it names.
    pub fn open(&self, purpose: &str, owner_id: i64, blob: &[u8]) -> Result<Vec<u8>, SecretBoxError> {
        let parsed = parse_blob(blob)?;
        let key = self.keyring.find(parsed.key_id).ok_or(SecretBoxError::UnknownKey(parsed.key_id))?;
        let aad = associated_data(purpose, owner_id);
        key.cipher
            .decrypt(<&aead::Nonce<Aes256Gcm>>::from(parsed.nonce), Payload { msg: parsed.sealed, aad: &aad })
            .map_err(|_| SecretBoxError::Tampered)
    }

    /// The id of the key a blob names, without opening it.
    pub fn key_id_of(blob: &[u8]) -> Result<u32, SecretBoxError> {
        parse_blob(blob).map(|parsed| parsed.key_id)
    }

    /// Whether the blob was sealed under a key other than the current one. A malformed blob
    /// gives `false`: rewrapping could not help it.
    pub fn needs_rewrap(&self, blob: &[u8]) -> bool {
        Self::key_id_of(blob).is_ok_and(|id| id != self.current_key_id())
    }

    /// Opens the blob (under whichever key it names) and seals it again under the current key.
    pub fn rewrap(&self, purpose: &str, owner_id: i64, blob: &[u8]) -> Result<Vec<u8>, SecretBoxError> {
        let plaintext = Zeroizing::new(self.open(purpose, owner_id, blob)?);
        self.seal(purpose, owner_id, &plaintext)
    }
}

/// A blob split into its parts; authenticity is not yet checked.
struct ParsedBlob<'a> {
    key_id: u32,
    nonce: &'a [u8; NONCE_LEN],
    /// Ciphertext followed by the tag.
    sealed: &'a [u8],
}

fn parse_blob(blob: &[u8]) -> Result<ParsedBlob<'_>, SecretBoxError> {
    let (&version, rest) = blob.split_first().ok_or(SecretBoxError::Corrupt)?;
    if version != VERSION {
        return Err(SecretBoxError::Corrupt);
    }
    let (key_id, rest) = rest.split_first_chunk::<KEY_ID_LEN>().ok_or(SecretBoxError::Corrupt)?;
    let (nonce, sealed) = rest.split_first_chunk::<NONCE_LEN>().ok_or(SecretBoxError::Corrupt)?;
    if sealed.len() < TAG_LEN {
        return Err(SecretBoxError::Corrupt);
    }
    Ok(ParsedBlob { key_id: u32::from_be_bytes(*key_id), nonce, sealed })
}

/// `b"twofold/v1\0" ‖ purpose ‖ b"\0" ‖ owner_id (8 bytes, big-endian)`. The owner id has a
/// fixed width at the end, so the encoding is unambiguous whatever the purpose holds.
fn associated_data(purpose: &str, owner_id: i64) -> Vec<u8> {
    let mut aad = Vec::with_capacity(AAD_PREFIX.len() + purpose.len() + 1 + 8);
    aad.extend_from_slice(AAD_PREFIX);
    aad.extend_from_slice(purpose.as_bytes());
    aad.push(0);
    aad.extend_from_slice(&owner_id.to_be_bytes());
    aad
}

fn fill_random(buf: &mut [u8]) -> Result<(), SecretBoxError> {
    getrandom::fill(buf).map_err(|e| SecretBoxError::Random(e.to_string()))
}

/// Parses spec entries (`id:base64key`, or one bare key meaning id 1), the first current.
fn parse_entries<'a>(entries: impl Iterator<Item = &'a str>) -> Result<Keyring, SecretBoxError> {
    let entries: Vec<&str> = entries.map(str::trim).filter(|e| !e.is_empty()).collect();
    let bad = |n: usize, msg: &str| SecretBoxError::BadKeySpec(format!("entry {n}: {msg}"));
    let mut keys: Vec<KeyEntry> = Vec::with_capacity(entries.len());
    for (i, entry) in entries.iter().enumerate() {
        let n = i + 1;
        let (id, key) = match entry.split_once(':') {
            Some((id, key)) => {
                let id = id
                    .trim()
                    .parse::<u32>()
                    .map_err(|_| bad(n, "the key id before `:` must be a number from 0 to 4294967295"))?;
                (id, key)
            }
            None if entries.len() == 1 => (1, *entry),
            None => return Err(bad(n, "expected `id:base64key` (a bare key is only allowed alone)")),
        };
        let key = decode_key(key).map_err(|msg| bad(n, &format!("key id {id}: {msg}")))?;
        if keys.iter().any(|k| k.id == id) {
            return Err(bad(n, &format!("duplicate key id {id}")));
        }
        keys.push(KeyEntry::new(id, key));
    }
    let mut keys = keys.into_iter();
    let current = keys.next().ok_or_else(|| SecretBoxError::BadKeySpec("no key given".to_owned()))?;
    Ok(Keyring { current, older: keys.collect() })
}

/// Decodes a 32-byte key from standard base64, padded or not. Errors never echo the input.
fn decode_key(text: &str) -> Result<Zeroizing<[u8; KEY_LEN]>, String> {
    let text = text.trim().as_bytes();
    let encoding = if text.ends_with(b"=") { &BASE64 } else { &BASE64_NOPAD };
    let decoded = Zeroizing::new(
        encoding
            .decode(text)
            .map_err(|e| format!("not valid standard base64 ({} at character {})", e.kind, e.position))?,
    );
    let bytes: &[u8; KEY_LEN] =
        decoded.as_slice().try_into().map_err(|_| format!("key is {} bytes, expected {KEY_LEN}", decoded.len()))?;
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    key.copy_from_slice(bytes);
    Ok(key)
}

fn read_key_file(path: &Path, file: File) -> Result<Keyring, SecretBoxError> {
    // Check the permissions of the file we opened, not of whatever the path names now.
    let meta = file.metadata().map_err(|e| io_error("inspecting", path, &e))?;
    if !meta.is_file() {
        return Err(SecretBoxError::Io(format!("{} is not a regular file", path.display())));
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(SecretBoxError::InsecureKeyFile(format!(
            "{} has mode {mode:04o}; group and others must have no access (run `chmod 600` on it)",
            path.display()
        )));
    }
    if meta.len() > MAX_KEY_FILE_LEN {
        return Err(SecretBoxError::BadKeySpec(format!(
            "{} is larger than {MAX_KEY_FILE_LEN} bytes; it is not a key file",
            path.display()
        )));
    }
    // Reserve it all up front so the buffer never reallocates, leaving unwiped copies.
    let capacity = usize::try_from(meta.len() + 1).unwrap_or(0);
    let mut text = Zeroizing::new(String::with_capacity(capacity));
    file.take(MAX_KEY_FILE_LEN).read_to_string(&mut text).map_err(|e| io_error("reading", path, &e))?;
    let entries = text
        .lines()
        .map(|line| line.split_once('#').map_or(line, |(before, _)| before))
        .flat_map(|line| line.split(','));
    parse_entries(entries).map_err(|e| match e {
        SecretBoxError::BadKeySpec(msg) => SecretBoxError::BadKeySpec(format!("{}: {msg}", path.display())),
        other => other,
    })
}

/// Creates a new file that is 0600 from the moment it exists; fails if it already exists.
fn create_private(path: &Path) -> io::Result<File> {
    let file = OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    // The umask can only have narrowed the mode; make it exactly 0600.
    file.set_permissions(Permissions::from_mode(0o600))?;
    Ok(file)
}

fn write_and_sync(mut file: File, contents: &str) -> io::Result<()> {
    file.write_all(contents.as_bytes())?;
    file.sync_all()
}

/// Makes a create or rename durable; best effort, as not every platform can sync a directory.
fn sync_parent_dir(path: &Path) {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    if let Ok(dir) = File::open(dir) {
        let _ = dir.sync_all();
    }
}

fn io_error(action: &str, path: &Path, e: &io::Error) -> SecretBoxError {
    SecretBoxError::Io(format!("{action} {}: {e}", path.display()))
}

/// Keyed hashes of short secrets (SMS codes): stored instead of the code itself, so that a
/// database dump does not reveal codes even though six digits are trivial to enumerate
/// without the key (SEC-12). The MAC key is derived from the current key, apart from its
/// AES use, and the stored form names the key id so that rotation keeps old hashes checkable.
impl SecretBox {
    pub fn mac(&self, label: &str, data: &[u8]) -> String {
        let entry = &self.keyring.current;
        format!("k{}:{}", entry.id, HEXLOWER.encode(&mac_with(entry, label, data)))
    }

    /// The MAC of `data` under every key of the ring, in [`SecretBox::mac`]'s form: to find
    /// a stored hash by equality although it may predate a rotation.
    pub fn mac_under_each_key(&self, label: &str, data: &[u8]) -> Vec<String> {
        self.keyring.entries().map(|e| format!("k{}:{}", e.id, HEXLOWER.encode(&mac_with(e, label, data)))).collect()
    }

    /// Whether `stored` (from [`SecretBox::mac`]) is the MAC of `data`, in constant time.
    pub fn verify_mac(&self, label: &str, data: &[u8], stored: &str) -> bool {
        let Some((id, hex)) = stored.strip_prefix('k').and_then(|rest| rest.split_once(':')) else {
            return false;
        };
        let (Ok(id), Ok(expected)) = (id.parse::<u32>(), HEXLOWER.decode(hex.as_bytes())) else {
            return false;
        };
        let Some(entry) = self.keyring.find(id) else {
            return false;
        };
        let actual = mac_with(entry, label, data);
        bool::from(subtle::ConstantTimeEq::ct_eq(actual.as_slice(), expected.as_slice()))
    }
}

fn mac_with(entry: &KeyEntry, label: &str, data: &[u8]) -> [u8; 32] {
    use hmac::{Hmac, Mac};
    type HmacSha256 = Hmac<sha2::Sha256>;
    let derive = |key: &[u8], msg: &[&[u8]]| -> [u8; 32] {
        let mut mac = <HmacSha256 as hmac::KeyInit>::new_from_slice(key)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        for part in msg {
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    };
    let subkey = derive(entry.key.as_slice(), &[b"twofold/mac-key/v1"]);
    derive(&subkey, &[label.as_bytes(), b"\0", data])
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use data_encoding::BASE32_NOPAD;

    const OWNER: i64 = 42;
    const PURPOSE: &str = "totp_secret";

    fn key_b64(byte: u8) -> String {
        BASE64.encode(&[byte; KEY_LEN])
    }

    fn boxed(spec: &str) -> SecretBox {
        SecretBox::new(Keyring::from_spec(spec).unwrap())
    }

    fn mode_of(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn sec_12_macs_verify_only_the_same_label_and_data_and_survive_rotation() {
        let old = SecretBox::new(Keyring::generate().unwrap());
        let stored = old.mac("sms:sign_in:7", b"123456");
        assert!(stored.starts_with("k1:"));
        assert!(!stored.contains("123456"));
        assert!(old.verify_mac("sms:sign_in:7", b"123456", &stored));
        assert!(!old.verify_mac("sms:sign_in:7", b"123457", &stored));
        assert!(!old.verify_mac("sms:phone:7", b"123456", &stored), "bound to its label");
        assert!(!old.verify_mac("sms:sign_in:7", b"123456", "k1:zz"));
        let rotated = SecretBox::new(old.keyring().rotated().unwrap());
        assert!(rotated.verify_mac("sms:sign_in:7", b"123456", &stored), "old hashes stay checkable");
        assert!(rotated.mac("sms:sign_in:7", b"123456").starts_with("k2:"));
    }

    #[test]
    fn round_trip() {
        let sb = SecretBox::new(Keyring::generate().unwrap());
        for plaintext in [&b""[..], b"x", b"12345678901234567890", &[0xff; 100]] {
            let blob = sb.seal(PURPOSE, OWNER, plaintext).unwrap();
            assert_eq!(blob.len(), HEADER_LEN + plaintext.len() + TAG_LEN);
            assert_eq!(blob[0], VERSION);
            assert_eq!(SecretBox::key_id_of(&blob).unwrap(), 1);
            assert_eq!(sb.open(PURPOSE, OWNER, &blob).unwrap(), plaintext);
        }
    }

    #[test]
    fn sec_10_blobs_are_bound_to_owner_and_purpose() {
        let sb = SecretBox::new(Keyring::generate().unwrap());
        let blob = sb.seal(PURPOSE, OWNER, b"secret").unwrap();
        assert_eq!(sb.open(PURPOSE, OWNER + 1, &blob), Err(SecretBoxError::Tampered));
        assert_eq!(sb.open(PURPOSE, -OWNER, &blob), Err(SecretBoxError::Tampered));
        assert_eq!(sb.open("recovery_code", OWNER, &blob), Err(SecretBoxError::Tampered));
        assert_eq!(sb.open("", OWNER, &blob), Err(SecretBoxError::Tampered));
        assert_eq!(sb.open(&format!("{PURPOSE}\0"), OWNER, &blob), Err(SecretBoxError::Tampered));
        // And the right pair still opens it.
        assert_eq!(sb.open(PURPOSE, OWNER, &blob).unwrap(), b"secret");
        // Another keyring (another deployment) cannot open it either.
        let other = SecretBox::new(Keyring::generate().unwrap());
        assert_eq!(other.open(PURPOSE, OWNER, &blob), Err(SecretBoxError::Tampered));
    }

    #[test]
    fn flipping_any_byte_fails() {
        let sb = SecretBox::new(Keyring::generate().unwrap());
        let blob = sb.seal(PURPOSE, OWNER, b"JBSWY3DPEHPK3PXP").unwrap();
        for i in 0..blob.len() {
            for bit in [0x01u8, 0x80] {
                let mut bad = blob.clone();
                bad[i] ^= bit;
                let err = sb.open(PURPOSE, OWNER, &bad).unwrap_err();
                let expected = match i {
                    0 => SecretBoxError::Corrupt,
                    1..=4 => SecretBoxError::UnknownKey(u32::from_be_bytes(bad[1..5].try_into().unwrap())),
                    _ => SecretBoxError::Tampered,
                };
                assert_eq!(err, expected, "byte {i}, bit {bit:#x}");
            }
        }
    }

    #[test]
    fn truncated_or_extended_blobs_fail() {
        let sb = SecretBox::new(Keyring::generate().unwrap());
        let blob = sb.seal(PURPOSE, OWNER, b"secret").unwrap();
        for len in 0..HEADER_LEN + TAG_LEN {
            assert_eq!(sb.open(PURPOSE, OWNER, &blob[..len]), Err(SecretBoxError::Corrupt), "len {len}");
            assert!(!sb.needs_rewrap(&blob[..len]));
        }
        for len in HEADER_LEN + TAG_LEN..blob.len() {
            assert_eq!(sb.open(PURPOSE, OWNER, &blob[..len]), Err(SecretBoxError::Tampered), "len {len}");
        }
        let mut longer = blob.clone();
        longer.push(0);
        assert_eq!(sb.open(PURPOSE, OWNER, &longer), Err(SecretBoxError::Tampered));
    }

    #[test]
    fn sec_10_ciphertext_holds_no_plaintext() {
        let sb = SecretBox::new(Keyring::generate().unwrap());
        let raw = b"a 20-byte TOTP seed!";
        let base32 = BASE32_NOPAD.encode(raw);
        for plaintext in [&raw[..], base32.as_bytes()] {
            let blob = sb.seal(PURPOSE, OWNER, plaintext).unwrap();
            for needle in [&raw[..], base32.as_bytes(), &raw[..8], &base32.as_bytes()[..8]] {
                assert!(!blob.windows(needle.len()).any(|w| w == needle), "blob holds {needle:?}");
            }
            let blob_b32 = BASE32_NOPAD.encode(&blob);
            assert!(!blob_b32.contains(&base32));
        }
    }

    #[test]
    fn seals_of_the_same_plaintext_differ() {
        let sb = SecretBox::new(Keyring::generate().unwrap());
        let a = sb.seal(PURPOSE, OWNER, b"same").unwrap();
        let b = sb.seal(PURPOSE, OWNER, b"same").unwrap();
        assert_ne!(a, b);
        assert_ne!(a[HEADER_LEN - NONCE_LEN..HEADER_LEN], b[HEADER_LEN - NONCE_LEN..HEADER_LEN]);
        assert_eq!(sb.open(PURPOSE, OWNER, &a).unwrap(), sb.open(PURPOSE, OWNER, &b).unwrap());
    }

    #[test]
    fn rotation_rewraps_and_retires_old_keys() {
        let ring1 = Keyring::generate().unwrap();
        let old = SecretBox::new(ring1.clone());
        let blob1 = old.seal(PURPOSE, OWNER, b"secret").unwrap();
        assert!(!old.needs_rewrap(&blob1));

        let ring2 = ring1.rotated().unwrap();
        assert_eq!(ring2.current_key_id(), 2);
        assert_eq!(ring2.key_ids(), vec![2, 1]);
        let new = SecretBox::new(ring2.clone());
        assert_eq!(new.current_key_id(), 2);
        assert_eq!(new.open(PURPOSE, OWNER, &blob1).unwrap(), b"secret");
        assert!(new.needs_rewrap(&blob1));

        let blob2 = new.rewrap(PURPOSE, OWNER, &blob1).unwrap();
        assert_eq!(SecretBox::key_id_of(&blob2).unwrap(), 2);
        assert!(!new.needs_rewrap(&blob2));
        assert_eq!(new.open(PURPOSE, OWNER, &blob2).unwrap(), b"secret");
        // Rewrapping keeps the binding.
        assert_eq!(new.rewrap(PURPOSE, OWNER + 1, &blob1), Err(SecretBoxError::Tampered));

        // Once old keys are dropped, old blobs are unknown, new ones still open.
        let only_new = SecretBox::new(ring2.current_only());
        assert_eq!(only_new.open(PURPOSE, OWNER, &blob1), Err(SecretBoxError::UnknownKey(1)));
        assert_eq!(only_new.open(PURPOSE, OWNER, &blob2).unwrap(), b"secret");
        // The same through the spec of the new key alone.
        let spec = ring2.to_spec();
        let first = spec.split(',').next().unwrap();
        assert!(first.starts_with("2:"));
        assert_eq!(boxed(first).open(PURPOSE, OWNER, &blob1), Err(SecretBoxError::UnknownKey(1)));
        // The old box cannot open what the new key sealed.
        assert_eq!(old.open(PURPOSE, OWNER, &blob2), Err(SecretBoxError::UnknownKey(2)));

        // Rotating again takes max + 1, even if the current id is not the highest.
        let ring = Keyring::from_spec(&format!("3:{},7:{}", key_b64(3), key_b64(7))).unwrap();
        assert_eq!(ring.rotated().unwrap().key_ids(), vec![8, 3, 7]);
        let full = Keyring::from_spec(&format!("{}:{}", u32::MAX, key_b64(1))).unwrap();
        assert!(matches!(full.rotated(), Err(SecretBoxError::BadKeySpec(_))));
    }

    #[test]
    fn sec_10_key_file_is_created_0600() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret.key");
        let ring = Keyring::load_or_create_file(&path).unwrap();
        assert_eq!(mode_of(&path), 0o600);
        assert_eq!(ring.key_ids(), vec![1]);

        let again = Keyring::load_or_create_file(&path).unwrap();
        assert_eq!(*again.to_spec(), *ring.to_spec());
        let blob = SecretBox::new(ring).seal(PURPOSE, OWNER, b"secret").unwrap();
        assert_eq!(SecretBox::new(again).open(PURPOSE, OWNER, &blob).unwrap(), b"secret");
    }

    #[test]
    fn key_file_readable_by_group_or_others_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret.key");
        Keyring::load_or_create_file(&path).unwrap();
        let before = fs::read(&path).unwrap();
        for mode in [0o644, 0o640, 0o604, 0o620] {
            fs::set_permissions(&path, Permissions::from_mode(mode)).unwrap();
            let err = Keyring::load_or_create_file(&path).unwrap_err();
            assert!(matches!(err, SecretBoxError::InsecureKeyFile(_)), "mode {mode:o}: {err:?}");
        }
        assert_eq!(fs::read(&path).unwrap(), before, "a refused key file is left alone");
        fs::set_permissions(&path, Permissions::from_mode(0o400)).unwrap();
        Keyring::load_or_create_file(&path).unwrap();
    }

    #[test]
    fn key_file_with_comments_and_several_keys_loads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys");
        let text = format!("# rotated 2024-05-01\n\n  5:{}  # current\n4:{}\n", key_b64(5), key_b64(4));
        let mut file = create_private(&path).unwrap();
        file.write_all(text.as_bytes()).unwrap();
        drop(file);
        let ring = Keyring::load_or_create_file(&path).unwrap();
        assert_eq!(ring.key_ids(), vec![5, 4]);

        fs::write(&path, "# nothing here\n").unwrap();
        let err = Keyring::load_or_create_file(&path).unwrap_err();
        assert!(matches!(&err, SecretBoxError::BadKeySpec(m) if m.contains("no key")), "{err:?}");
    }

    #[test]
    fn write_file_is_atomic_and_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret.key");
        let ring = Keyring::load_or_create_file(&path).unwrap();
        let rotated = ring.rotated().unwrap();
        rotated.write_file(&path).unwrap();
        assert_eq!(mode_of(&path), 0o600);
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("secret.key")], "no temporary file left");
        let loaded = Keyring::load_or_create_file(&path).unwrap();
        assert_eq!(loaded.key_ids(), vec![2, 1]);
        assert_eq!(*loaded.to_spec(), *rotated.to_spec());

        // Writing to a fresh path works too, and a directory path is an error.
        let other = dir.path().join("other.key");
        ring.write_file(&other).unwrap();
        assert_eq!(mode_of(&other), 0o600);
        assert!(matches!(ring.write_file(Path::new("/")), Err(SecretBoxError::Io(_))));
    }

    #[test]
    fn spec_accepts_padded_unpadded_and_bare_keys() {
        let padded = key_b64(9);
        assert!(padded.ends_with('='));
        let unpadded = padded.trim_end_matches('=');
        let a = Keyring::from_spec(&format!("1:{padded}")).unwrap();
        let b = Keyring::from_spec(&format!(" 1 : {unpadded} ,")).unwrap();
        let bare = Keyring::from_spec(unpadded).unwrap();
        assert_eq!(*a.to_spec(), format!("1:{padded}"));
        assert_eq!(*b.to_spec(), *a.to_spec());
        assert_eq!(*bare.to_spec(), *a.to_spec());

        let spec = format!("3:{},1:{},2:{}", key_b64(3), key_b64(1), key_b64(2));
        let ring = Keyring::from_spec(&spec).unwrap();
        assert_eq!(ring.current_key_id(), 3);
        assert_eq!(ring.key_ids(), vec![3, 1, 2]);
        assert_eq!(*ring.to_spec(), spec);
        assert_eq!(*Keyring::from_spec(&ring.to_spec()).unwrap().to_spec(), spec);
    }

    #[test]
    fn spec_errors_are_clear() {
        let msg = |spec: &str| match Keyring::from_spec(spec) {
            Err(SecretBoxError::BadKeySpec(m)) => m,
            other => panic!("{spec:?} gave {other:?}"),
        };
        assert!(msg("").contains("no key"));
        assert!(msg(" , ").contains("no key"));
        assert!(msg("1:not*base64!").contains("base64"));
        let short = BASE64.encode(&[7; 16]);
        let m = msg(&format!("1:{short}"));
        assert!(m.contains("16 bytes, expected 32"), "{m}");
        assert!(!m.contains(&short), "errors never echo key material");
        assert!(msg(&BASE64.encode(&[7; 33])).contains("33 bytes"));
        let m = msg(&format!("1:{},1:{}", key_b64(1), key_b64(2)));
        assert!(m.contains("duplicate key id 1"), "{m}");
        assert!(m.starts_with("entry 2"), "{m}");
        assert!(msg(&format!("x:{}", key_b64(1))).contains("key id"));
        assert!(msg(&format!("-1:{}", key_b64(1))).contains("key id"));
        assert!(msg(&format!("1:{},{}", key_b64(1), key_b64(2))).contains("bare key"));
        // A padded key with wrong padding is rejected, not silently accepted.
        assert!(msg(&format!("1:{}==", key_b64(1).trim_end_matches('='))).contains("base64"));
    }

    #[test]
    fn debug_output_holds_no_key_bytes() {
        let ring = Keyring::from_spec(&format!("2:{},1:{}", key_b64(0xAB), key_b64(0xCD))).unwrap();
        let sb = SecretBox::new(ring.clone());
        for out in [format!("{ring:?}"), format!("{ring:#?}"), format!("{sb:?}"), format!("{sb:#?}")] {
            assert!(out.contains("key_ids"), "{out}");
            for byte in [0xABu8, 0xCD] {
                assert!(!out.contains(&key_b64(byte)[..20]), "{out}");
                assert!(!out.contains(&byte.to_string()), "{out}");
                assert!(!out.to_lowercase().contains(&format!("{byte:x}{byte:x}")), "{out}");
            }
        }
    }
}
