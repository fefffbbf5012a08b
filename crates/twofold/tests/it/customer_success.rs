//! Customer Success: operators with mandatory TOTP, SMS recovery for 48 hours, sign-in
//! with an SMS code, lost-device requests.

use axum::http::Method;
use serde_json::json;
use twofold_app::domain::Role;
use twofold_app::domain::otp::Secret;

use crate::support::{Http, PASSWORD, PHONE, TestApp, TestDb};

on_both_databases!(
    sec_29_operators_sign_in_with_a_password_and_mandatory_totp,
    sec_29_a_grant_needs_a_reason_a_verified_number_and_is_audited,
    sec_17_sms_recovery_appears_only_with_an_active_grant,
    sec_17_the_grant_works_just_before_48_hours_and_fails_just_after,
    sms_sign_in_codes_are_bound_resent_and_throttled,
    after_an_sms_sign_in_the_person_resets_2fa_and_the_grant_closes,
    a_lost_device_request_reaches_support_and_is_granted,
);

/// The operator's password step through the API; answers the client and the enrolment key.
async fn operator_password(t: &TestApp) -> (Http, Secret) {
    t.app.add_operator("cs@twofold.test", "Casey Support", PASSWORD).await.unwrap();
    let http = t.http();
    let r = http.post_json("/api/v1/support/login", &json!({ "email": "cs@twofold.test", "password": PASSWORD })).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["status"], "totp_required");
    http.set_csrf(r.json()["csrf_token"].as_str().unwrap());
    (http, Secret::from_base32(r.json()["enrolment_secret"].as_str().unwrap()).unwrap())
}

/// Adds an operator and signs them in, enrolling TOTP on the way.
async fn operator(t: &TestApp) -> Http {
    let (http, secret) = operator_password(t).await;
    let r = http.post_json("/api/v1/support/login/totp", &json!({ "code": t.code(&secret, 0) })).await;
    assert_eq!(r.status, 200, "{}", r.text());
    http.set_csrf(r.json()["csrf_token"].as_str().unwrap());
    http
}

/// An account whose Owner has 2FA (with [`PHONE`]); answers the Owner's key.
async fn owner_with_2fa(t: &TestApp) -> Secret {
    t.account("acme").await;
    t.enable_two_factor(&t.signed_in("owner@acme.test").await).await
}

async fn grant(t: &TestApp, op: &Http, email: &str) -> crate::support::http::Response {
    let id = t.user(email).await.id;
    let body = json!({ "reason": "TICKET-42, called back on the number on file" });
    op.post_json(&format!("/api/v1/support/people/{id}/sms-recovery"), &body).await
}

async fn sec_29_operators_sign_in_with_a_password_and_mandatory_totp(db: TestDb) {
    let t = TestApp::new(db).await;
    owner_with_2fa(&t).await;
    let wrong = t.http();
    t.app.add_operator("other@twofold.test", "Other", PASSWORD).await.unwrap();
    let r = wrong
        .post_json("/api/v1/support/login", &json!({ "email": "other@twofold.test", "password": "wrong password!" }))
        .await;
    assert_eq!(r.status, 401);
    let (http, secret) = operator_password(&t).await;
    // The password alone reaches nothing.
    assert_eq!(http.get("/api/v1/support/people?email=owner@acme.test").await.status, 401);
    assert_eq!(http.get("/support").await.header("location").as_deref(), Some("/support/code"));
    let page = http.get("/support/code").await.text();
    assert!(page.contains("<svg") && page.contains("secret-key"), "TOTP is enrolled at the first sign-in");
    let r = http.post_json("/api/v1/support/login/totp", &json!({ "code": "000000" })).await;
    assert_eq!(r.status, 401);
    let r = http.post_json("/api/v1/support/login/totp", &json!({ "code": t.code(&secret, 0) })).await;
    assert_eq!(r.status, 200, "{}", r.text());
    http.set_csrf(r.json()["csrf_token"].as_str().unwrap());
    // Support forms carry the operator session's token (SEC-25): a forged one grants nothing.
    let id = t.user("owner@acme.test").await.id;
    let forged = http
        .post_form(&format!("/support/people/{id}/grant"), &[("csrf_token", "forged"), ("reason", "TICKET-9")])
        .await;
    assert_eq!(forged.status, 403);
    let page = http.get(&format!("/support/people/{id}")).await;
    assert!(page.text().contains("Not enabled"));
    let token = page.form_csrf();
    let granted =
        http.post_form(&format!("/support/people/{id}/grant"), &[("csrf_token", &token), ("reason", "TICKET-9")]).await;
    assert!(granted.text().contains("SMS recovery is enabled"), "{}", granted.text());
    let card = http.get("/api/v1/support/people?email=owner@acme.test").await;
    assert_eq!(card.status, 200, "{}", card.text());
    assert_eq!(card.json()["phone"], "+•• ••• ••• 67");
    assert_eq!(card.json()["role"], "owner");
    assert!(card.json().get("password_hash").is_none());
    // Customer sessions are not operator sessions.
    let owner = t.password_step("owner@acme.test", false).await;
    assert_eq!(owner.get("/api/v1/support/people?email=owner@acme.test").await.status, 401);
    let events: Vec<String> =
        t.events(t.user("owner@acme.test").await.account_id).await.into_iter().map(|e| e.0).collect();
    assert!(events.contains(&"support.lookup".to_string()), "lookups are audited: {events:?}");
}

