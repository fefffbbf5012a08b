//! The one attempt pipeline (SEC-34) and the defects it fixed: every factor's lock is
//! cleared by an unlock, every lock is audited, operators can be unlocked and managed, the
//! operator code step gives the clock hint, expired operator sessions are swept, support
//! views are audited, and the pages and routes ask the same functions.

use serde_json::json;
use twofold_app::domain::otp::Secret;
use twofold_app::domain::throttle::ThrottleKey;
use twofold_app::support::{OperatorChange, SupportActor};
use twofold_app::{AppConfig, RequestContext};
use twofold_store::throttles;

use crate::support::{Http, PASSWORD, PHONE, TestApp, TestDb};

on_both_databases!(
    sec_34_an_unlock_clears_every_lock_of_the_person,
    sec_34_turning_2fa_off_clears_every_lock_of_the_person,
    sec_34_a_locked_sms_sign_in_is_audited_and_told,
    sec_34_a_locked_operator_is_unlocked_by_another_operator_or_the_shell,
    sec_34_the_operator_code_step_gives_the_clock_hint,
    sec_34_operators_are_listed_reset_and_removed_with_an_audit_trail,
    expired_operator_sessions_are_swept,
    sec_29_a_support_view_of_a_person_is_audited,
    sec_30_a_policy_change_by_a_non_owner_is_refused_and_audited_before_validation,
    the_code_step_names_the_configured_issuer,
    sec_10_key_rotation_reseals_the_operators_keys_too,
    migration_7_moves_operators_authenticator_apps,
    operator_changes_answer_clearly_and_refusals_are_audited,
    sec_34_an_operator_unlocks_another_on_the_support_pages,
);

async fn fail(t: &TestApp, key: &ThrottleKey, times: u32) {
    let mut conn = t.app.store().conn().await.unwrap();
    let now = twofold_app::domain::Clock::now(&*t.clock);
    for _ in 0..times {
        throttles::record_failure(&mut conn, key, now).await.unwrap();
    }
}

async fn failures(t: &TestApp, key: &ThrottleKey) -> u32 {
    let mut conn = t.app.store().conn().await.unwrap();
    throttles::get(&mut conn, key).await.unwrap().consecutive
}

async fn sec_34_an_unlock_clears_every_lock_of_the_person(db: TestDb) {
    let t = TestApp::new(db).await;
    let owner = t.account("acme").await;
    let user = t.person(&owner, "pat@acme.test", twofold_app::domain::Role::User).await;
    t.enable_two_factor(&t.signed_in("pat@acme.test").await).await;
    for key in ThrottleKey::second_factors_of_person(user.id) {
        fail(&t, &key, 100).await;
    }
    assert!(t.app.two_factor_status(user.id).await.unwrap().locked);
    let admin = t.signed_in("owner@acme.test").await;
    let r = admin.post_json(&format!("/api/v1/users/{}/two-factor/unlock", user.id), &json!({})).await;
    assert_eq!(r.status, 204, "{}", r.text());
    for key in ThrottleKey::second_factors_of_person(user.id) {
        assert_eq!(failures(&t, &key).await, 0, "{key:?} is still counted after the unlock");
    }
    assert!(!t.app.two_factor_status(user.id).await.unwrap().locked);
    // A User cannot unlock their own factor, by API or page.
    let own = t.signed_in_with_code("pat@acme.test", &own_secret(&t, &owner, user.id).await).await;
    fail(&t, &ThrottleKey::SmsSignIn { user_id: user.id }, 100).await;
    let r = own.post_json(&format!("/api/v1/users/{}/two-factor/unlock", user.id), &json!({})).await;
    assert_eq!(r.status, 403);
    let page = own.get(&format!("/users/{}", user.id)).await.text();
    assert!(!page.contains("/two-factor/unlock"), "the profile offers no unlock to its User");
    assert_eq!(failures(&t, &ThrottleKey::SmsSignIn { user_id: user.id }).await, 100);
}

