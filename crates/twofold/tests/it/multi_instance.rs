//! Two `twofold serve` processes on one PostgreSQL database, directly and behind nginx:
//! everything that changes behaviour lives in the database, so any instance serves any
//! request (SEC-06, SEC-09, SEC-18, SEC-23 across instances).

use std::time::{Duration, Instant};

use reqwest::header::{COOKIE, SET_COOKIE};
use serde_json::{Value, json};
use twofold_app::domain::otp::{self, Secret};

use crate::support::server::{Server, free_port};
use crate::support::{PASSWORD, TestDb};

/// A cookie-less client: cookies are passed by hand, because browsers (and reqwest's
/// store) share cookies across ports of one host and the test must say which goes where.
struct Call {
    status: u16,
    body: Value,
    cookies: Vec<(String, String)>,
}

async fn call(base: &str, path: &str, cookies: &[(&str, &str)], csrf: Option<&str>, body: Option<Value>) -> Call {
    let client = crate::support::client(false);
    let url = format!("{base}{path}");
    let mut request = match &body {
        Some(b) => client.post(&url).json(b),
        None => client.get(&url),
    };
    let cookie = cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ");
    if !cookie.is_empty() {
        request = request.header(COOKIE, cookie);
    }
    if let Some(csrf) = csrf {
        request = request.header("x-csrf-token", csrf);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let cookies = response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next()?.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())))
        .collect();
    let body = response.json().await.unwrap_or(Value::Null);
    Call { status, body, cookies }
}

fn cookie<'a>(c: &'a Call, name: &str) -> &'a str {
    c.cookies.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).unwrap_or_else(|| panic!("no {name} cookie"))
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

fn code(secret: &Secret, ahead: i64) -> String {
    otp::current_code(&otp::TotpParams::default(), secret, now() + ahead)
}

/// The password step on `base`; answers (session cookie, csrf).
async fn password(base: &str, email: &str, device: Option<&str>) -> (String, String, Value) {
    let cookies: Vec<(&str, &str)> = device.map(|d| vec![("twofold_device", d)]).unwrap_or_default();
    let r = call(
        base,
        "/api/v1/login",
        &cookies,
        None,
        Some(json!({ "email": email, "password": PASSWORD, "remember_device": true })),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    (cookie(&r, "twofold_session").to_string(), r.body["csrf_token"].as_str().unwrap().to_string(), r.body)
}

struct Cluster {
    a: Server,
    b: Server,
    shared: tempfile::TempDir,
    db: TestDb,
}

async fn cluster() -> Option<Cluster> {
    let db = TestDb::postgres().await?;
    let shared = tempfile::tempdir().unwrap();
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).unwrap();
    let key = format!("1:{}", data_encoding::BASE64.encode(&key));
    let sms = shared.path().join("sms.jsonl").display().to_string();
    let env = [
        ("TWOFOLD_SECRET_KEY", key.as_str()),
        ("TWOFOLD_SMS_FILE", sms.as_str()),
        ("TWOFOLD_TRUST_FORWARDED_FOR", "true"),
    ];
    let args = ["--database-url", db.url.as_str()];
    let a = Server::start(&args, &env).await;
    let token = a.setup_link().unwrap().rsplit('/').next().unwrap().to_string();
    let body =
        json!({ "account_name": "Acme", "owner_name": "Ada", "owner_email": "ada@acme.test", "password": PASSWORD });
    assert_eq!(call(&a.base, &format!("/api/v1/setup/{token}"), &[], None, Some(body)).await.status, 200);
    let b = Server::start(&args, &env).await;
    Some(Cluster { a, b, shared, db })
}

