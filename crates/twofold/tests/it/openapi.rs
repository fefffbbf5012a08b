//! The served OpenAPI document describes every API route, and every route it lists exists.

use crate::support::{TestApp, TestDb};

/// Every route of the interface contract (`shared/spec/api.md`) built so far.
const ROUTES: &[(&str, &str)] = &[
    ("post", "/api/v1/login"),
    ("post", "/api/v1/logout"),
    ("get", "/api/v1/me"),
    ("get", "/api/v1/users"),
    ("post", "/api/v1/users"),
    ("get", "/api/v1/users/{id}"),
    ("patch", "/api/v1/users/{id}"),
    ("delete", "/api/v1/users/{id}"),
    ("put", "/api/v1/users/{id}/role"),
    ("get", "/api/v1/groups"),
    ("post", "/api/v1/groups"),
    ("delete", "/api/v1/groups/{id}"),
    ("put", "/api/v1/groups/{id}/members"),
    ("post", "/api/v1/accounts"),
    ("get", "/api/v1/webhooks"),
    ("post", "/api/v1/webhooks"),
    ("delete", "/api/v1/webhooks/{id}"),
    ("post", "/api/v1/webhooks/{id}/test"),
    ("get", "/api/v1/webhooks/{id}/deliveries"),
    ("get", "/api/v1/tokens"),
    ("post", "/api/v1/tokens"),
    ("delete", "/api/v1/tokens/{id}"),
    ("post", "/api/v1/invitations/{token}"),
    ("post", "/api/v1/setup/{token}"),
    ("get", "/api/v1/audit-events"),
    ("get", "/api/v1/audit-events/export"),
    ("post", "/api/v1/login/totp"),
    ("post", "/api/v1/me/two-factor/enrollment"),
    ("post", "/api/v1/me/two-factor/enrollment/code"),
    ("post", "/api/v1/me/two-factor/enrollment/phone"),
    ("post", "/api/v1/me/two-factor/enrollment/phone/verify"),
    ("post", "/api/v1/me/phone"),
    ("post", "/api/v1/me/phone/verify"),
    ("delete", "/api/v1/me/two-factor"),
    ("get", "/api/v1/me/devices"),
    ("delete", "/api/v1/me/devices/{id}"),
    ("delete", "/api/v1/me/sessions/{id}"),
    ("delete", "/api/v1/support/people/{id}/sms-recovery"),
    ("delete", "/api/v1/users/{id}/two-factor"),
    ("get", "/api/v1/account/policy"),
    ("get", "/api/v1/login/lost-device"),
    ("get", "/api/v1/me/sessions"),
    ("get", "/api/v1/recovery-requests"),
    ("get", "/api/v1/support/people"),
    ("get", "/api/v1/support/requests"),
    ("post", "/api/v1/login/recovery-requests"),
    ("post", "/api/v1/login/sms"),
    ("post", "/api/v1/login/sms/verify"),
    ("post", "/api/v1/me/notices/take"),
    ("post", "/api/v1/support/login"),
    ("post", "/api/v1/support/login/totp"),
    ("post", "/api/v1/support/people/{id}/sms-recovery"),
    ("post", "/api/v1/support/requests/{id}/decision"),
    ("post", "/api/v1/support/requests/{id}/take"),
    ("get", "/api/v1/support/operators"),
    ("post", "/api/v1/support/operators/unlock"),
    ("post", "/api/v1/support/operators/reset-totp"),
    ("post", "/api/v1/users/{id}/ownership"),
    ("post", "/api/v1/users/{id}/sign-out"),
    ("post", "/api/v1/users/{id}/two-factor/unlock"),
    ("put", "/api/v1/account/policy"),
    ("post", "/api/v1/me/two-factor/recovery-codes"),
    ("post", "/api/v1/login/recovery-code"),
    ("post", "/api/v1/me/security-keys/registration"),
    ("post", "/api/v1/me/security-keys"),
    ("get", "/api/v1/me/security-keys"),
    ("delete", "/api/v1/me/security-keys/{id}"),
    ("post", "/api/v1/login/webauthn/challenge"),
    ("post", "/api/v1/login/webauthn"),
    ("post", "/api/v1/login/passkey/challenge"),
    ("post", "/api/v1/login/passkey"),
    ("post", "/api/v1/password-reset"),
    ("get", "/api/v1/apps"),
    ("post", "/api/v1/apps"),
    ("delete", "/api/v1/apps/{client_id}"),
    ("post", "/api/v1/apps/{client_id}/secret"),
    ("post", "/api/v1/password-reset/{token}"),
    ("put", "/api/v1/me/password"),
    ("get", "/api/v1/authz/forward-auth"),
    ("get", "/api/v1/authz/auth-request"),
    ("get", "/api/v1/account/overview"),
    ("get", "/api/v1/account/people.csv"),
];