/// Turns 2FA off and on again for a person (by the Owner), answering the new key.
async fn own_secret(t: &TestApp, owner: &twofold_app::Person, user_id: i64) -> Secret {
    t.app.disable_two_factor_of(owner, user_id, PASSWORD, &RequestContext::default()).await.unwrap();
    let person = t.app.person(owner, user_id, &twofold_app::RequestContext::cli()).await.unwrap();
    let http = t.signed_in(&person.email).await;
    t.enable_two_factor_with_phone(&http, "+353851234568").await
}

async fn sec_34_turning_2fa_off_clears_every_lock_of_the_person(db: TestDb) {
    let t = TestApp::new(db).await;
    let owner = t.account("acme").await;
    let http = t.signed_in("owner@acme.test").await;
    t.enable_two_factor(&http).await;
    for key in ThrottleKey::second_factors_of_person(owner.id) {
        fail(&t, &key, 7).await;
    }
    t.app.disable_own_two_factor(&owner, PASSWORD, &RequestContext::default()).await.unwrap();
    for key in ThrottleKey::second_factors_of_person(owner.id) {
        assert_eq!(failures(&t, &key).await, 0, "{key:?}");
    }
}

/// An operator signed in through the API with the key they enrolled.
async fn operator(t: &TestApp, email: &str) -> (Http, Secret) {
    t.app.add_operator(email, "Casey Support", PASSWORD).await.unwrap();
    let http = t.http();
    let r = http.post_json("/api/v1/support/login", &json!({ "email": email, "password": PASSWORD })).await;
    assert_eq!(r.status, 200, "{}", r.text());
    http.set_csrf(r.json()["csrf_token"].as_str().unwrap());
    let secret = Secret::from_base32(r.json()["enrolment_secret"].as_str().unwrap()).unwrap();
    let r = http.post_json("/api/v1/support/login/totp", &json!({ "code": t.code(&secret, 0) })).await;
    assert_eq!(r.status, 200, "{}", r.text());
    http.set_csrf(r.json()["csrf_token"].as_str().unwrap());
    t.clock.advance(30);
    (http, secret)
}

async fn sec_34_a_locked_sms_sign_in_is_audited_and_told(db: TestDb) {
    let t = TestApp::new(db).await;
    let owner = t.account("acme").await;
    t.enable_two_factor(&t.signed_in("owner@acme.test").await).await;
    t.app
        .grant_sms_recovery(SupportActor::Cli, owner.id, "TICKET-1 called back", None, None, &RequestContext::cli())
        .await
        .unwrap();
    t.deliver_sms().await;
    t.clock.advance(120);
    fail(&t, &ThrottleKey::SmsSignIn { user_id: owner.id }, 99).await;
    t.clock.advance(3600);
    let http = t.password_step("owner@acme.test", false).await;
    let r = http.post_json("/api/v1/login/sms/verify", &json!({ "code": "000000" })).await;
    assert_eq!(r.status, 401, "{}", r.text());
    let events: Vec<String> = t.events(owner.account_id).await.into_iter().map(|e| e.0).collect();
    assert!(events.contains(&"two_factor.locked".to_string()), "the SMS lock is audited: {events:?}");
    t.deliver_sms().await;
    assert!(t.sms.sent().iter().any(|m| m.to == PHONE && m.body.contains("locked")), "and told by SMS");
    let r = http.post_json("/api/v1/login/sms/verify", &json!({ "code": "000000" })).await;
    assert_eq!(r.status, 403);
    assert_eq!(r.error_code(), "second_factor_locked");
}

