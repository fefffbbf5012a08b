//! Setup link, password sign-in, sessions and sign-out through the JSON API.

use serde_json::json;
use twofold_app::domain::token;

use crate::support::{PASSWORD, TestApp, TestDb};

on_both_databases!(
    setup_link_creates_the_account_and_signs_the_owner_in_once,
    setup_link_expires_after_an_hour,
    right_password_signs_in_and_me_answers,
    sec_32_unknown_email_and_wrong_password_answer_alike,
    sec_09_password_guesses_are_throttled_per_email_across_clients,
    sec_22_logout_ends_the_session_on_the_server,
    sec_22_idle_and_absolute_lifetimes_are_enforced,
    sec_20_session_ids_are_256_bit_and_stored_hashed,
    sec_21_session_cookie_attributes,
    sec_30_sign_in_decisions_are_audited_with_ip_and_user_agent,
    each_sign_in_gets_a_new_session_id,
);

async fn setup_link_creates_the_account_and_signs_the_owner_in_once(db: TestDb) {
    let t = TestApp::new(db).await;
    assert!(t.app.needs_setup().await.unwrap());
    let link = t.app.issue_setup_link().await.unwrap();
    let token = link.rsplit('/').next().unwrap();
    let http = t.http();
    let body = json!({ "account_name": "Acme", "owner_name": "Ada Owner", "owner_email": "Ada@Acme.test", "password": PASSWORD });
    let r = http.post_json(&format!("/api/v1/setup/{token}"), &body).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["status"], "signed_in");
    assert_eq!(r.json()["user"]["role"], "owner");
    http.set_csrf(r.json()["csrf_token"].as_str().unwrap());
    let me = http.get("/api/v1/me").await;
    assert_eq!(me.status, 200);
    assert_eq!(me.json()["email"], "ada@acme.test");
    assert_eq!(me.json()["account"]["name"], "Acme");
    assert_eq!(me.json()["two_factor"]["enabled"], false);
    assert!(!t.app.needs_setup().await.unwrap());

    let mut second = body.clone();
    second["owner_email"] = json!("b@acme.test");
    let again = t.http().post_json(&format!("/api/v1/setup/{token}"), &second).await;
    // Used, and an account exists: the link has ended (SEC-54).
    assert_eq!(again.status, 410);
    assert_eq!(again.error_code(), "link_expired");
}

async fn setup_link_expires_after_an_hour(db: TestDb) {
    let t = TestApp::new(db).await;
    let link = t.app.issue_setup_link().await.unwrap();
    let token = link.rsplit('/').next().unwrap();
    t.clock.advance(3600);
    let body =
        json!({ "account_name": "Acme", "owner_name": "Ada", "owner_email": "ada@acme.test", "password": PASSWORD });
    let r = t.http().post_json(&format!("/api/v1/setup/{token}"), &body).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.error_code(), "link_invalid");
    assert!(t.app.needs_setup().await.unwrap(), "nothing was created");
}

async fn right_password_signs_in_and_me_answers(db: TestDb) {
    let t = TestApp::new(db).await;
    let owner = t.account("acme").await;
    let http = t.signed_in("OWNER@acme.test ").await;
    let me = http.get("/api/v1/me").await.json();
    assert_eq!(me["id"], owner.id);
    assert_eq!(me["role"], "owner");
    assert!(me["csrf_token"].as_str().unwrap().len() >= 32);
}

