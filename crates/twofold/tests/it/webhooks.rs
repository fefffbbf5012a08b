//! Webhooks (SEC-51): deliveries verified by the official Standard Webhooks library in a
//! receiver the test starts, retries with the same id, a server killed mid-delivery, and
//! the addresses a webhook must never reach. Both databases.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use twofold_app::domain::Role;
use twofold_app::{AppConfig, WebhookPolicy};

use crate::support::api::{api_sign_in, create_account, invite};
use crate::support::server::Server;
use crate::support::{Http, PASSWORD, TestApp, TestDb};

on_both_databases!(
    sec_51_events_are_signed_retried_with_one_id_and_logged,
    sec_51_webhooks_never_reach_internal_addresses,
    sec_51_a_redirecting_receiver_is_not_followed,
    webhooks_are_the_owners_and_tokens_need_their_scope,
    sec_51_a_delivery_cut_by_kill_9_is_sent_again_with_its_id,
);

/// The receiver: Python with the `standardwebhooks` library, from the virtualenv `.ci/run`
/// makes.
pub(crate) struct Receiver {
    child: Child,
    pub(crate) url: String,
    log: PathBuf,
    secret: PathBuf,
    _dir: tempfile::TempDir,
}

impl Receiver {
    pub(crate) fn start(mode: &str, fail_first: u32) -> Option<Receiver> {
        let python = std::env::var_os("TWOFOLD_TEST_PYTHON")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/pyenv/bin/python"));
        let usable = Command::new(&python).args(["-c", "import standardwebhooks"]).output();
        if !usable.is_ok_and(|o| o.status.success()) {
            crate::support::skip("the webhook receiver", "target/pyenv has no standardwebhooks (see .ci/run)");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let (log, secret) = (dir.path().join("log.jsonl"), dir.path().join("secret"));
        std::fs::write(&secret, "whsec_AAAA").unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/webhooks/receiver.py");
        let mut child = Command::new(python)
            .arg(script)
            .arg(&secret)
            .arg(&log)
            .arg(mode)
            .arg(fail_first.to_string())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut port = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut port).unwrap();
        let url = format!("http://127.0.0.1:{}/hook", port.trim());
        Some(Receiver { child, url, log, secret, _dir: dir })
    }

    pub(crate) fn set_secret(&self, secret: &str) {
        std::fs::write(&self.secret, secret).unwrap();
    }

    pub(crate) fn requests(&self) -> Vec<Value> {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    }

