//! SEC-46: one answer to how strongly a session is signed in, asked by every consumer, and
//! a fresh password proof, counted by the sign-in's budgets, before every change a thief
//! could use. Each attack of the issue that found the holes is one test here; the real
//! proxies' side is in `proxies.rs`, the browser's in `browser.rs`.

use axum::body::Body;
use axum::http::Method;
use serde_json::json;
use twofold_app::domain::Role;

use crate::support::authenticator::{ORIGIN, SoftKey};
use crate::support::http::{Http, Response};
use crate::support::{PASSWORD, TestApp, TestDb};

on_both_databases!(
    sec_46_a_stolen_session_cannot_plant_a_passkey_without_the_password,
    sec_46_twelve_wrong_password_proofs_on_each_change_meet_the_sign_in_budget,
    sec_46_me_tells_how_this_session_signed_in_and_what_it_is_worth_now,
    sec_46_the_policy_page_and_route_answer_alike_for_each_role,
    sec_46_every_refused_permission_is_audited_under_its_own_event,
    sec_46_a_one_factor_session_cannot_add_the_app_beside_a_security_key,
);

const WRONG: &str = "not the password, alas";

/// Starts a key registration on `http` and finishes it with `password` (none: the field
/// left out), answering the finishing response.
async fn register_with(http: &Http, key: &mut SoftKey, password: Option<&str>) -> Response {
    let start = http.post_json("/api/v1/me/security-keys/registration", &json!({})).await;
    assert_eq!(start.status, 200, "{}", start.text());
    let start = start.json();
    let credential = key.register(&start["public_key"], ORIGIN);
    let mut body =
        json!({ "challenge_id": start["challenge_id"], "name": "Thief's passkey", "credential": credential });
    if let Some(password) = password {
        body["password"] = json!(password);
    }
    http.post_json("/api/v1/me/security-keys", &body).await
}

/// A passkey sign-in with no password, as the thief would try it afterwards.
async fn passkey_sign_in(t: &TestApp, key: &mut SoftKey) -> Response {
    let browser = t.http();
    let c = browser.post_json("/api/v1/login/passkey/challenge", &json!({})).await.json();
    let credential = key.sign(&c["public_key"], ORIGIN);
    browser
        .post_json("/api/v1/login/passkey", &json!({ "challenge_id": c["challenge_id"], "credential": credential }))
        .await
}

async fn sec_46_a_stolen_session_cannot_plant_a_passkey_without_the_password(db: TestDb) {
    let t = TestApp::with_webauthn(db).await;
    let owner = t.account("acme").await;
    // The thief holds a copy of a signed-in session cookie, and nothing else.
    let stolen = t.signed_in(&owner.email).await;
    let mut key = SoftKey::passkey();
    let r = register_with(&stolen, &mut key, None).await;
    assert_eq!(r.status, 422, "no password, no key: {}", r.text());
    let r = register_with(&stolen, &mut key, Some(WRONG)).await;
    assert_eq!((r.status, r.error_code().as_str()), (401, "invalid_credentials"));
    let keys = stolen.get("/api/v1/me/security-keys").await.json();
    assert_eq!(keys.as_array().unwrap().len(), 0, "nothing was registered: {keys}");
    assert_eq!(passkey_sign_in(&t, &mut key).await.status, 401, "the passkey signs nobody in");

    // The person, with their password, adds a key; a reset later names it for review.
    let mut own = SoftKey::passkey();
    let r = register_with(&stolen, &mut own, Some(PASSWORD)).await;
    assert_eq!(r.status, 201, "{}", r.text());
    t.http().post_json("/api/v1/password-reset", &json!({ "email": owner.email })).await;
    let link = t.mailed_link(&owner.email, "/password-reset/").await;
    let token = link.rsplit('/').next().unwrap();
    let r = t
        .http()
        .post_json(&format!("/api/v1/password-reset/{token}"), &json!({ "password": "a new long passphrase" }))
        .await;
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(stolen.get("/api/v1/me").await.status, 401, "the reset ended the stolen session");
    t.deliver_all().await;
    let notice = t.mail.to(&owner.email).into_iter().rev().find(|m| m.subject.contains("reset")).unwrap();
    assert!(notice.text.contains("\"Thief's passkey\" (passkey, added"), "{}", notice.text);
}

/// The changes a thief could use that take a password proof in the same request.
const CHANGES: [&str; 8] = [
    "adding a security key or passkey",
    "new recovery codes",
    "turning one's own 2FA off",
    "changing the phone",
    "changing the password",
    "removing a security key",
    "an administrator's disable",
    "ownership transfer",
];