async fn sec_34_a_locked_operator_is_unlocked_by_another_operator_or_the_shell(db: TestDb) {
    let t = TestApp::new(db).await;
    let (_, _) = operator(&t, "locked@twofold.test").await;
    let (other, _) = operator(&t, "helper@twofold.test").await;
    let locked = t.app.operators().await.unwrap().into_iter().find(|o| o.email == "locked@twofold.test").unwrap();
    fail(&t, &ThrottleKey::OperatorTotp { operator_id: locked.id }, 100).await;
    let listed = t.app.operators().await.unwrap();
    assert!(listed.iter().any(|o| o.email == "locked@twofold.test" && o.locked));
    // Locked: even the right code is refused.
    let http = t.http();
    let r =
        http.post_json("/api/v1/support/login", &json!({ "email": "locked@twofold.test", "password": PASSWORD })).await;
    http.set_csrf(r.json()["csrf_token"].as_str().unwrap());
    let r = http.post_json("/api/v1/support/login/totp", &json!({ "code": "123456" })).await;
    assert_eq!(r.status, 403);
    // Another operator unlocks from the support API.
    let r = other.post_json("/api/v1/support/operators/unlock", &json!({ "email": "locked@twofold.test" })).await;
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(failures(&t, &ThrottleKey::OperatorTotp { operator_id: locked.id }).await, 0);
    // And the shell's way, after locking again.
    fail(&t, &ThrottleKey::OperatorTotp { operator_id: locked.id }, 100).await;
    t.app
        .change_operator(SupportActor::Cli, "locked@twofold.test", OperatorChange::Unlock, &RequestContext::cli())
        .await
        .unwrap();
    assert!(!t.app.operators().await.unwrap().iter().any(|o| o.locked));
    // Nobody unlocks themselves.
    let r = other.post_json("/api/v1/support/operators/unlock", &json!({ "email": "helper@twofold.test" })).await;
    assert_eq!(r.status, 403);
    let events = support_events(&t).await;
    assert_eq!(events.iter().filter(|e| *e == "support.operator_unlocked").count(), 2, "{events:?}");
}

/// The events recorded outside every account (operators' own).
async fn support_events(t: &TestApp) -> Vec<String> {
    let mut conn = t.app.store().conn().await.unwrap();
    let q = twofold_store::audit::Query { limit: 1000, ..Default::default() };
    let rows = twofold_store::audit::list(&mut conn, &q).await.unwrap();
    rows.into_iter().filter(|r| r.account_id.is_none()).map(|r| r.event).collect()
}

async fn sec_34_the_operator_code_step_gives_the_clock_hint(db: TestDb) {
    let t = TestApp::new(db).await;
    let (_, secret) = operator(&t, "cs@twofold.test").await;
    let http = t.http();
    let r = http.post_json("/api/v1/support/login", &json!({ "email": "cs@twofold.test", "password": PASSWORD })).await;
    http.set_csrf(r.json()["csrf_token"].as_str().unwrap());
    // The operator's phone runs about three minutes fast.
    let r = http.post_json("/api/v1/support/login/totp", &json!({ "code": t.code(&secret, 6) })).await;
    assert_eq!(r.status, 401);
    let offset = r.json()["error"]["clock_offset_seconds"].as_i64().expect("the clock hint");
    assert!((150..=210).contains(&offset), "{offset}");
    assert!(r.json()["error"]["message"].as_str().unwrap().contains("fast"));
    let events = support_events(&t).await;
    assert!(events.contains(&"support.totp_rejected".to_string()));
}

async fn sec_34_operators_are_listed_reset_and_removed_with_an_audit_trail(db: TestDb) {
    let t = TestApp::new(db).await;
    let (casey, _) = operator(&t, "casey@twofold.test").await;
    operator(&t, "robin@twofold.test").await;
    let ctx = RequestContext::cli();
    assert!(t.app.operators().await.unwrap().iter().all(|o| o.totp.is_enabled()));
    t.app.change_operator(SupportActor::Cli, "casey@twofold.test", OperatorChange::ResetTotp, &ctx).await.unwrap();
    // Casey's session ended; at the next sign-in a new key is offered.
    assert_eq!(casey.get("/api/v1/support/requests").await.status, 401);
    let http = t.http();
    let r =
        http.post_json("/api/v1/support/login", &json!({ "email": "casey@twofold.test", "password": PASSWORD })).await;
    assert!(r.json()["enrolment_secret"].as_str().is_some(), "{}", r.text());
    t.app.change_operator(SupportActor::Cli, "robin@twofold.test", OperatorChange::Remove, &ctx).await.unwrap();
    let left: Vec<String> = t.app.operators().await.unwrap().into_iter().map(|o| o.email).collect();
    assert_eq!(left, ["casey@twofold.test"]);
    let events = support_events(&t).await;
    assert!(events.contains(&"support.operator_totp_reset".to_string()));
    assert!(events.contains(&"support.operator_removed".to_string()));
}

