//! Groups of an account's people (issue 30): made, filled and deleted by the Owner and
//! Administrators through the API and the Users tab, shown in the people list, and never
//! reaching across accounts (SEC-27).

use serde_json::json;
use twofold_app::domain::Role;

use crate::support::{Http, TestApp, TestDb};

on_both_databases!(
    groups_are_made_filled_and_deleted_by_the_accounts_managers,
    sec_27_a_group_never_reaches_across_accounts,
    the_users_tab_makes_fills_and_deletes_groups,
    two_managers_adding_members_at_once_both_land,
);

async fn create(http: &Http, name: &str) -> crate::support::http::Response {
    http.post_json("/api/v1/groups", &json!({ "name": name })).await
}

async fn members(http: &Http, id: i64, ids: &[i64]) -> crate::support::http::Response {
    http.put_json(&format!("/api/v1/groups/{id}/members"), &json!({ "user_ids": ids })).await
}

async fn groups_are_made_filled_and_deleted_by_the_accounts_managers(db: TestDb) {
    let t = TestApp::new(db).await;
    let owner = t.account("acme").await;
    let ann = t.person(&owner, "ann@acme.test", Role::Admin).await;
    let pat = t.person(&owner, "pat@acme.test", Role::User).await;
    let (owners, anns, pats) =
        (t.signed_in("owner@acme.test").await, t.signed_in("ann@acme.test").await, t.signed_in("pat@acme.test").await);

    let r = create(&owners, "  eng ").await;
    assert_eq!((r.status, r.json()["name"].as_str()), (201, Some("eng")), "{}", r.text());
    let eng = r.json()["id"].as_i64().unwrap();
    assert_eq!(create(&owners, "eng").await.json()["error"]["code"], "name_taken");
    assert_eq!(create(&owners, "a,b").await.json()["error"]["code"], "invalid_name");
    assert_eq!(create(&anns, "ops").await.status, 201, "Administrators manage groups too");
    assert_eq!(create(&pats, "mine").await.status, 403, "Users do not");
    assert_eq!(pats.get("/api/v1/groups").await.status, 403);

    let r = members(&anns, eng, &[pat.id, ann.id, pat.id]).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["user_ids"], json!([ann.id, pat.id]), "once each, ascending");
    let people = owners.get("/api/v1/users").await.json();
    let of = |id: i64| people.as_array().unwrap().iter().find(|p| p["id"] == id).unwrap()["groups"].clone();
    assert_eq!(of(pat.id), json!(["eng"]));
    assert_eq!(of(owner.id), json!([]));
    assert_eq!(members(&pats, eng, &[pat.id]).await.status, 403);

    assert_eq!(
        anns.send(axum::http::Method::DELETE, &format!("/api/v1/groups/{eng}"), None, "".into(), &[]).await.status,
        204
    );
    let left: Vec<_> =
        owners.get("/api/v1/groups").await.json().as_array().unwrap().iter().map(|g| g["name"].clone()).collect();
    assert_eq!(left, [json!("ops")]);
    for event in ["group.created", "group.members_changed", "group.deleted"] {
        assert!(!t.details_of(event).await.is_empty(), "{event} is audited");
    }
    assert!(!t.details_of("group.change_refused").await.is_empty(), "the User's try is audited");
}

async fn sec_27_a_group_never_reaches_across_accounts(db: TestDb) {
    let t = TestApp::new(db).await;
    let acme = t.account("acme").await;
    let globex = t.account("globex").await;
    let (acmes, globexs) = (t.signed_in("owner@acme.test").await, t.signed_in("owner@globex.test").await);
    let eng = create(&acmes, "eng").await.json()["id"].as_i64().unwrap();
    assert_eq!(globexs.get("/api/v1/groups").await.json(), json!([]), "another account's groups are not listed");
    assert_eq!(members(&globexs, eng, &[globex.id]).await.status, 404);
    let r = globexs.send(axum::http::Method::DELETE, &format!("/api/v1/groups/{eng}"), None, "".into(), &[]).await;
    assert_eq!(r.status, 404);
    let r = members(&acmes, eng, &[acme.id, globex.id]).await;
    assert_eq!(
        (r.status, r.json()["error"]["code"].as_str()),
        (422, Some("unknown_person")),
        "another account's person"
    );
    assert_eq!(acmes.get("/api/v1/groups").await.json()[0]["user_ids"], json!([]), "nothing changed");
    assert_eq!(create(&globexs, "eng").await.status, 201, "names are per account");
}

