//! Twofold's use cases: one function per thing a person or operator does. Pages, the
//! JSON API, the command line and the tests all call these, never the store directly.

mod access;
mod attempt;
mod credentials;
mod error;
mod passwords;
pub mod proof;
mod system;

pub mod admin;
pub mod audit;
pub mod context;
pub mod forward_auth;
pub mod groups;
mod known_browser;
mod lifecycle;
mod mail;
mod notices;
pub mod oidc;
pub mod outbox;
pub mod overview;
pub mod password_changes;
pub mod people;
pub mod phone;
pub mod qr;
pub mod radius;
pub mod recovery;
pub mod recovery_codes;
pub mod scim;
pub mod secrets;
pub mod security_keys;
pub mod setup;
pub mod sign_in;
pub mod sms;
pub mod support;
pub mod tokens;
pub mod two_factor;
pub mod webhooks;

use std::sync::Arc;

use twofold_domain::forward_auth::Rules;
use twofold_domain::mail::MailPolicy;
use twofold_domain::otp::TotpParams;
use twofold_domain::session::SessionPolicy;
use twofold_domain::sms::SmsPolicy;
use twofold_domain::{Clock, Entropy};
use twofold_store::Store;

pub use context::RequestContext;
pub use credentials::IssuedSession;
pub use error::{Error, Result};
pub use passwords::{PasswordParams, Passwords};
pub use secrets::Secrets;
pub use system::{OsEntropy, SystemClock};
pub use twofold_domain as domain;
pub use twofold_domain::person::Person;

/// Settings that shape behaviour (as opposed to where to listen or store).
#[derive(Debug, Clone)]
pub struct AppConfig {
    /// The address people reach Twofold at, without a trailing slash; used in links and
    /// to decide whether cookies are `Secure`.
    pub public_url: String,
    /// The name authenticator apps show next to the code.
    pub issuer: String,
    pub sessions: SessionPolicy,
    pub setup_link_ttl: i64,
    pub invitation_ttl: i64,
    pub passwords: PasswordParams,
    /// Window, digits and period of authenticator codes (SHA1 / 6 / 30 s: what every app honours).
    pub totp: TotpParams,
    /// How long "Remember for 30 days" lasts.
    pub remember_device_days: i64,
    /// SMS code lifetime, attempts and send limits.
    pub sms: SmsPolicy,
    /// Reset-link lifetime, reset-mail limits, and when the outbox gives up on a mail.
    pub mail: MailPolicy,
    /// The parent domain of hosts protected by forward auth (`example.com`): the session
    /// cookie is sent to them too. None keeps it on Twofold's own host (`__Host-`).
    pub cookie_domain: Option<String>,
    /// Which hosts forward auth protects, and for whom.
    pub forward_auth: Rules,
    /// How long a worker's claim on an outbox row lasts, in seconds: longer than any send
    /// may take, or another worker sends the same message while the first still is.
    pub outbox_lease_seconds: i64,
    /// Where webhooks may go beyond public addresses (SEC-51).
    pub webhooks: WebhookPolicy,
}

/// Where webhooks may be sent: public addresses always; hosts (names or addresses) listed
/// here even when internal; loopback over plain HTTP only when allowed (for development).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WebhookPolicy {
    pub allow_hosts: Vec<String>,
    pub allow_insecure_loopback: bool,
}

impl Default for AppConfig {
    fn default() -> Self {
        Self {
            public_url: "http://127.0.0.1:8080".into(),
            issuer: "Twofold".into(),
            sessions: SessionPolicy::default(),
            setup_link_ttl: 60 * 60,
            invitation_ttl: 7 * 24 * 60 * 60,
            passwords: PasswordParams::default(),
            totp: TotpParams::default(),
            remember_device_days: 30,
            sms: SmsPolicy::default(),
            mail: MailPolicy::default(),
            cookie_domain: None,
            forward_auth: Rules::default(),
            outbox_lease_seconds: outbox::LEASE_SECONDS,
            webhooks: WebhookPolicy::default(),
        }
    }
}

impl AppConfig {
    pub fn is_https(&self) -> bool {
        self.public_url.starts_with("https://")
    }
}

/// Everything a use case needs, cheap to clone.
#[derive(Clone)]
pub struct App {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    clock: Arc<dyn Clock>,
    entropy: Arc<dyn Entropy>,
    config: AppConfig,
    passwords: Passwords,
    secrets: Secrets,
    /// WebAuthn's relying party, from the public URL; none when that names an IP address.
    relying_party: Option<webauthn_rs::Webauthn>,
    /// The ID-token signing key last read, parsed; which key signs is the database's word.
    signing_key: oidc::keys::KeyCache,
}

impl App {
    pub fn new(
        store: Store,
        config: AppConfig,
        secrets: Secrets,
        clock: Arc<dyn Clock>,
        entropy: Arc<dyn Entropy>,
    ) -> Result<App> {
        let passwords = Passwords::new(config.passwords)?;
        let relying_party = security_keys::relying_party(&config.public_url, &config.issuer);
        if relying_party.is_none() {
            tracing::warn!(public_url = %config.public_url, "security keys are off: the public URL needs a host name");
        }
        let signing_key = oidc::keys::KeyCache::default();
        let inner = Inner { store, clock, entropy, config, passwords, secrets, relying_party, signing_key };
        Ok(App { inner: Arc::new(inner) })
    }

    /// The production wiring: the system clock and the OS CSPRNG.
    pub fn with_system(store: Store, config: AppConfig, secrets: Secrets) -> Result<App> {
        App::new(store, config, secrets, Arc::new(SystemClock), Arc::new(OsEntropy))
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    pub fn config(&self) -> &AppConfig {
        &self.inner.config
    }

    pub fn now(&self) -> i64 {
        self.inner.clock.now()
    }

    pub(crate) fn entropy(&self) -> &dyn Entropy {
        self.inner.entropy.as_ref()
    }

    /// The entropy for work moved off the async threads.
    pub(crate) fn entropy_handle(&self) -> Arc<dyn Entropy> {
        self.inner.entropy.clone()
    }

    pub(crate) fn signing_key_cache(&self) -> &oidc::keys::KeyCache {
        &self.inner.signing_key
    }

    pub fn secrets(&self) -> &Secrets {
        &self.inner.secrets
    }

    pub(crate) fn relying_party(&self) -> Option<&webauthn_rs::Webauthn> {
        self.inner.relying_party.as_ref()
    }

    pub(crate) fn passwords(&self) -> &Passwords {
        &self.inner.passwords
    }

    /// A link under the public URL.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.inner.config.public_url.trim_end_matches('/'), path)
    }
}
