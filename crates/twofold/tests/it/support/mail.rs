//! A mail provider that keeps what it is given, for tests that are not about SMTP itself
//! (those talk to a real SMTP server: see `support/smtp.rs`).

use std::sync::Mutex;

use twofold_channels::mail::{MailProvider, OutgoingMail};
use twofold_channels::{SendFuture, Sent};

#[derive(Default)]
pub struct CaptureMailer {
    sent: Mutex<Vec<OutgoingMail>>,
}

impl CaptureMailer {
    pub fn sent(&self) -> Vec<OutgoingMail> {
        self.sent.lock().unwrap().clone()
    }

    /// Every message to `address`, oldest first.
    pub fn to(&self, address: &str) -> Vec<OutgoingMail> {
        self.sent().into_iter().filter(|m| m.to == address).collect()
    }

    /// The subjects of the messages to `address`, oldest first.
    pub fn subjects_to(&self, address: &str) -> Vec<String> {
        self.to(address).into_iter().map(|m| m.subject).collect()
    }

    /// The one link under `path` (such as `/password-reset/`) in the newest message to
    /// `address` that has one.
    pub fn last_link_to(&self, address: &str, path: &str) -> Option<String> {
        self.to(address).iter().rev().find_map(|m| link_in(&m.text, path))
    }
}

/// The first URL in `text` whose path starts with `path`.
pub fn link_in(text: &str, path: &str) -> Option<String> {
    text.split_whitespace().find(|w| w.starts_with("http") && w.contains(path)).map(str::to_owned)
}

impl MailProvider for CaptureMailer {
    fn name(&self) -> &'static str {
        "capture"
    }

    fn send<'a>(&'a self, mail: &'a OutgoingMail) -> SendFuture<'a> {
        Box::pin(async move {
            self.sent.lock().unwrap().push(mail.clone());
            Ok(Sent { provider_message_id: Some(format!("mail-{}", mail.id)), status: "250 OK".into() })
        })
    }
}