async fn expired_operator_sessions_are_swept(db: TestDb) {
    let t = TestApp::new(db).await;
    let (http, _) = operator(&t, "cs@twofold.test").await;
    assert_eq!(http.get("/api/v1/support/requests").await.status, 200);
    t.clock.advance(16 * 60);
    let swept = t.app.sweep_expired_sessions().await.unwrap();
    assert!(swept >= 1, "the idle operator session is deleted, not only refused");
    let mut conn = t.app.store().conn().await.unwrap();
    let left = twofold_store::sessions::delete_expired(&mut conn, twofold_store::Realm::Support, i64::MAX).await;
    assert_eq!(left.unwrap(), 0, "nothing of support was left behind");
}

async fn sec_29_a_support_view_of_a_person_is_audited(db: TestDb) {
    let t = TestApp::new(db).await;
    let owner = t.account("acme").await;
    let (op, _) = operator(&t, "cs@twofold.test").await;
    let r = op.get(&format!("/support/people/{}", owner.id)).await;
    assert_eq!(r.status, 200);
    let events = t.events(owner.account_id).await;
    assert!(
        events.iter().any(|(event, _, target)| event == "support.viewed_person" && *target == Some(owner.id)),
        "{events:?}"
    );
}

async fn sec_30_a_policy_change_by_a_non_owner_is_refused_and_audited_before_validation(db: TestDb) {
    let t = TestApp::new(db).await;
    let owner = t.account("acme").await;
    t.person(&owner, "ada@acme.test", twofold_app::domain::Role::Admin).await;
    let admin = t.signed_in("ada@acme.test").await;
    let r = admin.put_json("/api/v1/account/policy", &json!({ "require_two_factor": true, "grace_days": 999 })).await;
    assert_eq!(r.status, 403, "{}", r.text());
    let events: Vec<String> = t.events(owner.account_id).await.into_iter().map(|e| e.0).collect();
    assert!(events.contains(&"policy.change_refused".to_string()));
    let own = t.signed_in("owner@acme.test").await;
    let r = own.put_json("/api/v1/account/policy", &json!({ "require_two_factor": true, "grace_days": 999 })).await;
    assert_eq!(r.status, 422);
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains(&twofold_app::domain::policy::MAX_GRACE_DAYS.to_string())
    );
}

async fn the_code_step_names_the_configured_issuer(db: TestDb) {
    let config = AppConfig { issuer: "Acme Sign-in".into(), ..AppConfig::default() };
    let t = TestApp::with_config(db, config).await;
    t.account("acme").await;
    t.enable_two_factor(&t.signed_in("owner@acme.test").await).await;
    let http = t.password_step("owner@acme.test", false).await;
    let page = http.get("/login/code").await.text();
    assert!(page.contains("shows for Acme Sign-in"), "{page}");
    assert!(!page.contains("for Twofold"));
}

/// A browser asking for a page while the database is unreachable gets a page (503), an API
/// client JSON.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_during_a_database_outage_is_a_page() {
    let t = TestApp::new(TestDb::sqlite().await).await;
    t.account("acme").await;
    let http = t.signed_in("owner@acme.test").await;
    let (support, _) = operator(&t, "cs@twofold.test").await;
    t.app.store().close().await;
    let r = http.get("/home").await;
    assert_eq!(r.status, 503);
    assert!(r.text().contains("<html") || r.text().contains("<!DOCTYPE"), "{}", r.text());
    let r = support.get("/support").await;
    assert_eq!(r.status, 503);
    assert!(r.text().contains("<html") || r.text().contains("<!DOCTYPE"), "support pages too: {}", r.text());
    let r = http.get("/api/v1/me").await;
    assert_eq!(r.status, 503);
    assert_eq!(r.error_code(), "database_unavailable");
}

