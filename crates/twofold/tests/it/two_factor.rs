//! Authenticator-app 2FA through the JSON API: enrolment, the code step, replays, races,
//! throttling, remembered devices, turning it off, and secrets at rest.

use serde_json::json;
use twofold_app::domain::Role;
use twofold_app::domain::token;

use crate::support::{Http, PASSWORD, TestApp, TestDb};

on_both_databases!(
    sec_04_two_factor_is_off_until_a_code_confirms_the_enrolment,
    sec_04_restarting_enrolment_issues_a_new_key_and_the_old_one_fails,
    sec_19_after_the_password_only_the_code_step_answers,
    sec_05_sec_08_a_code_is_accepted_once_and_a_replay_counts_as_a_failure,
    sec_06_fifty_concurrent_submissions_of_one_code_give_one_success,
    sec_07_neighbouring_steps_pass_and_a_drifted_clock_is_measured,
    sec_09_wrong_codes_are_throttled_then_locked_at_one_hundred,
    sec_23_a_remembered_browser_skips_the_code_not_the_password,
    sec_23_remembered_devices_expire_are_bound_and_revocable,
    sec_24_disabling_needs_the_password_and_ends_remembered_devices,
    sec_10_the_database_holds_no_secret_in_the_clear,
    sec_25_the_code_step_needs_the_csrf_header,
    bad_codes_get_clear_answers,
    sec_30_two_factor_changes_are_audited,
);

async fn sec_04_two_factor_is_off_until_a_code_confirms_the_enrolment(db: TestDb) {
    let t = TestApp::new(db).await;
    t.account("acme").await;
    let http = t.signed_in("owner@acme.test").await;
    let r = http.post_json("/api/v1/me/two-factor/enrollment", &json!({})).await;
    assert_eq!(r.status, 201);
    let body = r.json();
    let secret = body["secret"].as_str().unwrap();
    assert_eq!(secret.len(), 32, "160 bits in base32");
    assert!(body["otpauth_uri"].as_str().unwrap().contains(&format!("secret={secret}")));
    assert!(body["qr_svg"].as_str().unwrap().starts_with("<svg"));
    assert_eq!(http.get("/api/v1/me").await.json()["two_factor"]["enabled"], false);
    // Abandoned: the next sign-in asks for the password only.
    let again = t.http();
    assert_eq!(t.password_step_on(&again, "owner@acme.test", false).await["status"], "signed_in");

    let secret = t.enable_two_factor(&http).await;
    let me = http.get("/api/v1/me").await.json();
    assert_eq!(me["two_factor"]["enabled"], true);
    assert_eq!(me["two_factor"]["enabled_at"], 1_800_000_000);
    // The key is never shown again, and a new enrolment is refused while 2FA is on.
    let r = http.post_json("/api/v1/me/two-factor/enrollment", &json!({})).await;
    assert_eq!(r.status, 409);
    assert_eq!(r.error_code(), "already_enabled");
    assert!(!r.text().contains(&secret.to_base32()));
    let step = t.password_step("owner@acme.test", false).await;
    let r = step.post_json("/api/v1/login/totp", &json!({ "code": t.code(&secret, 0) })).await;
    assert_eq!(r.status, 200, "{}", r.text());
}

async fn sec_04_restarting_enrolment_issues_a_new_key_and_the_old_one_fails(db: TestDb) {
    let t = TestApp::new(db).await;
    t.account("acme").await;
    let http = t.signed_in("owner@acme.test").await;
    let first = http.post_json("/api/v1/me/two-factor/enrollment", &json!({})).await.json()["secret"].clone();
    let second = http.post_json("/api/v1/me/two-factor/enrollment", &json!({})).await.json()["secret"].clone();
    assert_ne!(first, second);
    let old = twofold_app::domain::otp::Secret::from_base32(first.as_str().unwrap()).unwrap();
    let r = http.post_json("/api/v1/me/two-factor/enrollment/code", &json!({ "code": t.code(&old, 0) })).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.error_code(), "invalid_code");
    assert_eq!(http.get("/api/v1/me").await.json()["two_factor"]["enabled"], false);
}

