//! Shared test fixtures: databases, an app with a fake clock, an HTTP client with cookies.

pub mod apache;
pub mod api;
pub mod authenticator;
pub mod browser;
pub mod db;
pub mod http;
pub mod mail;
pub mod radius;
pub mod server;
pub mod sms;
pub mod smtp;
pub mod tcp_proxy;

use std::sync::Arc;

use twofold_app::Person;
use twofold_app::domain::FixedClock;
use twofold_app::domain::otp::{self, Secret};
use twofold_app::outbox::{Channels, OutboxWorker};
use twofold_app::setup::NewAccount;
use twofold_app::{App, AppConfig, OsEntropy, RequestContext, Secrets};
use twofold_web::{AppState, WebConfig};

pub use db::TestDb;
pub use http::Http;

/// Runs `async fn $name(db: TestDb)` once on SQLite and once on PostgreSQL.
macro_rules! on_both_databases {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name($crate::support::TestDb::sqlite().await).await
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    if let Some(db) = $crate::support::TestDb::postgres().await {
                        super::$name(db).await
                    }
                }
            }
        )*
    };
}

/// Says that a test skipped, or fails it when CI requires everything to run.
pub fn skip(what: &str, why: &str) {
    if std::env::var("TWOFOLD_REQUIRE_ALL_TESTS").is_ok_and(|v| v == "1") {
        panic!("{what} is required (TWOFOLD_REQUIRE_ALL_TESTS=1) but {why}");
    }
    eprintln!("SKIPPED {what}: {why}");
}

/// An HTTP client for tests against the real binary (rustls needs its crypto provider
/// installed first; twofold-channels does that once per process).
pub fn client(cookies: bool) -> reqwest::Client {
    twofold_channels::install_crypto_provider();
    reqwest::Client::builder().cookie_store(cookies).build().unwrap()
}

/// Percent-encodes a URL for a query parameter, as a browser would send `rd`.
pub fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The mobile number tests enrol with (a valid Irish mobile).
pub const PHONE: &str = "+353851234567";

pub const PASSWORD: &str = "correct horse battery staple";

/// The application wired to a test database and a clock the test controls.
pub struct TestApp {
    pub app: App,
    pub clock: Arc<FixedClock>,
    /// Receives every SMS the outbox worker sends (see [`TestApp::deliver_sms`]).
    pub sms: Arc<sms::CaptureProvider>,
    /// Receives every email the outbox worker sends.
    pub mail: Arc<mail::CaptureMailer>,
    /// The keys, to start a second instance over the same database.
    secret_spec: Option<String>,
    /// Kept so the database outlives the app.
    _db: TestDb,
}

impl TestApp {
    pub async fn new(db: TestDb) -> TestApp {
        Self::with_config(db, AppConfig::default()).await
    }

    pub async fn with_config(db: TestDb, config: AppConfig) -> TestApp {
        let keyring = twofold_store::secret_box::Keyring::generate().unwrap();
        let spec = keyring.to_spec().to_string();
        let secrets = Secrets::fixed(twofold_store::secret_box::SecretBox::new(keyring));
        let mut test = Self::with_secrets(db, config, secrets).await;
        test.secret_spec = Some(spec);
        test
    }

    /// With a public URL whose host is a name, as WebAuthn needs (`http://localhost:8080`).
    pub async fn with_webauthn(db: TestDb) -> TestApp {
        let config = AppConfig { public_url: "http://localhost:8080".into(), ..AppConfig::default() };
        Self::with_config(db, config).await
    }

    /// A second instance over the same database, keys and clock: another process in all
    /// but name (its own pool, no shared memory).
    pub async fn second_instance(&self) -> axum::Router {
        self.second_instance_with(WebConfig::default()).await
    }

    /// A second instance behind a trusted proxy, as [`TestApp::http_behind_proxy`].
    pub async fn second_instance_behind_proxy(&self) -> axum::Router {
        self.second_instance_with(WebConfig { trust_forwarded_for: true, ..WebConfig::default() }).await
    }

    async fn second_instance_with(&self, web: WebConfig) -> axum::Router {
        twofold_web::router(AppState::new(self.second_app().await, web))
    }

    /// The application of a second instance over the same database, keys and clock.
    pub async fn second_app(&self) -> App {
        let store = self._db.store().await;
        let secrets = Secrets::from_spec(self.secret_spec.as_deref().unwrap()).unwrap();
        App::new(store, self.app.config().clone(), secrets, self.clock.clone(), Arc::new(OsEntropy)).unwrap()
    }

    /// With keys kept in a file, as `twofold serve` keeps them, so that rotation can add one.
    pub async fn with_key_file(db: TestDb, path: &std::path::Path) -> TestApp {
        Self::with_secrets(db, AppConfig::default(), Secrets::from_file(path).unwrap()).await
    }