impl Cluster {
    fn sms_lines(&self) -> Vec<Value> {
        std::fs::read_to_string(self.shared.path().join("sms.jsonl"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    async fn sms_code(&self, after: usize) -> String {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let found = self
                .sms_lines()
                .iter()
                .skip(after)
                .rev()
                .find_map(|m| crate::support::sms::code_in(m["body"].as_str()?));
            if let Some(code) = found {
                return code;
            }
            assert!(Instant::now() < deadline, "no SMS code arrived");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Ada turns 2FA on, each step on alternating instances; answers her key.
    async fn enable(&self) -> Secret {
        let (a, b) = (&self.a.base, &self.b.base);
        let (session, csrf, _) = password(a, "ada@acme.test", None).await;
        let s = [("twofold_session", session.as_str())];
        let r = call(b, "/api/v1/me/two-factor/enrollment", &s, Some(&csrf), Some(json!({}))).await;
        assert_eq!(r.status, 201, "{}", r.body);
        let secret = Secret::from_base32(r.body["secret"].as_str().unwrap()).unwrap();
        let r = call(
            a,
            "/api/v1/me/two-factor/enrollment/code",
            &s,
            Some(&csrf),
            Some(json!({ "code": code(&secret, 0) })),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let before = self.sms_lines().len();
        let r = call(
            b,
            "/api/v1/me/two-factor/enrollment/phone",
            &s,
            Some(&csrf),
            Some(json!({ "phone": "+353851234567" })),
        )
        .await;
        assert_eq!(r.status, 202, "{}", r.body);
        let sms = self.sms_code(before).await;
        let r = call(a, "/api/v1/me/two-factor/enrollment/phone/verify", &s, Some(&csrf), Some(json!({ "code": sms })))
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        secret
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sec_06_two_instances_on_one_postgres_share_sign_ins_codes_throttles_and_devices() {
    let Some(c) = cluster().await else { return };
    let secret = c.enable().await;
    let (a, b) = (c.a.base.clone(), c.b.base.clone());

    // A sign-in started on one instance finishes on the other.
    let (session, csrf, answer) = password(&a, "ada@acme.test", None).await;
    assert_eq!(answer["status"], "second_factor_required");
    let r = call(
        &b,
        "/api/v1/login/totp",
        &[("twofold_session", &session)],
        Some(&csrf),
        Some(json!({ "code": code(&secret, 30) })),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let device = cookie(&r, "twofold_device").to_string();

    // A device remembered through B is honoured by A.
    let (_, _, answer) = password(&a, "ada@acme.test", Some(&device)).await;
    assert_eq!(answer["status"], "signed_in");

    // Fifty concurrent submissions of one code across both instances: one success (SEC-06).
    let mut pending = Vec::new();
    for i in 0..50 {
        let base = if i % 2 == 0 { &a } else { &b };
        let (session, csrf, _) = password(base, "ada@acme.test", None).await;
        pending.push((if i % 2 == 0 { b.clone() } else { a.clone() }, session, csrf));
    }
    // The sign-ins above used the next step's code; wait into that step so that the one
    // after it (still inside the window) is a code nobody used yet.
    let step_start = (now() / 30 + 1) * 30;
    tokio::time::sleep(Duration::from_secs((step_start - now()).max(0) as u64 + 1)).await;
    let the_code = code(&secret, 30);
    let tasks: Vec<_> = pending
        .into_iter()
        .map(|(base, session, csrf)| {
            let the_code = the_code.clone();
            tokio::spawn(async move {
                call(
                    &base,
                    "/api/v1/login/totp",
                    &[("twofold_session", &session)],
                    Some(&csrf),
                    Some(json!({ "code": the_code })),
                )
                .await
                .status
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{statuses:?}");

    // Failures made on both instances count together (SEC-09): five wrong passwords for
    // one email, split over A and B, and the sixth try waits on either.
    for i in 0..5 {
        let base = if i % 2 == 0 { &a } else { &b };
        let body = json!({ "email": "ada@acme.test", "password": format!("wrong {i}") });
        assert_eq!(call(base, "/api/v1/login", &[], None, Some(body)).await.status, 401);
    }
    let r = call(&b, "/api/v1/login", &[], None, Some(json!({ "email": "ada@acme.test", "password": PASSWORD }))).await;
    assert_eq!(r.status, 429, "{}", r.body);
    assert!(r.body["error"]["retry_after_seconds"].as_i64().unwrap() > 0);
    drop(c.db);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sec_18_two_workers_on_one_postgres_send_every_message_once() {
    let Some(c) = cluster().await else { return };
    // Thirty people each get a phone-verification code, half through each instance; both
    // instances' workers poll the one outbox.
    let (owner_session, owner_csrf, _) = password(&c.a.base, "ada@acme.test", None).await;
    let o = [("twofold_session", owner_session.as_str())];
    let before = c.sms_lines().len();
    for i in 0..30 {
        let base = if i % 2 == 0 { &c.a.base } else { &c.b.base };
        let email = format!("p{i}@acme.test");
        let r = call(
            base,
            "/api/v1/users",
            &o,
            Some(&owner_csrf),
            Some(json!({ "email": email, "name": "P", "role": "user" })),
        )
        .await;
        let token = r.body["invitation_url"].as_str().unwrap().rsplit('/').next().unwrap().to_string();
        call(base, &format!("/api/v1/invitations/{token}"), &[], None, Some(json!({ "password": PASSWORD }))).await;
        let (session, csrf, _) = password(base, &email, None).await;
        let s = [("twofold_session", session.as_str())];
        let r = call(base, "/api/v1/me/two-factor/enrollment", &s, Some(&csrf), Some(json!({}))).await;
        let secret = Secret::from_base32(r.body["secret"].as_str().unwrap()).unwrap();
        call(base, "/api/v1/me/two-factor/enrollment/code", &s, Some(&csrf), Some(json!({ "code": code(&secret, 0) })))
            .await;
        let phone = format!("+4474001234{i:02}");
        let r = call(base, "/api/v1/me/two-factor/enrollment/phone", &s, Some(&csrf), Some(json!({ "phone": phone })))
            .await;
        assert_eq!(r.status, 202, "{}", r.body);
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while c.sms_lines().len() < before + 30 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await; // a late duplicate would show up here
    let lines = c.sms_lines();
    let sent: Vec<&Value> = lines.iter().skip(before).collect();
    assert_eq!(sent.len(), 30, "every message once, none twice");
    for i in 0..30 {
        let phone = format!("+4474001234{i:02}");
        assert_eq!(sent.iter().filter(|m| m["to"] == phone).count(), 1, "{phone}");
    }
}

/// The nginx configuration in deploy/nginx/twofold.conf, started in front of both
/// instances: a whole sign-in with 2FA goes through it, whichever instance answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_in_front_of_two_instances_serves_a_whole_sign_in() {
    let nginx = ["/usr/sbin/nginx", "/usr/bin/nginx"].into_iter().find(|p| std::path::Path::new(p).exists());
    let Some(nginx) = nginx else {
        crate::support::skip("nginx test", "nginx is not installed (apt-get install nginx-light)");
        return;
    };
    let Some(c) = cluster().await else { return };
    let secret = c.enable().await;
    let prefix = tempfile::tempdir().unwrap();
    let port = free_port();
    let template =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../deploy/nginx/twofold.conf")).unwrap();
    let conf = template
        .replace("{{PREFIX}}", &prefix.path().display().to_string())
        .replace("{{LISTEN}}", &format!("127.0.0.1:{port}"))
        .replace("{{INSTANCE_A}}", c.a.base.trim_start_matches("http://"))
        .replace("{{INSTANCE_B}}", c.b.base.trim_start_matches("http://"));
    let conf_path = prefix.path().join("nginx.conf");
    std::fs::write(&conf_path, conf).unwrap();
    let proxy = std::process::Command::new(nginx)
        .args(["-p", &prefix.path().display().to_string(), "-c", &conf_path.display().to_string(), "-g", "daemon off;"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let _proxy = Nginx(proxy);
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(10);
    let probe = crate::support::client(false);
    while !probe.get(format!("{base}/readyz")).send().await.is_ok_and(|r| r.status().is_success()) {
        assert!(Instant::now() < deadline, "nginx did not come up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for _ in 0..2 {
        let (session, csrf, answer) = password(&base, "ada@acme.test", None).await;
        assert_eq!(answer["status"], "second_factor_required");
        let s = [("twofold_session", session.as_str())];
        let r = call(&base, "/api/v1/login/totp", &s, Some(&csrf), Some(json!({ "code": code(&secret, 30) }))).await;
        // One of the two attempts may meet the step the other just used: a replay.
        if r.status == 200 {
            let me = call(&base, "/api/v1/me", &[("twofold_session", cookie(&r, "twofold_session"))], None, None).await;
            assert_eq!(me.status, 200);
            assert_eq!(me.body["email"], "ada@acme.test");
            return;
        }
    }
    panic!("no sign-in went through nginx");
}

/// Stops nginx gracefully (master and workers) when the test ends, however it ends.
struct Nginx(std::process::Child);

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill").arg("-QUIT").arg(self.0.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