async fn sec_19_after_the_password_only_the_code_step_answers(db: TestDb) {
    let t = TestApp::new(db).await;
    let o = t.account("acme").await;
    let secret = t.enable_two_factor(&t.signed_in("owner@acme.test").await).await;
    let http = t.http();
    let answer = t.password_step_on(&http, "owner@acme.test", false).await;
    assert_eq!(answer["status"], "second_factor_required");
    assert_eq!(answer["methods"], json!(["totp", "recovery_code"]), "recovery codes since 2FA went on");
    assert!(answer.get("user").is_none(), "nothing about the person before the code");
    let half = http.cookie("twofold_session").unwrap();
    for path in ["/api/v1/me", "/api/v1/users", &format!("/api/v1/users/{}", o.id), "/api/v1/me/devices"] {
        assert_eq!(http.get(path).await.status, 401, "{path}");
    }
    assert_eq!(http.post_json("/api/v1/me/two-factor/enrollment", &json!({})).await.status, 401);
    let page = http.get("/home").await;
    assert_eq!(page.header("location").as_deref(), Some("/login/code"));
    let r = http.post_json("/api/v1/login/totp", &json!({ "code": t.code(&secret, 0) })).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["status"], "signed_in");
    let full = http.cookie("twofold_session").unwrap();
    assert_ne!(half, full, "the session id changes when sign-in completes");
    http.set_csrf(r.json()["csrf_token"].as_str().unwrap());
    assert_eq!(http.get("/api/v1/me").await.status, 200);
    let thief = t.http();
    thief.set_cookie("twofold_session", &half);
    assert_eq!(thief.get("/api/v1/me").await.status, 401, "the half-finished session is gone");
}

async fn sec_05_sec_08_a_code_is_accepted_once_and_a_replay_counts_as_a_failure(db: TestDb) {
    let t = TestApp::new(db).await;
    let o = t.account("acme").await;
    let secret = t.enable_two_factor(&t.signed_in("owner@acme.test").await).await;
    let code = t.code(&secret, 0);
    let first = t.password_step("owner@acme.test", false).await;
    assert_eq!(first.post_json("/api/v1/login/totp", &json!({ "code": code })).await.status, 200);
    let second = t.password_step("owner@acme.test", false).await;
    let r = second.post_json("/api/v1/login/totp", &json!({ "code": code })).await;
    assert_eq!(r.status, 401, "the same code twice");
    assert_eq!(r.error_code(), "invalid_code");
    // Said as it is: the code was right, and used; the next one is the one to enter.
    let message = r.json()["error"]["message"].as_str().unwrap().to_owned();
    assert!(message.starts_with("That code was already used. Wait for the next code"), "{message}");
    // An earlier step's code is a replay too, once a later one was accepted.
    let r = second.post_json("/api/v1/login/totp", &json!({ "code": t.code(&secret, -1) })).await;
    assert_eq!(r.status, 401);
    // A code that was never right stays "not valid".
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let r = second.post_json("/api/v1/login/totp", &json!({ "code": wrong })).await;
    assert!(r.json()["error"]["message"].as_str().unwrap().starts_with("That code is not valid"), "{}", r.text());
    let mut conn = t.app.store().conn().await.unwrap();
    let failures =
        twofold_store::throttles::get(&mut conn, &twofold_app::domain::throttle::ThrottleKey::Totp { user_id: o.id })
            .await
            .unwrap();
    assert_eq!(failures.consecutive, 3, "replays count as failures, as wrong codes do");
    let q = twofold_store::audit::Query { account_id: Some(o.account_id), limit: 50, ..Default::default() };
    let events = twofold_store::audit::list(&mut conn, &q).await.unwrap();
    assert_eq!(
        events.iter().filter(|e| e.event == "sign_in.totp_rejected" && e.detail.contains("\"replay\"")).count(),
        2
    );
    // The next step's code still works.
    t.clock.advance(30);
    let r = second.post_json("/api/v1/login/totp", &json!({ "code": t.code(&secret, 0) })).await;
    assert_eq!(r.status, 200, "{}", r.text());
}

