//! Security keys and passkeys through the HTTP API (SEC-36), with a software
//! authenticator: registration, the second step, passkey sign-in without a password, and
//! each way an answer can be wrong, refused with a clear 4xx and audited.

use axum::body::Body;
use axum::http::Method;
use serde_json::{Value, json};
use twofold_app::domain::Role;

use crate::support::authenticator::{ORIGIN, SoftKey, tampered};
use crate::support::{Http, PASSWORD, TestApp, TestDb};

on_both_databases!(
    sec_36_a_security_key_alone_turns_two_factor_on_and_passes_the_second_step,
    sec_36_a_challenge_is_single_use_bound_to_its_session_and_expires_in_five_minutes,
    sec_36_a_wrong_origin_or_rp_id_a_tampered_signature_or_another_persons_key_is_refused_and_audited,
    sec_36_a_counter_that_goes_backwards_refuses_the_sign_in_and_is_audited,
    sec_36_a_passkey_signs_in_without_a_password_only_with_user_verification,
    sec_36_removing_a_key_needs_the_password_and_the_last_one_turns_two_factor_off,
    sec_36_registration_checks_the_origin_and_binds_a_credential_to_one_person,
    malformed_credentials_answer_a_clear_4xx,
    turning_two_factor_off_removes_keys_and_codes,
    sec_36_a_ceremony_begun_on_one_instance_finishes_on_another,
);