    async fn with_secrets(db: TestDb, config: AppConfig, secrets: Secrets) -> TestApp {
        // Errors the app logs show up beside a failing test's output.
        let _ = tracing_subscriber::fmt().with_env_filter("warn").with_test_writer().try_init();
        let store = db.store().await;
        let clock = Arc::new(FixedClock::new(1_800_000_000));
        let app = App::new(store, config, secrets, clock.clone(), Arc::new(OsEntropy)).unwrap();
        let sms = Arc::new(sms::CaptureProvider::default());
        let mail = Arc::new(mail::CaptureMailer::default());
        TestApp { app, clock, sms, mail, secret_spec: None, _db: db }
    }

    /// The SQLite file, when the test runs on SQLite.
    pub fn sqlite_path(&self) -> Option<std::path::PathBuf> {
        self._db
            .url
            .strip_prefix("sqlite://")
            .map(|rest| std::path::PathBuf::from(rest.split('?').next().unwrap_or(rest)))
    }

    pub fn router(&self) -> axum::Router {
        twofold_web::router(AppState::new(self.app.clone(), WebConfig::default()))
    }

    pub fn http(&self) -> Http {
        Http::new(self.router())
    }

    /// A client behind a trusted reverse proxy: the address it names in `X-Forwarded-For`
    /// is the one the server sees (a test's way to speak from many addresses).
    pub fn http_behind_proxy(&self) -> Http {
        Http::new(twofold_web::router(AppState::new(
            self.app.clone(),
            WebConfig { trust_forwarded_for: true, ..WebConfig::default() },
        )))
    }

    /// Creates an account with an Owner `owner@<slug>.test`; answers the Owner.
    pub async fn account(&self, slug: &str) -> Person {
        let email = format!("owner@{slug}.test");
        let new = NewAccount { account_name: slug, owner_name: "Olive Owner", owner_email: &email, password: PASSWORD };
        self.app.create_account(&new).await.unwrap();
        self.user(&email).await
    }

    /// Invites a person into `owner`'s account and sets their password; answers them.
    pub async fn person(&self, owner: &Person, email: &str, role: twofold_app::domain::Role) -> Person {
        self.person_named(owner, email, "Pat Person", role).await
    }

    /// As [`TestApp::person`], with a name of one's own.
    pub async fn person_named(
        &self,
        owner: &Person,
        email: &str,
        name: &str,
        role: twofold_app::domain::Role,
    ) -> Person {
        let owner = self.user(&owner.email).await;
        let new = twofold_app::people::NewPerson { email, name, role };
        let invitation = self.app.invite(&owner, &new, &RequestContext::default()).await.unwrap();
        let token = invitation.url.rsplit('/').next().unwrap().to_string();
        self.app.accept_invitation(&token, PASSWORD, &RequestContext::default()).await.unwrap()
    }

    pub async fn user(&self, email: &str) -> Person {
        let mut conn = self.app.store().conn().await.unwrap();
        twofold_store::users::by_email(&mut conn, email).await.unwrap().unwrap().into_person()
    }

    /// A client signed in as `email` through the API.
    pub async fn signed_in(&self, email: &str) -> Http {
        let http = self.http();
        let r = http.post_json("/api/v1/login", &serde_json::json!({ "email": email, "password": PASSWORD })).await;
        assert_eq!(r.status, 200, "sign-in as {email} failed: {}", r.text());
        assert_eq!(r.json()["status"], "signed_in");
        http.set_csrf(r.json()["csrf_token"].as_str().unwrap());
        http
    }

    /// The capture providers of both channels.
    pub fn channels(&self) -> Channels {
        Channels { sms: self.sms.clone(), mail: self.mail.clone() }
    }

    /// One pass of the outbox worker over the capture providers (SMS and email).
    pub async fn deliver_sms(&self) -> twofold_app::outbox::Pass {
        let worker = OutboxWorker::new(self.app.clone(), self.channels());
        worker.run_once().await.unwrap()
    }

    /// Delivers what is queued (both channels) and answers the newest link under `path`
    /// mailed to `address`.
    pub async fn mailed_link(&self, address: &str, path: &str) -> String {
        self.deliver_all().await;
        self.mail
            .last_link_to(address, path)
            .unwrap_or_else(|| panic!("no {path} link to {address}: {:?}", self.mail.sent()))
    }

    /// Passes of the worker until nothing is due (a pass takes at most a batch).
    pub async fn deliver_all(&self) {
        while self.deliver_sms().await.handled() > 0 {}
    }