async fn sec_06_fifty_concurrent_submissions_of_one_code_give_one_success(db: TestDb) {
    let t = TestApp::new(db).await;
    t.account("acme").await;
    let secret = t.enable_two_factor(&t.signed_in("owner@acme.test").await).await;
    let mut clients = Vec::new();
    for _ in 0..50 {
        clients.push(t.password_step("owner@acme.test", false).await);
    }
    let code = t.code(&secret, 0);
    let tasks: Vec<_> = clients
        .into_iter()
        .map(|http| {
            let code = code.clone();
            tokio::spawn(async move { http.post_json("/api/v1/login/totp", &json!({ "code": code })).await.status })
        })
        .collect();
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{statuses:?}");
    assert!(statuses.iter().all(|s| *s == 200 || *s == 401 || *s == 429), "{statuses:?}");
}

async fn sec_07_neighbouring_steps_pass_and_a_drifted_clock_is_measured(db: TestDb) {
    let t = TestApp::new(db).await;
    t.account("acme").await;
    let secret = t.enable_two_factor(&t.signed_in("owner@acme.test").await).await;
    // One step behind is fine (a code typed just as it changed).
    t.clock.advance(30);
    let http = t.password_step("owner@acme.test", false).await;
    assert_eq!(http.post_json("/api/v1/login/totp", &json!({ "code": t.code(&secret, -1) })).await.status, 200);
    t.clock.advance(60);
    let http = t.password_step("owner@acme.test", false).await;
    assert_eq!(http.post_json("/api/v1/login/totp", &json!({ "code": t.code(&secret, 1) })).await.status, 200);
    t.clock.advance(120);
    let http = t.password_step("owner@acme.test", false).await;
    let r = http.post_json("/api/v1/login/totp", &json!({ "code": t.code(&secret, 4) })).await;
    assert_eq!(r.status, 401);
    let offset = r.json()["error"]["clock_offset_seconds"].as_i64().unwrap();
    assert!((105..=135).contains(&offset), "about two minutes fast: {offset}");
    assert!(r.json()["error"]["message"].as_str().unwrap().contains("fast"));
    let r = http.post_json("/api/v1/login/totp", &json!({ "code": t.code(&secret, -2) })).await;
    assert_eq!(r.status, 401);
    assert!(r.json()["error"]["clock_offset_seconds"].as_i64().unwrap() < 0, "slow");
    let r = http.post_json("/api/v1/login/totp", &json!({ "code": t.code(&secret, 30) })).await;
    assert!(r.json()["error"].get("clock_offset_seconds").is_none(), "15 minutes away is just wrong");
}

async fn sec_09_wrong_codes_are_throttled_then_locked_at_one_hundred(db: TestDb) {
    let t = TestApp::new(db).await;
    t.account("acme").await;
    let secret = t.enable_two_factor(&t.signed_in("owner@acme.test").await).await;
    let wrong = json!({ "code": if t.code(&secret, 0) == "000000" { "111111" } else { "000000" } });
    let http = t.password_step("owner@acme.test", false).await;
    for _ in 0..5 {
        assert_eq!(http.post_json("/api/v1/login/totp", &wrong).await.status, 401);
    }
    let r = http.post_json("/api/v1/login/totp", &json!({ "code": t.code(&secret, 0) })).await;
    assert_eq!(r.status, 429, "even the right code waits");
    assert_eq!(r.json()["error"]["retry_after_seconds"], 30);
    // Throttling lives in the database: a new sign-in is throttled the same way.
    let other = t.password_step("owner@acme.test", false).await;
    assert_eq!(other.post_json("/api/v1/login/totp", &wrong).await.status, 429);
    // Keep failing, waiting out each delay, until the factor locks at 100.
    for n in 5..100 {
        t.clock.advance(3600);
        let fresh = t.password_step("owner@acme.test", false).await;
        let r = fresh.post_json("/api/v1/login/totp", &wrong).await;
        assert_eq!(r.status, 401, "failure {n}: {}", r.text());
    }
    t.clock.advance(3600);
    let fresh = t.password_step("owner@acme.test", false).await;
    let r = fresh.post_json("/api/v1/login/totp", &json!({ "code": t.code(&secret, 0) })).await;
    assert_eq!(r.status, 403);
    assert_eq!(r.error_code(), "second_factor_locked");
}

