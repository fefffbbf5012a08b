//! Invitations, roles and the permission rules, through the JSON API.

use serde_json::json;
use twofold_app::domain::Role;

use crate::support::{PASSWORD, TestApp, TestDb};

on_both_databases!(
    invitation_sets_the_password_once_and_the_person_signs_in,
    who_may_invite_whom,
    owner_promotes_and_demotes_but_nobody_demotes_the_owner,
    sec_27_other_accounts_people_answer_404,
    users_cannot_reach_admin_routes,
    duplicate_emails_are_a_conflict_and_nothing_is_stored,
    sec_30_refused_attempts_are_in_the_audit_log,
    audit_events_api_pages_newest_first,
);

async fn invitation_sets_the_password_once_and_the_person_signs_in(db: TestDb) {
    let t = TestApp::new(db).await;
    t.account("acme").await;
    let owner = t.signed_in("owner@acme.test").await;
    let r = owner
        .post_json("/api/v1/users", &json!({ "email": "Ann@Acme.test", "name": "Ann Admin", "role": "admin" }))
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["user"]["role"], "admin");
    assert_eq!(r.json()["user"]["active"], false);
    let url = r.json()["invitation_url"].as_str().unwrap().to_string();
    assert!(url.starts_with("http://127.0.0.1:8080/invitations/"), "{url}");
    let token = url.rsplit('/').next().unwrap();

    let before = t.http().post_json("/api/v1/login", &json!({ "email": "ann@acme.test", "password": PASSWORD })).await;
    assert_eq!(before.status, 401, "no password yet, no sign-in");
    let weak = t.http().post_json(&format!("/api/v1/invitations/{token}"), &json!({ "password": "short" })).await;
    assert_eq!(weak.status, 422);
    assert_eq!(weak.error_code(), "weak_password");
    let ok = t.http().post_json(&format!("/api/v1/invitations/{token}"), &json!({ "password": PASSWORD })).await;
    assert_eq!(ok.status, 200, "{}", ok.text());
    let again = t
        .http()
        .post_json(&format!("/api/v1/invitations/{token}"), &json!({ "password": "another long password" }))
        .await;
    assert_eq!(again.status, 404);
    assert_eq!(again.error_code(), "link_invalid");
    let ann = t.signed_in("ann@acme.test").await;
    assert_eq!(ann.get("/api/v1/me").await.json()["role"], "admin");
}

async fn who_may_invite_whom(db: TestDb) {
    let t = TestApp::new(db).await;
    let o = t.account("acme").await;
    t.person(&o, "admin@acme.test", Role::Admin).await;
    t.person(&o, "user@acme.test", Role::User).await;
    let cases = [
        ("owner@acme.test", "admin", 201),
        ("owner@acme.test", "user", 201),
        ("owner@acme.test", "owner", 403),
        ("admin@acme.test", "user", 201),
        ("admin@acme.test", "admin", 403),
        ("user@acme.test", "user", 403),
    ];
    for (i, (who, role, status)) in cases.into_iter().enumerate() {
        let http = t.signed_in(who).await;
        let r = http
            .post_json("/api/v1/users", &json!({ "email": format!("new{i}@acme.test"), "name": "New", "role": role }))
            .await;
        assert_eq!(r.status, status, "{who} inviting a {role}: {}", r.text());
    }
}

async fn owner_promotes_and_demotes_but_nobody_demotes_the_owner(db: TestDb) {
    let t = TestApp::new(db).await;
    let o = t.account("acme").await;
    let user = t.person(&o, "user@acme.test", Role::User).await;
    let admin = t.person(&o, "admin@acme.test", Role::Admin).await;
    let owner = t.signed_in("owner@acme.test").await;
    let r = owner.put_json(&format!("/api/v1/users/{}/role", user.id), &json!({ "role": "admin" })).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["role"], "admin");
    let r = owner.put_json(&format!("/api/v1/users/{}/role", user.id), &json!({ "role": "user" })).await;
    assert_eq!(r.json()["role"], "user");
    let demote_self = owner.put_json(&format!("/api/v1/users/{}/role", o.id), &json!({ "role": "admin" })).await;
    assert_eq!(demote_self.status, 403);
    assert_eq!(demote_self.error_code(), "owner_protected");

    let admin_http = t.signed_in("admin@acme.test").await;
    let r = admin_http.put_json(&format!("/api/v1/users/{}/role", o.id), &json!({ "role": "user" })).await;
    assert_eq!(r.status, 403);
    let r = admin_http.put_json(&format!("/api/v1/users/{}/role", user.id), &json!({ "role": "admin" })).await;
    assert_eq!(r.status, 403);
    assert_eq!(r.error_code(), "forbidden");
    assert_eq!(t.user("user@acme.test").await.role, Role::User, "nothing changed");
    assert_eq!(t.user(&o.email).await.role, Role::Owner);
    let _ = admin;
}

