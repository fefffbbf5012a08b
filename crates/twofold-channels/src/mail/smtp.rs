//! The `smtp` mail provider, on `lettre` with rustls (no OpenSSL).
//!
//! TLS is the rule (SEC-39): `smtp://` demands STARTTLS and gives up on a relay that does
//! not offer it, `smtps://` speaks TLS from the first byte, and `?tls=none` is accepted only
//! for a relay on this machine's loopback, where nothing crosses a network.

use std::net::IpAddr;
use std::str::FromStr;
use std::time::Duration;

use lettre::message::{Mailbox, MultiPart, header};
use lettre::transport::smtp::PoolConfig;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use percent_encoding::percent_decode_str;

use super::{MailProvider, OutgoingMail, one_line};
use crate::{SendError, SendFuture, Sent};

/// How long one SMTP exchange may take (connect, each command). The outbox worker retries
/// after it, so a stuck relay holds a worker for at most this long.
pub const SMTP_TIMEOUT: Duration = Duration::from_secs(15);

/// How a connection to the relay is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// Plain connection upgraded with STARTTLS, which must succeed (port 587).
    StartTls,
    /// TLS from the first byte (port 465).
    Implicit,
    /// No TLS: loopback relays only.
    None,
}

/// The relay's settings, read from `TWOFOLD_SMTP_URL` and `TWOFOLD_MAIL_FROM`.
#[derive(Clone)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub security: SmtpSecurity,
    credentials: Option<(String, String)>,
    from: Mailbox,
}

impl std::fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("user", &self.credentials.as_ref().map(|c| &c.0))
            .field("from", &self.from.to_string())
            .finish()
    }
}

impl SmtpSettings {
    /// Reads the URL and the sender; errors name what is wrong, never the password.
    pub fn parse(url: &str, from: &str) -> Result<SmtpSettings, String> {
        let parsed = reqwest::Url::parse(url).map_err(|_| "TWOFOLD_SMTP_URL is not a valid URL".to_owned())?;
        let host = parsed.host_str().filter(|h| !h.is_empty()).ok_or("TWOFOLD_SMTP_URL names no host")?;
        let host = host.trim_start_matches('[').trim_end_matches(']').to_owned();
        let plain = parsed.query_pairs().any(|(k, v)| k == "tls" && v == "none");
        let security = match (parsed.scheme(), plain) {
            ("smtp", false) => SmtpSecurity::StartTls,
            ("smtp", true) => SmtpSecurity::None,
            ("smtps", false) => SmtpSecurity::Implicit,
            ("smtps", true) => return Err("smtps:// and tls=none contradict each other".into()),
            (other, _) => return Err(format!("TWOFOLD_SMTP_URL must start with smtp:// or smtps://, not {other}://")),
        };
        if security == SmtpSecurity::None && !is_loopback(&host) {
            return Err(format!(
                "tls=none is allowed only to a relay on loopback, not {host}: mail to another host must use TLS (SEC-39)"
            ));
        }
        let port = parsed.port().unwrap_or(match security {
            SmtpSecurity::Implicit => 465,
            SmtpSecurity::StartTls => 587,
            SmtpSecurity::None => 25,
        });
        let credentials = match parsed.username() {
            "" => None,
            user => {
                let decode = |s: &str| percent_decode_str(s).decode_utf8().map(|c| c.into_owned());
                let user = decode(user).map_err(|_| "the SMTP user name is not valid UTF-8")?;
                let password = decode(parsed.password().unwrap_or(""))
                    .map_err(|_| "the SMTP password is not valid UTF-8".to_owned())?;
                Some((user, password))
            }
        };
        let from = Mailbox::from_str(from.trim())
            .map_err(|_| format!("TWOFOLD_MAIL_FROM must be an address like no-reply@example.com, not {from:?}"))?;
        Ok(SmtpSettings { host, port, security, credentials, from })
    }
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost") || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Sends through one relay, keeping a few connections open between messages.
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl SmtpMailer {
    /// `extra_root` is a PEM bundle to trust besides the web's usual roots. Call it on the
    /// tokio runtime: the connection pool starts its reaper there.
    pub fn new(settings: SmtpSettings, extra_root: Option<&[u8]>) -> Result<SmtpMailer, String> {
        crate::install_crypto_provider();
        let tls = match settings.security {
            SmtpSecurity::None => Tls::None,
            secure => {
                let mut params = TlsParameters::builder(settings.host.clone());
                if let Some(pem) = extra_root {
                    let cert = Certificate::from_pem(pem).map_err(|e| format!("the SMTP CA file is not PEM: {e}"))?;
                    params = params.add_root_certificate(cert);
                }
                let params = params.build_rustls().map_err(|e| format!("SMTP TLS settings: {e}"))?;
                if secure == SmtpSecurity::Implicit { Tls::Wrapper(params) } else { Tls::Required(params) }
            }
        };
        let hello = ClientId::Domain(settings.from.email.domain().to_owned());
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(settings.host.as_str())
            .port(settings.port)
            .tls(tls)
            .hello_name(hello)
            .timeout(Some(SMTP_TIMEOUT))
            .pool_config(PoolConfig::new().max_size(8).idle_timeout(Duration::from_secs(60)));
        if let Some((user, password)) = settings.credentials {
            builder = builder.credentials(Credentials::new(user, password));
        }
        Ok(SmtpMailer { transport: builder.build(), from: settings.from })
    }

    /// The message as it goes on the wire. The `Message-ID` is the outbox id's, so that a
    /// retry after a lost answer is recognisably the same message.
    fn message(&self, mail: &OutgoingMail) -> Result<Message, SendError> {
        let address = mail.to.parse().map_err(|_| SendError::permanent("the recipient is not a valid address"))?;
        let to = Mailbox::new(mail.to_name.as_deref().map(one_line).filter(|n| !n.is_empty()), address);
        let message_id = format!("<twofold.{}@{}>", mail.id, self.from.email.domain());
        let from = match mail.from_name.as_deref().map(one_line).filter(|n| !n.is_empty()) {
            Some(name) => Mailbox::new(Some(name), self.from.email.clone()),
            None => self.from.clone(),
        };
        Message::builder()
            .from(from)
            .to(to)
            .subject(one_line(&mail.subject))
            .message_id(Some(message_id))
            .header(header::MIME_VERSION_1_0)
            .multipart(MultiPart::alternative_plain_html(mail.text.clone(), mail.html.clone()))
            .map_err(|e| SendError::permanent(format!("the message cannot be built: {e}")))
    }

    async fn send_one(&self, mail: &OutgoingMail) -> Result<Sent, SendError> {
        let message = self.message(mail)?;
        let message_id = message.headers().get_raw("Message-ID").map(str::to_owned);
        match self.transport.send(message).await {
            Ok(response) => {
                let first = response.first_line().unwrap_or("").chars().take(100).collect::<String>();
                Ok(Sent { provider_message_id: message_id, status: format!("{} {first}", response.code()) })
            }
            Err(e) if e.is_permanent() => Err(SendError::permanent(format!("smtp: {e}"))),
            Err(e) => Err(SendError::transient(format!("smtp: {e}"))),
        }
    }
}

impl MailProvider for SmtpMailer {
    fn name(&self) -> &'static str {
        "smtp"
    }