async fn sec_23_a_remembered_browser_skips_the_code_not_the_password(db: TestDb) {
    let t = TestApp::new(db).await;
    t.account("acme").await;
    let secret = t.enable_two_factor(&t.signed_in("owner@acme.test").await).await;
    let browser = t.http();
    assert_eq!(t.password_step_on(&browser, "owner@acme.test", true).await["status"], "second_factor_required");
    let r = browser.post_json("/api/v1/login/totp", &json!({ "code": t.code(&secret, 0) })).await;
    assert_eq!(r.status, 200);
    let device = r.set_cookies().into_iter().find(|c| c.starts_with("twofold_device=")).expect("device cookie");
    assert!(
        device.contains("HttpOnly") && device.contains("SameSite=Lax") && device.contains("Max-Age=2592000"),
        "{device}"
    );
    let raw = browser.cookie("twofold_device").unwrap();
    assert_eq!(raw.len(), 43);
    browser.post_json("/api/v1/logout", &json!({})).await;

    assert_eq!(t.password_step_on(&browser, "owner@acme.test", false).await["status"], "signed_in");
    let wrong = browser
        .post_json("/api/v1/login", &json!({ "email": "owner@acme.test", "password": "wrong wrong wrong" }))
        .await;
    assert_eq!(wrong.status, 401, "the password is never skipped");
    // Stored hashed only (SEC-20).
    let mut conn = t.app.store().conn().await.unwrap();
    let hashes: Vec<String> =
        sqlx::query_scalar("SELECT token_hash FROM remembered_devices").fetch_all(&mut *conn).await.unwrap();
    assert_eq!(hashes, vec![token::hash(&raw)]);
    // A tampered cookie is ignored, not an error.
    let tampered = t.http();
    tampered.set_cookie("twofold_device", &format!("{}x", &raw[..42]));
    assert_eq!(t.password_step_on(&tampered, "owner@acme.test", false).await["status"], "second_factor_required");
}

async fn sec_23_remembered_devices_expire_are_bound_and_revocable(db: TestDb) {
    let t = TestApp::new(db).await;
    let o = t.account("acme").await;
    t.person(&o, "user@acme.test", Role::User).await;
    let secret = t.enable_two_factor(&t.signed_in("owner@acme.test").await).await;
    let user_secret = t.enable_two_factor(&t.signed_in("user@acme.test").await).await;
    let remembered = async |email: &str, secret: &twofold_app::domain::otp::Secret| -> Http {
        let http = t.password_step(email, true).await;
        let r = http.post_json("/api/v1/login/totp", &json!({ "code": t.code(secret, 0) })).await;
        assert_eq!(r.status, 200, "{}", r.text());
        http.set_csrf(r.json()["csrf_token"].as_str().unwrap());
        t.clock.advance(30);
        http
    };
    let browser = remembered("owner@acme.test", &secret).await;
    // Bound to its person: the owner's device cookie does not spare the user the code.
    assert_eq!(t.password_step_on(&browser, "user@acme.test", false).await["status"], "second_factor_required");
    // 30 days on the server.
    t.clock.advance(30 * 24 * 3600 - 60);
    assert_eq!(t.password_step_on(&browser, "owner@acme.test", false).await["status"], "signed_in");
    t.clock.advance(61);
    assert_eq!(t.password_step_on(&browser, "owner@acme.test", false).await["status"], "second_factor_required");
    // Revoked from the list.
    let browser = remembered("owner@acme.test", &secret).await;
    let devices = browser.get("/api/v1/me/devices").await.json();
    assert_eq!(devices.as_array().unwrap().len(), 1, "{devices}");
    let id = devices[0]["id"].as_i64().unwrap();
    let other = remembered("user@acme.test", &user_secret).await;
    assert_eq!(
        other
            .send(axum::http::Method::DELETE, &format!("/api/v1/me/devices/{id}"), None, axum::body::Body::empty(), &[])
            .await
            .status,
        404,
        "not theirs"
    );
    let r = browser
        .send(axum::http::Method::DELETE, &format!("/api/v1/me/devices/{id}"), None, axum::body::Body::empty(), &[])
        .await;
    assert_eq!(r.status, 204);
    assert_eq!(t.password_step_on(&browser, "owner@acme.test", false).await["status"], "second_factor_required");
}

