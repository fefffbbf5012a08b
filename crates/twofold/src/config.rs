//! Configuration: defaults, then an optional TOML file, then `TWOFOLD_*` environment
//! variables, then command-line flags, each overriding the one before.

use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use twofold_app::domain::forward_auth::{Rule, Rules};
use twofold_app::domain::session::SessionPolicy;
use twofold_app::domain::sms::SmsPolicy;
use twofold_app::{AppConfig, Secrets};
use twofold_channels::mail::MailConfig;
use twofold_channels::sms::ProviderConfig;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Address and port to listen on.
    pub listen: String,
    /// Where the SQLite database (and later the key file) live.
    pub data_dir: PathBuf,
    /// `postgres://…` to use PostgreSQL; unset means SQLite in `data_dir`.
    pub database_url: Option<String>,
    /// The address people use to reach Twofold (links, cookie security); defaults to
    /// `http://<listen>`.
    pub public_url: Option<String>,
    /// The name authenticator apps show.
    pub issuer: String,
    /// Keys that encrypt secrets at rest, `id:base64[,id:base64…]` (first = current); unset
    /// means a key file `secret.key` in `data_dir`, created with mode 0600 on first start.
    pub secret_key: Option<String>,
    /// `text` or `json`; unset means text on a terminal and JSON otherwise.
    pub log_format: Option<String>,
    /// A tracing filter such as `info` or `twofold=debug,info`.
    pub log_level: String,
    /// Trust the last `X-Forwarded-For` hop as the client address (behind your own proxy).
    pub trust_forwarded_for: bool,
    /// A bearer token `/metrics` asks for (at least 16 characters); unset, anyone who
    /// reaches the port reads it, so keep the port private then.
    pub metrics_token: Option<String>,
    /// Address and UDP port of the RADIUS server (`127.0.0.1:1812`, `[::]:1812`); unset,
    /// there is none. Clients are registered with `twofold radius client add`.
    pub radius_listen: Option<String>,
    /// `file` (the default: nothing leaves the machine), `twilio` or `webhook`.
    pub sms_provider: String,
    /// Where the `file` provider appends messages; default `<data_dir>/sms-outbox.jsonl`.
    pub sms_file: Option<PathBuf>,
    pub twilio_account_sid: Option<String>,
    pub twilio_auth_token: Option<String>,
    pub twilio_from: Option<String>,
    pub twilio_base_url: Option<String>,
    pub sms_webhook_url: Option<String>,
    /// The HMAC-SHA256 key that signs webhook requests (see docs/sms-webhook.md).
    pub sms_webhook_secret: Option<String>,
    /// `file` (the default: nothing leaves the machine) or `smtp`.
    pub mail_provider: String,
    /// Where the `file` mail provider appends messages; default `<data_dir>/mail-outbox.jsonl`.
    pub mail_file: Option<PathBuf>,
    /// `smtp://user:pass@host:587` (STARTTLS required), `smtps://…:465`, or
    /// `smtp://127.0.0.1:25?tls=none` (plain, loopback only).
    pub smtp_url: Option<String>,
    /// The sender: `no-reply@example.com` (each message names its account beside it).
    pub mail_from: Option<String>,
    /// Extra CA certificates (PEM) to trust for the SMTP relay.
    pub smtp_ca_file: Option<PathBuf>,
    /// How long an SMS code works, in minutes (1 to 15).
    pub sms_code_minutes: i64,
    /// Seconds between two codes to one person or number.
    pub sms_cooldown_seconds: i64,
    /// Codes per hour to one person or number.
    pub sms_per_hour: i64,
    pub session_idle_minutes: i64,
    pub session_absolute_hours: i64,
    pub database_max_connections: u32,
    /// How long a request waits for a database connection before answering 503
    /// `database_unavailable`, in milliseconds.
    pub database_acquire_timeout_ms: u64,
    /// How long a client may take to send a request's headers once it has begun, in
    /// seconds: a slow-header client is disconnected after it.
    pub http_header_read_timeout_seconds: u64,
    /// How long a connection may sit idle (before its first request, or between
    /// keep-alive requests), in seconds. Above the idle timeouts of the proxies that keep
    /// connections to Twofold open (nginx 60 s, Caddy 120 s), so they close first.
    pub http_idle_timeout_seconds: u64,
    /// Connections served at once; further ones wait in the listen queue.
    pub http_max_connections: usize,
    /// How long an outbox worker's claim on a message lasts, in seconds; a message whose
    /// worker died mid-send is sent again after it.
    pub outbox_lease_seconds: i64,
    /// Hosts (names or addresses) webhooks may reach although they are internal (SEC-51).
    pub webhook_allow_hosts: Vec<String>,
    /// Let webhooks go to loopback over plain HTTP (development and tests only).
    pub webhook_allow_insecure_loopback: bool,
    /// The parent domain of the hosts forward auth protects (`example.com`): the session
    /// cookie goes to them too, and loses its `__Host-` prefix.
    pub cookie_domain: Option<String>,
    /// `[forward_auth]`: the `[[forward_auth.rules]]` of the protected hosts.
    pub forward_auth: ForwardAuthConfig,
    /// Where `serve` writes scheduled backups of the SQLite database (unset: none). They
    /// hold no keyring: keep `secret.key` safe apart.
    pub backup_dir: Option<PathBuf>,
    /// Hours between scheduled backups (fractions allowed, down to a second).
    pub backup_every_hours: f64,
    /// How many scheduled backups to keep; older ones are deleted.
    pub backup_keep: usize,
}

