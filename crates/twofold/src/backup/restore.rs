//! `twofold restore`: a backup back into a data directory, checked before anything there
//! changes, migrated, and proven by the audit log's own check.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use twofold_app::{App, Secrets};
use twofold_store::backup::{self, sealed};
use twofold_store::secret_box::Keyring;
use zeroize::Zeroizing;

use super::sqlite_file;
use crate::config::Config;

/// Longest backup read into memory: far above a million people's database.
const MAX_BACKUP_BYTES: u64 = 64 << 30;

/// Where the keys that will open the restored secrets come from.
enum Keys {
    /// The backup carries its keyring; the data directory has none yet: it is written there.
    FromBackup(Zeroizing<String>),
    /// The data directory's key file, or `TWOFOLD_SECRET_KEY`.
    Configured(Secrets),
}

/// `twofold restore --input FILE [--force]` into the configured data directory.
pub async fn restore(config: &Config, input: &Path, force: bool) -> anyhow::Result<()> {
    let target = sqlite_file(config)?;
    let dir = target.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new(".")).to_path_buf();
    if target.exists() && !force {
        bail!(
            "{} already holds a database: nothing was changed. Restore into an empty data directory, or \
             add --force to replace it (the database there is kept beside it, renamed)",
            target.display()
        );
    }
    let size = std::fs::metadata(input).with_context(|| format!("cannot read {}", input.display()))?.len();
    if size > MAX_BACKUP_BYTES {
        bail!("{} is larger than any backup this version restores", input.display());
    }
    let bytes = std::fs::read(input).with_context(|| format!("cannot read {}", input.display()))?;
    let (database, carried) = if sealed::is_sealed(&bytes) {
        let passphrase = Zeroizing::new(crate::cli::read_password()?);
        let contents = tokio::task::spawn_blocking(move || sealed::open(&bytes, &passphrase))
            .await?
            .map_err(|e| anyhow::anyhow!("{}: {e}; nothing was changed", input.display()))?;
        (contents.database, Some(contents.keyring))
    } else if bytes.starts_with(b"SQLite format 3\0") {
        (bytes, None)
    } else {
        bail!("{} is not a Twofold backup; nothing was changed", input.display());
    };
    let keys = keys_for(config, carried)?;
    crate::cli::create_private_dir(&dir)?;
    let staged = dir.join(format!(".{}.restoring-{}", file_name(&target), std::process::id()));
    std::fs::write(&staged, &database).with_context(|| format!("cannot write into {}", dir.display()))?;
    drop(database);
    let outcome = stage(config, &staged, keys).await;
    let (keyring_to_write, report) = match outcome {
        Ok(done) => done,
        Err(e) => {
            remove_with_journal(&staged);
            return Err(e.context("nothing was changed"));
        }
    };
    let kept = put_in_place(&staged, &target)?;
    if let Some(keyring) = keyring_to_write {
        let path = config.data_dir.join("secret.key");
        Keyring::from_spec(&keyring)?.write_file(&path)?;
        println!("The backup's keyring is now {}.", path.display());
    }
    if let Some(kept) = kept {
        println!("The database that was there is kept as {}.", kept.display());
    }
    println!("{report}");
    Ok(())
}

fn file_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "twofold.db".into())
}

/// Which keys will open the restored secrets; refuses when there are none, or two that
/// could disagree.
fn keys_for(config: &Config, carried: Option<Zeroizing<String>>) -> anyhow::Result<Keys> {
    let key_file = config.data_dir.join("secret.key");
    let configured = config.secret_key.as_deref().is_some_and(|k| !k.trim().is_empty()) || key_file.exists();
    match (carried, configured) {
        // The data directory's keyring is used; it must open the backup (checked next).
        (_, true) => Ok(Keys::Configured(config.secrets().map_err(|e| anyhow::anyhow!(e))?)),
        (Some(keyring), false) => {
            Keyring::from_spec(&keyring).context("the backup's keyring is damaged")?;
            Ok(Keys::FromBackup(keyring))
        }
        (None, false) => bail!(
            "this backup holds no keyring, and there is none at {} (nor TWOFOLD_SECRET_KEY): put the keyring \
             the backup was made with there first; nothing was changed",
            key_file.display()
        ),
    }
}

