//! The backup phase: `twofold backup` and `twofold restore` on the seeded database while
//! the server serves, timed against their floor, a plain copy of the same file (which is
//! not a safe backup of a live database, but is what the disk alone costs).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use serde::Serialize;

/// Wall-clock seconds of each step, and the sizes written.
#[derive(Debug, Serialize)]
pub struct Times {
    pub database_bytes: u64,
    /// `cp` of the database file: the floor.
    pub copy_seconds: f64,
    pub backup_seconds: f64,
    pub backup_bytes: u64,
    pub backup_with_keys_seconds: f64,
    pub backup_with_keys_bytes: u64,
    /// Into an empty directory, with the keyring in the environment: checks, migration,
    /// the keyring opening every secret, audit verify.
    pub restore_seconds: f64,
    pub restore_with_keys_seconds: f64,
}

const PASSPHRASE: &str = "a long benchmark passphrase";

fn run(binary: &Path, args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Result<f64> {
    use std::io::Write;
    let started = Instant::now();
    let mut child = Command::new(binary)
        .args(args)
        .env_remove("TWOFOLD_DATABASE_URL")
        .env_remove("TWOFOLD_SECRET_KEY")
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot run {}", binary.display()))?;
    let mut input = child.stdin.take().context("stdin")?;
    if let Some(text) = stdin {
        input.write_all(format!("{text}\n").as_bytes())?;
    }
    drop(input);
    let out = child.wait_with_output()?;
    let seconds = started.elapsed().as_secs_f64();
    if !out.status.success() {
        bail!(
            "twofold {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(seconds)
}

/// Measures in `dir` (the work directory holding `twofold.db`), keys from `secret_key`.
pub fn measure(binary: &Path, dir: &Path, secret_key: &str) -> Result<Times> {
    let db = dir.join("twofold.db");
    let out = dir.join("backups");
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out)?;
    let data = dir.to_str().context("work directory")?;
    let path = |name: &str| out.join(name).to_string_lossy().into_owned();
    let started = Instant::now();
    std::fs::copy(&db, out.join("copy.db"))?;
    let copy_seconds = started.elapsed().as_secs_f64();
    let key = [("TWOFOLD_SECRET_KEY", secret_key)];
    let plain = path("plain.db");
    let backup_seconds = run(binary, &["backup", "--data-dir", data, "--output", &plain], &key, None)?;
    let sealed = path("sealed.twofold");
    let backup_with_keys_seconds =
        run(binary, &["backup", "--include-keys", "--data-dir", data, "--output", &sealed], &key, Some(PASSPHRASE))?;
    let into = |name: &str| out.join(name).to_string_lossy().into_owned();
    let (a, b) = (into("restored-plain"), into("restored-sealed"));
    let restore_seconds = run(binary, &["restore", "--data-dir", &a, "--input", &plain], &key, None)?;
    let restore_with_keys_seconds =
        run(binary, &["restore", "--data-dir", &b, "--input", &sealed], &[], Some(PASSPHRASE))?;
    let size = |p: &str| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let times = Times {
        database_bytes: std::fs::metadata(&db)?.len(),
        copy_seconds,
        backup_seconds,
        backup_bytes: size(&plain),
        backup_with_keys_seconds,
        backup_with_keys_bytes: size(&sealed),
        restore_seconds,
        restore_with_keys_seconds,
    };
    let _ = std::fs::remove_dir_all(&out);
    Ok(times)
}

impl Times {
    pub fn print(&self) {
        let ratio = |s: f64| s / self.copy_seconds.max(1e-6);
        println!(
            "backup: database {:.1} MB; cp {:.2} s (floor); backup {:.2} s ({:.0}x), {:.1} MB; with keys {:.2} s ({:.0}x), {:.1} MB",
            self.database_bytes as f64 / 1e6,
            self.copy_seconds,
            self.backup_seconds,
            ratio(self.backup_seconds),
            self.backup_bytes as f64 / 1e6,
            self.backup_with_keys_seconds,
            ratio(self.backup_with_keys_seconds),
            self.backup_with_keys_bytes as f64 / 1e6,
        );
        println!(
            "restore (checks, migrate, keyring opens every secret, audit verify): {:.2} s ({:.0}x); sealed {:.2} s ({:.0}x)",
            self.restore_seconds,
            ratio(self.restore_seconds),
            self.restore_with_keys_seconds,
            ratio(self.restore_with_keys_seconds),
        );
    }
}