async fn the_users_tab_makes_fills_and_deletes_groups(db: TestDb) {
    let t = TestApp::new(db).await;
    let owner = t.account("acme").await;
    let pat = t.person(&owner, "pat@acme.test", Role::User).await;
    let http = t.signed_in("owner@acme.test").await;
    let csrf = http.csrf();
    let r = http.post_form("/groups", &[("csrf_token", &csrf), ("name", "support desk")]).await;
    assert_eq!(r.status, 303, "{}", r.text());
    let page = http.get("/users").await.text();
    assert!(page.contains("support desk") && page.contains("No members yet."), "{page}");
    let id = http.get("/api/v1/groups").await.json()[0]["id"].as_i64().unwrap();
    let pat_id = pat.id.to_string();
    let r = http.post_form(&format!("/groups/{id}/members"), &[("csrf_token", &csrf), ("user_id", &pat_id)]).await;
    assert_eq!(r.status, 303);
    assert_eq!(http.get("/api/v1/groups").await.json()[0]["user_ids"], json!([pat.id]));
    let r = http.post_form(&format!("/groups/{id}/members/{}/remove", pat.id), &[("csrf_token", &csrf)]).await;
    assert_eq!(r.status, 303);
    assert_eq!(http.get("/api/v1/groups").await.json()[0]["user_ids"], json!([]));
    let r = http.post_form(&format!("/groups/{id}/delete"), &[("csrf_token", &csrf)]).await;
    assert_eq!(r.status, 303);
    assert_eq!(http.get("/api/v1/groups").await.json(), json!([]));
    // Without the form's token nothing happens (SEC-25).
    assert_eq!(http.post_form("/groups", &[("name", "x")]).await.status, 403);
}

async fn two_managers_adding_members_at_once_both_land(db: TestDb) {
    let t = TestApp::new(db).await;
    let owner = t.account("acme").await;
    t.person(&owner, "ann@acme.test", Role::Admin).await;
    let (pat, uma) =
        (t.person(&owner, "pat@acme.test", Role::User).await, t.person(&owner, "uma@acme.test", Role::User).await);
    let stranger = t.account("globex").await;
    let (owners, anns) = (t.signed_in("owner@acme.test").await, t.signed_in("ann@acme.test").await);
    let id = create(&owners, "eng").await.json()["id"].as_i64().unwrap();
    let (a, b) = (owners.csrf(), anns.csrf());
    let path = format!("/groups/{id}/members");
    let (pat_id, uma_id) = (pat.id.to_string(), uma.id.to_string());
    let (first, second) =
        ([("csrf_token", a.as_str()), ("user_id", &pat_id)], [("csrf_token", b.as_str()), ("user_id", &uma_id)]);
    let (r1, r2) = tokio::join!(owners.post_form(&path, &first), anns.post_form(&path, &second));
    assert_eq!((r1.status, r2.status), (303, 303));
    let mut expected = vec![pat.id, uma.id];
    expected.sort_unstable();
    assert_eq!(owners.get("/api/v1/groups").await.json()[0]["user_ids"], json!(expected), "neither change lost");
    // Another account's person cannot be put in through the page either (SEC-27).
    let r = owners.post_form(&path, &[("csrf_token", &a), ("user_id", &stranger.id.to_string())]).await;
    assert_eq!(r.status, 422, "{}", r.text());
    assert_eq!(t.details_of("group.member_added").await.len(), 2);
}
