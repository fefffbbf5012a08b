//! People who leave (issue 30, first part): deactivation ends every way in at once, on
//! every instance and every face (pages and API sessions, sign-in, applications' tokens,
//! RADIUS); reactivation restores sign-in. Confirmed with the actor's password (SEC-46).

use serde_json::json;
use twofold_app::domain::Role;

use crate::support::{Http, PASSWORD, TestApp, TestDb};

on_both_databases!(
    sec_46_deactivation_ends_every_way_in_and_reactivation_restores_sign_in,
    sec_46_owners_and_administrators_deactivate_only_whom_they_manage,
    deactivation_on_one_instance_ends_the_session_on_another,
    sec_46_a_removed_person_is_gone_and_the_audit_log_still_names_them,
);

async fn set_active(by: &Http, id: i64, active: bool, password: &str) -> crate::support::http::Response {
    by.patch_json(&format!("/api/v1/users/{id}"), &json!({ "active": active, "password": password })).await
}

async fn sec_46_deactivation_ends_every_way_in_and_reactivation_restores_sign_in(db: TestDb) {
    let t = TestApp::new(db).await;
    let owner = t.account("acme").await;
    let pat = t.person(&owner, "pat@acme.test", Role::User).await;
    let pats = t.signed_in("pat@acme.test").await;
    let remembered = t.password_step("pat@acme.test", true).await;
    let owners = t.signed_in("owner@acme.test").await;

    let r = set_active(&owners, pat.id, false, "not my password").await;
    assert_eq!((r.status, r.json()["error"]["code"].as_str()), (401, Some("invalid_credentials")));
    assert_eq!(pats.get("/api/v1/me").await.status, 200, "a wrong proof changes nothing");

    let r = set_active(&owners, pat.id, false, PASSWORD).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!((r.json()["status"].as_str(), r.json()["active"].as_bool()), (Some("deactivated"), Some(false)));
    assert_eq!(pats.get("/api/v1/me").await.status, 401, "the session ended at once");
    assert_eq!(remembered.get("/api/v1/me").await.status, 401);

    // Before the password is proven nothing is revealed; after it, the reason.
    let login = |password: &'static str| {
        let http = t.http();
        async move { http.post_json("/api/v1/login", &json!({ "email": "pat@acme.test", "password": password })).await }
    };
    let wrong = login("not the password").await;
    assert_eq!((wrong.status, wrong.json()["error"]["code"].as_str()), (401, Some("invalid_credentials")));
    let right = login(PASSWORD).await;
    assert_eq!((right.status, right.json()["error"]["code"].as_str()), (401, Some("account_deactivated")));
    assert_eq!(set_active(&owners, pat.id, false, PASSWORD).await.json()["error"]["code"], "already_deactivated");

    let list = owners.get("/api/v1/users").await.json();
    let listed = list.as_array().unwrap().iter().find(|p| p["id"] == pat.id).unwrap().clone();
    assert_eq!(listed["status"], "deactivated");
    let deactivated = t.details_of("person.deactivated").await;
    assert_eq!(deactivated.len(), 1);
    assert_eq!(deactivated[0]["sessions"], 2, "both of Pat's sessions ended");
    assert_eq!(t.details_of("sign_in.refused").await.last().unwrap()["reason"], "deactivated");

    let r = set_active(&owners, pat.id, true, PASSWORD).await;
    assert_eq!((r.status, r.json()["status"].as_str()), (200, Some("active")));
    assert_eq!(login(PASSWORD).await.status, 200, "reactivated: the password signs in again");
    assert_eq!(pats.get("/api/v1/me").await.status, 401, "old sessions stay ended");
    assert_eq!(t.details_of("person.reactivated").await.len(), 1);
}

