//! API tokens (SEC-50): made by the Owner with their password, shown once, kept hashed,
//! accepted in the Authorization header only, within their scopes, never beyond their
//! account, and refused at the next request once revoked or expired, on every instance.

use axum::http::Method;
use serde_json::{Value, json};
use twofold_app::domain::{Clock, Role};

use crate::support::http::Response;
use crate::support::{Http, PASSWORD, TestApp, TestDb};

on_both_databases!(
    sec_50_an_owner_makes_a_token_that_acts_within_its_scopes_without_a_session,
    sec_50_a_revoked_or_expired_token_is_refused_at_its_next_request_on_every_instance,
    sec_50_a_token_never_reaches_beyond_its_account,
    the_apps_tab_makes_and_revokes_tokens,
    sec_50_an_instance_token_creates_an_account_whose_owner_is_invited,
    sec_50_only_a_live_instance_token_with_its_scope_creates_accounts,
);

async fn make(owner: &Http, scopes: &[&str], days: Option<i64>, password: &str) -> Response {
    let body = json!({ "name": "back end", "scopes": scopes, "expires_in_days": days, "password": password });
    owner.post_json("/api/v1/tokens", &body).await
}

/// A request with `Authorization: Bearer {token}` and no cookie at all.
async fn with_token(http: &Http, method: Method, path: &str, token: &str, body: Option<Value>) -> Response {
    let auth = format!("Bearer {token}");
    let (content_type, body) = match body {
        Some(b) => (Some("application/json"), b.to_string().into()),
        None => (None, axum::body::Body::empty()),
    };
    http.send(method, path, content_type, body, &[("authorization", &auth)]).await
}

fn code(r: &Response) -> Option<String> {
    r.json()["error"]["code"].as_str().map(str::to_owned)
}

