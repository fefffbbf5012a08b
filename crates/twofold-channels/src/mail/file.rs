//! The `file` mail provider: one JSON line per message, `{"to", "subject", "text",
//! "sent_at"}`, appended to a local file. For development: nothing leaves the machine.

use std::path::PathBuf;

use serde::Serialize;

use super::{MailProvider, OutgoingMail};
use crate::{SendError, SendFuture, Sent, append_json_line, now_rfc3339};

#[derive(Debug, Clone)]
pub struct FileMailer {
    path: PathBuf,
}

#[derive(Serialize)]
struct Line<'a> {
    to: &'a str,
    subject: &'a str,
    text: &'a str,
    sent_at: String,
}

impl FileMailer {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        FileMailer { path: path.into() }
    }

    async fn send_one(&self, mail: &OutgoingMail) -> Result<Sent, SendError> {
        let line = Line { to: &mail.to, subject: &mail.subject, text: &mail.text, sent_at: now_rfc3339()? };
        append_json_line(&self.path, &line).await?;
        Ok(Sent { provider_message_id: Some(format!("file-{}", mail.id)), status: "written".to_owned() })
    }
}

impl MailProvider for FileMailer {
    fn name(&self) -> &'static str {
        "file"
    }

    fn send<'a>(&'a self, mail: &'a OutgoingMail) -> SendFuture<'a> {
        Box::pin(self.send_one(mail))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn writes_the_contract_fields_one_line_per_message() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mail-outbox.jsonl");
        let mailer = FileMailer::new(&path);
        let mail = OutgoingMail {
            id: 9,
            to: "pat@example.com".into(),
            to_name: Some("Pat".into()),
            from_name: Some("Acme (via Twofold)".into()),
            subject: "Reset your password".into(),
            text: "Line one\nhttps://example.com/password-reset/abc".into(),
            html: "<p>Line one</p>".into(),
        };
        let sent = mailer.send(&mail).await.unwrap();
        assert_eq!(sent.provider_message_id.as_deref(), Some("file-9"));
        mailer.send(&OutgoingMail { id: 10, ..mail }).await.unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 2, "{text}");
        let keys: Vec<&String> = lines[0].as_object().unwrap().keys().collect();
        assert_eq!(keys, ["sent_at", "subject", "text", "to"]);
        assert_eq!(lines[0]["to"], "pat@example.com");
        assert_eq!(lines[0]["text"], "Line one\nhttps://example.com/password-reset/abc");
    }
}
