//! Mail providers behind one trait: a local file (the default, for development) and SMTP.
//!
//! A message holds a one-time link (an invitation, a password reset) or a security notice;
//! its body is never logged or printed by `Debug`, and neither is the SMTP password.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use crate::SendFuture;

mod file;
mod smtp;

pub use file::FileMailer;
pub use smtp::{SmtpMailer, SmtpSecurity, SmtpSettings};

/// One message to send, as the outbox holds it.
#[derive(Clone, PartialEq, Eq)]
pub struct OutgoingMail {
    /// The outbox row id: stable across retries, so the `Message-ID` is too.
    pub id: i64,
    /// The recipient's address, as the sign-in name (already checked and lower-cased).
    pub to: String,
    /// The recipient's display name, if any.
    pub to_name: Option<String>,
    /// The sender's display name ("Acme (via Twofold)"); the address is the configured one.
    pub from_name: Option<String>,
    pub subject: String,
    /// The plain-text part, which may hold a one-time link: never log it.
    pub text: String,
    /// The HTML twin of `text`.
    pub html: String,
}

// By hand, so that a stray `{:?}` in a log line cannot leak the link in the body.
impl fmt::Debug for OutgoingMail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutgoingMail")
            .field("id", &self.id)
            .field("to", &self.to)
            .field("subject", &self.subject)
            .field("text", &"<hidden>")
            .finish_non_exhaustive()
    }
}

/// Something that can deliver an email.
pub trait MailProvider: Send + Sync {
    /// A short fixed name for logs and metrics: "file", "smtp".
    fn name(&self) -> &'static str;

    /// Hands one message over. Each call is one attempt: retrying is the caller's decision,
    /// guided by the [`crate::SendError`] variant.
    fn send<'a>(&'a self, mail: &'a OutgoingMail) -> SendFuture<'a>;
}

/// Which provider to use, with its settings (from `TWOFOLD_MAIL_*` / `TWOFOLD_SMTP_*`).
#[derive(Clone)]
pub enum MailConfig {
    /// Appends one JSON line per message to a local file; nothing leaves the machine.
    File { path: PathBuf },
    /// An SMTP relay: `smtp://user:pass@host:587` (STARTTLS required), `smtps://…:465`
    /// (implicit TLS), `smtp://host:port?tls=none` (plain, loopback only).
    Smtp {
        url: String,
        /// The `From` address, optionally with a name: `Twofold <no-reply@example.com>`.
        from: String,
        /// Extra trusted roots (PEM), for a relay with a private CA.
        ca_file: Option<PathBuf>,
    },
}

// By hand, because the configuration is logged at start and the URL may carry a password.
impl fmt::Debug for MailConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MailConfig::File { path } => f.debug_struct("File").field("path", path).finish(),
            MailConfig::Smtp { url, from, ca_file } => f
                .debug_struct("Smtp")
                .field("url", &crate::mask_url(url))
                .field("from", from)
                .field("ca_file", ca_file)
                .finish(),
        }
    }
}

/// Builds the provider a configuration names, checking its settings once at start so that a
/// typo fails the start rather than every message. Errors never quote a credential.
pub fn build(config: &MailConfig) -> Result<Arc<dyn MailProvider>, String> {
    match config {
        MailConfig::File { path } => {
            tracing::warn!(
                path = %path.display(),
                "mail provider is `file`: messages are written to a local file and no email leaves this machine"
            );
            Ok(Arc::new(FileMailer::new(path.clone())))
        }
        MailConfig::Smtp { url, from, ca_file } => {
            let settings = SmtpSettings::parse(url, from)?;
            let ca = match ca_file {
                Some(path) => Some(
                    std::fs::read(path).map_err(|e| format!("cannot read the SMTP CA file {}: {e}", path.display()))?,
                ),
                None => None,
            };
            Ok(Arc::new(SmtpMailer::new(settings, ca.as_deref())?))
        }
    }
}

/// Header text on one line: control characters (CR and LF among them) become spaces and
/// runs of spaces fold, so that nothing a person typed can start a header of its own
/// (SEC-39). The SMTP library encodes what is left (RFC 2047).
pub fn one_line(text: &str) -> String {
    text.split(|c: char| c.is_control() || c.is_whitespace()).filter(|w| !w.is_empty()).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn sec_39_header_text_cannot_break_onto_a_new_line() {
        assert_eq!(one_line("Hello\r\nBcc: victim@example.com"), "Hello Bcc: victim@example.com");
        assert_eq!(one_line("  a\t\tb\u{0}c  "), "a b c");
        assert_eq!(one_line("Zoë Ørsted"), "Zoë Ørsted");
    }

    #[test]
    fn sec_31_mail_config_debug_hides_the_smtp_password() {
        let config = MailConfig::Smtp {
            url: "smtp://mailer:pw-SUPERSECRET@smtp.example:587".into(),
            from: "no-reply@example.com".into(),
            ca_file: None,
        };
        let shown = format!("{config:?}");
        assert!(!shown.contains("SUPERSECRET"), "{shown}");
        assert!(shown.contains("smtp.example"), "{shown}");
    }

    #[test]
    fn outgoing_mail_debug_hides_the_body() {
        let mail = OutgoingMail {
            id: 3,
            to: "pat@example.com".into(),
            to_name: None,
            from_name: None,
            subject: "Reset your password".into(),
            text: "https://twofold.example/password-reset/SECRET-TOKEN".into(),
            html: "<a href=\"https://twofold.example/password-reset/SECRET-TOKEN\">".into(),
        };
        let shown = format!("{mail:?}");
        assert!(!shown.contains("SECRET-TOKEN"), "{shown}");
        assert!(shown.contains("pat@example.com"), "{shown}");
    }
}