async fn sec_32_unknown_email_and_wrong_password_answer_alike(db: TestDb) {
    let t = TestApp::new(db).await;
    t.account("acme").await;
    let http = t.http();
    let mut wrong = Vec::new();
    let mut unknown = Vec::new();
    for i in 0..4 {
        let started = std::time::Instant::now();
        let a = http
            .post_json(
                "/api/v1/login",
                &json!({ "email": "owner@acme.test", "password": format!("wrong password {i}") }),
            )
            .await;
        wrong.push(started.elapsed());
        let started = std::time::Instant::now();
        let b = http
            .post_json(
                "/api/v1/login",
                &json!({ "email": format!("nobody{i}@acme.test"), "password": "wrong password" }),
            )
            .await;
        unknown.push(started.elapsed());
        assert_eq!(a.status, 401);
        assert_eq!(a.status, b.status);
        assert_eq!(a.json(), b.json(), "the bodies must not tell the cases apart");
    }
    // The fastest of each case: a busy neighbour only ever adds time, so the minimum is
    // the measurement least moved by noise (a median of four failed once in CI on a
    // shared machine).
    let fastest = |times: &[std::time::Duration]| times.iter().min().map_or(0.0, |d| d.as_secs_f64());
    let (w, u) = (fastest(&wrong), fastest(&unknown));
    // Both cases pay one Argon2id verification; a missing decoy would make unknown
    // emails answer many times faster.
    assert!(u > w * 0.4 && u < w * 2.5, "fastest wrong password {w:.4}s vs unknown email {u:.4}s");
}

async fn sec_09_password_guesses_are_throttled_per_email_across_clients(db: TestDb) {
    let t = TestApp::new(db).await;
    t.account("acme").await;
    for i in 0..5 {
        // A new client each time: the count lives in the database, not in a session.
        let r = t
            .http()
            .post_json("/api/v1/login", &json!({ "email": "owner@acme.test", "password": format!("guess {i}") }))
            .await;
        assert_eq!(r.status, 401);
    }
    let r = t.http().post_json("/api/v1/login", &json!({ "email": "owner@acme.test", "password": PASSWORD })).await;
    assert_eq!(r.status, 429, "even the right password waits: {}", r.text());
    assert_eq!(r.error_code(), "too_many_attempts");
    assert_eq!(r.json()["error"]["retry_after_seconds"], 30);
    assert_eq!(r.header("retry-after").as_deref(), Some("30"));
    // Unknown emails are throttled the same way, so a 429 tells nothing.
    for i in 0..5 {
        t.http()
            .post_json("/api/v1/login", &json!({ "email": "ghost@acme.test", "password": format!("guess {i}") }))
            .await;
    }
    let ghost = t.http().post_json("/api/v1/login", &json!({ "email": "ghost@acme.test", "password": "x" })).await;
    assert_eq!(ghost.status, 429);
    t.clock.advance(30);
    let r = t.http().post_json("/api/v1/login", &json!({ "email": "owner@acme.test", "password": PASSWORD })).await;
    assert_eq!(r.status, 200, "{}", r.text());
}

async fn sec_22_logout_ends_the_session_on_the_server(db: TestDb) {
    let t = TestApp::new(db).await;
    t.account("acme").await;
    let http = t.signed_in("owner@acme.test").await;
    let stolen = http.cookie("twofold_session").unwrap();
    let out = http.post_json("/api/v1/logout", &json!({})).await;
    assert_eq!(out.status, 204);
    assert_eq!(http.get("/api/v1/me").await.status, 401);
    // Even someone who kept the cookie value is out: the session is gone on the server.
    let thief = t.http();
    thief.set_cookie("twofold_session", &stolen);
    assert_eq!(thief.get("/api/v1/me").await.status, 401);
}

async fn sec_22_idle_and_absolute_lifetimes_are_enforced(db: TestDb) {
    let t = TestApp::new(db).await;
    t.account("acme").await;
    let policy = t.app.config().sessions;
    let idle = t.signed_in("owner@acme.test").await;
    t.clock.advance(policy.idle - 60);
    assert_eq!(idle.get("/api/v1/me").await.status, 200, "activity keeps it alive");
    t.clock.advance(policy.idle - 60);
    assert_eq!(idle.get("/api/v1/me").await.status, 200);
    t.clock.advance(policy.idle);
    let expired = idle.get("/api/v1/me").await;
    assert_eq!(expired.status, 401);
    assert_eq!(expired.error_code(), "unauthenticated");

    let busy = t.signed_in("owner@acme.test").await;
    let started = twofold_app::domain::Clock::now(&*t.clock);
    while twofold_app::domain::Clock::now(&*t.clock) - started < policy.absolute - policy.idle / 2 {
        t.clock.advance(policy.idle / 2);
        assert_eq!(busy.get("/api/v1/me").await.status, 200);
    }
    t.clock.advance(policy.idle / 2 + 1);
    assert_eq!(busy.get("/api/v1/me").await.status, 401, "the absolute lifetime ends even a busy session");
}

