//! SMS providers behind one trait: a local file, Twilio, and a signed webhook.
//!
//! Message bodies hold sign-in codes, and the Twilio token and the webhook secret are
//! credentials: none of them is ever logged or printed by `Debug`.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use crate::http::Timeouts;
use crate::{SendFuture, mask_url};

mod file;
mod twilio;
mod webhook;

pub use file::FileProvider;
pub use twilio::{TWILIO_DEFAULT_BASE_URL, TwilioProvider};
pub use webhook::{WebhookProvider, webhook_signature};

/// One message to send, as the outbox holds it.
#[derive(Clone, PartialEq, Eq)]
pub struct OutgoingSms {
    /// The outbox row id: stable across retries, so providers can deduplicate on it.
    pub id: i64,
    /// The recipient in E.164 form (`+15551234567`).
    pub to: String,
    /// The text, which holds a code: never log it.
    pub body: String,
}

// By hand, so that a stray `{:?}` in a log line cannot leak the code in the body.
impl fmt::Debug for OutgoingSms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutgoingSms").field("id", &self.id).field("to", &self.to).field("body", &"<hidden>").finish()
    }
}

/// Something that can deliver an SMS.
pub trait SmsProvider: Send + Sync {
    /// A short fixed name for logs and metrics: "file", "twilio", "webhook".
    fn name(&self) -> &'static str;

    /// Hands one message to the provider. Each call is one attempt: retrying is the caller's
    /// decision, guided by the [`SendError`] variant.
    fn send<'a>(&'a self, sms: &'a OutgoingSms) -> SendFuture<'a>;
}

/// Which provider to use, with its settings (from `TWOFOLD_SMS_*` / `TWOFOLD_TWILIO_*`).
#[derive(Clone)]
pub enum ProviderConfig {
    /// Appends one JSON line per message to a local file; nothing leaves the machine.
    File { path: PathBuf },
    /// Twilio's Messages API; `base_url` is [`TWILIO_DEFAULT_BASE_URL`] outside tests.
    Twilio { account_sid: String, auth_token: String, from: String, base_url: String },
    /// A JSON POST signed with HMAC-SHA256 (see `docs/sms-webhook.md`).
    Webhook { url: String, secret: String },
}

// By hand, because the configuration is logged at start and must not show the Twilio token,
// the webhook secret, or a password or token carried in the webhook URL.
impl fmt::Debug for ProviderConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProviderConfig::File { path } => f.debug_struct("File").field("path", path).finish(),
            ProviderConfig::Twilio { account_sid, auth_token: _, from, base_url } => f
                .debug_struct("Twilio")
                .field("account_sid", account_sid)
                .field("auth_token", &"<redacted>")
                .field("from", from)
                .field("base_url", &mask_url(base_url))
                .finish(),
            ProviderConfig::Webhook { url, secret: _ } => {
                f.debug_struct("Webhook").field("url", &mask_url(url)).field("secret", &"<redacted>").finish()
            }
        }
    }
}

/// Builds the provider a configuration names, checking its settings once at start so that a
/// typo fails the start rather than every message. Errors never quote a credential.
pub fn build(config: &ProviderConfig) -> Result<Arc<dyn SmsProvider>, String> {
    match config {
        ProviderConfig::File { path } => {
            tracing::warn!(
                path = %path.display(),
                "SMS provider is `file`: messages are written to a local file and no SMS leaves this machine"
            );
            Ok(Arc::new(FileProvider::new(path.clone())))
        }
        ProviderConfig::Twilio { account_sid, auth_token, from, base_url } => {
            Ok(Arc::new(TwilioProvider::new(account_sid, auth_token, from, base_url, Timeouts::default())?))
        }
        ProviderConfig::Webhook { url, secret } => {
            Ok(Arc::new(WebhookProvider::new(url, secret.as_bytes(), Timeouts::default())?))
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn sec_31_provider_config_debug_hides_credentials() {
        let configs = [
            ProviderConfig::Twilio {
                account_sid: "AC0123456789abcdef".into(),
                auth_token: "tok-SUPERSECRET-1".into(),
                from: "+15550001111".into(),
                base_url: "https://api.twilio.com".into(),
            },
            ProviderConfig::Webhook {
                url: "https://user:pw-SUPERSECRET-2@sms.example/hook?token=SUPERSECRET-3".into(),
                secret: "whsec-SUPERSECRET-4".into(),
            },
        ];
        for config in &configs {
            for shown in [format!("{config:?}"), format!("{config:#?}")] {
                assert!(!shown.contains("SUPERSECRET"), "{shown}");
                assert!(shown.contains("<redacted>"), "{shown}");
            }
        }
        // What an operator needs to recognise the configuration is still there.
        let twilio = format!("{:?}", configs[0]);
        assert!(twilio.contains("AC0123456789abcdef") && twilio.contains("+15550001111"), "{twilio}");
        let webhook = format!("{:?}", configs[1]);
        assert!(webhook.contains("sms.example/hook"), "{webhook}");
    }

    #[test]
    fn outgoing_sms_debug_hides_the_body() {
        let sms = OutgoingSms { id: 7, to: "+15550001111".into(), body: "Your code is 123456".into() };
        let shown = format!("{sms:?}");
        assert!(!shown.contains("123456"), "{shown}");
        assert!(shown.contains("+15550001111"), "{shown}");
    }

    #[test]
    fn build_checks_the_settings_once_at_start() {
        let file = build(&ProviderConfig::File { path: "/tmp/twofold-sms-test/out.jsonl".into() }).unwrap();
        assert_eq!(file.name(), "file");

        let twilio = |sid: &str, token: &str, from: &str, base_url: &str| {
            build(&ProviderConfig::Twilio {
                account_sid: sid.into(),
                auth_token: token.into(),
                from: from.into(),
                base_url: base_url.into(),
            })
        };
        assert_eq!(twilio("AC123", "tok", "+15550001111", TWILIO_DEFAULT_BASE_URL).unwrap().name(), "twilio");
        assert!(twilio("", "tok", "+1555", TWILIO_DEFAULT_BASE_URL).is_err());
        assert!(twilio("AC1/../x", "tok", "+1555", TWILIO_DEFAULT_BASE_URL).is_err());
        assert!(twilio("AC123", "", "+1555", TWILIO_DEFAULT_BASE_URL).is_err());
        assert!(twilio("AC123", "tok", "", TWILIO_DEFAULT_BASE_URL).is_err());
        assert!(twilio("AC123", "tok", "+1555", "ftp://api.twilio.com").is_err());
        let err = twilio("AC123", "tok-SECRET", "+1555", "not a url").err().unwrap();
        assert!(!err.contains("tok-SECRET"), "{err}");

        let webhook =
            |url: &str, secret: &str| build(&ProviderConfig::Webhook { url: url.into(), secret: secret.into() });
        assert_eq!(webhook("https://sms.example/hook", "s3cret").unwrap().name(), "webhook");
        assert!(webhook("https://sms.example/hook", "").is_err());
        assert!(webhook("sms.example/hook", "s3cret").is_err());
        assert!(webhook("file:///etc/passwd", "s3cret").is_err());
    }
}