    async fn wait_for(&self, n: usize) -> Vec<Value> {
        for _ in 0..450 {
            let seen = self.requests();
            if seen.len() >= n {
                return seen;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the receiver saw {:?}, not {n} requests", self.requests());
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn loopback_allowed() -> AppConfig {
    let webhooks = WebhookPolicy { allow_insecure_loopback: true, allow_hosts: vec![] };
    AppConfig { webhooks, ..AppConfig::default() }
}

/// A test clock at the real time: the receiver's library refuses timestamps 5 minutes off.
async fn app_at_real_time(db: TestDb, config: AppConfig) -> TestApp {
    let t = TestApp::with_config(db, config).await;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    t.clock.set(i64::try_from(now).unwrap());
    t
}

async fn add_webhook(owner: &Http, url: &str, events: Value) -> crate::support::http::Response {
    owner.post_json("/api/v1/webhooks", &json!({ "url": url, "events": events, "password": PASSWORD })).await
}

async fn sec_51_events_are_signed_retried_with_one_id_and_logged(db: TestDb) {
    let Some(receiver) = Receiver::start("ok", 2) else { return };
    let t = app_at_real_time(db, loopback_allowed()).await;
    let acme = t.account("acme").await;
    let pat = t.person(&acme, "pat@acme.test", Role::User).await;
    let owner = t.signed_in("owner@acme.test").await;
    let r = add_webhook(&owner, &receiver.url, json!(["person.deactivated"])).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let secret = r.json()["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"));
    receiver.set_secret(&secret);
    let hook_id = r.json()["id"].as_i64().unwrap();
    assert!(!owner.get("/api/v1/webhooks").await.text().contains(&secret), "never shown again");
    t.deliver_all().await;
    assert!(receiver.requests().is_empty(), "older events are not sent");

    let r =
        owner.patch_json(&format!("/api/v1/users/{}", pat.id), &json!({ "active": false, "password": PASSWORD })).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r =
        owner.patch_json(&format!("/api/v1/users/{}", pat.id), &json!({ "active": true, "password": PASSWORD })).await;
    assert_eq!(r.status, 200, "not an event this webhook asked for");

    // First attempt and two retries: 500, 500, then accepted; within 30 s, then 2 min.
    t.deliver_all().await;
    t.clock.advance(30);
    t.deliver_all().await;
    t.clock.advance(120);
    t.deliver_all().await;
    let seen = receiver.wait_for(3).await;
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert!(seen.iter().all(|s| s["verified"] == true), "the official library verifies each: {seen:?}");
    assert!(seen.iter().all(|s| s["id"] == seen[0]["id"]), "the same webhook-id on every attempt");
    assert_eq!(seen.iter().map(|s| s["answered"].clone()).collect::<Vec<_>>(), [json!(500), json!(500), json!(204)]);
    let body: Value = serde_json::from_str(seen[2]["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["type"], "person.deactivated");
    assert_eq!(body["data"]["target_user_id"], pat.id);
    assert!(body["timestamp"].as_str().unwrap().ends_with('Z'));
    let text = seen[2]["body"].as_str().unwrap();
    assert!(!text.contains(PASSWORD) && !text.contains("whsec_"), "no secrets in events");

    let log = owner.get(&format!("/api/v1/webhooks/{hook_id}/deliveries")).await.json();
    let statuses: Vec<Value> = log.as_array().unwrap().iter().map(|d| d["status"].clone()).collect();
    assert_eq!(statuses, [json!(204), json!(500), json!(500)], "newest first: {log}");
    assert_eq!(log[0]["attempt"], 3);
    assert_eq!(log[0]["event_id"], seen[0]["id"]);

    // The test button, and the page the Owner reads.
    let r = owner.post_json(&format!("/api/v1/webhooks/{hook_id}/test"), &json!({})).await;
    assert_eq!(r.status, 202, "{}", r.text());
    t.deliver_all().await;
    let seen = receiver.wait_for(4).await;
    assert_eq!(seen[3]["type"], "webhook.test");
    let page = owner.get("/apps/webhooks").await.text();
    assert!(page.contains(&receiver.url) && page.contains("webhook.test") && page.contains("person.deactivated"));
}

async fn sec_51_webhooks_never_reach_internal_addresses(db: TestDb) {
    let config = AppConfig {
        webhooks: WebhookPolicy { allow_insecure_loopback: false, allow_hosts: vec!["10.9.9.9".into()] },
        ..AppConfig::default()
    };
    let t = TestApp::with_config(db, config).await;
    t.account("acme").await;
    let owner = t.signed_in("owner@acme.test").await;
    for url in [
        "https://169.254.169.254/latest/meta-data/",
        "https://10.0.0.1/hook",
        "https://192.168.1.1/hook",
        "https://[::1]/hook",
        "https://[::ffff:10.0.0.1]/hook",
        "http://127.0.0.1:9/hook",
        "https://localhost/hook",
        "ftp://example.com/hook",
        "https://user:pass@example.com/hook",
    ] {
        let r = add_webhook(&owner, url, json!(["*"])).await;
        assert_eq!((r.status, r.json()["error"]["code"].as_str()), (422, Some("invalid_url")), "{url}: {}", r.text());
    }
    let r = add_webhook(&owner, "https://10.9.9.9/hook", json!(["*"])).await;
    assert_eq!(r.status, 201, "a listed host is allowed: {}", r.text());
    assert_eq!(t.details_of("webhook.created").await.len(), 1);
}

async fn sec_51_a_redirecting_receiver_is_not_followed(db: TestDb) {
    let Some(receiver) = Receiver::start("redirect", 0) else { return };
    let t = app_at_real_time(db, loopback_allowed()).await;
    t.account("acme").await;
    let owner = t.signed_in("owner@acme.test").await;
    let r = add_webhook(&owner, &receiver.url, json!(["*"])).await;
    receiver.set_secret(r.json()["secret"].as_str().unwrap());
    let id = r.json()["id"].as_i64().unwrap();
    owner.post_json(&format!("/api/v1/webhooks/{id}/test"), &json!({})).await;
    t.deliver_all().await;
    let seen = receiver.wait_for(1).await;
    assert_eq!(seen.len(), 1);
    let log = owner.get(&format!("/api/v1/webhooks/{id}/deliveries")).await.json();
    assert_eq!(log[0]["status"], 302);
    assert!(log[0]["error"].as_str().unwrap().contains("redirects are not followed"), "{log}");
    t.clock.advance(86_400);
    t.deliver_all().await;
    assert_eq!(receiver.requests().len(), 1, "a redirect is not retried either");
}

async fn webhooks_are_the_owners_and_tokens_need_their_scope(db: TestDb) {
    let t = TestApp::with_config(db, loopback_allowed()).await;
    let acme = t.account("acme").await;
    t.person(&acme, "ann@acme.test", Role::Admin).await;
    let owner = t.signed_in("owner@acme.test").await;
    let ann = t.signed_in("ann@acme.test").await;
    assert_eq!(add_webhook(&ann, "http://127.0.0.1:9/hook", json!(["*"])).await.status, 403, "the Owner's alone");
    let r = add_webhook(&owner, "http://127.0.0.1:9/hook/T000/B000/secretpath", json!(["*"])).await;
    assert_eq!(r.status, 201);
    let created = t.details_of("webhook.created").await;
    assert_eq!(created[0]["receiver"], "http://127.0.0.1:9", "the audit log names the host, not a secret path");
    assert!(!created[0].to_string().contains("secretpath"));
    let hook = r.json()["id"].as_i64().unwrap();
    for _ in 0..10 {
        assert_eq!(owner.post_json(&format!("/api/v1/webhooks/{hook}/test"), &json!({})).await.status, 202);
    }
    let r = owner.post_json(&format!("/api/v1/webhooks/{hook}/test"), &json!({})).await;
    assert_eq!(r.status, 429, "ten tests waiting for a receiver are enough");
    let r = owner
        .post_json("/api/v1/webhooks", &json!({ "url": "http://127.0.0.1:9/x", "events": ["*"], "password": "wrong" }))
        .await;
    assert_eq!(r.json()["error"]["code"], "invalid_credentials");
    let r = add_webhook(&owner, "http://127.0.0.1:9/hook", json!(["*", "person.removed"])).await;
    assert_eq!(r.json()["error"]["code"], "invalid_events");

    let make = |scopes: Value| json!({ "name": "hooks", "scopes": scopes, "password": PASSWORD });
    let with = owner.post_json("/api/v1/tokens", &make(json!(["webhooks"]))).await.json()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let without = owner.post_json("/api/v1/tokens", &make(json!(["people:read"]))).await.json()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let bare = t.http();
    let body = json!({ "url": "http://127.0.0.1:9/token", "events": ["two_factor.disabled"] }).to_string();
    let post = axum::http::Method::POST;
    let json_type = Some("application/json");
    let auth = format!("Bearer {without}");
    let r =
        bare.send(post.clone(), "/api/v1/webhooks", json_type, body.clone().into(), &[("authorization", &auth)]).await;
    assert_eq!(r.status, 403, "a token outside its scope");
    let auth = format!("Bearer {with}");
    let r = bare.send(post, "/api/v1/webhooks", json_type, body.into(), &[("authorization", &auth)]).await;
    assert_eq!(r.status, 201, "a token needs no password: {}", r.text());
    t.account("globex").await;
    let theirs = t.signed_in("owner@globex.test").await;
    let id = r.json()["id"].as_i64().unwrap();
    assert_eq!(theirs.get(&format!("/api/v1/webhooks/{id}/deliveries")).await.status, 404, "another account's webhook");
}

async fn sec_51_a_delivery_cut_by_kill_9_is_sent_again_with_its_id(db: TestDb) {
    let Some(receiver) = Receiver::start("hang-first", 0) else { return };
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).unwrap();
    let key = format!("1:{}", data_encoding::BASE64.encode(&key));
    let env = [
        ("TWOFOLD_SECRET_KEY", key.as_str()),
        ("TWOFOLD_WEBHOOK_ALLOW_INSECURE_LOOPBACK", "true"),
        ("TWOFOLD_OUTBOX_LEASE_SECONDS", "20"),
    ];
    let args = ["--database-url", db.url.as_str()];
    let first = Server::start(&args, &env).await;
    let owner = create_account(&first).await;
    invite(&first, &owner, "pat@acme.test", "user").await;
    let made = owner
        .post(&first, "/api/v1/webhooks", json!({ "url": receiver.url, "events": ["*"], "password": PASSWORD }))
        .await;
    receiver.set_secret(made["secret"].as_str().unwrap());
    let id = made["id"].as_i64().unwrap();
    owner.post(&first, &format!("/api/v1/webhooks/{id}/test"), json!({})).await;
    let held = receiver.wait_for(1).await;
    assert_eq!(held[0]["answered"], "held", "the receiver holds the first attempt");
    let data = first.kill();

    let second = Server::start_in(data, &args, &env).await;
    let seen = receiver.wait_for(2).await;
    let tests: Vec<&Value> = seen.iter().filter(|s| s["type"] == "webhook.test").collect();
    assert_eq!(tests.len(), 2, "sent again once the dead worker's lease ended: {seen:?}");
    assert_eq!(tests[0]["id"], tests[1]["id"], "with the same webhook-id");
    assert_eq!(tests[1]["answered"], 204);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (owner2, _) = api_sign_in(&second, "ada@acme.test").await;
    let log = owner2.get(&second, &format!("/api/v1/webhooks/{id}/deliveries")).await;
    let test_attempts: Vec<&Value> = log.as_array().unwrap().iter().filter(|d| d["type"] == "webhook.test").collect();
    assert_eq!(test_attempts.len(), 1, "one logged attempt, the one that finished: {log}");
    assert_eq!(test_attempts[0]["attempt"], 2);
    assert_eq!(receiver.requests().iter().filter(|s| s["type"] == "webhook.test").count(), 2, "and no third");
}
