//! Scheduled backups inside `serve` (`backup_dir`, `backup_every_hours`, `backup_keep`):
//! the same code as `twofold backup`, without the keyring (nobody is there to type a
//! passphrase), the newest `backup_keep` kept, the last one's time and size in `/metrics`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use twofold_app::App;

/// What `serve` was told to do.
#[derive(Debug, Clone)]
pub struct Schedule {
    pub dir: PathBuf,
    pub every: Duration,
    pub keep: usize,
}

const PREFIX: &str = "twofold-";
const SUFFIX: &str = ".db";

/// Backs up every `schedule.every` until the process ends. The first is due one interval
/// after the newest scheduled backup already there (at once when there is none, or it is
/// older), so that a server restarted more often than the interval still backs up.
pub async fn run(app: App, schedule: Schedule) {
    if let Some((written, bytes)) = newest(&schedule.dir) {
        // A restart does not forget the last backup: /metrics reads it from the directory.
        report(written, bytes);
    }
    let age = newest(&schedule.dir).and_then(|(written, _)| written.elapsed().ok());
    let first = schedule.every.saturating_sub(age.unwrap_or(schedule.every));
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + first, schedule.every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match once(&app, &schedule).await {
            Ok((path, bytes)) => {
                report(std::time::SystemTime::now(), bytes);
                tracing::info!(path = %path.display(), bytes, "scheduled backup written");
            }
            Err(e) => {
                metrics::counter!("twofold_backup_failures_total").increment(1);
                tracing::error!(error = %format!("{e:#}"), "scheduled backup failed");
            }
        }
    }
}

async fn once(app: &App, schedule: &Schedule) -> anyhow::Result<(PathBuf, u64)> {
    std::fs::create_dir_all(&schedule.dir)?;
    let stamp = time::OffsetDateTime::now_utc()
        .format(time::macros::format_description!("[year][month][day]T[hour][minute][second]Z"))?;
    let path = schedule.dir.join(format!("{PREFIX}{stamp}{SUFFIX}"));
    let written = super::write(app.store(), &path, None).await?;
    prune(&schedule.dir, schedule.keep)?;
    Ok((written.path, written.bytes))
}

/// The scheduled backups in `dir`, oldest first (their names sort by time).
fn scheduled_in(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut ours: Vec<PathBuf> = std::fs::read_dir(dir)?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .is_some_and(|n| n.starts_with(PREFIX) && n.ends_with(SUFFIX))
        })
        .collect();
    ours.sort();
    Ok(ours)
}

/// When the newest scheduled backup was written, and its size.
fn newest(dir: &Path) -> Option<(std::time::SystemTime, u64)> {
    let newest = scheduled_in(dir).ok()?.pop()?;
    let meta = std::fs::metadata(newest).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

fn report(written: std::time::SystemTime, bytes: u64) {
    let at = written.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    metrics::gauge!("twofold_backup_last_success_timestamp_seconds").set(at as f64);
    metrics::gauge!("twofold_backup_last_size_bytes").set(bytes as f64);
}

/// Deletes the oldest scheduled backups beyond `keep`.
fn prune(dir: &Path, keep: usize) -> anyhow::Result<()> {
    let ours = scheduled_in(dir)?;
    let surplus = ours.len().saturating_sub(keep);
    for old in ours.into_iter().take(surplus) {
        std::fs::remove_file(&old)?;
    }
    Ok(())
}