async fn sec_10_key_rotation_reseals_the_operators_keys_too(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let t = TestApp::with_key_file(db, &dir.path().join("secret.key")).await;
    t.account("acme").await;
    t.enable_two_factor(&t.signed_in("owner@acme.test").await).await;
    let (_, secret) = operator(&t, "cs@twofold.test").await;
    let rotation = t.app.rotate_keys().await.unwrap();
    assert_eq!((rotation.resealed, rotation.skipped), (2, 0), "the person's key and the operator's");
    let op = t.app.operators().await.unwrap().remove(0);
    let mut conn = t.app.store().conn().await.unwrap();
    let row = twofold_store::totp::get(&mut conn, twofold_store::Realm::Support, op.id).await.unwrap().unwrap();
    drop(conn);
    let key_id = twofold_store::secret_box::SecretBox::key_id_of(&row.secret_box).unwrap();
    assert_eq!(key_id, rotation.new_key_id, "sealed under the new key");
    // The operator still signs in with the same app.
    let http = t.http();
    let r = http.post_json("/api/v1/support/login", &json!({ "email": "cs@twofold.test", "password": PASSWORD })).await;
    http.set_csrf(r.json()["csrf_token"].as_str().unwrap());
    let r = http.post_json("/api/v1/support/login/totp", &json!({ "code": t.code(&secret, 0) })).await;
    assert_eq!(r.status, 200, "{}", r.text());
}

/// Operators enrolled before migration 7 keep their app: the key, the replay mark and the
/// time it went on move to the new table, and their open sessions still work.
async fn migration_7_moves_operators_authenticator_apps(db: TestDb) {
    use twofold_store::Realm;
    use twofold_store::{Store, StoreOptions, sessions, totp};
    let store = Store::connect(&db.url, &StoreOptions::default()).await.unwrap();
    store.migrate_to(6).await.unwrap();
    let mut conn = store.conn().await.unwrap();
    sqlx::query(
        "INSERT INTO operators (email, name, password_hash, totp_box, totp_enabled_at, totp_last_step, created_at)
         VALUES ('a@twofold.test', 'A', 'hash', $1, 100, 7, 50)",
    )
    .bind(vec![1u8, 2, 3])
    .execute(&mut *conn)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO operators (email, name, password_hash, created_at) VALUES ('b@twofold.test', 'B', 'hash', 60)",
    )
    .execute(&mut *conn)
    .await
    .unwrap();
    let a: i64 = sqlx::query_scalar("SELECT id FROM operators WHERE email = 'a@twofold.test'")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    let b: i64 = sqlx::query_scalar("SELECT id FROM operators WHERE email = 'b@twofold.test'")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO operator_sessions (id_hash, operator_id, stage, created_at, last_seen_at, expires_at)
         VALUES ('h', $1, 'signed_in', 10, 10, 4000000000)",
    )
    .bind(a)
    .execute(&mut *conn)
    .await
    .unwrap();
    drop(conn);
    store.migrate().await.unwrap();
    let mut conn = store.conn().await.unwrap();
    let row = totp::get(&mut conn, Realm::Support, a).await.unwrap().unwrap();
    assert_eq!(row.secret_box, vec![1u8, 2, 3]);
    assert_eq!((row.created_at, row.enabled_at, row.last_step), (50, Some(100), Some(7)));
    assert!(row.state().is_enabled());
    assert!(totp::get(&mut conn, Realm::Support, b).await.unwrap().is_none(), "nothing enrolled, nothing moved");
    let session = sessions::live(&mut conn, Realm::Support, "h", 20).await.unwrap().unwrap();
    assert_eq!((session.subject_id, session.remember_device, session.method), (a, false, None));
}