#[tokio::test]
async fn the_document_lists_every_route() {
    let t = TestApp::new(TestDb::sqlite().await).await;
    let doc = t.http().get("/api/openapi.json").await.json();
    let paths = doc["paths"].as_object().unwrap();
    for (method, path) in ROUTES {
        assert!(paths.get(*path).and_then(|p| p.get(*method)).is_some(), "{method} {path} is not documented");
    }
    let documented: usize = paths.values().map(|p| p.as_object().unwrap().len()).sum();
    assert_eq!(documented, ROUTES.len(), "a documented route is missing from this test's list");
}

#[tokio::test]
async fn every_documented_route_is_served() {
    let t = TestApp::new(TestDb::sqlite().await).await;
    let http = t.http();
    let doc = http.get("/api/openapi.json").await.json();
    for (path, methods) in doc["paths"].as_object().unwrap() {
        let concrete = path.replace("{id}", "1").replace("{token}", "x");
        for method in methods.as_object().unwrap().keys() {
            let m = axum::http::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let r = http.send(m, &concrete, Some("application/json"), axum::body::Body::from("{}"), &[]).await;
            assert_ne!(r.status, 405, "{method} {path}");
            assert!(r.status != 404 || r.error_code() != "no_such_route", "{method} {path} is not routed");
        }
    }
}

/// SEC-45 in miniature, in-process and deterministic: whatever an anonymous client sends
/// to each documented operation (an empty object, broken JSON, the wrong content type),
/// the status it gets is one the document lists, and it comes with the error schema.
#[tokio::test]
async fn sec_45_every_status_an_anonymous_client_meets_is_documented() {
    let t = TestApp::new(TestDb::sqlite().await).await;
    t.account("acme").await;
    let http = t.http();
    let doc = http.get("/api/openapi.json").await.json();
    let mut checked = 0;
    for (path, methods) in doc["paths"].as_object().unwrap() {
        let concrete = path.replace("{id}", "1").replace("{token}", "x").replace("{client_id}", "x");
        for (method, operation) in methods.as_object().unwrap() {
            let m = axum::http::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let documented = operation["responses"].as_object().unwrap();
            let bodies: &[(&str, &str)] = if operation.get("requestBody").is_some() {
                &[("application/json", "{}"), ("application/json", "{not json"), ("text/plain", "hello")]
            } else {
                &[("application/json", "")]
            };
            for (content_type, body) in bodies {
                let r = http.send(m.clone(), &concrete, Some(content_type), axum::body::Body::from(*body), &[]).await;
                let status = r.status.to_string();
                assert!(
                    documented.contains_key(&status),
                    "{method} {path} with {content_type} {body:?} answered {status}, not documented: {}",
                    r.text()
                );
                if r.status >= 400 && r.header("content-type").is_some_and(|c| c.contains("json")) {
                    assert!(r.json()["error"]["code"].is_string(), "{method} {path}: {}", r.text());
                }
                checked += 1;
            }
        }
    }
    assert!(checked > 100, "{checked} requests");
}
