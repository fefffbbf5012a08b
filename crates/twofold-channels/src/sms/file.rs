//! The `file` provider: appends one JSON line per message to a local file, for development and
//! for operators who have no SMS gateway yet. Nothing leaves the machine.

use std::path::PathBuf;

use serde::Serialize;

use super::{OutgoingSms, SmsProvider};
use crate::{SendError, SendFuture, Sent, append_json_line, now_rfc3339};

/// Writes messages as `{"to", "body", "sent_at"}` lines to a file.
#[derive(Debug, Clone)]
pub struct FileProvider {
    path: PathBuf,
}

#[derive(Serialize)]
struct Line<'a> {
    to: &'a str,
    body: &'a str,
    sent_at: String,
}

impl FileProvider {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        FileProvider { path: path.into() }
    }

    async fn send_one(&self, sms: &OutgoingSms) -> Result<Sent, SendError> {
        let line = Line { to: &sms.to, body: &sms.body, sent_at: now_rfc3339()? };
        append_json_line(&self.path, &line).await?;
        tracing::debug!(outbox_id = sms.id, provider = "file", status = "written", "SMS written to the file");
        Ok(Sent { provider_message_id: Some(format!("file-{}", sms.id)), status: "written".to_owned() })
    }
}

impl SmsProvider for FileProvider {
    fn name(&self) -> &'static str {
        "file"
    }

    fn send<'a>(&'a self, sms: &'a OutgoingSms) -> SendFuture<'a> {
        Box::pin(self.send_one(sms))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use time::OffsetDateTime;

    fn sms(id: i64, body: &str) -> OutgoingSms {
        OutgoingSms { id, to: "+15550001111".into(), body: body.into() }
    }

    #[tokio::test]
    async fn writes_parseable_lines_in_a_new_folder_readable_by_the_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new/folder/sms-outbox.jsonl");
        let provider = FileProvider::new(&path);

        let sent = provider.send(&sms(41, "Your code is 123456")).await.unwrap();
        assert_eq!(sent, Sent { provider_message_id: Some("file-41".into()), status: "written".into() });
        provider.send(&sms(42, "Line \"two\"\nwith a newline")).await.unwrap();

        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert_eq!(lines[0]["to"], "+15550001111");
        assert_eq!(lines[0]["body"], "Your code is 123456");
        assert_eq!(lines[1]["body"], "Line \"two\"\nwith a newline");
        let sent_at = lines[0]["sent_at"].as_str().unwrap();
        // RFC 3339 in UTC: today's date, a `T`, and `Z` for the zone (`time` is built without
        // its parser here, so the shape is checked by hand).
        let today = OffsetDateTime::now_utc().date().to_string();
        assert!(sent_at.ends_with('Z') && sent_at.get(10..11) == Some("T"), "{sent_at}");
        assert!(sent_at.starts_with(&today) || OffsetDateTime::now_utc().hour() == 0, "{sent_at}");

        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_sends_give_whole_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sms.jsonl");
        // Two providers, as two processes would have, and long bodies so that a torn write
        // would show.
        let (a, b) = (FileProvider::new(&path), FileProvider::new(&path));
        let (body_a, body_b) = ("a".repeat(20_000), "b".repeat(20_000));
        let (sms_a, sms_b) = (sms(1, &body_a), sms(2, &body_b));
        let (ra, rb) = tokio::join!(a.send(&sms_a), b.send(&sms_b));
        ra.unwrap();
        rb.unwrap();

        let text = std::fs::read_to_string(&path).unwrap();
        let mut bodies: Vec<String> = text
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["body"].as_str().unwrap().to_owned())
            .collect();
        bodies.sort();
        assert_eq!(bodies, [body_a, body_b]);
    }

    #[tokio::test]
    async fn an_unwritable_path_is_a_transient_failure() {
        let dir = tempfile::tempdir().unwrap();
        // A folder where the file should be: the open fails.
        let provider = FileProvider::new(dir.path());
        let err = provider.send(&sms(3, "Your code is 123456")).await.unwrap_err();
        assert!(matches!(err, SendError::Transient { retry_after: None, .. }), "{err:?}");
        assert!(!err.to_string().contains("123456"), "{err}");
    }
}