    /// Delivers what is queued and answers the newest code sent to `e164`.
    pub async fn sms_code_to(&self, e164: &str) -> String {
        self.deliver_all().await;
        self.sms.last_code_to(e164).unwrap_or_else(|| panic!("no SMS code to {e164}: {:?}", self.sms.sent()))
    }

    /// Turns 2FA on for the person signed in on `http` through the API (all four steps,
    /// with the phone [`PHONE`]); answers their key. The clock then moves on past the
    /// confirming code's step and the SMS cooldown.
    pub async fn enable_two_factor(&self, http: &Http) -> Secret {
        self.enable_two_factor_with_phone(http, PHONE).await
    }

    pub async fn enable_two_factor_with_phone(&self, http: &Http, phone: &str) -> Secret {
        self.enable_two_factor_with_codes(http, phone).await.0
    }

    /// As [`TestApp::enable_two_factor`], answering also the recovery codes shown once.
    pub async fn enable_two_factor_with_codes(&self, http: &Http, phone: &str) -> (Secret, Vec<String>) {
        let r = http.post_json("/api/v1/me/two-factor/enrollment", &serde_json::json!({})).await;
        assert_eq!(r.status, 201, "{}", r.text());
        let secret = Secret::from_base32(r.json()["secret"].as_str().unwrap()).unwrap();
        let code = self.code(&secret, 0);
        let r = http.post_json("/api/v1/me/two-factor/enrollment/code", &serde_json::json!({ "code": code })).await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.json()["next"], "phone");
        let r = http.post_json("/api/v1/me/two-factor/enrollment/phone", &serde_json::json!({ "phone": phone })).await;
        assert_eq!(r.status, 202, "{}", r.text());
        let sms = self.sms_code_to(phone).await;
        let r =
            http.post_json("/api/v1/me/two-factor/enrollment/phone/verify", &serde_json::json!({ "code": sms })).await;
        assert_eq!(r.status, 200, "{}", r.text());
        let codes = r.json()["recovery_codes"]
            .as_array()
            .map(|a| a.iter().map(|c| c.as_str().unwrap().to_string()).collect())
            .unwrap_or_default();
        self.clock.advance(60);
        (secret, codes)
    }

    /// The code an app with `secret` shows `steps` time steps from now.
    pub fn code(&self, secret: &Secret, steps: i64) -> String {
        let now = twofold_app::domain::Clock::now(&*self.clock) + steps * 30;
        otp::current_code(&otp::TotpParams::default(), secret, now)
    }

    /// Password step through the API; answers the client holding the half-finished session.
    pub async fn password_step(&self, email: &str, remember: bool) -> Http {
        let http = self.http();
        self.password_step_on(&http, email, remember).await;
        http
    }

    pub async fn password_step_on(&self, http: &Http, email: &str, remember: bool) -> serde_json::Value {
        let body = serde_json::json!({ "email": email, "password": PASSWORD, "remember_device": remember });
        let r = http.post_json("/api/v1/login", &body).await;
        assert_eq!(r.status, 200, "{}", r.text());
        http.set_csrf(r.json()["csrf_token"].as_str().unwrap());
        r.json()
    }

    /// A client signed in as `email` with password and the current authenticator code
    /// (for people with 2FA on); the clock moves one step on afterwards.
    pub async fn signed_in_with_code(&self, email: &str, secret: &Secret) -> Http {
        let http = self.password_step(email, false).await;
        let r = http.post_json("/api/v1/login/totp", &serde_json::json!({ "code": self.code(secret, 0) })).await;
        assert_eq!(r.status, 200, "{}", r.text());
        http.set_csrf(r.json()["csrf_token"].as_str().unwrap());
        self.clock.advance(30);
        http
    }

    /// The details of every `event` in the log (any account or none), oldest first.
    pub async fn details_of(&self, event: &str) -> Vec<serde_json::Value> {
        let mut conn = self.app.store().conn().await.unwrap();
        let q = twofold_store::audit::Query { limit: 1000, ..Default::default() };
        let mut rows = twofold_store::audit::list(&mut conn, &q).await.unwrap();
        rows.reverse();
        rows.into_iter().filter(|r| r.event == event).map(|r| serde_json::from_str(&r.detail).unwrap()).collect()
    }

    /// The audit events of an account, oldest first, as (event, actor, target).
    pub async fn events(&self, account_id: i64) -> Vec<(String, Option<i64>, Option<i64>)> {
        let mut conn = self.app.store().conn().await.unwrap();
        let q = twofold_store::audit::Query { account_id: Some(account_id), limit: 1000, ..Default::default() };
        let mut rows = twofold_store::audit::list(&mut conn, &q).await.unwrap();
        rows.reverse();
        rows.into_iter().map(|r| (r.event, r.actor_user_id, r.target_user_id)).collect()
    }
}