async fn operator_changes_answer_clearly_and_refusals_are_audited(db: TestDb) {
    let t = TestApp::new(db).await;
    let (casey, _) = operator(&t, "casey@twofold.test").await;
    let r = casey.post_json("/api/v1/support/operators/unlock", &json!({ "email": "nobody@twofold.test" })).await;
    assert_eq!((r.status, r.error_code()), (404, "not_found".to_string()));
    let r = casey.post_json("/api/v1/support/operators/unlock", &json!({})).await;
    assert!((400..500).contains(&r.status) && !r.error_code().is_empty(), "{} {}", r.status, r.text());
    let r = casey.post_json("/api/v1/support/operators/reset-totp", &json!({ "email": "casey@twofold.test" })).await;
    assert_eq!(r.status, 403);
    let err = t
        .app
        .change_operator(SupportActor::Cli, "nobody@twofold.test", OperatorChange::Remove, &RequestContext::cli())
        .await;
    assert!(err.is_err());
    let events = support_events(&t).await;
    assert_eq!(events.iter().filter(|e| *e == "support.operator_change_refused").count(), 1, "{events:?}");
    // The refused reset changed nothing: Casey is still signed in.
    assert_eq!(casey.get("/api/v1/support/requests").await.status, 200);
}

/// Ids in paths are parsed in one place: anything but a positive integer names nothing,
/// on pages (a readable 404 page) and in the API (404 JSON), never a 400 or a 500.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_ids_name_nothing_on_pages_and_in_the_api() {
    let t = TestApp::new(TestDb::sqlite().await).await;
    t.account("acme").await;
    let http = t.signed_in("owner@acme.test").await;
    for id in ["abc", "0", "-5", "99999999999999999999", "1.5"] {
        let r = http.get(&format!("/api/v1/users/{id}")).await;
        assert_eq!((r.status, r.error_code()), (404, "not_found".to_string()), "GET /api/v1/users/{id}");
        let r = http.post_json(&format!("/api/v1/users/{id}/two-factor/unlock"), &json!({})).await;
        assert_eq!(r.status, 404, "unlock {id}");
        let r = http.get(&format!("/users/{id}")).await;
        assert_eq!(r.status, 404, "page /users/{id}");
        assert!(r.text().contains("<html") || r.text().contains("<!DOCTYPE"), "a page: {}", r.text());
    }
    let (support, _) = operator(&t, "cs@twofold.test").await;
    let r = support.post_json("/api/v1/support/requests/zz/take", &json!({})).await;
    assert_eq!(r.status, 404);
}

/// SEC-34 on the support pages: another operator sees the lock and unlocks it with a
/// button; nobody gets buttons for themselves, and a forged form for oneself is refused.
async fn sec_34_an_operator_unlocks_another_on_the_support_pages(db: TestDb) {
    let t = TestApp::new(db).await;
    operator(&t, "locked@twofold.test").await;
    let (helper, _) = operator(&t, "helper@twofold.test").await;
    let locked = t.app.operators().await.unwrap().into_iter().find(|o| o.email == "locked@twofold.test").unwrap();
    fail(&t, &ThrottleKey::OperatorTotp { operator_id: locked.id }, 100).await;
    let page = helper.get("/support/operators").await;
    assert_eq!(page.status, 200);
    let html = page.text();
    assert!(html.contains("Locked") && html.contains("/support/operators/unlock"), "{html}");
    assert_eq!(html.matches("name=\"email\" value=\"helper@twofold.test\"").count(), 0, "no buttons on one's own line");
    let csrf = page.form_csrf();
    let r =
        helper.post_form("/support/operators/unlock", &[("csrf_token", &csrf), ("email", "locked@twofold.test")]).await;
    assert_eq!(r.status, 303, "{}", r.text());
    assert_eq!(failures(&t, &ThrottleKey::OperatorTotp { operator_id: locked.id }).await, 0);
    assert!(helper.get("/support/operators?done=unlock").await.text().contains("can sign in again"));
    let r = helper
        .post_form("/support/operators/reset-totp", &[("csrf_token", &csrf), ("email", "helper@twofold.test")])
        .await;
    assert_eq!(r.status, 403);
    let r = helper
        .post_form("/support/operators/unlock", &[("csrf_token", "forged"), ("email", "locked@twofold.test")])
        .await;
    assert_eq!(r.status, 403, "the form needs the session's CSRF token (SEC-25)");
}