/// `[forward_auth]` in the TOML file.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct ForwardAuthConfig {
    pub rules: Vec<Rule>,
}

impl Default for Config {
    fn default() -> Self {
        let sessions = SessionPolicy::default();
        Self {
            listen: "127.0.0.1:8080".into(),
            data_dir: PathBuf::from("./twofold-data"),
            database_url: None,
            public_url: None,
            issuer: "Twofold".into(),
            secret_key: None,
            log_format: None,
            log_level: "info".into(),
            trust_forwarded_for: false,
            metrics_token: None,
            radius_listen: None,
            sms_provider: "file".into(),
            sms_file: None,
            twilio_account_sid: None,
            twilio_auth_token: None,
            twilio_from: None,
            twilio_base_url: None,
            sms_webhook_url: None,
            sms_webhook_secret: None,
            mail_provider: "file".into(),
            mail_file: None,
            smtp_url: None,
            mail_from: None,
            smtp_ca_file: None,
            sms_code_minutes: 10,
            sms_cooldown_seconds: 60,
            sms_per_hour: 5,
            session_idle_minutes: sessions.idle / 60,
            session_absolute_hours: sessions.absolute / 3600,
            database_max_connections: 16,
            database_acquire_timeout_ms: 2_000,
            http_header_read_timeout_seconds: 10,
            http_idle_timeout_seconds: 180,
            http_max_connections: 1_024,
            outbox_lease_seconds: twofold_app::outbox::LEASE_SECONDS,
            webhook_allow_hosts: Vec::new(),
            webhook_allow_insecure_loopback: false,
            cookie_domain: None,
            forward_auth: ForwardAuthConfig::default(),
            backup_dir: None,
            backup_every_hours: 24.0,
            backup_keep: 7,
        }
    }
}

/// Values given on the command line; `None` leaves the lower layers' value.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Overrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub radius_listen: Option<String>,
}