async fn sec_24_disabling_needs_the_password_and_ends_remembered_devices(db: TestDb) {
    let t = TestApp::new(db).await;
    t.account("acme").await;
    let signed_in = t.signed_in("owner@acme.test").await;
    let secret = t.enable_two_factor(&signed_in).await;
    let browser = t.password_step("owner@acme.test", true).await;
    let r = browser.post_json("/api/v1/login/totp", &json!({ "code": t.code(&secret, 0) })).await;
    browser.set_csrf(r.json()["csrf_token"].as_str().unwrap());
    let delete = |password: &str| {
        let body = json!({ "password": password }).to_string();
        browser.send(axum::http::Method::DELETE, "/api/v1/me/two-factor", Some("application/json"), body.into(), &[])
    };
    let r = delete("not my password").await;
    assert_eq!(r.status, 401);
    assert_eq!(r.error_code(), "invalid_credentials");
    assert_eq!(browser.get("/api/v1/me").await.json()["two_factor"]["enabled"], true);
    assert_eq!(delete(PASSWORD).await.status, 204);
    assert_eq!(browser.get("/api/v1/me").await.json()["two_factor"]["enabled"], false);
    assert_eq!(delete(PASSWORD).await.status, 409);
    // Re-enabling issues a new key; the remembered browser asks for a code again.
    let new_secret = t.enable_two_factor(&signed_in).await;
    assert_ne!(new_secret.to_base32(), secret.to_base32());
    assert_eq!(t.password_step_on(&browser, "owner@acme.test", false).await["status"], "second_factor_required");
    let r = browser.post_json("/api/v1/login/totp", &json!({ "code": t.code(&secret, 0) })).await;
    assert_eq!(r.status, 401, "the old key no longer works");
}

