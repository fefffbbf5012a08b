//! Twofold's delivery channels: SMS providers and mail providers, each behind one trait.
//!
//! This crate only hands one message to one provider and says whether that worked, failed
//! for now, or can never work. Retries, backoff and the durable outbox (one for every
//! channel) live with the caller, which is why every failure of every channel is classified
//! as [`SendError::Transient`] or [`SendError::Permanent`], and the message's outbox `id`
//! travels with it (providers use it as an idempotency key or a stable `Message-ID`, so
//! that a retry after a lost answer does not count twice).

use std::future::Future;
use std::io::Write;
use std::path::Path;
use std::pin::Pin;
use std::time::Duration;

pub mod event_hook;
mod http;
pub mod mail;
pub mod sms;

#[cfg(test)]
pub(crate) mod test_support;

pub use http::{CONNECT_TIMEOUT, REQUEST_TIMEOUT, Timeouts, install_crypto_provider};

/// A provider took the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// The provider's id for the message, when it gave one.
    pub provider_message_id: Option<String>,
    /// The provider's word for the message's state: "queued", "sent", "accepted", "written"…
    pub status: String,
}

/// Why a message was not sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Worth retrying later (429, 5xx, timeouts, connection failures); `retry_after` from a Retry-After header if any.
    #[error("temporary failure: {reason}")]
    Transient { reason: String, retry_after: Option<Duration> },
    /// Will never succeed as sent (4xx other than 429, invalid number…).
    #[error("permanent failure: {reason}")]
    Permanent { reason: String },
}

impl SendError {
    pub(crate) fn transient(reason: impl Into<String>) -> Self {
        SendError::Transient { reason: reason.into(), retry_after: None }
    }

    pub(crate) fn permanent(reason: impl Into<String>) -> Self {
        SendError::Permanent { reason: reason.into() }
    }
}

/// The future a provider's `send` returns (boxed so that the traits stay object-safe).
pub type SendFuture<'a> = Pin<Box<dyn Future<Output = Result<Sent, SendError>> + Send + 'a>>;

/// A URL fit for a log line: a password and the query string (where receivers often take an
/// access token) are replaced by `***`; an unparseable URL is not shown at all.
pub(crate) fn mask_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut parsed) => {
            if parsed.password().is_some() {
                // Fails only for URLs that cannot have credentials, which then have none.
                let _ = parsed.set_password(Some("***"));
            }
            if parsed.query().is_some() {
                parsed.set_query(Some("***"));
            }
            parsed.to_string()
        }
        Err(_) => "<not a valid URL>".to_owned(),
    }
}

/// Now, as the file providers stamp their lines (RFC 3339, UTC).
pub(crate) fn now_rfc3339() -> Result<String, SendError> {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .map_err(|e| SendError::transient(format!("file: cannot format the time ({e})")))
}

/// Appends `value` as one JSON line to `path`, off the async runtime: the file providers
/// of both channels write this way.
pub(crate) async fn append_json_line(path: &Path, value: &impl serde::Serialize) -> Result<(), SendError> {
    let mut line = serde_json::to_vec(value)
        .map_err(|e| SendError::permanent(format!("file: cannot encode the message ({e})")))?;
    line.push(b'\n');
    let owned = path.to_path_buf();
    tokio::task::spawn_blocking(move || append_line(&owned, &line))
        .await
        .map_err(|e| SendError::transient(format!("file: the writing task failed ({e})")))?
        .map_err(|e| SendError::transient(format!("file: cannot append to {} ({e})", path.display())))
}

/// Appends one whole line. With `O_APPEND` each `write` lands at the end of the file as one
/// piece, so several processes writing to the same file interleave lines, never characters;
/// that holds because the line goes out in a single `write_all` of one buffer.
fn append_line(path: &Path, line: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // The file holds sign-in codes and links: only the service's user may read it.
        options.mode(0o600);
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        let mut dirs = std::fs::DirBuilder::new();
        dirs.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            // Like the data directory itself (mode 0700); folders that exist keep their mode.
            dirs.mode(0o700);
        }
        dirs.create(parent)?;
    }
    let mut file = options.open(path)?;
    file.write_all(line)
}
