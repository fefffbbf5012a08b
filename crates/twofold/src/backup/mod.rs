//! `twofold backup` and `twofold restore` for the embedded SQLite database, and the
//! scheduled backups of `serve`. PostgreSQL has its own tools (`pg_dump`); these commands
//! say so instead of pretending.

mod restore;
pub mod schedule;

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use twofold_store::backup::{self, Facts, sealed};
use twofold_store::{Backend, Store};
use zeroize::Zeroizing;

use crate::config::Config;

pub use restore::restore;

/// What a backup wrote.
#[derive(Debug)]
pub struct Written {
    pub path: PathBuf,
    pub bytes: u64,
    pub facts: Facts,
    pub with_keys: bool,
}

/// The SQLite database file this configuration uses, or why there is none to copy.
pub(crate) fn sqlite_file(config: &Config) -> anyhow::Result<PathBuf> {
    let url = config.database_url();
    if Backend::from_url(&url)? == Backend::Postgres {
        bail!(
            "this instance uses PostgreSQL: back it up with pg_dump --format=custom and restore with \
             pg_restore (docs/backups.md), and keep the keyring (secret.key or TWOFOLD_SECRET_KEY) apart"
        );
    }
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")).unwrap_or(&url);
    Ok(PathBuf::from(rest.split('?').next().unwrap_or(rest)))
}

/// The name a backup is written under until it is whole: beside the output, so that the
/// final rename is atomic, and never a name that looks like a finished backup.
fn partial_name(output: &Path, what: &str) -> PathBuf {
    let name = output.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    output.with_file_name(format!(".{name}.partial-{what}-{}", std::process::id()))
}

/// Removes what an interrupted backup to `output` left behind (`kill -9`, power loss).
fn remove_leftovers(output: &Path) {
    let (Some(dir), Some(name)) = (output.parent(), output.file_name()) else { return };
    let prefix = format!(".{}.partial-", name.to_string_lossy());
    let dir = if dir.as_os_str().is_empty() { Path::new(".") } else { dir };
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if entry.file_name().to_string_lossy().starts_with(&prefix) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Makes a rename durable: the directory entry, not only the file, reaches the disk.
fn sync_dir(path: &Path) {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && let Ok(d) = std::fs::File::open(dir)
    {
        let _ = d.sync_all();
    }
}

/// Writes a consistent backup of `store` to `output`: a snapshot under a temporary name,
/// checked, sealed with the keyring under `keys` (keyring, passphrase) if given, synced,
/// and only then renamed to `output`. An interrupted backup leaves no file at `output`.
pub async fn write(
    store: &Store,
    output: &Path,
    keys: Option<(Zeroizing<String>, Zeroizing<String>)>,
) -> anyhow::Result<Written> {
    if output.exists() {
        bail!("{} already exists: choose a new name (a backup never overwrites one)", output.display());
    }
    remove_leftovers(output);
    let snapshot = partial_name(output, "snapshot");
    let written = async {
        store.snapshot_to(&snapshot).await.context("the snapshot failed")?;
        let facts = backup::inspect(&snapshot).await?;
        if !facts.intact {
            bail!("the snapshot is damaged: {}", facts.problem.as_deref().unwrap_or("integrity check failed"));
        }
        let with_keys = keys.is_some();
        let finished = match keys {
            None => snapshot.clone(),
            Some((keyring, passphrase)) => {
                let database = std::fs::read(&snapshot)?;
                let contents = sealed::Contents { keyring, database };
                let bytes = tokio::task::spawn_blocking(move || sealed::seal(&contents, &passphrase)).await??;
                let path = partial_name(output, "sealed");
                let mut file = std::fs::File::create(&path)?;
                file.write_all(&bytes)?;
                file.sync_all()?;
                path
            }
        };
        std::fs::File::open(&finished)?.sync_all()?;
        std::fs::rename(&finished, output).with_context(|| format!("cannot write {}", output.display()))?;
        sync_dir(output);
        let bytes = std::fs::metadata(output)?.len();
        Ok(Written { path: output.to_path_buf(), bytes, facts, with_keys })
    }
    .await;
    remove_leftovers(output);
    written
}

/// `twofold backup --output FILE [--include-keys]`.
pub async fn command(config: &Config, output: &Path, include_keys: bool) -> anyhow::Result<()> {
    let database = sqlite_file(config)?;
    if !database.exists() {
        bail!("there is no database at {} to back up", database.display());
    }
    // The passphrase first: a weak one is refused before any work.
    let keys = if include_keys {
        let passphrase = Zeroizing::new(crate::cli::read_password()?);
        if passphrase.chars().count() < sealed::MIN_PASSPHRASE_CHARS {
            bail!(sealed::SealedError::WeakPassphrase);
        }
        let keyring = config.secrets().map_err(|e| anyhow::anyhow!(e))?.sealing_box().keyring().to_spec();
        Some((keyring, passphrase))
    } else {
        None
    };
    // Not migrated: a backup copies the database as it is, whatever this binary's version.
    let store = Store::connect(&config.database_url(), &twofold_store::StoreOptions::default()).await?;
    let written = write(&store, output, keys).await;
    store.close().await;
    let written = written?;
    println!("{}", describe(&written));
    if !written.with_keys {
        println!(
            "The keyring is not in this backup: keep {} (or TWOFOLD_SECRET_KEY) safe apart from it; without \
             it the second factors in the backup cannot be opened. --include-keys seals both in one file \
             under a passphrase.",
            config.data_dir.join("secret.key").display()
        );
    }
    Ok(())
}

fn describe(w: &Written) -> String {
    format!(
        "Wrote {} ({} bytes{}): schema version {}, {} accounts, {} people.",
        w.path.display(),
        w.bytes,
        if w.with_keys { ", with the keyring, sealed under the passphrase" } else { "" },
        w.facts.schema_version,
        w.facts.accounts,
        w.facts.people,
    )
}
