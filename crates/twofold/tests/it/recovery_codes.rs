//! Recovery codes through the HTTP API (SEC-35): issued once when 2FA goes on, accepted
//! once (also under concurrent submissions on two instances), void when a new set is made
//! or 2FA goes off, and each use told by SMS with the count left.

use futures_util_free::join_all;
use serde_json::json;
use twofold_app::domain::otp::Secret;

use crate::support::{Http, PASSWORD, PHONE, TestApp, TestDb};

on_both_databases!(
    sec_35_ten_codes_are_shown_once_when_two_factor_goes_on_and_stored_as_keyed_hashes,
    sec_35_a_code_signs_in_once_and_the_person_is_told_how_many_remain,
    sec_35_twenty_concurrent_submissions_on_two_instances_sign_in_once,
    sec_35_a_new_set_needs_the_password_and_voids_the_old_one,
    sec_35_turning_two_factor_off_voids_every_code,
    codes_left_show_on_profiles_and_the_users_tab_and_warn_at_two,
    malformed_codes_are_refused_and_counted,
);

mod futures_util_free {
    /// Runs every future at once and collects their answers in order.
    pub async fn join_all<F: std::future::Future + Send + 'static>(futures: Vec<F>) -> Vec<F::Output>
    where
        F::Output: Send + 'static,
    {
        let handles: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
        let mut out = Vec::new();
        for h in handles {
            out.push(h.await.unwrap());
        }
        out
    }
}

struct Enabled {
    owner: twofold_app::Person,
    secret: Secret,
    codes: Vec<String>,
}

async fn owner_with_codes(t: &TestApp) -> Enabled {
    let owner = t.account("acme").await;
    let http = t.signed_in(&owner.email).await;
    let (secret, codes) = t.enable_two_factor_with_codes(&http, PHONE).await;
    Enabled { owner, secret, codes }
}

async fn second_step(t: &TestApp, email: &str) -> Http {
    t.password_step(email, false).await
}

async fn sec_35_ten_codes_are_shown_once_when_two_factor_goes_on_and_stored_as_keyed_hashes(db: TestDb) {
    let t = TestApp::new(db).await;
    let Enabled { owner, secret, codes } = owner_with_codes(&t).await;
    assert_eq!(codes.len(), 10);
    for code in &codes {
        assert_eq!(code.len(), 11, "{code}");
        assert_eq!(&code[5..6], "-");
        assert!(code.chars().all(|c| c == '-' || "0123456789abcdefghjkmnpqrstvwxyz".contains(c)), "{code}");
    }
    let distinct: std::collections::HashSet<_> = codes.iter().collect();
    assert_eq!(distinct.len(), 10);
    let http = t.signed_in_with_code(&owner.email, &secret).await;
    let me = http.get("/api/v1/me").await.json();
    assert_eq!(me["two_factor"]["recovery_codes_left"], 10);
    // Only keyed hashes are stored: neither the code nor its plain SHA-256 is in the table.
    let mut conn = t.app.store().conn().await.unwrap();
    let stored: Vec<String> = sqlx::query_scalar("SELECT code_mac FROM recovery_codes WHERE user_id = $1")
        .bind(owner.id)
        .fetch_all(&mut *conn)
        .await
        .unwrap();
    assert_eq!(stored.len(), 10);
    for code in &codes {
        let plain = code.replace('-', "");
        assert!(stored.iter().all(|s| !s.contains(&plain)));
        let unkeyed = data_encoding::HEXLOWER.encode(&<sha2::Sha256 as sha2::Digest>::digest(plain.as_bytes()));
        assert!(stored.iter().all(|s| !s.contains(&unkeyed)), "stored unkeyed");
    }
}