async fn sec_29_a_grant_needs_a_reason_a_verified_number_and_is_audited(db: TestDb) {
    let t = TestApp::new(db).await;
    let secret = owner_with_2fa(&t).await;
    let o = t.user("owner@acme.test").await;
    let nophone = t.person(&o, "user@acme.test", Role::User).await;
    let op = operator(&t).await;
    let r = op.post_json(&format!("/api/v1/support/people/{}/sms-recovery", o.id), &json!({ "reason": " " })).await;
    assert_eq!((r.status, r.error_code().as_str()), (422, "reason_required"));
    let r = op
        .post_json(&format!("/api/v1/support/people/{}/sms-recovery", nophone.id), &json!({ "reason": "TICKET-1" }))
        .await;
    assert_eq!((r.status, r.error_code().as_str()), (409, "no_verified_phone"));
    let r = grant(&t, &op, "owner@acme.test").await;
    assert_eq!(r.status, 201, "{}", r.text());
    let now = twofold_app::domain::Clock::now(&*t.clock);
    assert_eq!(r.json()["expires_at"], now + 48 * 3600);
    t.deliver_sms().await;
    let notice = t.sms.sent().into_iter().rev().find(|m| m.body.contains("support")).unwrap();
    assert!(notice.body.contains("support enabled SMS sign-in"), "{}", notice.body);
    let r = op
        .send(
            Method::DELETE,
            &format!("/api/v1/support/people/{}/sms-recovery", o.id),
            None,
            axum::body::Body::empty(),
            &[],
        )
        .await;
    assert_eq!(r.status, 204);
    // The Owner sees the grant and its revocation in the audit log.
    let owner = t.signed_in_with_code("owner@acme.test", &secret).await;
    let events = owner.get("/api/v1/audit-events?limit=500").await.json();
    let names: Vec<&str> = events.as_array().unwrap().iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert!(
        names.contains(&"support.sms_recovery_granted") && names.contains(&"support.sms_recovery_revoked"),
        "{names:?}"
    );
}

async fn sec_17_sms_recovery_appears_only_with_an_active_grant(db: TestDb) {
    let t = TestApp::new(db).await;
    owner_with_2fa(&t).await;
    let pending = t.password_step("owner@acme.test", false).await;
    let r = pending.post_json("/api/v1/login/sms", &json!({})).await;
    assert_eq!((r.status, r.error_code().as_str()), (403, "sms_recovery_not_enabled"));
    assert!(!pending.get("/login/code").await.text().contains("Use SMS as your secondary verification method?"));
    let op = operator(&t).await;
    assert_eq!(grant(&t, &op, "owner@acme.test").await.status, 201);
    let http = t.http();
    let answer = t.password_step_on(&http, "owner@acme.test", false).await;
    assert_eq!(answer["methods"], json!(["totp", "recovery_code", "sms"]));
    assert!(http.get("/login/code").await.text().contains("Use SMS as your secondary verification method?"));
}

/// Signs in with the SMS code on a new half-finished sign-in; answers the status.
async fn sms_sign_in(t: &TestApp) -> (u16, Http) {
    let http = t.password_step("owner@acme.test", false).await;
    let r = http.post_json("/api/v1/login/sms", &json!({})).await;
    if r.status != 202 {
        return (r.status, http);
    }
    assert!(r.json()["resend_after_seconds"].as_i64().unwrap() > 0);
    let code = t.sms_code_to(PHONE).await;
    let r = http.post_json("/api/v1/login/sms/verify", &json!({ "code": code })).await;
    if r.status == 200 {
        http.set_csrf(r.json()["csrf_token"].as_str().unwrap());
    }
    (r.status, http)
}

