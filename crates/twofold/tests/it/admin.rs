//! The security console: the whole permission matrix from one table, and what an
//! Administrator's action does to the person it is aimed at.

use axum::http::Method;
use serde_json::json;
use twofold_app::Person;
use twofold_app::domain::Role;
use twofold_app::{AppConfig, PasswordParams};

use crate::support::{Http, PASSWORD, PHONE, TestApp, TestDb};

on_both_databases!(
    sec_26_sec_27_the_permission_matrix,
    sec_28_an_administrator_turning_off_2fa_ends_sessions_and_devices_and_tells_the_person,
    unlocking_clears_a_locked_second_factor,
    people_see_and_end_their_own_sessions,
    the_owner_hands_the_account_to_an_administrator,
    required_two_factor_takes_people_into_the_wizard_after_the_grace_period,
    role_changes_are_told_in_the_app_and_by_sms,
);

async fn role_changes_are_told_in_the_app_and_by_sms(db: TestDb) {
    let t = TestApp::new(db).await;
    let o = t.account("acme").await;
    let user = t.person(&o, "user@acme.test", Role::User).await;
    let u = t.signed_in("user@acme.test").await;
    t.enable_two_factor(&u).await;
    let owner = t.signed_in("owner@acme.test").await;
    let r = owner.put_json(&format!("/api/v1/users/{}/role", user.id), &json!({ "role": "admin" })).await;
    assert_eq!(r.status, 200);
    t.deliver_sms().await;
    let sent = t.sms.sent();
    let sms = sent.iter().find(|m| m.body.contains("made you")).unwrap_or_else(|| panic!("{sent:?}"));
    assert_eq!(sms.to, PHONE);
    assert!(sms.body.contains("Olive Owner made you an Administrator"), "{}", sms.body);
    let notices = u.post_json("/api/v1/me/notices/take", &json!({})).await.json();
    assert_eq!(notices[0]["text"], "Olive Owner made you an Administrator.");
    let events: Vec<String> = t.events(o.account_id).await.into_iter().map(|e| e.0).collect();
    assert!(events.contains(&"role.changed".to_string()));
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Who {
    Owner,
    Admin,
    User,
    /// An Administrator of another account.
    Stranger,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Target {
    TheOwner,
    AnAdmin,
    AUser,
    Itself,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Act {
    View,
    Disable2fa,
    Unlock,
    SignOut,
    MakeAdmin,
    MakeUser,
    Transfer,
}

const ACTS: [Act; 7] =
    [Act::View, Act::Disable2fa, Act::Unlock, Act::SignOut, Act::MakeAdmin, Act::MakeUser, Act::Transfer];

/// caller × target → expected status of each act, in the order of `ACTS`.
/// 403 = forbidden or owner_protected; 404 = another account's person (SEC-27).
const MATRIX: &[(Who, Target, [u16; 7])] = &[
    (Who::Owner, Target::TheOwner, [200, 204, 204, 200, 403, 403, 403]),
    (Who::Owner, Target::AnAdmin, [200, 204, 204, 200, 200, 200, 204]),
    (Who::Owner, Target::AUser, [200, 204, 204, 200, 200, 200, 403]),
    (Who::Admin, Target::TheOwner, [200, 403, 403, 403, 403, 403, 403]),
    (Who::Admin, Target::AnAdmin, [200, 204, 204, 200, 403, 403, 403]),
    (Who::Admin, Target::AUser, [200, 204, 204, 200, 403, 403, 403]),
    (Who::Admin, Target::Itself, [200, 204, 204, 200, 403, 403, 403]),
    (Who::User, Target::TheOwner, [403, 403, 403, 403, 403, 403, 403]),
    (Who::User, Target::AnAdmin, [403, 403, 403, 403, 403, 403, 403]),
    (Who::User, Target::AUser, [403, 403, 403, 403, 403, 403, 403]),
    // SEC-34: a User cannot unlock their own locked factor.
    (Who::User, Target::Itself, [200, 204, 403, 200, 403, 403, 403]),
    (Who::Stranger, Target::TheOwner, [404, 404, 404, 404, 404, 404, 404]),
    (Who::Stranger, Target::AnAdmin, [404, 404, 404, 404, 404, 404, 404]),
    (Who::Stranger, Target::AUser, [404, 404, 404, 404, 404, 404, 404]),
    (Who::Stranger, Target::Itself, [200, 204, 204, 200, 403, 403, 403]),
];

/// Two accounts' people, fresh for one case.
struct World {
    owner: Person,
    admin: Person,
    admin2: Person,
    user: Person,
    user2: Person,
    stranger: Person,
}

async fn world(t: &TestApp, n: usize) -> World {
    let owner = t.account(&format!("a{n}")).await;
    let other = t.account(&format!("b{n}")).await;
    World {
        admin: t.person(&owner, &format!("admin@a{n}.test"), Role::Admin).await,
        admin2: t.person(&owner, &format!("admin2@a{n}.test"), Role::Admin).await,
        user: t.person(&owner, &format!("user@a{n}.test"), Role::User).await,
        user2: t.person(&owner, &format!("user2@a{n}.test"), Role::User).await,
        stranger: t.person(&other, &format!("admin@b{n}.test"), Role::Admin).await,
        owner,
    }
}

impl World {
    fn caller(&self, who: Who) -> &Person {
        match who {
            Who::Owner => &self.owner,
            Who::Admin => &self.admin,
            Who::User => &self.user,
            Who::Stranger => &self.stranger,
        }
    }

    fn target(&self, who: Who, target: Target) -> &Person {
        match target {
            Target::TheOwner => &self.owner,
            Target::AnAdmin => &self.admin2,
            Target::AUser => &self.user2,
            Target::Itself => self.caller(who),
        }
    }
}

async fn act(http: &Http, act: Act, id: i64) -> crate::support::http::Response {
    let password = json!({ "password": PASSWORD }).to_string();
    match act {
        Act::View => http.get(&format!("/api/v1/users/{id}")).await,
        Act::Disable2fa => {
            http.send(
                Method::DELETE,
                &format!("/api/v1/users/{id}/two-factor"),
                Some("application/json"),
                password.into(),
                &[],
            )
            .await
        }
        Act::Unlock => http.post_json(&format!("/api/v1/users/{id}/two-factor/unlock"), &json!({})).await,
        Act::SignOut => http.post_json(&format!("/api/v1/users/{id}/sign-out"), &json!({})).await,
        Act::MakeAdmin => http.put_json(&format!("/api/v1/users/{id}/role"), &json!({ "role": "admin" })).await,
        Act::MakeUser => http.put_json(&format!("/api/v1/users/{id}/role"), &json!({ "role": "user" })).await,
        Act::Transfer => {
            http.post_json(&format!("/api/v1/users/{id}/ownership"), &json!({ "password": PASSWORD })).await
        }
    }
}

/// Cheap password hashing for this test only: it creates hundreds of people.
fn quick() -> AppConfig {
    AppConfig { passwords: PasswordParams { memory_kib: 256, iterations: 1, parallelism: 1 }, ..AppConfig::default() }
}

async fn sec_26_sec_27_the_permission_matrix(db: TestDb) {
    let t = TestApp::with_config(db, quick()).await;
    let mut n = 0;
    let mut tested = Vec::new();
    for (who, target, expected) in MATRIX {
        for (act_kind, status) in ACTS.iter().zip(expected) {
            n += 1;
            let w = world(&t, n).await;
            let (caller, aimed) = (w.caller(*who).clone(), w.target(*who, *target).clone());
            let mut secret = None;
            if *act_kind == Act::Disable2fa {
                let http = t.signed_in(&aimed.email).await;
                secret = Some(t.enable_two_factor_with_phone(&http, &format!("+4474001{n:05}")).await);
            }
            let http = match secret {
                // Their own 2FA was just turned on: sign in with a code.
                Some(secret) if caller.id == aimed.id => t.signed_in_with_code(&caller.email, &secret).await,
                _ => t.signed_in(&caller.email).await,
            };
            let r = act(&http, *act_kind, aimed.id).await;
            assert_eq!(r.status, *status, "{who:?} → {target:?}: {act_kind:?}: {}", r.text());
            if *status == 403 && *act_kind != Act::View {
                // Refused: nothing changed, and the attempt is in the caller's audit log.
                assert_eq!(t.user(&aimed.email).await.role, aimed.role, "{who:?} → {target:?}: {act_kind:?}");
                let events = t.events(caller.account_id).await;
                assert!(
                    events.iter().any(|e| e.0.ends_with("_refused") && e.1 == Some(caller.id)),
                    "{who:?} {act_kind:?}: {events:?}"
                );
            }
            if *act_kind == Act::Disable2fa && *status != 204 {
                assert!(t.app.two_factor_status(aimed.id).await.unwrap().enabled_at().is_some(), "still on");
            }
            tested.push((*who, *target, *act_kind, r.status));
        }
    }
    assert_eq!(tested.len(), MATRIX.len() * ACTS.len());
}

async fn sec_28_an_administrator_turning_off_2fa_ends_sessions_and_devices_and_tells_the_person(db: TestDb) {
    let t = TestApp::new(db).await;
    let o = t.account("acme").await;
    let admin = t.person(&o, "admin@acme.test", Role::Admin).await;
    let user = t.person(&o, "user@acme.test", Role::User).await;
    let u = t.signed_in("user@acme.test").await;
    let secret = t.enable_two_factor(&u).await;
    // The user is signed in on a remembered browser.
    let browser = t.password_step("user@acme.test", true).await;
    let r = browser.post_json("/api/v1/login/totp", &json!({ "code": t.code(&secret, 0) })).await;
    assert_eq!(r.status, 200);
    browser.set_csrf(r.json()["csrf_token"].as_str().unwrap());
    assert_eq!(browser.get("/api/v1/me").await.status, 200);

    let a = t.signed_in(&admin.email).await;
    let wrong = json!({ "password": "not the admin's password" }).to_string();
    let r = a
        .send(
            Method::DELETE,
            &format!("/api/v1/users/{}/two-factor", user.id),
            Some("application/json"),
            wrong.into(),
            &[],
        )
        .await;
    assert_eq!(r.status, 401, "the caller's password confirms");
    let ok = json!({ "password": PASSWORD }).to_string();
    let r = a
        .send(
            Method::DELETE,
            &format!("/api/v1/users/{}/two-factor", user.id),
            Some("application/json"),
            ok.into(),
            &[],
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text());

    assert_eq!(browser.get("/api/v1/me").await.status, 401, "signed out at the next request");
    assert_eq!(u.get("/api/v1/me").await.status, 401);
    t.deliver_sms().await;
    let sent = t.sms.sent();
    let sms =
        sent.iter().find(|m| m.to == PHONE && m.body.contains("turned off")).unwrap_or_else(|| panic!("{sent:?}"));
    assert!(sms.body.contains("Pat Person turned off two-factor authentication"), "{}", sms.body);
    // The password alone now signs in, and the person is told in the app.
    let again = t.signed_in("user@acme.test").await;
    let notices = again.post_json("/api/v1/me/notices/take", &json!({})).await.json();
    let text = notices[0]["text"].as_str().unwrap();
    assert!(text.starts_with("Your administrator Pat Person turned off two-factor authentication on "), "{text}");
    assert_eq!(again.post_json("/api/v1/me/notices/take", &json!({})).await.json(), json!([]), "shown once");
    // They set it up again with a new key.
    let new_secret = t.enable_two_factor(&again).await;
    assert_ne!(new_secret.to_base32(), secret.to_base32());
    let owner = t.signed_in("owner@acme.test").await;
    let events = owner.get(&format!("/api/v1/audit-events?user_id={}", user.id)).await.json();
    assert!(
        events
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["event"] == "two_factor.disabled" && e["actor_user_id"] == admin.id)
    );
}

async fn unlocking_clears_a_locked_second_factor(db: TestDb) {
    let t = TestApp::new(db).await;
    let o = t.account("acme").await;
    let user = t.person(&o, "user@acme.test", Role::User).await;
    let secret = t.enable_two_factor(&t.signed_in("user@acme.test").await).await;
    let mut conn = t.app.store().conn().await.unwrap();
    let now = twofold_app::domain::Clock::now(&*t.clock);
    for _ in 0..100 {
        twofold_store::throttles::record_failure(
            &mut conn,
            &twofold_app::domain::throttle::ThrottleKey::Totp { user_id: user.id },
            now,
        )
        .await
        .unwrap();
    }
    drop(conn);
    let step = t.password_step("user@acme.test", false).await;
    let r = step.post_json("/api/v1/login/totp", &json!({ "code": t.code(&secret, 0) })).await;
    assert_eq!(r.error_code(), "second_factor_locked");
    let owner = t.signed_in("owner@acme.test").await;
    let profile = owner.get(&format!("/users/{}", user.id)).await.text();
    assert!(profile.contains("Unlock two-factor sign-in"), "the button shows for a locked person");
    let r = owner.post_json(&format!("/api/v1/users/{}/two-factor/unlock", user.id), &json!({})).await;
    assert_eq!(r.status, 204);
    let r = step.post_json("/api/v1/login/totp", &json!({ "code": t.code(&secret, 0) })).await;
    assert_eq!(r.status, 200, "{}", r.text());
}

async fn people_see_and_end_their_own_sessions(db: TestDb) {
    let t = TestApp::new(db).await;
    t.account("acme").await;
    let laptop = t.http();
    laptop.set_user_agent("Laptop Firefox");
    let r = laptop.post_json("/api/v1/login", &json!({ "email": "owner@acme.test", "password": PASSWORD })).await;
    laptop.set_csrf(r.json()["csrf_token"].as_str().unwrap());
    let phone = t.http();
    phone.set_user_agent("Phone Safari");
    let r = phone.post_json("/api/v1/login", &json!({ "email": "owner@acme.test", "password": PASSWORD })).await;
    phone.set_csrf(r.json()["csrf_token"].as_str().unwrap());
    let list = laptop.get("/api/v1/me/sessions").await.json();
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 2);
    let other = list.iter().find(|s| s["current"] == false).unwrap();
    assert_eq!(other["user_agent"], "Phone Safari");
    let page = laptop.get("/me/sessions").await.text();
    assert!(page.contains("Phone Safari") && page.contains("this browser"));
    let id = other["id"].as_str().unwrap();
    let r =
        laptop.send(Method::DELETE, &format!("/api/v1/me/sessions/{id}"), None, axum::body::Body::empty(), &[]).await;
    assert_eq!(r.status, 204);
    assert_eq!(phone.get("/api/v1/me").await.status, 401);
    assert_eq!(laptop.get("/api/v1/me").await.status, 200);
    let r = laptop.send(Method::DELETE, "/api/v1/me/sessions/nonsense", None, axum::body::Body::empty(), &[]).await;
    assert_eq!(r.status, 404);
}

async fn the_owner_hands_the_account_to_an_administrator(db: TestDb) {
    let t = TestApp::new(db).await;
    let o = t.account("acme").await;
    let admin = t.person(&o, "admin@acme.test", Role::Admin).await;
    let owner = t.signed_in("owner@acme.test").await;
    let r = owner
        .post_json(&format!("/api/v1/users/{}/ownership", admin.id), &json!({ "password": "wrong password!" }))
        .await;
    assert_eq!(r.status, 401);
    let r = owner.post_json(&format!("/api/v1/users/{}/ownership", admin.id), &json!({ "password": PASSWORD })).await;
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(t.user("admin@acme.test").await.role, Role::Owner);
    assert_eq!(t.user("owner@acme.test").await.role, Role::Admin);
    let new_owner = t.signed_in("admin@acme.test").await;
    let notices = new_owner.post_json("/api/v1/me/notices/take", &json!({})).await.json();
    assert!(notices[0]["text"].as_str().unwrap().contains("made you the Account Owner"));
    // The former Owner is an Administrator now and cannot take it back.
    let r = owner.post_json(&format!("/api/v1/users/{}/ownership", o.id), &json!({ "password": PASSWORD })).await;
    assert_eq!(r.status, 403);
}

async fn required_two_factor_takes_people_into_the_wizard_after_the_grace_period(db: TestDb) {
    let t = TestApp::new(db).await;
    let o = t.account("acme").await;
    t.person(&o, "user@acme.test", Role::User).await;
    let owner = t.signed_in("owner@acme.test").await;
    let r = owner.put_json("/api/v1/account/policy", &json!({ "require_two_factor": true, "grace_days": 500 })).await;
    assert_eq!(r.status, 422);
    let r = owner.put_json("/api/v1/account/policy", &json!({ "require_two_factor": true, "grace_days": 7 })).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["required_since"], 1_800_000_000);
    let user = t.signed_in("user@acme.test").await;
    let r = user.put_json("/api/v1/account/policy", &json!({ "require_two_factor": false, "grace_days": 0 })).await;
    assert_eq!(r.status, 403, "the Owner's alone");
    // Within the grace period: the wizard comes first, but can be skipped.
    let page = t.http();
    let csrf = page.get("/login").await.form_csrf();
    let r =
        page.post_form("/login", &[("csrf_token", &csrf), ("email", "user@acme.test"), ("password", PASSWORD)]).await;
    assert_eq!(r.header("location").as_deref(), Some("/me/two-factor/enable"));
    let wizard = page.get("/me/two-factor/enable").await.text();
    assert!(wizard.contains("requires two-factor authentication from") && wizard.contains("Remind me later"));
    assert_eq!(page.get("/home").await.status, 200);
    let users = owner.get("/users").await.text();
    assert!(users.contains("Required by"), "the Users tab shows who has not complied");
    // After it: nothing but the wizard.
    t.clock.advance(7 * 86_400);
    let page = t.http();
    let csrf = page.get("/login").await.form_csrf();
    page.post_form("/login", &[("csrf_token", &csrf), ("email", "user@acme.test"), ("password", PASSWORD)]).await;
    let user = t.signed_in("user@acme.test").await;
    assert_eq!(page.get("/home").await.header("location").as_deref(), Some("/me/two-factor/enable"));
    assert!(!page.get("/me/two-factor/enable").await.text().contains("Remind me later"));
    let r = user.get("/api/v1/users").await;
    assert_eq!((r.status, r.error_code().as_str()), (403, "two_factor_required"));
    assert_eq!(user.get("/api/v1/me").await.status, 200, "their own basics still answer");
    t.enable_two_factor(&user).await;
    assert_eq!(user.get("/api/v1/me/devices").await.status, 200, "free again once enrolled");
}
