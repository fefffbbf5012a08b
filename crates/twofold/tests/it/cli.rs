//! The `twofold` binary itself: serve, migrate, account create, configuration errors.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::json;

use crate::support::PASSWORD;
use crate::support::api::{api_sign_in, code_at, create_account, enable_by_api};
use crate::support::server::{Server, binary};

#[tokio::test]
async fn first_start_prints_a_setup_link_that_creates_the_account() {
    let server = Server::start(&[], &[]).await;
    let link = server.setup_link().expect("a setup link on first start");
    assert!(link.starts_with(&format!("{}/setup/", server.base)), "{link}");
    let token = link.rsplit('/').next().unwrap();
    let client = crate::support::client(true);
    let body =
        json!({ "account_name": "Acme", "owner_name": "Ada", "owner_email": "ada@acme.test", "password": PASSWORD });
    let r = client.post(format!("{}/api/v1/setup/{token}", server.base)).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let me = client.get(format!("{}/api/v1/me", server.base)).send().await.unwrap();
    assert_eq!(me.status(), 200);
    let status = server.terminate();
    assert!(status.success(), "a clean exit on SIGTERM: {status:?}");
}

#[tokio::test]
async fn account_create_reads_the_password_from_stdin_and_the_server_accepts_it() {
    let data = tempfile::tempdir().unwrap();
    let out = crate::support::server::account_create(data.path(), "Ada@Acme.test");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("ada@acme.test"));

    let server = Server::start_in(data, &[], &[]).await;
    assert!(server.setup_link().is_none(), "no setup link once an account exists");
    let client = crate::support::client(false);
    let r = client
        .post(format!("{}/api/v1/login", server.base))
        .json(&json!({ "email": "ada@acme.test", "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

/// A SaaS back end's path: `twofold token create` prints an instance token once, which
/// creates an account by API on the running server (ending the setup link, SEC-54), shows
/// in `token list`, and is refused at the next request once `token revoke`d (SEC-50).
#[tokio::test]
async fn sec_50_an_instance_token_from_the_shell_creates_accounts_until_revoked() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().to_owned();
    let server = Server::start_in(data, &[], &[]).await;
    let setup = server.setup_link().expect("a setup link on first start");
    let refused =
        crate::support::server::cli(&dir, &["token", "create", "--name", "signup", "--scope", "people:read"], "");
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("accounts:write"), "names the scope to use");

    let out =
        crate::support::server::cli(&dir, &["token", "create", "--name", "signup", "--scope", "accounts:write"], "");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let token = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert!(token.starts_with("tf_") && token.len() == 46, "only the token on stdout: {token}");

    let client = crate::support::client(false);
    let body = json!({ "name": "Initech", "owner": { "email": "ivy@initech.test", "name": "Ivy" } });
    let post = || client.post(format!("{}/api/v1/accounts", server.base)).bearer_auth(&token).json(&body).send();
    let r = post().await.unwrap();
    assert_eq!(r.status(), 201);
    let created: serde_json::Value = r.json().await.unwrap();
    assert!(created["invitation_url"].as_str().unwrap().starts_with(&format!("{}/invitations/", server.base)));
    let r = client.get(&setup).send().await.unwrap();
    assert_eq!(r.status(), 410, "an account made by API ends the setup link");

    let listed = crate::support::server::cli(&dir, &["token", "list"], "");
    let listed = String::from_utf8_lossy(&listed.stdout).into_owned();
    assert!(listed.contains("signup\taccounts:write") && listed.contains("last used"), "{listed}");
    assert!(!listed.contains(&token[3..]), "never the token again");
    let id = listed.split('\t').next().unwrap().to_owned();
    let out = crate::support::server::cli(&dir, &["token", "revoke", &id], "");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(post().await.unwrap().status(), 401, "revoked at the next request");
}

#[test]
fn a_weak_password_from_stdin_is_refused_with_a_reason() {
    let data = tempfile::tempdir().unwrap();
    let mut child = Command::new(binary())
        .args([
            "account",
            "create",
            "--name",
            "Acme",
            "--owner-email",
            "ada@acme.test",
            "--owner-name",
            "Ada",
            "--password-stdin",
        ])
        .arg("--data-dir")
        .arg(data.path())
        .env_remove("TWOFOLD_DATABASE_URL")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"short\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("Use at least 12 characters."));
}

#[test]
fn migrate_reports_the_schema_version() {
    let data = tempfile::tempdir().unwrap();
    let out = Command::new(binary())
        .arg("migrate")
        .arg("--data-dir")
        .arg(data.path())
        .env_remove("TWOFOLD_DATABASE_URL")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let expected = format!("schema version {}", twofold_store::Store::latest_version());
    assert!(String::from_utf8_lossy(&out.stdout).contains(&expected));
    assert!(data.path().join("twofold.db").exists());
}

#[test]
fn bad_configuration_exits_with_a_clear_message() {
    let out = Command::new(binary()).args(["serve", "--public-url", "ftp://nope"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("public_url"));
    let out = Command::new(binary()).args(["migrate", "--database-url", "mysql://x"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("sqlite: or postgres:"));
}

#[tokio::test]
async fn serve_runs_on_postgres_with_the_database_url_flag() {
    let Some(db) = crate::support::TestDb::postgres().await else {
        return;
    };
    let server = Server::start(&["--database-url", &db.url], &[]).await;
    assert!(server.setup_link().is_some());
    let ready = crate::support::client(false).get(format!("{}/readyz", server.base)).send().await.unwrap();
    assert_eq!(ready.status(), 200);
}

/// SEC-10: the key file is created 0600 on first start, and `twofold keys rotate` on a
/// running deployment re-encrypts every secret without a restart: the server reloads the
/// key file when it meets the new key id.
#[tokio::test]
async fn sec_10_key_file_is_private_and_rotation_needs_no_restart() {
    use std::os::unix::fs::PermissionsExt;
    let server = Server::start(&[], &[]).await;
    let key_file = server.data_dir().join("secret.key");
    assert_eq!(std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777, 0o600);
    create_account(&server).await;
    let secret = enable_by_api(&server, "ada@acme.test", "+353851234567").await;
    let before = std::fs::read_to_string(&key_file).unwrap();

    let out = Command::new(binary()).args(["keys", "rotate", "--data-dir"]).arg(server.data_dir()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("key 2: 1 re-encrypted"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let after = std::fs::read_to_string(&key_file).unwrap();
    assert_ne!(before, after);
    assert_eq!(std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777, 0o600);

    // The running server meets a secret sealed under key 2 and still verifies codes.
    let (fresh, r) = api_sign_in(&server, "ada@acme.test").await;
    assert_eq!(r["status"], "second_factor_required");
    let r = fresh.client.post(format!("{}/api/v1/login/totp", server.base)).header("x-csrf-token", &fresh.csrf);
    let r = r.json(&json!({ "code": code_at(&secret, 30) })).send().await.unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
}

/// `twofold sms outbox` lists messages and their state, never their text (which may hold
/// a code).
#[tokio::test]
async fn sms_outbox_lists_messages_without_their_codes() {
    let server = Server::start(&[], &[]).await;
    create_account(&server).await;
    enable_by_api(&server, "ada@acme.test", "+353851234567").await;
    let sms = server.sms_code_to("+353851234567", 0).await;

    let out = Command::new(binary()).args(["sms", "outbox", "--data-dir"]).arg(server.data_dir()).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("sent: 1"), "{text}");
    assert!(text.contains("+•• ••• ••• 67") && text.contains("file"), "{text}");
    assert!(!text.contains(&sms) && !text.contains("+353851234567"), "no code, no full number: {text}");

    // `twofold outbox` lists both channels; a reset mail shows its kind, never its link.
    let r = crate::support::client(false)
        .post(format!("{}/api/v1/password-reset", server.base))
        .json(&json!({ "email": "ada@acme.test" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let mail_file = server.data_dir().join("mail-outbox.jsonl");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let link = loop {
        let lines = std::fs::read_to_string(&mail_file).unwrap_or_default();
        let texts = lines.lines().filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok());
        let texts: Vec<String> = texts.map(|m| m["text"].as_str().unwrap_or("").to_string()).collect();
        if let Some(link) = texts.iter().rev().find_map(|t| crate::support::mail::link_in(t, "/password-reset/")) {
            break link;
        }
        assert!(std::time::Instant::now() < deadline, "the file mail provider wrote nothing");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    let token = link.rsplit('/').next().unwrap().to_string();
    let out = Command::new(binary()).args(["outbox", "--data-dir"]).arg(server.data_dir()).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("email") && text.contains("password_reset") && text.contains("a***@acme.test"), "{text}");
    assert!(!text.contains(&token) && !text.contains("ada@acme.test"), "no link, no full address: {text}");
}

/// SEC-31: with logs at debug level, a whole enrolment and sign-in leaves no password,
/// setup token, session token, TOTP secret or SMS code in the server's log.
#[tokio::test]
async fn sec_31_nothing_secret_reaches_the_log() {
    let server = Server::start(&[], &[("TWOFOLD_LOG_LEVEL", "debug")]).await;
    let setup = server.setup_link().unwrap().rsplit('/').next().unwrap().to_string();
    let client = crate::support::client(false);
    let body =
        json!({ "account_name": "Acme", "owner_name": "Ada", "owner_email": "ada@acme.test", "password": PASSWORD });
    let r = client.post(format!("{}/api/v1/setup/{setup}", server.base)).json(&body).send().await.unwrap();
    let session = r.headers()[reqwest::header::SET_COOKIE].to_str().unwrap().split(';').next().unwrap().to_string();
    let csrf = r.json::<serde_json::Value>().await.unwrap()["csrf_token"].as_str().unwrap().to_string();
    let post = async |path: &str, body: serde_json::Value| {
        let r = client.post(format!("{}{path}", server.base)).header("cookie", &session).header("x-csrf-token", &csrf);
        r.json(&body).send().await.unwrap().json::<serde_json::Value>().await.unwrap_or_default()
    };
    let enrol = post("/api/v1/me/two-factor/enrollment", json!({})).await;
    let secret = enrol["secret"].as_str().unwrap().to_string();
    let key = twofold_app::domain::otp::Secret::from_base32(&secret).unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let code = twofold_app::domain::otp::current_code(&Default::default(), &key, now);
    post("/api/v1/me/two-factor/enrollment/code", json!({ "code": code })).await;
    post("/api/v1/me/two-factor/enrollment/phone", json!({ "phone": "+353851234567" })).await;
    let sms = server.sms_code_to("+353851234567", 0).await;
    post("/api/v1/me/two-factor/enrollment/phone/verify", json!({ "code": sms })).await;
    let r = client
        .post(format!("{}/api/v1/login", server.base))
        .json(&json!({ "email": "ada@acme.test", "password": PASSWORD }));
    assert_eq!(r.send().await.unwrap().status(), 200);
    let log = server.log();
    assert!(log.lines().count() > 5, "the server logged: {log}");
    let cookie_value = session.split_once('=').unwrap().1;
    for (what, secret_text) in [
        ("password", PASSWORD),
        ("setup token", &setup),
        ("session token", cookie_value),
        ("TOTP secret", &secret),
        ("SMS code", &sms),
    ] {
        assert!(!log.contains(secret_text), "the {what} is in the log");
    }
}