async fn sec_46_owners_and_administrators_deactivate_only_whom_they_manage(db: TestDb) {
    let t = TestApp::new(db).await;
    let owner = t.account("acme").await;
    let ann = t.person(&owner, "ann@acme.test", Role::Admin).await;
    let bob = t.person(&owner, "bob@acme.test", Role::Admin).await;
    let uma = t.person(&owner, "uma@acme.test", Role::User).await;
    let other = t.account("globex").await;
    let (anns, umas) = (t.signed_in("ann@acme.test").await, t.signed_in("uma@acme.test").await);
    let code = |r: crate::support::http::Response| (r.status, r.json()["error"]["code"].as_str().map(str::to_owned));
    assert_eq!(code(set_active(&anns, owner.id, false, PASSWORD).await), (403, Some("owner_protected".into())));
    assert_eq!(code(set_active(&anns, bob.id, false, PASSWORD).await), (403, Some("forbidden".into())));
    assert_eq!(code(set_active(&umas, ann.id, false, PASSWORD).await), (403, Some("forbidden".into())));
    assert_eq!(code(set_active(&anns, other.id, false, PASSWORD).await).0, 404, "another account's person");
    let owners = t.signed_in("owner@acme.test").await;
    assert_eq!(code(set_active(&owners, owner.id, false, PASSWORD).await), (403, Some("owner_protected".into())));
    assert_eq!(set_active(&anns, uma.id, false, PASSWORD).await.status, 200, "an Administrator, a User");
    assert_eq!(set_active(&owners, ann.id, false, PASSWORD).await.status, 200, "the Owner, an Administrator");
    assert!(t.details_of("person.deactivate_refused").await.len() >= 4, "each refusal is audited");
    // The shell refuses the Owner too.
    let e = t.app.set_person_active_by_email("owner@acme.test", false).await.unwrap_err();
    assert!(e.to_string().contains("Owner"), "{e}");
}

async fn deactivation_on_one_instance_ends_the_session_on_another(db: TestDb) {
    let t = TestApp::new(db).await;
    let owner = t.account("acme").await;
    let pat = t.person(&owner, "pat@acme.test", Role::User).await;
    let pats = t.signed_in("pat@acme.test").await;
    let elsewhere = Http::new(t.second_instance().await);
    elsewhere.set_cookie("twofold_session", &pats.cookie("twofold_session").unwrap());
    assert_eq!(elsewhere.get("/api/v1/me").await.status, 200);
    t.app.set_person_active_by_email("pat@acme.test", false).await.unwrap();
    assert_eq!(elsewhere.get("/api/v1/me").await.status, 401, "refused on the other instance at its next request");
    assert_eq!(t.details_of("person.deactivated").await.len(), 1);
    let _ = pat;
}

async fn remove(by: &Http, id: i64, password: &str) -> crate::support::http::Response {
    let body = json!({ "password": password }).to_string();
    by.send(axum::http::Method::DELETE, &format!("/api/v1/users/{id}"), Some("application/json"), body.into(), &[])
        .await
}

async fn sec_46_a_removed_person_is_gone_and_the_audit_log_still_names_them(db: TestDb) {
    let t = TestApp::new(db).await;
    let owner = t.account("acme").await;
    let ann = t.person(&owner, "ann@acme.test", Role::Admin).await;
    let uma = t.person(&owner, "uma@acme.test", Role::User).await;
    let umas = t.signed_in("uma@acme.test").await;
    t.enable_two_factor(&umas).await;
    let (anns, owners) = (t.signed_in("ann@acme.test").await, t.signed_in("owner@acme.test").await);
    assert_eq!(remove(&anns, owner.id, PASSWORD).await.json()["error"]["code"], "owner_protected");
    assert_eq!(remove(&owners, uma.id, "not my password").await.status, 401);
    assert_eq!(remove(&anns, uma.id, PASSWORD).await.status, 204, "an Administrator removes a User");
    assert_eq!(umas.get("/api/v1/me").await.status, 401, "their session went with them");
    assert_eq!(owners.get(&format!("/api/v1/users/{}", uma.id)).await.status, 404);
    assert_eq!(remove(&anns, uma.id, PASSWORD).await.status, 404, "gone");
    let removed = t.details_of("person.removed").await;
    assert_eq!((removed[0]["email"].as_str(), removed[0]["role"].as_str()), (Some("uma@acme.test"), Some("user")));
    let events = t.events(owner.account_id).await;
    assert!(events.iter().any(|(e, _, target)| e == "two_factor.enabled" && *target == Some(uma.id)), "kept");
    // The address is free again: they can be invited anew.
    let r =
        owners.post_json("/api/v1/users", &json!({ "email": "uma@acme.test", "name": "Uma", "role": "user" })).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let _ = ann;
}

#[test]
fn the_shell_deactivates_by_email_but_never_an_owner() {
    let data = tempfile::tempdir().unwrap();
    assert!(crate::support::server::account_create(data.path(), "ada@acme.test").status.success());
    let out = crate::support::server::cli(data.path(), &["person", "deactivate", "--email", "ada@acme.test"], "");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("Owner"), "{}", String::from_utf8_lossy(&out.stderr));
    let out = crate::support::server::cli(data.path(), &["person", "reactivate", "--email", "nobody@acme.test"], "");
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("Nobody has that email"));
}