async fn sec_17_the_grant_works_just_before_48_hours_and_fails_just_after(db: TestDb) {
    let t = TestApp::new(db).await;
    owner_with_2fa(&t).await;
    let op = operator(&t).await;
    assert_eq!(grant(&t, &op, "owner@acme.test").await.status, 201);
    t.clock.advance(48 * 3600 - 61);
    let (status, http) = sms_sign_in(&t).await;
    assert_eq!(status, 200, "just before 48 hours");
    assert_eq!(http.get("/api/v1/me").await.status, 200);
    t.clock.advance(61);
    let (status, _) = sms_sign_in(&t).await;
    assert_eq!(status, 403, "at 48 hours it is over");
}

async fn sms_sign_in_codes_are_bound_resent_and_throttled(db: TestDb) {
    let t = TestApp::new(db).await;
    let secret = owner_with_2fa(&t).await;
    let op = operator(&t).await;
    assert_eq!(grant(&t, &op, "owner@acme.test").await.status, 201);
    t.clock.advance(60);
    let first = t.password_step("owner@acme.test", false).await;
    assert_eq!(first.post_json("/api/v1/login/sms", &json!({})).await.status, 202);
    let code = t.sms_code_to(PHONE).await;
    // A code for one sign-in attempt fails on another (SEC-13).
    let other = t.password_step("owner@acme.test", false).await;
    assert_eq!(other.post_json("/api/v1/login/sms/verify", &json!({ "code": code })).await.status, 401);
    // Floods of Resend are refused with the wait (SEC-15); after the cooldown a new code voids the old (SEC-14).
    let r = first.post_json("/api/v1/login/sms", &json!({})).await;
    assert_eq!(r.status, 429);
    t.clock.advance(60);
    assert_eq!(first.post_json("/api/v1/login/sms", &json!({})).await.status, 202);
    let fresh = t.sms_code_to(PHONE).await;
    if fresh != code {
        assert_eq!(first.post_json("/api/v1/login/sms/verify", &json!({ "code": code })).await.status, 401);
    }
    // A phone-verification code is not a sign-in code, and a TOTP code is not an SMS code.
    assert_eq!(first.post_json("/api/v1/login/sms/verify", &json!({ "code": t.code(&secret, 0) })).await.status, 401);
    let r = first.post_json("/api/v1/login/sms/verify", &json!({ "code": fresh })).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let events: Vec<String> =
        t.events(t.user("owner@acme.test").await.account_id).await.into_iter().map(|e| e.0).collect();
    assert!(events.contains(&"sign_in.sms_rejected".to_string()) && events.contains(&"sms.code_sent".to_string()));
}

async fn after_an_sms_sign_in_the_person_resets_2fa_and_the_grant_closes(db: TestDb) {
    let t = TestApp::new(db).await;
    let old = owner_with_2fa(&t).await;
    let op = operator(&t).await;
    assert_eq!(grant(&t, &op, "owner@acme.test").await.status, 201);
    t.clock.advance(60);
    // Through the pages: the SMS sign-in lands on the page that asks to set 2FA up again.
    let http = t.http();
    let csrf = http.get("/login").await.form_csrf();
    http.post_form("/login", &[("csrf_token", &csrf), ("email", "owner@acme.test"), ("password", PASSWORD)]).await;
    let page = http.get("/login/sms").await;
    assert!(page.text().contains("Send code"));
    let csrf = page.form_csrf();
    http.post_form("/login/sms", &[("csrf_token", &csrf)]).await;
    let page = http.get("/login/sms").await.text();
    assert!(page.contains("+•• ••• ••• 67") && page.contains("up to 15 minutes") && page.contains("Resend"), "{page}");
    let code = t.sms_code_to(PHONE).await;
    let r = http.post_form("/login/sms/verify", &[("csrf_token", &csrf), ("code", &code)]).await;
    assert_eq!(r.header("location").as_deref(), Some("/recovery"), "{}", r.text());
    assert!(http.get("/recovery").await.text().contains("set it up again with your new device"));
    // Disabling 2FA closes the grant; re-enrolling gives a new key and the old one fails.
    let csrf = http.get("/me/two-factor/disable").await.form_csrf();
    let r = http.post_form("/me/two-factor/disable", &[("csrf_token", &csrf), ("password", PASSWORD)]).await;
    assert_eq!(r.status, 303);
    assert!(!t.app.sms_recovery_active(t.user("owner@acme.test").await.id).await.unwrap(), "the grant closed");
    let api = t.signed_in("owner@acme.test").await;
    t.clock.advance(60); // the SMS cooldown since the sign-in code
    let new = t.enable_two_factor(&api).await;
    assert_ne!(new.to_base32(), old.to_base32());
    let step = t.password_step("owner@acme.test", false).await;
    assert_eq!(step.post_json("/api/v1/login/totp", &json!({ "code": t.code(&old, 0) })).await.status, 401);
    assert_eq!(step.post_json("/api/v1/login/sms", &json!({})).await.status, 403, "no more SMS sign-in");
}