async fn sec_35_a_code_signs_in_once_and_the_person_is_told_how_many_remain(db: TestDb) {
    let t = TestApp::new(db).await;
    let Enabled { owner, codes, .. } = owner_with_codes(&t).await;
    let http = t.http();
    let start = t.password_step_on(&http, &owner.email, false).await;
    assert_eq!(start["methods"], json!(["totp", "recovery_code"]));
    // Typed in capitals, with a space for the dash: still the code.
    let typed = codes[3].to_uppercase().replace('-', " ");
    let r = http.post_json("/api/v1/login/recovery-code", &json!({ "code": typed })).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["status"], "signed_in");
    t.deliver_sms().await;
    // Find it by its text: one pass sends what is due concurrently, in no set order.
    let told = t.sms.sent().into_iter().rev().find(|m| m.to == PHONE && m.body.contains("recovery code")).unwrap();
    assert!(told.body.contains("recovery code was used") && told.body.contains("9 are left"), "{}", told.body);
    assert_eq!(t.details_of("recovery_codes.used").await.last().unwrap()["left"], 9);
    // The same code again, from a new sign-in: refused.
    let again = second_step(&t, &owner.email).await;
    let r = again.post_json("/api/v1/login/recovery-code", &json!({ "code": codes[3] })).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.error_code(), "invalid_code");
    let refused = t.details_of("sign_in.recovery_code_rejected").await;
    assert_eq!(refused.last().unwrap()["reason"], "wrong_or_used_code");
    // Another code of the set still works.
    let r = again.post_json("/api/v1/login/recovery-code", &json!({ "code": codes[4] })).await;
    assert_eq!(r.status, 200, "{}", r.text());
}

async fn sec_35_twenty_concurrent_submissions_on_two_instances_sign_in_once(db: TestDb) {
    let t = TestApp::new(db).await;
    let Enabled { owner, secret, codes } = owner_with_codes(&t).await;
    let other = t.second_instance().await;
    let mut clients = Vec::new();
    for i in 0..20 {
        let http = if i % 2 == 0 { t.http() } else { Http::new(other.clone()) };
        t.password_step_on(&http, &owner.email, false).await;
        clients.push(http);
    }
    let code = codes[0].clone();
    let attempts = clients
        .into_iter()
        .map(|http| {
            let code = code.clone();
            async move { http.post_json("/api/v1/login/recovery-code", &json!({ "code": code })).await.status }
        })
        .collect();
    let statuses = join_all(attempts).await;
    let accepted = statuses.iter().filter(|s| **s == 200).count();
    assert_eq!(accepted, 1, "one code, one sign-in: {statuses:?}");
    assert!(statuses.iter().all(|s| [200, 401, 429].contains(s)), "{statuses:?}");
    let http = t.signed_in_with_code(&owner.email, &secret).await;
    assert_eq!(http.get("/api/v1/me").await.json()["two_factor"]["recovery_codes_left"], 9);
}

async fn sec_35_a_new_set_needs_the_password_and_voids_the_old_one(db: TestDb) {
    let t = TestApp::new(db).await;
    let Enabled { owner, secret, codes: old } = owner_with_codes(&t).await;
    let http = t.signed_in_with_code(&owner.email, &secret).await;
    let r = http.post_json("/api/v1/me/two-factor/recovery-codes", &json!({ "password": "wrong password!" })).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.error_code(), "invalid_credentials");
    let r = http.post_json("/api/v1/me/two-factor/recovery-codes", &json!({ "password": PASSWORD })).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let new: Vec<String> =
        r.json()["recovery_codes"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_string()).collect();
    assert_eq!(new.len(), 10);
    assert!(new.iter().all(|c| !old.contains(c)));
    let pending = second_step(&t, &owner.email).await;
    let r = pending.post_json("/api/v1/login/recovery-code", &json!({ "code": old[0] })).await;
    assert_eq!(r.status, 401, "an old code stops working at once");
    let r = pending.post_json("/api/v1/login/recovery-code", &json!({ "code": new[0] })).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let events: Vec<String> = t.events(owner.account_id).await.into_iter().map(|e| e.0).collect();
    assert!(
        events.contains(&"recovery_codes.refused".to_string()) && events.contains(&"recovery_codes.issued".to_string())
    );
}