async fn sec_10_the_database_holds_no_secret_in_the_clear(db: TestDb) {
    let t = TestApp::new(db).await;
    t.account("acme").await;
    let secret = t.enable_two_factor(&t.signed_in("owner@acme.test").await).await;
    let base32 = secret.to_base32();
    // Fill every table the secret could leak into: a remembered sign-in and a failure.
    let http = t.password_step("owner@acme.test", true).await;
    http.post_json("/api/v1/login/totp", &json!({ "code": t.code(&secret, 0) })).await;
    let failing = t.password_step("owner@acme.test", false).await;
    failing.post_json("/api/v1/login/totp", &json!({ "code": "000000" })).await;
    let mut conn = t.app.store().conn().await.unwrap();
    let sealed: Vec<u8> =
        sqlx::query_scalar("SELECT secret_box FROM totp_credentials").fetch_one(&mut *conn).await.unwrap();
    assert!(!contains(&sealed, secret.as_bytes()) && !contains(&sealed, base32.as_bytes()));
    if t.app.store().backend() == twofold_store::Backend::Postgres {
        // Every row of every table as text, as a dump would show them.
        let tables =
            ["accounts", "users", "sessions", "audit_events", "throttles", "totp_credentials", "remembered_devices"];
        for table in tables {
            let rows: Vec<String> =
                sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT CAST(t AS TEXT) FROM {table} t")))
                    .fetch_all(&mut *conn)
                    .await
                    .unwrap();
            assert!(!rows.is_empty(), "{table} is empty: the check would prove nothing");
            assert!(rows.iter().all(|r| !r.contains(&base32)), "{table} holds the secret");
        }
    }
    if let Some(path) = t.sqlite_path() {
        for file in [path.clone(), path.with_extension("db-wal")] {
            let bytes = std::fs::read(&file).unwrap_or_default();
            assert!(!contains(&bytes, base32.as_bytes()), "{} holds the base32 secret", file.display());
            assert!(!contains(&bytes, secret.as_bytes()), "{} holds the raw secret", file.display());
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

async fn sec_25_the_code_step_needs_the_csrf_header(db: TestDb) {
    let t = TestApp::new(db).await;
    t.account("acme").await;
    let secret = t.enable_two_factor(&t.signed_in("owner@acme.test").await).await;
    let http = t.password_step("owner@acme.test", false).await;
    http.set_csrf("forged");
    let r = http.post_json("/api/v1/login/totp", &json!({ "code": t.code(&secret, 0) })).await;
    assert_eq!(r.status, 403);
    assert_eq!(r.error_code(), "csrf_token_invalid");
}

async fn bad_codes_get_clear_answers(db: TestDb) {
    let t = TestApp::new(db).await;
    t.account("acme").await;
    let secret = t.enable_two_factor(&t.signed_in("owner@acme.test").await).await;
    let http = t.password_step("owner@acme.test", false).await;
    for bad in ["", "12345", "123456789", "abcdef", "12a456", &"1".repeat(10_000)] {
        let r = http.post_json("/api/v1/login/totp", &json!({ "code": bad })).await;
        assert_eq!((r.status, r.error_code().as_str()), (422, "invalid_code_format"), "{bad:.20}");
    }
    let r = http.post_json("/api/v1/login/totp", &json!({ "code": 123456 })).await;
    assert_eq!(r.status, 422, "a number is not a string");
    let huge = http.post_json("/api/v1/login/totp", &json!({ "code": "1".repeat(1 << 20) })).await;
    assert_eq!(huge.status, 413);
    let nobody = t.http();
    let r = nobody.post_json("/api/v1/login/totp", &json!({ "code": "123456" })).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.error_code(), "no_pending_sign_in");
    // Spaces and dashes are fine.
    let code = t.code(&secret, 0);
    let spaced = format!("{} {}", &code[..3], &code[3..]);
    let r = http.post_json("/api/v1/login/totp", &json!({ "code": spaced })).await;
    assert_eq!(r.status, 200, "{}", r.text());
    // A signed-in session has no code step to take.
    http.set_csrf(r.json()["csrf_token"].as_str().unwrap());
    assert_eq!(http.post_json("/api/v1/login/totp", &json!({ "code": "123456" })).await.status, 401);
}

async fn sec_30_two_factor_changes_are_audited(db: TestDb) {
    let t = TestApp::new(db).await;
    let o = t.account("acme").await;
    let http = t.signed_in("owner@acme.test").await;
    let secret = t.enable_two_factor(&http).await;
    let step = t.password_step("owner@acme.test", true).await;
    step.post_json("/api/v1/login/totp", &json!({ "code": "000000" })).await;
    let r = step.post_json("/api/v1/login/totp", &json!({ "code": t.code(&secret, 0) })).await;
    step.set_csrf(r.json()["csrf_token"].as_str().unwrap());
    let id = step.get("/api/v1/me/devices").await.json()[0]["id"].as_i64().unwrap();
    step.send(axum::http::Method::DELETE, &format!("/api/v1/me/devices/{id}"), None, axum::body::Body::empty(), &[])
        .await;
    let body = json!({ "password": PASSWORD }).to_string();
    step.send(axum::http::Method::DELETE, "/api/v1/me/two-factor", Some("application/json"), body.into(), &[]).await;
    let events: Vec<String> = t.events(o.account_id).await.into_iter().map(|e| e.0).collect();
    for expected in [
        "two_factor.enrolment_started",
        "two_factor.enabled",
        "sign_in.password_ok",
        "sign_in.totp_rejected",
        "sign_in.succeeded",
        "device.revoked",
        "two_factor.disabled",
    ] {
        assert!(events.iter().any(|e| e == expected), "{expected} missing from {events:?}");
    }
}