async fn a_lost_device_request_reaches_support_and_is_granted(db: TestDb) {
    let t = TestApp::new(db).await;
    owner_with_2fa(&t).await;
    let o = t.user("owner@acme.test").await;
    t.person(&o, "ann@acme.test", Role::Admin).await;
    let user = t.person(&o, "uma@acme.test", Role::User).await;
    let u = t.signed_in(&user.email).await;
    t.enable_two_factor_with_phone(&u, "+447400123456").await;
    // A User sees who can help them; the Owner is told to ask support.
    let pending = t.password_step("uma@acme.test", false).await;
    let info = pending.get("/api/v1/login/lost-device").await.json();
    let helpers: Vec<&str> = info["helpers"].as_array().unwrap().iter().map(|h| h["name"].as_str().unwrap()).collect();
    assert_eq!(helpers.len(), 2, "{info}");
    let owner = t.password_step("owner@acme.test", false).await;
    let page = owner.get("/login/lost-device").await.text();
    assert!(page.contains("nobody in your account can turn off your two-factor authentication"));
    let bad = owner
        .post_json("/api/v1/login/recovery-requests", &json!({ "message": "Lost my phone", "contact": "0851234567" }))
        .await;
    assert_eq!(bad.status, 422);
    let r = owner
        .post_json(
            "/api/v1/login/recovery-requests",
            &json!({ "message": "Lost my phone on a train", "contact": "+353851234567" }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let again = owner
        .post_json("/api/v1/login/recovery-requests", &json!({ "message": "again", "contact": "+353851234567" }))
        .await;
    assert_eq!(again.status, 409, "one request at a time");
    // Managers of the account see it; support has it in the queue with the 48-hour target.
    let ann = t.signed_in("ann@acme.test").await;
    assert_eq!(ann.get("/api/v1/recovery-requests").await.json().as_array().unwrap().len(), 1);
    let users_tab = ann.get("/users").await.text();
    assert!(
        users_tab.contains("Recovery requests") && users_tab.contains("Olive Owner: open"),
        "managers see it on the Users tab"
    );
    let op = operator(&t).await;
    let queue = op.get("/api/v1/support/requests").await.json();
    let id = queue[0]["id"].as_i64().unwrap();
    assert_eq!(queue[0]["due_at"].as_i64().unwrap() - queue[0]["created_at"].as_i64().unwrap(), 48 * 3600);
    let r = op
        .post_json(
            &format!("/api/v1/support/requests/{id}/decision"),
            &json!({ "grant": true, "identity_check": "video call" }),
        )
        .await;
    assert_eq!(r.status, 409, "take it first");
    assert_eq!(op.post_json(&format!("/api/v1/support/requests/{id}/take"), &json!({})).await.status, 204);
    let r = op
        .post_json(&format!("/api/v1/support/requests/{id}/decision"), &json!({ "grant": true, "identity_check": "" }))
        .await;
    assert_eq!(r.status, 422, "the identity check is noted");
    let body = json!({ "grant": true, "identity_check": "Called the number on file, confirmed date of birth", "reason": "REQ-1" });
    let r = op.post_json(&format!("/api/v1/support/requests/{id}/decision"), &body).await;
    assert_eq!(r.status, 204, "{}", r.text());
    let info = owner.get("/api/v1/login/lost-device").await.json();
    assert_eq!(info["request"]["status"], "granted");
    assert_eq!(info["sms_recovery_active"], true);
    t.deliver_sms().await;
    assert!(t.sms.sent().iter().any(|m| m.to == PHONE && m.body.contains("support enabled SMS sign-in")));
}