/// Tries change `what` on `http` (a signed-in Owner) with `password`; `other` is the
/// Administrator the last two act on.
async fn attempt(http: &Http, what: &str, other: i64, password: &str) -> Response {
    if what == "adding a security key or passkey" {
        return register_with(http, &mut SoftKey::passkey(), Some(password)).await;
    }
    let (method, path, body) = match what {
        "new recovery codes" => (Method::POST, "/api/v1/me/two-factor/recovery-codes".to_string(), json!({})),
        "turning one's own 2FA off" => (Method::DELETE, "/api/v1/me/two-factor".into(), json!({})),
        "changing the phone" => (Method::POST, "/api/v1/me/phone".into(), json!({ "phone": "+353851112222" })),
        "changing the password" => {
            let body = json!({ "current_password": password, "new_password": "another long passphrase" });
            (Method::PUT, "/api/v1/me/password".into(), body)
        }
        "removing a security key" => (Method::DELETE, "/api/v1/me/security-keys/999999".into(), json!({})),
        "an administrator's disable" => (Method::DELETE, format!("/api/v1/users/{other}/two-factor"), json!({})),
        "ownership transfer" => (Method::POST, format!("/api/v1/users/{other}/ownership"), json!({})),
        _ => unreachable!("{what}"),
    };
    let mut body = body;
    if body.get("current_password").is_none() {
        body["password"] = json!(password);
    }
    http.send(method, &path, Some("application/json"), Body::from(body.to_string()), &[]).await
}

async fn sec_46_twelve_wrong_password_proofs_on_each_change_meet_the_sign_in_budget(db: TestDb) {
    let t = TestApp::with_webauthn(db).await;
    for (n, what) in CHANGES.into_iter().enumerate() {
        let owner = t.account(&format!("a{n}")).await;
        let admin = t.person(&owner, &format!("adam@a{n}.test"), Role::Admin).await;
        let http = t.signed_in(&owner.email).await;
        t.enable_two_factor_with_phone(&http, &format!("+3538520000{n}0")).await;
        let other = t.signed_in(&admin.email).await;
        t.enable_two_factor_with_phone(&other, &format!("+3538520000{n}1")).await;
        let mut statuses = Vec::new();
        for _ in 0..12 {
            statuses.push(attempt(&http, what, admin.id, WRONG).await.status);
        }
        let first_429 = statuses.iter().position(|s| *s == 429);
        assert_eq!(first_429, Some(5), "{what}: the 6th guess waits, as at sign-in: {statuses:?}");
        assert!(statuses[..5].iter().all(|s| *s == 401), "{what}: {statuses:?}");
        assert!(statuses[5..].iter().all(|s| *s == 429), "{what}: {statuses:?}");
        // The right password now waits too: the budget is not a filter a right guess skips.
        let r = attempt(&http, what, admin.id, PASSWORD).await;
        assert_eq!(r.status, 429, "{what}: {}", r.text());
        assert!(r.header("retry-after").is_some(), "{what}");
        // The login page shares the budget: the email is throttled there as well.
        let login = json!({ "email": owner.email, "password": PASSWORD, "remember_device": false });
        assert_eq!(t.http().post_json("/api/v1/login", &login).await.status, 429, "{what}");
        t.clock.advance(16 * 60);
        let r = attempt(&http, what, admin.id, PASSWORD).await;
        assert!(
            r.status < 300 || r.status == 404,
            "{what}: after the wait the right password works: {} {}",
            r.status,
            r.text()
        );
    }
}