/// Checks the staged copy (integrity, schema version, keyring), migrates it and verifies
/// its audit log. Answers the keyring to write beside it, and what to tell.
async fn stage(config: &Config, staged: &Path, keys: Keys) -> anyhow::Result<(Option<Zeroizing<String>>, String)> {
    let before = backup::inspect(staged).await?;
    if !before.intact {
        bail!("the backup is damaged: {}", before.problem.as_deref().unwrap_or("integrity check failed"));
    }
    if before.schema_version == 0 {
        bail!("the backup is not a Twofold database");
    }
    let latest = twofold_store::Store::latest_version();
    if before.schema_version > latest {
        bail!(
            "the backup has schema version {}, newer than this Twofold's {latest}: restore it with the version \
             that made it, or a newer one",
            before.schema_version
        );
    }
    let (secrets, to_write) = match keys {
        Keys::Configured(secrets) => (secrets, None),
        Keys::FromBackup(keyring) => (Secrets::from_spec(&keyring).map_err(|e| anyhow::anyhow!("{e}"))?, Some(keyring)),
    };
    let mut staged_config = config.clone();
    staged_config.database_url = Some(format!("sqlite://{}", staged.display()));
    let store = crate::cli::open_store(&staged_config).await?;
    let app = App::with_system(store, staged_config.app_config(), secrets).map_err(|e| anyhow::anyhow!("{e}"))?;
    let checked = verify(&app, to_write.is_some()).await;
    let store = app.store().clone();
    // Everything into the main file, so that it moves alone.
    let _ = store.checkpoint().await;
    store.close().await;
    let report = checked?;
    let wal = PathBuf::from(format!("{}-wal", staged.display()));
    if std::fs::metadata(&wal).is_ok_and(|m| m.len() > 0) {
        bail!("the restored database could not be closed cleanly (its journal is not empty)");
    }
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", staged.display()));
    }
    let after = backup::inspect(staged).await?;
    Ok((
        to_write,
        format!(
            "Restored {} accounts and {} people (schema version {} → {}); {report}.",
            after.accounts, after.people, before.schema_version, after.schema_version
        ),
    ))
}

/// The keyring opens every secret, and every audit chain is intact.
async fn verify(app: &App, keys_from_backup: bool) -> anyhow::Result<String> {
    let check = app.check_keyring().await.map_err(|e| anyhow::anyhow!("{e}"))?;
    if !check.opens_everything() {
        let whose = if keys_from_backup { "the backup's keyring" } else { "the data directory's keyring" };
        let missing = if check.missing_key_ids.is_empty() {
            String::new()
        } else {
            format!(" (sealed under key ids {:?}, which it does not hold)", check.missing_key_ids)
        };
        bail!(
            "{whose} does not open {} of the backup's {} secrets{missing}: this is not the keyring the backup \
             was made with",
            check.failed,
            check.failed + check.opened
        );
    }
    let audit = app.verify_audit_log(None).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    if !audit.is_intact() {
        for broken in &audit.breaks {
            eprintln!("BROKEN {broken}");
        }
        bail!("{} of {} audit chains of the backup are broken", audit.breaks.len(), audit.chains);
    }
    Ok(format!(
        "the keyring opens all {} secrets; audit verify: {} chains, {} events intact",
        check.opened, audit.chains, audit.events
    ))
}

/// Moves the staged database to `target`; a database already there is renamed beside it
/// (with its journal files), never deleted. Answers where it went.
fn put_in_place(staged: &Path, target: &Path) -> anyhow::Result<Option<PathBuf>> {
    let mut kept = None;
    if target.exists() {
        let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let aside = target.with_file_name(format!("{}.replaced-{stamp}", file_name(target)));
        for suffix in ["-wal", "-shm"] {
            let journal = PathBuf::from(format!("{}{suffix}", target.display()));
            if journal.exists() {
                std::fs::rename(&journal, format!("{}{suffix}", aside.display()))?;
            }
        }
        std::fs::rename(target, &aside)?;
        kept = Some(aside);
    }
    std::fs::rename(staged, target)?;
    super::sync_dir(target);
    Ok(kept)
}

fn remove_with_journal(path: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}