async fn sec_27_other_accounts_people_answer_404(db: TestDb) {
    let t = TestApp::new(db).await;
    t.account("acme").await;
    let other = t.account("globex").await;
    let stranger = t.person(&other, "user@globex.test", Role::User).await;
    let owner = t.signed_in("owner@acme.test").await;
    for path in [format!("/api/v1/users/{}", stranger.id), format!("/api/v1/users/{}", other.id)] {
        let r = owner.get(&path).await;
        assert_eq!(r.status, 404, "{path}");
        assert_eq!(r.error_code(), "not_found");
    }
    let r = owner.put_json(&format!("/api/v1/users/{}/role", stranger.id), &json!({ "role": "admin" })).await;
    assert_eq!(r.status, 404);
    let list = owner.get("/api/v1/users").await.json();
    assert!(list.as_array().unwrap().iter().all(|p| p["email"].as_str().unwrap().ends_with("@acme.test")));
    assert_eq!(t.user("user@globex.test").await.role, Role::User);
    for id in ["0", "-1", "99999999999999999999", "abc", "9223372036854775807"] {
        assert_eq!(owner.get(&format!("/api/v1/users/{id}")).await.status, 404, "id {id}");
    }
}

async fn users_cannot_reach_admin_routes(db: TestDb) {
    let t = TestApp::new(db).await;
    let o = t.account("acme").await;
    let me = t.person(&o, "user@acme.test", Role::User).await;
    let user = t.signed_in("user@acme.test").await;
    assert_eq!(user.get("/api/v1/users").await.status, 403);
    assert_eq!(user.get("/api/v1/audit-events").await.status, 403);
    assert_eq!(user.get(&format!("/api/v1/users/{}", o.id)).await.status, 403);
    assert_eq!(user.get(&format!("/api/v1/users/{}", me.id)).await.status, 200, "your own profile");
}

async fn duplicate_emails_are_a_conflict_and_nothing_is_stored(db: TestDb) {
    let t = TestApp::new(db).await;
    let o = t.account("acme").await;
    t.account("globex").await;
    let owner = t.signed_in("owner@acme.test").await;
    let r =
        owner.post_json("/api/v1/users", &json!({ "email": "OWNER@globex.test", "name": "Dup", "role": "user" })).await;
    assert_eq!(r.status, 409);
    assert_eq!(r.error_code(), "email_taken");
    let people = owner.get("/api/v1/users").await.json();
    assert_eq!(people.as_array().unwrap().len(), 1, "no half-created person");
    let _ = o;
}

async fn sec_30_refused_attempts_are_in_the_audit_log(db: TestDb) {
    let t = TestApp::new(db).await;
    let o = t.account("acme").await;
    let admin = t.person(&o, "admin@acme.test", Role::Admin).await;
    let http = t.signed_in("admin@acme.test").await;
    http.put_json(&format!("/api/v1/users/{}/role", o.id), &json!({ "role": "user" })).await;
    http.post_json("/api/v1/users", &json!({ "email": "x@acme.test", "name": "X", "role": "admin" })).await;
    let events = t.events(o.account_id).await;
    assert!(events.contains(&("role.change_refused".into(), Some(admin.id), Some(o.id))), "{events:?}");
    assert!(events.contains(&("invitation.refused".into(), Some(admin.id), None)), "{events:?}");
}

async fn audit_events_api_pages_newest_first(db: TestDb) {
    let t = TestApp::new(db).await;
    let o = t.account("acme").await;
    let user = t.person(&o, "user@acme.test", Role::User).await;
    let owner = t.signed_in("owner@acme.test").await;
    let all = owner.get("/api/v1/audit-events?limit=500").await;
    assert_eq!(all.status, 200);
    let events = all.json();
    let ids: Vec<i64> = events.as_array().unwrap().iter().map(|e| e["id"].as_i64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first: {ids:?}");
    let names: Vec<&str> = events.as_array().unwrap().iter().map(|e| e["event"].as_str().unwrap()).collect();
    for expected in ["account.created", "invitation.created", "invitation.accepted", "sign_in.succeeded"] {
        assert!(names.contains(&expected), "{expected} missing from {names:?}");
    }
    let page = owner.get(&format!("/api/v1/audit-events?limit=1&before={}", ids[0])).await.json();
    assert_eq!(page.as_array().unwrap().len(), 1);
    assert_eq!(page[0]["id"].as_i64().unwrap(), ids[1]);
    let about_user = owner.get(&format!("/api/v1/audit-events?user_id={}", user.id)).await.json();
    assert!(
        about_user.as_array().unwrap().iter().all(|e| e["target_user_id"] == user.id || e["actor_user_id"] == user.id)
    );
    assert_eq!(owner.get("/api/v1/audit-events?limit=abc").await.status, 400);
}