    fn send<'a>(&'a self, mail: &'a OutgoingMail) -> SendFuture<'a> {
        Box::pin(self.send_one(mail))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
mod tests {
    use super::*;

    const FROM: &str = "Twofold <no-reply@twofold.example>";

    #[test]
    fn the_url_decides_the_protection_and_the_port() {
        let s = SmtpSettings::parse("smtp://mailer:p%40ss@smtp.example", FROM).unwrap();
        assert_eq!((s.security, s.port, s.host.as_str()), (SmtpSecurity::StartTls, 587, "smtp.example"));
        assert_eq!(s.credentials, Some(("mailer".into(), "p@ss".into())));
        let s = SmtpSettings::parse("smtps://smtp.example", FROM).unwrap();
        assert_eq!((s.security, s.port), (SmtpSecurity::Implicit, 465));
        let s = SmtpSettings::parse("smtp://127.0.0.1:2525?tls=none", FROM).unwrap();
        assert_eq!((s.security, s.port, s.credentials), (SmtpSecurity::None, 2525, None));
        assert!(SmtpSettings::parse("smtp://[::1]:25?tls=none", FROM).is_ok());
        assert!(SmtpSettings::parse("smtp://localhost:25?tls=none", FROM).is_ok());
    }

    #[test]
    fn sec_39_plain_smtp_is_refused_to_anything_but_loopback() {
        for url in
            ["smtp://smtp.example:25?tls=none", "smtp://10.0.0.5:25?tls=none", "smtp://127.0.0.1.nip.io?tls=none"]
        {
            let err = SmtpSettings::parse(url, FROM).unwrap_err();
            assert!(err.contains("loopback"), "{url}: {err}");
        }
        assert!(SmtpSettings::parse("smtps://127.0.0.1?tls=none", FROM).is_err());
    }

    #[test]
    fn bad_settings_are_refused_without_quoting_the_password() {
        assert!(SmtpSettings::parse("http://smtp.example", FROM).is_err());
        assert!(SmtpSettings::parse("smtp://", FROM).is_err());
        let err = SmtpSettings::parse("smtp://u:SECRETPW@smtp.example", "not an address").unwrap_err();
        assert!(!err.contains("SECRETPW"), "{err}");
        let shown = format!("{:?}", SmtpSettings::parse("smtp://u:SECRETPW@smtp.example", FROM).unwrap());
        assert!(!shown.contains("SECRETPW"), "{shown}");
    }

    // A tokio test: the connection pool starts its reaper on the runtime.
    #[tokio::test]
    async fn sec_39_names_and_subjects_cannot_inject_headers() {
        let settings = SmtpSettings::parse("smtp://127.0.0.1:25?tls=none", FROM).unwrap();
        let mailer = SmtpMailer::new(settings, None).unwrap();
        let mail = OutgoingMail {
            id: 12,
            to: "pat@example.com".into(),
            to_name: Some("Pat\r\nBcc: victim@evil.example".into()),
            from_name: Some("Acme\r\nReply-To: evil@evil.example".into()),
            subject: "Hello\r\nX-Injected: yes".into(),
            text: "body".into(),
            html: "<p>body</p>".into(),
        };
        let raw = String::from_utf8(mailer.message(&mail).unwrap().formatted()).unwrap();
        let headers = raw.split("\r\n\r\n").next().unwrap();
        let injected = ["Bcc:", "X-Injected:", "Reply-To:"];
        assert!(!headers.lines().any(|l| injected.iter().any(|h| l.starts_with(h))), "{headers}");
        assert!(headers.contains("Message-ID: <twofold.12@twofold.example>"), "{headers}");
        let bad = OutgoingMail { to: "pat@example.com\r\nBcc: x@evil.example".into(), ..mail };
        assert!(matches!(mailer.message(&bad), Err(SendError::Permanent { .. })));
    }
}