async fn sec_35_turning_two_factor_off_voids_every_code(db: TestDb) {
    let t = TestApp::new(db).await;
    let Enabled { owner, secret, codes } = owner_with_codes(&t).await;
    let http = t.signed_in_with_code(&owner.email, &secret).await;
    let r = http
        .send(
            axum::http::Method::DELETE,
            "/api/v1/me/two-factor",
            Some("application/json"),
            axum::body::Body::from(json!({ "password": PASSWORD }).to_string()),
            &[],
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text());
    let mut conn = t.app.store().conn().await.unwrap();
    let left = twofold_store::factors::of_person(&mut conn, owner.id).await.unwrap().recovery_codes_left;
    assert_eq!(left, 0);
    drop(conn);
    // Turning it on again issues a new set; the old codes never come back.
    let (_, fresh) = t.enable_two_factor_with_codes(&http, PHONE).await;
    assert_eq!(fresh.len(), 10);
    let pending = second_step(&t, &owner.email).await;
    let r = pending.post_json("/api/v1/login/recovery-code", &json!({ "code": codes[1] })).await;
    assert_eq!(r.status, 401);
}

async fn codes_left_show_on_profiles_and_the_users_tab_and_warn_at_two(db: TestDb) {
    let t = TestApp::new(db).await;
    let owner = t.account("acme").await;
    let pat = t.person(&owner, "pat@acme.test", twofold_app::domain::Role::User).await;
    let pat_http = t.signed_in(&pat.email).await;
    let (_, codes) = t.enable_two_factor_with_codes(&pat_http, "+353851234568").await;
    for code in &codes[..8] {
        let pending = second_step(&t, &pat.email).await;
        let r = pending.post_json("/api/v1/login/recovery-code", &json!({ "code": code })).await;
        assert_eq!(r.status, 200, "{}", r.text());
    }
    let last = second_step(&t, &pat.email).await;
    let r = last.post_json("/api/v1/login/recovery-code", &json!({ "code": codes[8] })).await;
    assert_eq!(r.status, 200);
    let profile = last.get(&format!("/users/{}", pat.id)).await.text();
    assert!(profile.contains("id=\"recovery-codes-low\""), "warned at one left");
    assert!(profile.contains("1 left"));
    // An administrator sees the count, never the codes.
    let owner_http = t.signed_in(&owner.email).await;
    let page = owner_http.get(&format!("/users/{}", pat.id)).await.text();
    assert!(page.contains("<dd id=\"recovery-codes-left\">1 left</dd>"), "{page}");
    assert!(codes.iter().all(|c| !page.contains(c.as_str())));
    let users = owner_http.get("/users").await.text();
    assert!(users.contains("App, 1 recovery codes"), "{users}");
}

async fn malformed_codes_are_refused_and_counted(db: TestDb) {
    let t = TestApp::new(db).await;
    let Enabled { owner, .. } = owner_with_codes(&t).await;
    let pending = second_step(&t, &owner.email).await;
    for bad in ["", "12345", &"x".repeat(5000), "k7m2p-x9qu4", "'; DROP TABLE users; --"] {
        let r = pending.post_json("/api/v1/login/recovery-code", &json!({ "code": bad })).await;
        assert!([401, 429].contains(&r.status), "{bad:?}: {} {}", r.status, r.text());
    }
    let r = pending.post_json("/api/v1/login/recovery-code", &json!({ "code": 12 })).await;
    assert_eq!(r.status, 422, "a number is the wrong shape");
    let reasons: Vec<String> = t
        .details_of("sign_in.recovery_code_rejected")
        .await
        .iter()
        .map(|d| d["reason"].as_str().unwrap().to_string())
        .collect();
    assert!(reasons.iter().filter(|r| *r == "malformed_code").count() >= 4, "{reasons:?}");
}