impl Config {
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Config, String> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            if !file.exists() {
                return Err(format!("the configuration file {} does not exist", file.display()));
            }
            figment = figment.merge(Toml::file(file));
        }
        let config: Config = figment
            .merge(Env::prefixed("TWOFOLD_").ignore(&["test_database_url", "require_all_tests"]))
            .merge(Serialized::defaults(overrides))
            .extract()
            .map_err(|e| format!("invalid configuration: {e}"))?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), String> {
        let rules = Rules::new(self.forward_auth.rules.clone())?;
        self.rules_reachable(&rules)?;
        if let Some(domain) = &self.cookie_domain {
            let host = self
                .public_url()
                .split("://")
                .nth(1)
                .unwrap_or("")
                .split(['/', ':'])
                .next()
                .unwrap_or("")
                .to_ascii_lowercase();
            let domain = domain.trim_start_matches('.').to_ascii_lowercase();
            if !(host == domain || host.ends_with(&format!(".{domain}"))) {
                return Err(format!("cookie_domain {domain} must be the public URL's host ({host}) or a parent of it"));
            }
        }
        if !(1..=15).contains(&self.sms_code_minutes) {
            return Err("sms_code_minutes must be between 1 and 15".into());
        }
        if !(1..=3600).contains(&self.sms_cooldown_seconds) || !(1..=100).contains(&self.sms_per_hour) {
            return Err("sms_cooldown_seconds must be 1 to 3600 and sms_per_hour 1 to 100".into());
        }
        if let Some(listen) = &self.radius_listen
            && listen.parse::<std::net::SocketAddr>().is_err()
        {
            return Err(format!("radius_listen must be an address and port such as 127.0.0.1:1812, not {listen:?}"));
        }
        if self.metrics_token.as_deref().is_some_and(|t| t.chars().count() < 16 || t.chars().any(char::is_whitespace)) {
            return Err("metrics_token must be at least 16 characters, without spaces".into());
        }
        if self.session_idle_minutes < 1 || self.session_absolute_hours < 1 {
            return Err("session_idle_minutes and session_absolute_hours must be at least 1".into());
        }
        self.validate_limits()?;
        if self.public_url.as_deref().is_some_and(|u| !(u.starts_with("http://") || u.starts_with("https://"))) {
            return Err("public_url must start with http:// or https://".into());
        }
        Ok(())
    }

    fn validate_limits(&self) -> Result<(), String> {
        if !(100..=60_000).contains(&self.database_acquire_timeout_ms) {
            return Err("database_acquire_timeout_ms must be between 100 and 60000".into());
        }
        if !(1..=300).contains(&self.http_header_read_timeout_seconds) {
            return Err("http_header_read_timeout_seconds must be between 1 and 300".into());
        }
        if !(1..=3600).contains(&self.http_idle_timeout_seconds) {
            return Err("http_idle_timeout_seconds must be between 1 and 3600".into());
        }
        if !(1..=100_000).contains(&self.http_max_connections) {
            return Err("http_max_connections must be between 1 and 100000".into());
        }
        if !(1.0 / 3600.0..=24.0 * 366.0).contains(&self.backup_every_hours)
            || !(1..=10_000).contains(&self.backup_keep)
        {
            return Err(
                "backup_every_hours must be between 0.0003 (a second) and 8784, and backup_keep between 1 and 10000"
                    .into(),
            );
        }
        if self.backup_dir.is_some() && self.database_url.as_deref().is_some_and(|u| u.starts_with("postgres")) {
            return Err("backup_dir backs up the embedded SQLite database: for PostgreSQL use pg_dump".into());
        }
        if !(twofold_app::outbox::MIN_LEASE_SECONDS..=3600).contains(&self.outbox_lease_seconds) {
            return Err(format!(
                "outbox_lease_seconds must be between {} (above every provider's timeout) and 3600",
                twofold_app::outbox::MIN_LEASE_SECONDS
            ));
        }
        Ok(())
    }

    /// The database to use: the given URL, or SQLite inside the data directory.
    pub fn database_url(&self) -> String {
        self.database_url.clone().unwrap_or_else(|| twofold_store::sqlite_url_in(&self.data_dir))
    }

    pub fn public_url(&self) -> String {
        // WebAuthn needs a host name, not an address: on loopback that is `localhost`.
        let default = || match self.listen.strip_prefix("127.0.0.1:") {
            Some(port) => format!("http://localhost:{port}"),
            None => format!("http://{}", self.listen),
        };
        self.public_url.clone().unwrap_or_else(default).trim_end_matches('/').to_string()
    }

    /// Where the encryption keys come from: configuration, or the key file.
    pub fn secrets(&self) -> Result<Secrets, String> {
        match self.secret_key.as_deref().filter(|k| !k.trim().is_empty()) {
            Some(spec) => Secrets::from_spec(spec).map_err(|e| format!("TWOFOLD_SECRET_KEY: {e}")),
            None => Secrets::from_file(&self.data_dir.join("secret.key")).map_err(|e| e.to_string()),
        }
    }

    /// The SMS provider chosen, with its settings checked.
    pub fn sms_provider(&self) -> Result<ProviderConfig, String> {
        let need = |value: &Option<String>, name: &str| {
            value
                .clone()
                .filter(|v| !v.trim().is_empty())
                .ok_or_else(|| format!("{name} is required with sms_provider = {}", self.sms_provider))
        };
        match self.sms_provider.as_str() {
            "file" => Ok(ProviderConfig::File {
                path: self.sms_file.clone().unwrap_or_else(|| self.data_dir.join("sms-outbox.jsonl")),
            }),
            "twilio" => Ok(ProviderConfig::Twilio {
                account_sid: need(&self.twilio_account_sid, "TWOFOLD_TWILIO_ACCOUNT_SID")?,
                auth_token: need(&self.twilio_auth_token, "TWOFOLD_TWILIO_AUTH_TOKEN")?,
                from: need(&self.twilio_from, "TWOFOLD_TWILIO_FROM")?,
                base_url: self
                    .twilio_base_url
                    .clone()
                    .unwrap_or_else(|| twofold_channels::sms::TWILIO_DEFAULT_BASE_URL.into()),
            }),
            "webhook" => Ok(ProviderConfig::Webhook {
                url: need(&self.sms_webhook_url, "TWOFOLD_SMS_WEBHOOK_URL")?,
                secret: need(&self.sms_webhook_secret, "TWOFOLD_SMS_WEBHOOK_SECRET")?,
            }),
            other => Err(format!("unknown sms_provider {other:?}: use file, twilio or webhook")),
        }
    }

    /// Every protected host must receive the session cookie, or its sign-in loops: inside
    /// `cookie_domain`, or Twofold's own host without one.
    fn rules_reachable(&self, rules: &Rules) -> Result<(), String> {
        let public = self.public_url();
        let own = public.split("://").nth(1).unwrap_or("").split(['/', ':']).next().unwrap_or("").to_ascii_lowercase();
        let domain = self.cookie_domain.as_deref().map(|d| d.trim_start_matches('.').to_ascii_lowercase());
        for host in rules.hosts() {
            let reached = match &domain {
                Some(d) => host == d || host.ends_with(&format!(".{d}")),
                None => host == own,
            };
            if !reached {
                return Err(match &domain {
                    Some(d) => format!(
                        "forward_auth rule host {host} is outside cookie_domain {d}: the session cookie would never reach it"
                    ),
                    None => format!(
                        "forward_auth rule host {host} needs cookie_domain (a parent of {host} and {own}) so the session cookie reaches it"
                    ),
                });
            }
        }
        Ok(())
    }

    /// The mail provider chosen, with its settings present.
    pub fn mail_provider(&self) -> Result<MailConfig, String> {
        match self.mail_provider.as_str() {
            "file" => Ok(MailConfig::File {
                path: self.mail_file.clone().unwrap_or_else(|| self.data_dir.join("mail-outbox.jsonl")),
            }),
            "smtp" => Ok(MailConfig::Smtp {
                url: self.smtp_url.clone().ok_or("TWOFOLD_SMTP_URL is required with mail_provider = smtp")?,
                from: self.mail_from.clone().ok_or("TWOFOLD_MAIL_FROM is required with mail_provider = smtp")?,
                ca_file: self.smtp_ca_file.clone(),
            }),
            other => Err(format!("unknown mail_provider {other:?}: use file or smtp")),
        }
    }

    pub fn app_config(&self) -> AppConfig {
        AppConfig {
            public_url: self.public_url(),
            issuer: self.issuer.clone(),
            sessions: SessionPolicy {
                idle: self.session_idle_minutes.saturating_mul(60),
                absolute: self.session_absolute_hours.saturating_mul(3600),
                ..SessionPolicy::default()
            },
            sms: SmsPolicy {
                code_lifetime: self.sms_code_minutes * 60,
                cooldown: self.sms_cooldown_seconds,
                per_hour: self.sms_per_hour,
                ..SmsPolicy::default()
            },
            cookie_domain: self.cookie_domain.as_ref().map(|d| d.trim_start_matches('.').to_ascii_lowercase()),
            // Checked in `validate`; an invalid set here would have stopped the start.
            forward_auth: Rules::new(self.forward_auth.rules.clone()).unwrap_or_default(),
            outbox_lease_seconds: self.outbox_lease_seconds,
            webhooks: twofold_app::WebhookPolicy {
                allow_hosts: self.webhook_allow_hosts.clone(),
                allow_insecure_loopback: self.webhook_allow_insecure_loopback,
            },
            ..AppConfig::default()
        }
    }

    /// The configuration as it may be logged: credentials in URLs are masked (SEC-31).
    pub fn redacted(&self) -> serde_json::Value {
        let mut shown = self.clone();
        shown.database_url = shown.database_url.as_deref().map(redact_url);
        for secret in [
            &mut shown.secret_key,
            &mut shown.twilio_auth_token,
            &mut shown.sms_webhook_secret,
            &mut shown.metrics_token,
        ] {
            *secret = secret.as_ref().map(|_| "***".to_string());
        }
        shown.sms_webhook_url = shown.sms_webhook_url.as_deref().map(redact_url);
        shown.smtp_url = shown.smtp_url.as_deref().map(redact_url);
        serde_json::to_value(&shown).unwrap_or_default()
    }
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let Some((userinfo, host)) = rest.rsplit_once('@') else {
        return url.to_string();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sec_31_database_passwords_are_masked_in_the_logged_configuration() {
        assert_eq!(redact_url("postgres://app:hunter2@db:5432/twofold"), "postgres://app:***@db:5432/twofold");
        assert_eq!(redact_url("postgres://app@db/twofold"), "postgres://app@db/twofold");
        let config = Config { database_url: Some("postgres://a:topsecret@h/d".into()), ..Config::default() };
        assert!(!config.redacted().to_string().contains("topsecret"));
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail dictates the closure's error type
    fn flags_beat_the_environment_which_beats_the_file() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "twofold.toml",
                "listen = \"127.0.0.1:1111\"\nissuer = \"FromFile\"\nlog_level = \"warn\"",
            )?;
            jail.set_env("TWOFOLD_LISTEN", "127.0.0.1:2222");
            jail.set_env("TWOFOLD_ISSUER", "FromEnv");
            let overrides = Overrides { listen: Some("127.0.0.1:3333".into()), ..Overrides::default() };
            let config = Config::load(Some(Path::new("twofold.toml")), &overrides).map_err(figment::Error::from)?;
            assert_eq!(config.listen, "127.0.0.1:3333");
            assert_eq!(config.issuer, "FromEnv");
            assert_eq!(config.log_level, "warn");
            assert_eq!(
                config.database_url(),
                format!("sqlite://{}?mode=rwc", Path::new("./twofold-data").join("twofold.db").display())
            );
            Ok(())
        });
    }

    #[test]
    fn mail_providers_need_their_settings_and_the_smtp_password_is_masked() {
        assert!(matches!(Config::default().mail_provider(), Ok(MailConfig::File { .. })));
        let smtp = Config { mail_provider: "smtp".into(), ..Config::default() };
        assert!(smtp.mail_provider().is_err_and(|e| e.contains("TWOFOLD_SMTP_URL")));
        let smtp = Config { smtp_url: Some("smtp://u:hunter2@mail.example:587".into()), ..smtp };
        assert!(smtp.mail_provider().is_err_and(|e| e.contains("TWOFOLD_MAIL_FROM")));
        assert!(!smtp.redacted().to_string().contains("hunter2"));
        let owl = Config { mail_provider: "owl".into(), ..Config::default() };
        assert!(owl.mail_provider().is_err());
    }

    #[test]
    fn forward_auth_rules_must_be_reachable_by_the_session_cookie() {
        let rule = |host: &str| Rule {
            host: host.into(),
            path_prefix: None,
            roles: None,
            accounts: None,
            groups: None,
            two_factor: Default::default(),
        };
        let with = |domain: Option<&str>, host: &str| Config {
            public_url: Some("https://auth.example.com".into()),
            cookie_domain: domain.map(Into::into),
            forward_auth: ForwardAuthConfig { rules: vec![rule(host)] },
            ..Config::default()
        };
        assert!(with(Some("example.com"), "wiki.example.com").validate().is_ok());
        assert!(
            with(Some("example.com"), "wiki.other.com").validate().is_err_and(|e| e.contains("outside cookie_domain"))
        );
        assert!(with(None, "wiki.example.com").validate().is_err_and(|e| e.contains("needs cookie_domain")));
        assert!(with(None, "auth.example.com").validate().is_ok(), "Twofold's own host");
        assert!(with(Some("other.com"), "wiki.other.com").validate().is_err(), "the public URL outside the domain");
    }

    #[test]
    fn sms_providers_need_their_settings() {
        let file = Config::default().sms_provider();
        assert!(matches!(file, Ok(ProviderConfig::File { ref path }) if path.ends_with("sms-outbox.jsonl")));
        let twilio = Config { sms_provider: "twilio".into(), ..Config::default() };
        assert!(twilio.sms_provider().is_err_and(|e| e.contains("TWOFOLD_TWILIO_ACCOUNT_SID")));
        let carrier_pigeon = Config { sms_provider: "pigeon".into(), ..Config::default() };
        assert!(carrier_pigeon.sms_provider().is_err());
    }

    #[test]
    fn nonsense_is_refused_with_a_reason() {
        let overrides = Overrides { public_url: Some("ftp://x".into()), ..Overrides::default() };
        assert!(Config::load(None, &overrides).is_err_and(|e| e.contains("public_url")));
        assert!(Config::load(Some(Path::new("/nonexistent/twofold.toml")), &Overrides::default()).is_err());
    }

    /// A TOML file as someone might write it: known keys with values of any type, and
    /// lines of anything.
    fn toml_text() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let key = prop_oneof![
            Just("listen"),
            Just("public_url"),
            Just("sms_code_minutes"),
            Just("http_max_connections"),
            Just("database_acquire_timeout_ms"),
            Just("cookie_domain"),
            Just("outbox_lease_seconds"),
            Just("backup_every_hours"),
            Just("backup_keep"),
            Just("trust_forwarded_for"),
            Just("[forward_auth]"),
            Just("[[forward_auth.rules]]"),
            Just("host"),
        ];
        let value = prop_oneof![
            any::<i64>().prop_map(|n| n.to_string()),
            any::<bool>().prop_map(|b| b.to_string()),
            any::<String>().prop_map(|s| format!("{s:?}")),
            Just("[]".to_string()),
            Just("{ a = 1 }".to_string()),
        ];
        let line = prop_oneof![(key, value).prop_map(|(k, v)| format!("{k} = {v}")), any::<String>()];
        proptest::collection::vec(line, 0..8).prop_map(|lines| lines.join("\n"))
    }

    proptest::proptest! {
        /// Whatever the file says, loading answers a configuration that passed validation
        /// or a message, never a panic.
        #[test]
        fn any_toml_file_loads_or_is_refused_with_a_message(text in toml_text()) {
            let loaded: Result<Config, _> =
                Figment::from(Serialized::defaults(Config::default())).merge(Toml::string(&text)).extract();
            if let Ok(config) = loaded {
                match config.validate() {
                    Ok(()) => proptest::prop_assert!(config.http_max_connections >= 1),
                    Err(message) => proptest::prop_assert!(!message.is_empty()),
                }
            }
        }
    }
}
