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

/// Backs up every `schedule.every`, first one interval after start, until the process ends.
pub async fn run(app: App, schedule: Schedule) {
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + schedule.every, schedule.every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match once(&app, &schedule).await {
            Ok((path, bytes)) => {
                let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
                metrics::gauge!("twofold_backup_last_success_timestamp_seconds").set(now as f64);
                metrics::gauge!("twofold_backup_last_size_bytes").set(bytes as f64);
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

/// Deletes the oldest scheduled backups beyond `keep` (their names sort by time).
fn prune(dir: &Path, keep: usize) -> anyhow::Result<()> {
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
    let surplus = ours.len().saturating_sub(keep);
    for old in ours.into_iter().take(surplus) {
        std::fs::remove_file(&old)?;
    }
    Ok(())
}