async fn sec_20_session_ids_are_256_bit_and_stored_hashed(db: TestDb) {
    let t = TestApp::new(db).await;
    t.account("acme").await;
    let http = t.signed_in("owner@acme.test").await;
    let raw = http.cookie("twofold_session").unwrap();
    assert_eq!(raw.len(), 43, "32 random bytes, base64url");
    let mut conn = t.app.store().conn().await.unwrap();
    let stored: Vec<String> = sqlx::query_scalar("SELECT id_hash FROM sessions").fetch_all(&mut *conn).await.unwrap();
    assert_eq!(stored, vec![token::hash(&raw)]);
    assert!(!stored.contains(&raw));
}

async fn sec_21_session_cookie_attributes(db: TestDb) {
    let t = TestApp::new(db).await;
    t.account("acme").await;
    let r = t.http().post_json("/api/v1/login", &json!({ "email": "owner@acme.test", "password": PASSWORD })).await;
    let cookie = r.set_cookies().into_iter().find(|c| c.starts_with("twofold_session=")).unwrap();
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(cookie.contains("Path=/"), "{cookie}");

    let https = TestApp::with_config(
        crate::support::TestDb::sqlite().await,
        twofold_app::AppConfig { public_url: "https://2fa.example.com".into(), ..Default::default() },
    )
    .await;
    https.account("acme").await;
    let r = https.http().post_json("/api/v1/login", &json!({ "email": "owner@acme.test", "password": PASSWORD })).await;
    let cookie = r.set_cookies().into_iter().find(|c| c.starts_with("__Host-twofold_session=")).unwrap();
    assert!(cookie.contains("Secure") && cookie.contains("HttpOnly") && cookie.contains("Path=/"), "{cookie}");
}

async fn sec_30_sign_in_decisions_are_audited_with_ip_and_user_agent(db: TestDb) {
    let t = TestApp::new(db).await;
    let owner = t.account("acme").await;
    let http = t.http();
    http.set_user_agent("Mozilla/5.0 AuditTest");
    http.post_json("/api/v1/login", &json!({ "email": "owner@acme.test", "password": "not the password" })).await;
    http.post_json("/api/v1/login", &json!({ "email": "owner@acme.test", "password": PASSWORD })).await;
    let mut conn = t.app.store().conn().await.unwrap();
    let q = twofold_store::audit::Query { account_id: Some(owner.account_id), limit: 10, ..Default::default() };
    let events = twofold_store::audit::list(&mut conn, &q).await.unwrap();
    let succeeded = events.iter().find(|e| e.event == "sign_in.succeeded").unwrap();
    let failed = events.iter().find(|e| e.event == "sign_in.failed").unwrap();
    for e in [succeeded, failed] {
        assert_eq!(e.target_user_id, Some(owner.id));
        assert_eq!(e.user_agent.as_deref(), Some("Mozilla/5.0 AuditTest"));
        assert_eq!(e.created_at, twofold_app::domain::Clock::now(&*t.clock));
        assert!(!e.detail.contains("not the password"), "SEC-31: no password in the log");
    }
    assert!(failed.detail.contains("wrong_password"));
}

async fn each_sign_in_gets_a_new_session_id(db: TestDb) {
    let t = TestApp::new(db).await;
    t.account("acme").await;
    let a = t.signed_in("owner@acme.test").await.cookie("twofold_session");
    let b = t.signed_in("owner@acme.test").await.cookie("twofold_session");
    assert_ne!(a, b);
}