async fn sec_50_an_owner_makes_a_token_that_acts_within_its_scopes_without_a_session(db: TestDb) {
    let t = TestApp::new(db).await;
    let owner = t.account("acme").await;
    let pat = t.person(&owner, "pat@acme.test", Role::User).await;
    t.person(&owner, "ann@acme.test", Role::Admin).await;
    let owners = t.signed_in("owner@acme.test").await;
    assert_eq!(
        code(&make(&owners, &["people:read"], None, "not my password").await).as_deref(),
        Some("invalid_credentials")
    );
    assert_eq!(code(&make(&owners, &["people:everything"], None, PASSWORD).await).as_deref(), Some("invalid_scope"));
    assert_eq!(code(&make(&owners, &["people:read"], Some(400), PASSWORD).await).as_deref(), Some("invalid_expiry"));
    let anns = t.signed_in("ann@acme.test").await;
    assert_eq!(make(&anns, &["people:read"], None, PASSWORD).await.status, 403, "the Owner's alone");

    let r = make(&owners, &["people:read", "people:write"], Some(30), PASSWORD).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let token = r.json()["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("tf_") && token.len() == 46, "{token}");
    let listed = owners.get("/api/v1/tokens").await;
    assert!(!listed.text().contains(&token[3..]), "never shown again");
    assert_eq!(listed.json()[0]["scopes"], json!(["people:read", "people:write"]));

    let bare = t.http();
    let r = with_token(&bare, Method::GET, "/api/v1/users", &token, None).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = with_token(
        &bare,
        Method::POST,
        "/api/v1/users",
        &token,
        Some(json!({ "email": "new@acme.test", "name": "New", "role": "user" })),
    )
    .await;
    assert_eq!(r.status, 201, "no CSRF header for a token: {}", r.text());
    let r = with_token(
        &bare,
        Method::PATCH,
        &format!("/api/v1/users/{}", pat.id),
        &token,
        Some(json!({ "active": false })),
    )
    .await;
    assert_eq!(
        (r.status, r.json()["status"].as_str()),
        (200, Some("deactivated")),
        "no password proof: proofs are for sessions"
    );
    // Outside its scopes, or on routes tokens never reach.
    let r = with_token(&bare, Method::GET, "/api/v1/audit-events", &token, None).await;
    assert_eq!((r.status, code(&r).as_deref()), (403, Some("insufficient_scope")));
    assert_eq!(with_token(&bare, Method::GET, "/api/v1/me", &token, None).await.status, 401);
    assert_eq!(
        with_token(&bare, Method::GET, "/api/v1/tokens", &token, None).await.status,
        401,
        "tokens do not make tokens"
    );
    // Only in the Authorization header, and only as Bearer.
    assert_eq!(bare.get(&format!("/api/v1/users?access_token={token}")).await.status, 401);
    let basic = bare
        .send(
            Method::GET,
            "/api/v1/users",
            None,
            axum::body::Body::empty(),
            &[("authorization", &format!("Basic {token}"))],
        )
        .await;
    assert_eq!((basic.status, code(&basic).as_deref()), (401, Some("invalid_token")));
    let forged = format!("tf_{}", "A".repeat(43));
    assert_eq!(
        code(&with_token(&bare, Method::GET, "/api/v1/users", &forged, None).await).as_deref(),
        Some("invalid_token")
    );

    let created = t.details_of("api_token.created").await;
    assert_eq!(created[0]["scopes"], "people:read people:write");
    assert!(!serde_json::to_string(&created).unwrap().contains(&token[3..]), "the audit log never holds the token");
    let invited = t.events(owner.account_id).await;
    assert!(
        invited.iter().any(|(e, actor, _)| e == "invitation.created" && *actor == Some(owner.id)),
        "the token acts as its maker"
    );
    assert!(owners.get("/api/v1/tokens").await.json()[0]["last_used_at"].is_i64());
}

async fn sec_50_a_revoked_or_expired_token_is_refused_at_its_next_request_on_every_instance(db: TestDb) {
    let t = TestApp::new(db).await;
    t.account("acme").await;
    let owners = t.signed_in("owner@acme.test").await;
    let elsewhere = Http::new(t.second_instance().await);
    let revoked = make(&owners, &["people:read"], None, PASSWORD).await.json();
    let token = revoked["token"].as_str().unwrap();
    assert_eq!(with_token(&elsewhere, Method::GET, "/api/v1/users", token, None).await.status, 200);
    let id = revoked["id"].as_i64().unwrap();
    let r = owners.send(Method::DELETE, &format!("/api/v1/tokens/{id}"), None, axum::body::Body::empty(), &[]).await;
    assert_eq!(r.status, 204);
    let r = with_token(&elsewhere, Method::GET, "/api/v1/users", token, None).await;
    assert_eq!((r.status, code(&r).as_deref()), (401, Some("invalid_token")), "refused on the other instance at once");
    assert_eq!(t.details_of("api_token.revoked").await.len(), 1);

    let short = make(&owners, &["people:read"], Some(1), PASSWORD).await.json();
    let token = short["token"].as_str().unwrap();
    assert_eq!(with_token(&elsewhere, Method::GET, "/api/v1/users", token, None).await.status, 200);
    t.clock.advance(86_400);
    assert_eq!(with_token(&elsewhere, Method::GET, "/api/v1/users", token, None).await.status, 401, "expired");
}

async fn sec_50_a_token_never_reaches_beyond_its_account(db: TestDb) {
    let t = TestApp::new(db).await;
    t.account("acme").await;
    let globex = t.account("globex").await;
    let owners = t.signed_in("owner@acme.test").await;
    let token = make(&owners, &["people:read", "people:write", "groups:write"], None, PASSWORD).await.json()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let bare = t.http();
    let path = format!("/api/v1/users/{}", globex.id);
    assert_eq!(with_token(&bare, Method::GET, &path, &token, None).await.status, 404, "another account's person");
    assert_eq!(with_token(&bare, Method::PATCH, &path, &token, Some(json!({ "active": false }))).await.status, 404);
    let listed = with_token(&bare, Method::GET, "/api/v1/users", &token, None).await.json();
    assert!(listed.as_array().unwrap().iter().all(|p| p["email"].as_str().unwrap().ends_with("@acme.test")));
    assert_eq!(
        with_token(&bare, Method::POST, "/api/v1/groups", &token, Some(json!({ "name": "eng" }))).await.status,
        201
    );
    let globexs = t.signed_in("owner@globex.test").await;
    assert_eq!(globexs.get("/api/v1/groups").await.json(), json!([]), "made in the token's own account");
}

async fn the_apps_tab_makes_and_revokes_tokens(db: TestDb) {
    let t = TestApp::new(db).await;
    t.account("acme").await;
    let owners = t.signed_in("owner@acme.test").await;
    let csrf = owners.csrf();
    let fields = [
        ("csrf_token", csrf.as_str()),
        ("name", "nightly export"),
        ("scope_people_read", "on"),
        ("expires_in_days", "7"),
        ("password", PASSWORD),
    ];
    let r = owners.post_form("/apps/tokens", &fields).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let page = r.text();
    let start = page.find("id=\"new-token\">").unwrap() + "id=\"new-token\">".len();
    let token: String = page[start..].chars().take_while(|c| *c != '<').collect();
    assert!(token.starts_with("tf_"), "{token}");
    assert!(page.contains("people:read") && page.contains("nightly export"));
    let bare = t.http();
    assert_eq!(with_token(&bare, Method::GET, "/api/v1/users", &token, None).await.status, 200);
    assert_eq!(
        with_token(&bare, Method::POST, "/api/v1/groups", &token, Some(json!({ "name": "x" }))).await.status,
        403
    );
    // A wrong password shows the form again with the reason.
    let wrong = [("csrf_token", csrf.as_str()), ("name", "n"), ("scope_people_read", "on"), ("password", "nope")];
    let r = owners.post_form("/apps/tokens", &wrong).await;
    assert!(r.text().contains("incorrect"), "{}", r.text());
    let id = owners.get("/api/v1/tokens").await.json()[0]["id"].as_i64().unwrap();
    let r = owners.post_form(&format!("/apps/tokens/{id}/revoke"), &[("csrf_token", csrf.as_str())]).await;
    assert!(r.text().contains("The token was revoked."), "{}", r.text());
    assert_eq!(with_token(&bare, Method::GET, "/api/v1/users", &token, None).await.status, 401);
}

async fn create_account(http: &Http, token: &str, email: &str) -> Response {
    let body = json!({ "name": "Initech", "owner": { "email": email, "name": "Ivy Owner" } });
    with_token(http, Method::POST, "/api/v1/accounts", token, Some(body)).await
}

async fn sec_50_an_instance_token_creates_an_account_whose_owner_is_invited(db: TestDb) {
    let t = TestApp::new(db).await;
    let (made, raw) = t.app.create_instance_token("signup", &["accounts:write"], Some(30)).await.unwrap();
    assert!(raw.starts_with("tf_") && raw.len() == 46, "{raw}");
    assert_eq!(made.expires_at, t.clock.now() + 30 * 86_400);
    let elsewhere = Http::new(t.second_instance().await);

    let r = create_account(&elsewhere, &raw, "ivy@initech.test").await;
    assert_eq!(r.status, 201, "{}", r.text());
    let created = r.json();
    assert_eq!(created["account"]["name"], "Initech");
    assert_eq!(created["owner"]["email"], "ivy@initech.test");
    let shown = created["invitation_url"].as_str().unwrap().to_owned();
    let listed = t.app.instance_tokens().await.unwrap();
    assert_eq!(listed[0].last_used_at, Some(t.clock.now()), "the list shows its last use");

    // The Owner is mailed a link of their own, chooses a password and signs in as Owner.
    let mailed = t.mailed_link("ivy@initech.test", "/invitations/").await;
    assert_ne!(mailed, shown);
    let path = mailed.split_once("/invitations/").map(|(_, raw)| format!("/api/v1/invitations/{raw}")).unwrap();
    let r = t.http().post_json(&path, &json!({ "password": PASSWORD })).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let ivy = t.signed_in("ivy@initech.test").await;
    assert_eq!(ivy.get("/api/v1/me").await.json()["role"], "owner");
    let account_created = t.details_of("account.created").await;
    assert_eq!(account_created.last().unwrap()["instance_token"], "signup", "{account_created:?}");

    let again = create_account(&elsewhere, &raw, "ivy@initech.test").await;
    assert_eq!((again.status, code(&again).as_deref()), (409, Some("email_taken")));
    let bad = with_token(
        &elsewhere,
        Method::POST,
        "/api/v1/accounts",
        &raw,
        Some(json!({ "name": "", "owner": { "email": "x@y.test", "name": "X" } })),
    )
    .await;
    assert_eq!((bad.status, code(&bad).as_deref()), (422, Some("invalid_account_name")));
}

async fn sec_50_only_a_live_instance_token_with_its_scope_creates_accounts(db: TestDb) {
    let t = TestApp::new(db).await;
    t.account("acme").await;
    assert!(t.app.create_instance_token("x", &["people:read"], None).await.is_err(), "no account scopes");
    assert!(t.app.create_instance_token("x", &["accounts:write"], Some(367)).await.is_err());
    let owners = t.signed_in("owner@acme.test").await;
    let bare = t.http();

    // An account token, even with every scope, is no instance token; nor is the Owner's session.
    let scopes = ["people:read", "people:write", "groups:write", "audit:read", "scim", "webhooks"];
    let account_token = make(&owners, &scopes, None, PASSWORD).await.json()["token"].as_str().unwrap().to_owned();
    let r = create_account(&bare, &account_token, "a@b.test").await;
    assert_eq!((r.status, code(&r).as_deref()), (401, Some("invalid_token")));
    let body = json!({ "name": "Initech", "owner": { "email": "a@b.test", "name": "A" } });
    let r = owners.post_json("/api/v1/accounts", &body).await;
    assert_eq!((r.status, code(&r).as_deref()), (401, Some("invalid_token")), "a session makes no accounts");

    // The instance token reaches no account's routes, and works only in the header.
    let (made, raw) = t.app.create_instance_token("signup", &["accounts:write"], Some(1)).await.unwrap();
    let r = with_token(&bare, Method::GET, "/api/v1/users", &raw, None).await;
    assert_eq!((r.status, code(&r).as_deref()), (401, Some("invalid_token")));
    let r = bare.post_json(&format!("/api/v1/accounts?access_token={raw}"), &body).await;
    assert_eq!(r.status, 401, "never from a query string");

    // Expired, then revoked: refused at the next request.
    t.clock.advance(86_400);
    assert_eq!(create_account(&bare, &raw, "a@b.test").await.status, 401, "expired");
    let (_, fresh) = t.app.create_instance_token("signup 2", &["accounts:write"], None).await.unwrap();
    assert_eq!(create_account(&bare, &fresh, "a@b.test").await.status, 201);
    let id = t.app.instance_tokens().await.unwrap()[0].id;
    t.app.revoke_instance_token(id).await.unwrap();
    assert_eq!(create_account(&bare, &fresh, "c@d.test").await.status, 401, "revoked");
    assert!(t.app.revoke_instance_token(made.id).await.is_ok());
    assert!(t.app.revoke_instance_token(made.id).await.is_err(), "gone");
    assert_eq!(t.details_of("instance_token.revoked").await.len(), 2);
}