async fn sec_46_me_tells_how_this_session_signed_in_and_what_it_is_worth_now(db: TestDb) {
    let t = TestApp::with_webauthn(db).await;
    let owner = t.account("acme").await;
    let older = t.signed_in(&owner.email).await;
    let me = older.get("/api/v1/me").await.json();
    assert_eq!(me["session"]["method"], "password");
    assert_eq!(me["session"]["assurance"], "one_factor");
    assert!(me["session"]["signed_in_at"].as_i64().is_some());

    // The session that enrols a factor entered a code from it: two factors from then on.
    let enrolling = t.signed_in(&owner.email).await;
    let secret = t.enable_two_factor(&enrolling).await;
    let me = enrolling.get("/api/v1/me").await.json();
    assert_eq!(
        (me["session"]["method"].as_str(), me["session"]["assurance"].as_str()),
        (Some("totp"), Some("two_factor"))
    );
    // The older password-only session stays one-factor, though its person has 2FA now.
    assert_eq!(older.get("/api/v1/me").await.json()["session"]["assurance"], "one_factor");
    let coded = t.signed_in_with_code(&owner.email, &secret).await;
    let me = coded.get("/api/v1/me").await.json();
    assert_eq!(
        (me["session"]["method"].as_str(), me["session"]["assurance"].as_str()),
        (Some("totp"), Some("two_factor"))
    );

    // 2FA turned off: no session counts as two-factor any more.
    let r = coded
        .send(
            Method::DELETE,
            "/api/v1/me/two-factor",
            Some("application/json"),
            Body::from(json!({ "password": PASSWORD }).to_string()),
            &[],
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(coded.get("/api/v1/me").await.json()["session"]["assurance"], "one_factor");
    // A factor added later does not hand back the credit: it must be passed again.
    assert_eq!(register_with(&coded, &mut SoftKey::security_key(), Some(PASSWORD)).await.status, 201);
    assert_eq!(coded.get("/api/v1/me").await.json()["session"]["assurance"], "one_factor");
}

async fn sec_46_a_one_factor_session_cannot_add_the_app_beside_a_security_key(db: TestDb) {
    let t = TestApp::with_webauthn(db).await;
    t.account("acme").await;
    let http = t.signed_in("owner@acme.test").await;
    assert_eq!(register_with(&http, &mut SoftKey::security_key(), Some(PASSWORD)).await.status, 201);
    // The key is on; this session signed in with the password alone. The wizard's last
    // step would make it two-factor and replace the phone: refused.
    let r = http.post_json("/api/v1/me/two-factor/enrollment", &json!({})).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let secret = twofold_app::domain::otp::Secret::from_base32(r.json()["secret"].as_str().unwrap()).unwrap();
    let r = http.post_json("/api/v1/me/two-factor/enrollment/code", &json!({ "code": t.code(&secret, 0) })).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = http.post_json("/api/v1/me/two-factor/enrollment/phone", &json!({ "phone": "+353851112299" })).await;
    assert_eq!(r.status, 202, "{}", r.text());
    let sms = t.sms_code_to("+353851112299").await;
    let r = http.post_json("/api/v1/me/two-factor/enrollment/phone/verify", &json!({ "code": sms })).await;
    assert_eq!((r.status, r.error_code().as_str()), (403, "two_factor_required"), "{}", r.text());
    assert_eq!(http.get("/api/v1/me").await.json()["session"]["assurance"], "one_factor");
}

async fn sec_46_the_policy_page_and_route_answer_alike_for_each_role(db: TestDb) {
    let t = TestApp::new(db).await;
    let owner = t.account("acme").await;
    t.person(&owner, "adam@acme.test", Role::Admin).await;
    t.person(&owner, "uma@acme.test", Role::User).await;
    for (email, expected) in [("owner@acme.test", 200), ("adam@acme.test", 200), ("uma@acme.test", 403)] {
        let http = t.signed_in(email).await;
        let api = http.get("/api/v1/account/policy").await;
        let page = http.get("/account/security").await;
        assert_eq!((api.status, page.status), (expected, expected), "{email}: {} / {}", api.text(), page.text());
        if expected == 200 {
            assert_eq!(api.json()["require_two_factor"], false);
        } else {
            assert_eq!(api.error_code(), "forbidden");
        }
    }
    // Reading is not changing: an Administrator sees the policy, not the form.
    let admin = t.signed_in("adam@acme.test").await;
    let page = admin.get("/account/security").await.text();
    assert!(page.contains("Only the Account Owner can change the policy.") && !page.contains("policy-form"), "{page}");
    let r = admin.put_json("/api/v1/account/policy", &json!({ "require_two_factor": true, "grace_days": 0 })).await;
    assert_eq!(r.status, 403);
}

async fn sec_46_every_refused_permission_is_audited_under_its_own_event(db: TestDb) {
    let t = TestApp::new(db).await;
    let owner = t.account("acme").await;
    let uma = t.person(&owner, "uma@acme.test", Role::User).await;
    let http = t.signed_in(&uma.email).await;
    for path in
        ["/api/v1/users", "/api/v1/audit-events", "/api/v1/account/policy", &format!("/api/v1/users/{}", owner.id)]
    {
        assert_eq!(http.get(path).await.status, 403, "{path}");
    }
    let events: Vec<String> = t.events(owner.account_id).await.into_iter().map(|e| e.0).collect();
    for refused in ["people.list_refused", "audit.view_refused", "policy.read_refused", "person.view_refused"] {
        assert_eq!(events.iter().filter(|e| *e == refused).count(), 1, "{refused}: {events:?}");
    }
}