/// Registers `key` for the person signed in on `http`; answers the registration's body.
pub(crate) async fn register(http: &Http, key: &mut SoftKey, name: &str) -> Value {
    let start = http.post_json("/api/v1/me/security-keys/registration", &json!({})).await;
    assert_eq!(start.status, 200, "{}", start.text());
    let start = start.json();
    let credential = key.register(&start["public_key"], ORIGIN);
    let r = http
        .post_json(
            "/api/v1/me/security-keys",
            &json!({ "challenge_id": start["challenge_id"], "name": name, "credential": credential, "password": PASSWORD }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    r.json()
}

/// The second step's options for the half-signed-in `http`.
async fn challenge(http: &Http) -> Value {
    let r = http.post_json("/api/v1/login/webauthn/challenge", &json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

async fn answer(http: &Http, challenge_id: &Value, credential: Value) -> crate::support::http::Response {
    http.post_json("/api/v1/login/webauthn", &json!({ "challenge_id": challenge_id, "credential": credential })).await
}

async fn reasons(t: &TestApp) -> Vec<String> {
    t.details_of("sign_in.webauthn_rejected").await.iter().map(|d| d["reason"].as_str().unwrap().to_string()).collect()
}

async fn with_key(t: &TestApp, email: &str) -> SoftKey {
    let http = t.signed_in(email).await;
    let mut key = SoftKey::security_key();
    register(&http, &mut key, "YubiKey").await;
    key
}

async fn sec_36_a_security_key_alone_turns_two_factor_on_and_passes_the_second_step(db: TestDb) {
    let t = TestApp::with_webauthn(db).await;
    let owner = t.account("acme").await;
    let http = t.signed_in(&owner.email).await;
    let mut key = SoftKey::security_key();
    let done = register(&http, &mut key, "  YubiKey 5  ").await;
    assert_eq!(done["name"], "YubiKey 5");
    assert_eq!(done["passkey"], false, "no PIN, not discoverable: a second factor only");
    assert_eq!(done["recovery_codes"].as_array().unwrap().len(), 10, "the first factor brings recovery codes");
    let me = http.get("/api/v1/me").await.json();
    assert_eq!(me["two_factor"]["enabled"], true);
    assert_eq!(me["two_factor"]["security_keys"], 1);

    let pending = t.password_step(&owner.email, false).await;
    let started = t.password_step_on(&pending, &owner.email, false).await;
    assert_eq!(started["status"], "second_factor_required");
    assert_eq!(started["methods"], json!(["webauthn", "recovery_code"]));
    let c = challenge(&pending).await;
    assert_eq!(c["public_key"]["rpId"], "localhost");
    let r = answer(&pending, &c["challenge_id"], key.sign(&c["public_key"], ORIGIN)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["status"], "signed_in");
    let keys = pending.get("/api/v1/me/security-keys").await.json();
    assert_eq!(keys[0]["name"], "YubiKey 5");
    assert!(keys[0]["last_used_at"].is_i64(), "{keys}");
    let events: Vec<String> = t.events(owner.account_id).await.into_iter().map(|e| e.0).collect();
    for e in ["security_key.registered", "two_factor.enabled", "recovery_codes.issued", "sign_in.succeeded"] {
        assert!(events.contains(&e.to_string()), "{e} in {events:?}");
    }
    let success = t.details_of("sign_in.succeeded").await;
    assert_eq!(success.last().unwrap()["method"], "webauthn");
}

async fn sec_36_a_challenge_is_single_use_bound_to_its_session_and_expires_in_five_minutes(db: TestDb) {
    let t = TestApp::with_webauthn(db).await;
    let owner = t.account("acme").await;
    let mut key = with_key(&t, &owner.email).await;

    // Replayed: the same challenge and answer a second time.
    let first = t.password_step(&owner.email, false).await;
    let c = challenge(&first).await;
    let signed = key.sign(&c["public_key"], ORIGIN);
    let second = t.password_step(&owner.email, false).await;
    let r = answer(&second, &c["challenge_id"], signed.clone()).await;
    assert_eq!(r.status, 401, "another session cannot finish this session's ceremony");
    assert_eq!(r.error_code(), "invalid_credential");
    let r = answer(&first, &c["challenge_id"], signed.clone()).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let third = t.password_step(&owner.email, false).await;
    let r = answer(&third, &c["challenge_id"], signed).await;
    assert_eq!(r.status, 401, "a used challenge is gone");

    // Expired: five minutes and one second later.
    let late = t.password_step(&owner.email, false).await;
    let c = challenge(&late).await;
    let signed = key.sign(&c["public_key"], ORIGIN);
    t.clock.advance(301);
    let r = answer(&late, &c["challenge_id"], signed).await;
    assert_eq!(r.status, 401);
    let reasons = reasons(&t).await;
    assert!(reasons.contains(&"unknown_or_used_challenge".to_string()), "{reasons:?}");
    assert!(reasons.contains(&"challenge_expired".to_string()), "{reasons:?}");
    // Challenges are random: two in a row differ.
    let fresh = t.password_step(&owner.email, false).await;
    let (a, b) = (challenge(&fresh).await, challenge(&fresh).await);
    assert_ne!(a["public_key"]["challenge"], b["public_key"]["challenge"]);
    assert_ne!(a["challenge_id"], b["challenge_id"]);
}

async fn sec_36_a_wrong_origin_or_rp_id_a_tampered_signature_or_another_persons_key_is_refused_and_audited(db: TestDb) {
    let t = TestApp::with_webauthn(db).await;
    let owner = t.account("acme").await;
    let mut key = with_key(&t, &owner.email).await;
    let pat = t.person(&owner, "pat@acme.test", Role::User).await;
    let mut pats_key = with_key(&t, &pat.email).await;

    let pending = t.password_step(&owner.email, false).await;
    let c = challenge(&pending).await;
    let r = answer(&pending, &c["challenge_id"], key.sign(&c["public_key"], "http://evil.test:8080")).await;
    assert_eq!((r.status, r.error_code().as_str()), (401, "invalid_credential"));

    let c = challenge(&pending).await;
    let r = answer(&pending, &c["challenge_id"], tampered(&key.sign(&c["public_key"], ORIGIN))).await;
    assert_eq!(r.status, 401);

    // Signed for another relying party (a phishing site's RP id), from the right origin.
    let c = challenge(&pending).await;
    let mut elsewhere = c["public_key"].clone();
    elsewhere["rpId"] = json!("evil.test");
    let r = answer(&pending, &c["challenge_id"], key.sign(&elsewhere, ORIGIN)).await;
    assert_eq!(r.status, 401);

    let c = challenge(&pending).await;
    let r = answer(&pending, &c["challenge_id"], pats_key.sign(&c["public_key"], ORIGIN)).await;
    assert_eq!(r.status, 401, "Pat's key does not sign the Owner in");

    let reasons = reasons(&t).await;
    assert_eq!(reasons, ["wrong_origin", "bad_signature", "wrong_rp_id", "credential_of_another_person"]);
    // The good key still works after all that.
    let c = challenge(&pending).await;
    assert_eq!(answer(&pending, &c["challenge_id"], key.sign(&c["public_key"], ORIGIN)).await.status, 200);
}

async fn sec_36_a_counter_that_goes_backwards_refuses_the_sign_in_and_is_audited(db: TestDb) {
    let t = TestApp::with_webauthn(db).await;
    let owner = t.account("acme").await;
    let mut key = with_key(&t, &owner.email).await;
    for _ in 0..3 {
        let pending = t.password_step(&owner.email, false).await;
        let c = challenge(&pending).await;
        assert_eq!(answer(&pending, &c["challenge_id"], key.sign(&c["public_key"], ORIGIN)).await.status, 200);
    }
    // A clone of the key, still at counter 2 while the original reached 3.
    let pending = t.password_step(&owner.email, false).await;
    let c = challenge(&pending).await;
    let r = answer(&pending, &c["challenge_id"], key.sign_with_counter(&c["public_key"], ORIGIN, 2)).await;
    assert_eq!(r.status, 401);
    assert_eq!(reasons(&t).await, ["counter_went_back"]);
}

async fn sec_36_a_passkey_signs_in_without_a_password_only_with_user_verification(db: TestDb) {
    let t = TestApp::with_webauthn(db).await;
    let owner = t.account("acme").await;
    let http = t.signed_in(&owner.email).await;
    let mut passkey = SoftKey::passkey();
    let done = register(&http, &mut passkey, "Laptop").await;
    assert_eq!(done["passkey"], true);

    let browser = t.http();
    let c = browser.post_json("/api/v1/login/passkey/challenge", &json!({})).await;
    assert_eq!(c.status, 200, "{}", c.text());
    let c = c.json();
    assert_eq!(c["public_key"]["userVerification"], "required");
    let credential = passkey.sign(&c["public_key"], ORIGIN);
    let r = browser
        .post_json("/api/v1/login/passkey", &json!({ "challenge_id": c["challenge_id"], "credential": credential }))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["status"], "signed_in", "no password, no second step: both factors");
    assert_eq!(browser.get("/api/v1/me").await.status, 200);
    assert_eq!(t.details_of("sign_in.succeeded").await.last().unwrap()["method"], "passkey");

    // The same passkey without user verification (no PIN entered): refused.
    passkey.user_verified = false;
    let other = t.http();
    let c = other.post_json("/api/v1/login/passkey/challenge", &json!({})).await.json();
    let credential = passkey.sign(&c["public_key"], ORIGIN);
    let r = other
        .post_json("/api/v1/login/passkey", &json!({ "challenge_id": c["challenge_id"], "credential": credential }))
        .await;
    assert_eq!(r.status, 401);
    assert_eq!(reasons(&t).await, ["user_not_verified"]);

    // A plain security key is no passkey.
    let mut plain = SoftKey::security_key();
    register(&http, &mut plain, "Plain key").await;
    let c = other.post_json("/api/v1/login/passkey/challenge", &json!({})).await.json();
    let credential = plain.sign(&c["public_key"], ORIGIN);
    let r = other
        .post_json("/api/v1/login/passkey", &json!({ "challenge_id": c["challenge_id"], "credential": credential }))
        .await;
    assert_eq!(r.status, 401);
    // A passkey answer finished from a browser that did not ask (no binding cookie): refused.
    passkey.user_verified = true;
    let c = other.post_json("/api/v1/login/passkey/challenge", &json!({})).await.json();
    let credential = passkey.sign(&c["public_key"], ORIGIN);
    let stranger = t.http();
    let r = stranger
        .post_json("/api/v1/login/passkey", &json!({ "challenge_id": c["challenge_id"], "credential": credential }))
        .await;
    assert_eq!(r.status, 401);
    assert_eq!(reasons(&t).await, ["user_not_verified", "not_a_passkey", "unknown_or_used_challenge"]);
}

/// The same browser (its cookies and CSRF token) talking to a second instance.
fn on_instance(router: &axum::Router, browser: &Http, cookies: &[&str], csrf: Option<&str>) -> Http {
    let moved = Http::new(router.clone());
    for name in cookies {
        moved.set_cookie(name, &browser.cookie(name).unwrap());
    }
    if let Some(token) = csrf {
        moved.set_csrf(token);
    }
    moved
}

async fn sec_36_a_ceremony_begun_on_one_instance_finishes_on_another(db: TestDb) {
    let t = TestApp::with_webauthn(db).await;
    let other = t.second_instance().await;
    let owner = t.account("acme").await;
    let http = t.signed_in(&owner.email).await;
    let mut key = SoftKey::passkey();
    register(&http, &mut key, "Laptop").await;

    // The second step: challenge from instance A, answer to instance B.
    let pending = t.http();
    let started = t.password_step_on(&pending, &owner.email, false).await;
    let c = challenge(&pending).await;
    let moved = on_instance(&other, &pending, &["twofold_session"], started["csrf_token"].as_str());
    let r = answer(&moved, &c["challenge_id"], key.sign(&c["public_key"], ORIGIN)).await;
    assert_eq!(r.status, 200, "{}", r.text());

    // A passkey: challenge from A, answer to B, bound to the same browser cookie.
    let browser = t.http();
    let c = browser.post_json("/api/v1/login/passkey/challenge", &json!({})).await.json();
    let moved = on_instance(&other, &browser, &["twofold_form"], None);
    let credential = key.sign(&c["public_key"], ORIGIN);
    let body = json!({ "challenge_id": c["challenge_id"], "credential": credential });
    let r = moved.post_json("/api/v1/login/passkey", &body).await;
    assert_eq!(r.status, 200, "{}", r.text());
    // Finished once: the same answer to instance A finds nothing.
    let r = browser.post_json("/api/v1/login/passkey", &body).await;
    assert_eq!(r.status, 401);
}

async fn delete_key(http: &Http, id: &Value, password: &str) -> crate::support::http::Response {
    let body = Body::from(json!({ "password": password }).to_string());
    http.send(Method::DELETE, &format!("/api/v1/me/security-keys/{id}"), Some("application/json"), body, &[]).await
}

async fn sec_36_removing_a_key_needs_the_password_and_the_last_one_turns_two_factor_off(db: TestDb) {
    let t = TestApp::with_webauthn(db).await;
    let owner = t.account("acme").await;
    let http = t.signed_in(&owner.email).await;
    let mut key = SoftKey::security_key();
    let id = register(&http, &mut key, "YubiKey").await["id"].clone();
    let r = delete_key(&http, &id, "not my password").await;
    assert_eq!((r.status, r.error_code().as_str()), (401, "invalid_credentials"));
    assert_eq!(http.get("/api/v1/me/security-keys").await.json().as_array().unwrap().len(), 1);
    let r = delete_key(&http, &json!(999_999), PASSWORD).await;
    assert_eq!(r.status, 404);
    let r = delete_key(&http, &id, PASSWORD).await;
    assert_eq!(r.status, 204, "{}", r.text());
    let me = http.get("/api/v1/me").await.json();
    assert_eq!(me["two_factor"]["enabled"], false, "the last factor is gone");
    assert_eq!(me["two_factor"]["recovery_codes_left"], 0, "its codes went with it");
    let events: Vec<String> = t.events(owner.account_id).await.into_iter().map(|e| e.0).collect();
    assert!(events.contains(&"security_key.removal_refused".to_string()));
    assert!(events.contains(&"security_key.removed".to_string()));
    assert!(events.contains(&"two_factor.disabled".to_string()));
}

async fn sec_36_registration_checks_the_origin_and_binds_a_credential_to_one_person(db: TestDb) {
    let t = TestApp::with_webauthn(db).await;
    let owner = t.account("acme").await;
    let http = t.signed_in(&owner.email).await;
    let mut key = SoftKey::security_key();
    let start = http.post_json("/api/v1/me/security-keys/registration", &json!({})).await.json();
    let credential = key.register(&start["public_key"], "http://evil.test:8080");
    let body =
        json!({ "challenge_id": start["challenge_id"], "name": "Key", "credential": credential, "password": PASSWORD });
    let r = http.post_json("/api/v1/me/security-keys", &body).await;
    assert_eq!((r.status, r.error_code().as_str()), (422, "invalid_credential"));
    assert_eq!(t.details_of("security_key.registration_failed").await.last().unwrap()["reason"], "wrong_origin");
    // The same challenge cannot be tried again.
    let credential = key.register(&start["public_key"], ORIGIN);
    let body =
        json!({ "challenge_id": start["challenge_id"], "name": "Key", "credential": credential, "password": PASSWORD });
    assert_eq!(http.post_json("/api/v1/me/security-keys", &body).await.status, 422);

    register(&http, &mut key, "Key").await;
    // Pat presents the very same credential: it stays the Owner's.
    let pat = t.person(&owner, "pat@acme.test", Role::User).await;
    let pat_http = t.signed_in(&pat.email).await;
    let start = pat_http.post_json("/api/v1/me/security-keys/registration", &json!({})).await.json();
    let credential = key.register(&start["public_key"], ORIGIN);
    let body =
        json!({ "challenge_id": start["challenge_id"], "name": "Key", "credential": credential, "password": PASSWORD });
    let r = pat_http.post_json("/api/v1/me/security-keys", &body).await;
    assert_eq!((r.status, r.error_code().as_str()), (409, "already_registered"));
    // Names are checked before anything else.
    let body = json!({ "challenge_id": "x", "name": "", "credential": {}, "password": PASSWORD });
    assert_eq!(pat_http.post_json("/api/v1/me/security-keys", &body).await.error_code(), "invalid_name");
}

async fn malformed_credentials_answer_a_clear_4xx(db: TestDb) {
    let t = TestApp::with_webauthn(db).await;
    let owner = t.account("acme").await;
    let _key = with_key(&t, &owner.email).await;
    let pending = t.password_step(&owner.email, false).await;
    for credential in [json!({}), json!("x"), json!({ "id": 1, "response": [] }), json!({ "rawId": "!!!" })] {
        let c = challenge(&pending).await;
        let r = answer(&pending, &c["challenge_id"], credential.clone()).await;
        assert_eq!(r.status, 401, "{credential}: {}", r.text());
        assert_eq!(r.error_code(), "invalid_credential");
    }
    let r = pending.post_json("/api/v1/login/webauthn", &json!({ "challenge_id": 5 })).await;
    assert_eq!(r.status, 422);
    let r = pending.post_raw("/api/v1/login/webauthn", "application/json", "{not json", &[]).await;
    assert_eq!(r.status, 400);
    let r =
        pending.post_json("/api/v1/login/passkey", &json!({ "challenge_id": "x", "credential": { "foo": 1 } })).await;
    assert_eq!(r.status, 401);
    assert!(reasons(&t).await.iter().all(|r| r == "malformed_credential"), "{:?}", reasons(&t).await);
}

async fn turning_two_factor_off_removes_keys_and_codes(db: TestDb) {
    let t = TestApp::with_webauthn(db).await;
    let owner = t.account("acme").await;
    let pat = t.person(&owner, "pat@acme.test", Role::User).await;
    let _key = with_key(&t, &pat.email).await;
    let admin = t.signed_in(&owner.email).await;
    let body = Body::from(json!({ "password": PASSWORD }).to_string());
    let r = admin
        .send(Method::DELETE, &format!("/api/v1/users/{}/two-factor", pat.id), Some("application/json"), body, &[])
        .await;
    assert_eq!(r.status, 204, "{}", r.text());
    let mut conn = t.app.store().conn().await.unwrap();
    let f = twofold_store::factors::of_person(&mut conn, pat.id).await.unwrap();
    assert_eq!((f.security_keys, f.recovery_codes_left, f.is_on()), (0, 0, false));
}
