//! CSRF, security headers and hostile input: clear 4xx answers, never a 500.

use axum::http::Method;
use serde_json::json;

use crate::support::{PASSWORD, TestApp, TestDb};

on_both_databases!(
    sec_25_api_calls_with_the_session_cookie_need_the_csrf_header,
    sec_25_cross_site_requests_are_refused,
    sec_25_forms_without_their_token_are_refused,
    sec_19_nothing_answers_without_a_session,
    sec_33_hostile_bodies_get_clear_4xx_answers,
    sec_33_long_and_tricky_strings_are_refused_and_nothing_is_stored,
);

async fn sec_25_api_calls_with_the_session_cookie_need_the_csrf_header(db: TestDb) {
    let t = TestApp::new(db).await;
    t.account("acme").await;
    let http = t.http();
    let r = http.post_json("/api/v1/login", &json!({ "email": "owner@acme.test", "password": PASSWORD })).await;
    let token = r.json()["csrf_token"].as_str().unwrap().to_string();
    let invite = json!({ "email": "x@acme.test", "name": "X", "role": "user" });
    let missing = http.post_json("/api/v1/users", &invite).await;
    assert_eq!(missing.status, 403);
    assert_eq!(missing.error_code(), "csrf_token_invalid");
    http.set_csrf("wrong-token");
    assert_eq!(http.post_json("/api/v1/users", &invite).await.status, 403);
    assert_eq!(http.post_json("/api/v1/logout", &json!({})).await.status, 403, "logout too");
    http.set_csrf(&token);
    assert_eq!(http.post_json("/api/v1/users", &invite).await.status, 201);
}

async fn sec_25_cross_site_requests_are_refused(db: TestDb) {
    let t = TestApp::new(db).await;
    t.account("acme").await;
    let http = t.http();
    let body = json!({ "email": "owner@acme.test", "password": PASSWORD }).to_string();
    let evil =
        http.post_raw("/api/v1/login", "application/json", body.clone(), &[("origin", "https://evil.example")]).await;
    assert_eq!(evil.status, 403);
    assert_eq!(evil.error_code(), "cross_site_request");
    let fetch =
        http.post_raw("/api/v1/login", "application/json", body.clone(), &[("sec-fetch-site", "cross-site")]).await;
    assert_eq!(fetch.status, 403);
    let null = http
        .post_raw(
            "/api/v1/login",
            "application/json",
            body.clone(),
            &[("origin", "null"), ("sec-fetch-site", "cross-site")],
        )
        .await;
    assert_eq!(null.status, 403, "Origin: null defers to Fetch Metadata");
    let null_same = http
        .post_raw(
            "/api/v1/login",
            "application/json",
            body.clone(),
            &[("origin", "null"), ("sec-fetch-site", "same-origin")],
        )
        .await;
    assert_eq!(null_same.status, 200);
    let form = http
        .post_raw("/login", "application/x-www-form-urlencoded", "email=a", &[("origin", "https://evil.example")])
        .await;
    assert_eq!(form.status, 403);
    assert!(form.text().contains("came from another site"), "pages answer with a page");
    let same = http.post_raw("/api/v1/login", "application/json", body, &[("origin", "http://127.0.0.1:8080")]).await;
    assert_eq!(same.status, 200);
}

async fn sec_25_forms_without_their_token_are_refused(db: TestDb) {
    let t = TestApp::new(db).await;
    t.account("acme").await;
    let http = t.http();
    let page = http.get("/login").await;
    let token = page.form_csrf();
    let r = http.post_form("/login", &[("email", "owner@acme.test"), ("password", PASSWORD)]).await;
    assert_eq!(r.status, 403, "no token");
    assert!(r.text().contains("Form refused"));
    let r = http
        .post_form("/login", &[("csrf_token", "forged"), ("email", "owner@acme.test"), ("password", PASSWORD)])
        .await;
    assert_eq!(r.status, 403, "wrong token");
    // A forged page posting the right field names from another browser has no cookie.
    let other = t.http();
    let r = other
        .post_form("/login", &[("csrf_token", &token), ("email", "owner@acme.test"), ("password", PASSWORD)])
        .await;
    assert_eq!(r.status, 403, "token without its cookie");
    let r =
        http.post_form("/login", &[("csrf_token", &token), ("email", "owner@acme.test"), ("password", PASSWORD)]).await;
    assert_eq!(r.status, 303, "{}", r.text());
    // Signed in, forms carry the session's token instead.
    let r = http
        .post_form("/users", &[("csrf_token", &token), ("email", "x@acme.test"), ("name", "X"), ("role", "user")])
        .await;
    assert_eq!(r.status, 403);
}

async fn sec_19_nothing_answers_without_a_session(db: TestDb) {
    let t = TestApp::new(db).await;
    let o = t.account("acme").await;
    let http = t.http();
    for path in ["/api/v1/me", "/api/v1/users", &format!("/api/v1/users/{}", o.id), "/api/v1/audit-events"] {
        let r = http.get(path).await;
        assert_eq!(r.status, 401, "{path}");
        assert_eq!(r.error_code(), "unauthenticated");
    }
    for path in ["/home", "/users", &format!("/users/{}", o.id)] {
        let r = http.get(path).await;
        assert_eq!(r.status, 303, "{path}");
        assert_eq!(r.header("location").as_deref(), Some("/login"));
    }
    http.set_cookie("twofold_session", "not-a-real-session-token-at-all-0000000000");
    assert_eq!(http.get("/api/v1/me").await.status, 401, "a forged cookie is nobody");
}

async fn sec_33_hostile_bodies_get_clear_4xx_answers(db: TestDb) {
    let t = TestApp::new(db).await;
    t.account("acme").await;
    let http = t.signed_in("owner@acme.test").await;
    let cases: Vec<(&str, String, u16, &str)> = vec![
        ("application/json", "{not json".into(), 400, "malformed_json"),
        ("application/json", json!({ "email": 5, "name": [], "role": "user" }).to_string(), 422, "invalid_fields"),
        ("application/json", json!({ "name": "No email" }).to_string(), 422, "invalid_fields"),
        ("text/plain", "email=x".into(), 415, "json_required"),
        ("application/json", format!("{{\"email\": \"{}\"}}", "a".repeat(10 * 1024 * 1024)), 413, "body_too_large"),
        (
            "application/json",
            json!({ "email": "x@acme.test", "name": "X", "role": "superuser" }).to_string(),
            422,
            "invalid_role",
        ),
    ];
    for (content_type, body, status, code) in cases {
        let r = http.post_raw("/api/v1/users", content_type, body.clone(), &[]).await;
        assert_eq!((r.status, r.error_code().as_str()), (status, code), "body {:.60}: {}", body, r.text());
    }
    let r = http.send(Method::DELETE, "/api/v1/users", None, axum::body::Body::empty(), &[]).await;
    assert_eq!(r.status, 405);
    let r = http.get("/api/v1/no-such-thing").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.error_code(), "no_such_route");
    let page = http.get("/no-such-page").await;
    assert_eq!(page.status, 404);
    assert!(page.text().contains("There is no page at this address."));
}

async fn sec_33_long_and_tricky_strings_are_refused_and_nothing_is_stored(db: TestDb) {
    let t = TestApp::new(db).await;
    t.account("acme").await;
    let http = t.signed_in("owner@acme.test").await;
    let long_email = format!("{}@acme.test", "a".repeat(5_000));
    let cases = [
        (json!({ "email": long_email, "name": "Long", "role": "user" }), "invalid_email"),
        (json!({ "email": "not-an-email", "name": "X", "role": "user" }), "invalid_email"),
        (json!({ "email": "x@acme.test", "name": "Ev\u{202E}il", "role": "user" }), "invalid_name"),
        (json!({ "email": "y@acme.test", "name": "   ", "role": "user" }), "invalid_name"),
        (json!({ "email": "z@acme.test", "name": "n".repeat(5_000), "role": "user" }), "invalid_name"),
    ];
    for (body, code) in cases {
        let r = http.post_json("/api/v1/users", &body).await;
        assert_eq!(r.status, 422, "{}", r.text());
        assert_eq!(r.error_code(), code);
    }
    assert_eq!(http.get("/api/v1/users").await.json().as_array().unwrap().len(), 1);
    let login =
        t.http().post_json("/api/v1/login", &json!({ "email": long_email, "password": "p".repeat(20_000) })).await;
    assert_eq!(login.status, 401, "an oversized guess is just a wrong guess");
    let huge = t
        .http()
        .post_json("/api/v1/login", &json!({ "email": "owner@acme.test", "password": "p".repeat(100_000) }))
        .await;
    assert_eq!(huge.status, 413, "bodies over 64 KiB are refused before anything reads them");
}
