//! Forward authentication through the router: the decision for each kind of visitor, the
//! `rd` round trip of the login page, sign-out from a protected application, revocation
//! across instances (SEC-43). The real proxies are in `proxies.rs`.

use axum::http::Method;
use serde_json::json;
use twofold_app::AppConfig;
use twofold_app::domain::Role;
use twofold_app::domain::forward_auth::{Rule, Rules, TwoFactorRule};

use crate::support::http::{Http, Response};
use crate::support::{PASSWORD, TestApp, TestDb, url_encode};

on_both_databases!(
    sec_43_each_visitor_gets_the_answer_the_rules_give,
    sec_43_client_remote_headers_are_never_trusted,
    sec_43_a_session_ended_on_one_instance_is_refused_by_the_other_at_its_next_check,
    sec_43_rd_returns_people_only_to_hosts_a_rule_names,
    signing_out_from_a_protected_application_returns_to_it,
    the_session_cookie_reaches_the_protected_hosts_through_cookie_domain,
    a_person_without_2fa_is_led_through_the_wizard_and_sent_back,
    sec_46_a_password_session_made_before_2fa_went_on_elsewhere_signs_in_again_for_every_consumer,
    sec_46_an_overdue_policy_sends_forward_auth_to_the_wizard_as_it_does_the_pages,
    sec_49_paths_another_reader_could_climb_out_of_a_rule_with_are_refused_on_both_endpoints,
    groups_reach_the_proxy_in_remote_groups_and_rules_with_groups_let_in_their_members_only,
);

/// The four spellings of the review that climbed out of `/admin` in Twofold's reading
/// while the application stayed inside it (SEC-49).
pub const CLIMBING_PATHS: [&str; 4] = [
    "/admin/secret/..;/..;/x",
    "/admin/secret/%252e%252e/%252e%252e/x",
    "/admin/secret%5C..%5C..%5Cx",
    "/admin/secret%2F..%2F..%2Fx",
];

const APP: &str = "http://wiki.acme.test:8443/docs/page?x=1";

pub fn rules() -> Rules {
    let rule = |host: &str| Rule {
        host: host.into(),
        path_prefix: None,
        roles: None,
        accounts: None,
        groups: None,
        two_factor: TwoFactorRule::Required,
    };
    Rules::new(vec![
        rule("wiki.acme.test"),
        Rule {
            path_prefix: Some("/admin".into()),
            roles: Some(vec![Role::Owner, Role::Admin]),
            ..rule("wiki.acme.test")
        },
        Rule { two_factor: TwoFactorRule::Optional, ..rule("open.acme.test") },
        Rule { groups: Some(vec!["eng".into()]), two_factor: TwoFactorRule::Optional, ..rule("eng.acme.test") },
    ])
    .unwrap()
}

async fn app(db: TestDb) -> TestApp {
    let config = AppConfig {
        public_url: "http://auth.acme.test:8080".into(),
        cookie_domain: Some("acme.test".into()),
        forward_auth: rules(),
        ..AppConfig::default()
    };
    TestApp::with_config(db, config).await
}

/// Caddy's and Traefik's question, for a browser (`Accept: text/html`) or a script.
async fn forward(http: &Http, url: &str, browser: bool, extra: &[(&str, &str)]) -> Response {
    let (proto, rest) = url.split_once("://").unwrap();
    let (host, uri) = rest.find('/').map_or((rest, "/"), |i| rest.split_at(i));
    let accept = if browser { "text/html,application/xhtml+xml" } else { "application/json" };
    let mut headers = vec![
        ("x-forwarded-proto", proto),
        ("x-forwarded-host", host),
        ("x-forwarded-uri", uri),
        ("x-forwarded-method", "GET"),
        ("accept", accept),
    ];
    headers.extend_from_slice(extra);
    http.send(Method::GET, "/api/v1/authz/forward-auth", None, axum::body::Body::empty(), &headers).await
}

/// nginx's question.
async fn auth_request(http: &Http, url: &str) -> Response {
    let headers = [("x-original-url", url), ("x-original-method", "GET")];
    http.send(Method::GET, "/api/v1/authz/auth-request", None, axum::body::Body::empty(), &headers).await
}

fn login_for(url: &str) -> String {
    format!("http://auth.acme.test:8080/login?rd={}", url_encode(url))
}

async fn sec_43_each_visitor_gets_the_answer_the_rules_give(db: TestDb) {
    let t = app(db).await;
    let owner = t.account("acme").await;
    let stranger = t.http();
    // Not signed in: a browser is sent to sign in and back; a script gets 401.
    let r = forward(&stranger, APP, true, &[]).await;
    assert_eq!((r.status, r.header("location")), (302, Some(login_for(APP))));
    assert_eq!(forward(&stranger, APP, false, &[]).await.status, 401);
    let r = auth_request(&stranger, APP).await;
    assert_eq!((r.status, r.header("location")), (401, Some(login_for(APP))), "nginx turns this into the redirect");
    // A host no rule names is refused, signed in or not.
    assert_eq!(forward(&stranger, "https://other.acme.test/", true, &[]).await.status, 403);

    // The Owner with 2FA passes, with the identity headers.
    let http = t.signed_in("owner@acme.test").await;
    let secret = t.enable_two_factor(&http).await;
    let http = t.signed_in_with_code("owner@acme.test", &secret).await;
    for r in [forward(&http, APP, true, &[]).await, auth_request(&http, APP).await] {
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.header("remote-user").as_deref(), Some("owner@acme.test"));
        assert_eq!(r.header("remote-email").as_deref(), Some("owner@acme.test"));
        assert_eq!(r.header("remote-name").as_deref(), Some("Olive Owner"));
        assert_eq!(r.header("remote-groups").as_deref(), Some("owner"));
        assert_eq!(r.header("remote-account"), Some(owner.account_id.to_string()));
    }
    assert_eq!(forward(&http, "http://wiki.acme.test/admin/users", true, &[]).await.status, 200);
    assert_eq!(forward(&http, "https://other.acme.test/", true, &[]).await.status, 403, "no rule, no entry");

    // A User without 2FA: the /admin rule refuses the role; elsewhere the wizard first.
    let _user = t.person(&owner, "uma@acme.test", Role::User).await;
    let uma = t.signed_in("uma@acme.test").await;
    let r = forward(&uma, "http://wiki.acme.test/admin/users", false, &[]).await;
    assert_eq!((r.status, r.error_code().as_str()), (403, "forbidden"));
    // A browser is shown a page that names the application and why, not JSON.
    let r = forward(&uma, "http://wiki.acme.test/admin/users", true, &[]).await;
    assert_eq!(r.status, 403);
    assert!(r.header("content-type").is_some_and(|c| c.starts_with("text/html")), "{:?}", r.header("content-type"));
    let page = r.text();
    assert!(page.contains("You cannot open wiki.acme.test") && page.contains("other roles"), "{page}");
    assert!(page.contains("href=\"http://auth.acme.test:8080/home\""), "a way back to Twofold: {page}");
    let r = forward(&uma, APP, true, &[]).await;
    assert_eq!(r.status, 302);
    assert_eq!(
        r.header("location"),
        Some(format!("http://auth.acme.test:8080/me/two-factor/enable?rd={}", url_encode(APP)))
    );
    assert_eq!(forward(&uma, APP, false, &[]).await.error_code(), "two_factor_required");
    assert_eq!(forward(&uma, "http://open.acme.test/", true, &[]).await.status, 200, "2FA optional there");

    // A half-finished sign-in is not signed in; a malformed description is a 400.
    let half = t.password_step("owner@acme.test", false).await;
    assert_eq!(forward(&half, APP, true, &[]).await.status, 302);
    let r = http.send(Method::GET, "/api/v1/authz/forward-auth", None, axum::body::Body::empty(), &[]).await;
    assert_eq!((r.status, r.error_code().as_str()), (400, "invalid_forwarded_request"));
    let r = auth_request(&http, "ftp://wiki.acme.test/").await;
    assert_eq!(r.status, 400);
}

async fn sec_43_client_remote_headers_are_never_trusted(db: TestDb) {
    let t = app(db).await;
    let owner = t.account("acme").await;
    t.person(&owner, "uma@acme.test", Role::User).await;
    let spoof = [("remote-user", "owner@acme.test"), ("remote-groups", "owner"), ("remote-account", "1")];
    let r = forward(&t.http(), APP, true, &spoof).await;
    assert_eq!(r.status, 302, "claiming an identity is not having one");
    let uma = t.signed_in("uma@acme.test").await;
    let r = forward(&uma, "http://open.acme.test/", true, &spoof).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("remote-user").as_deref(), Some("uma@acme.test"), "the session's person, not the claim");
    assert_eq!(r.header("remote-groups").as_deref(), Some("user"));
    // The host is the proxy's description; a client's Host header changes nothing.
    let r = forward(&uma, "http://open.acme.test/", true, &[("host", "wiki.acme.test")]).await;
    assert_eq!(r.status, 200);
}

async fn sec_43_a_session_ended_on_one_instance_is_refused_by_the_other_at_its_next_check(db: TestDb) {
    let t = app(db).await;
    let owner = t.account("acme").await;
    t.person(&owner, "uma@acme.test", Role::User).await;
    let other = Http::new(t.second_instance().await);
    let open = "http://open.acme.test/";
    // Logout on this instance.
    let uma = t.signed_in("uma@acme.test").await;
    let cookie = uma.cookie("twofold_session").unwrap();
    other.set_cookie("twofold_session", &cookie);
    assert_eq!(forward(&other, open, true, &[]).await.status, 200);
    assert_eq!(uma.post_json("/api/v1/logout", &json!({})).await.status, 204);
    assert_eq!(forward(&other, open, true, &[]).await.status, 302, "refused at once on the other instance");
    // Sign out everywhere by an administrator.
    let uma = t.signed_in("uma@acme.test").await;
    other.set_cookie("twofold_session", &uma.cookie("twofold_session").unwrap());
    assert_eq!(forward(&other, open, true, &[]).await.status, 200);
    let o = t.signed_in("owner@acme.test").await;
    let person = t.user("uma@acme.test").await;
    let r = o.post_json(&format!("/api/v1/users/{}/sign-out", person.id), &json!({})).await;
    assert!(r.status < 300, "{}", r.text());
    assert_eq!(forward(&other, open, true, &[]).await.status, 302, "every session of theirs, everywhere");
}

async fn sec_43_rd_returns_people_only_to_hosts_a_rule_names(db: TestDb) {
    let t = app(db).await;
    t.account("acme").await;
    let http = t.signed_in("owner@acme.test").await;
    let secret = t.enable_two_factor(&http).await;

    let browser = t.http();
    let page = browser.get(&format!("/login?rd={}", url_encode(APP))).await;
    assert_eq!(page.status, 200);
    let token = page.form_csrf();
    let r = browser
        .post_form("/login", &[("csrf_token", &token), ("email", "owner@acme.test"), ("password", PASSWORD)])
        .await;
    assert_eq!(r.header("location").as_deref(), Some("/login/code"));
    let token = browser.get("/login/code").await.form_csrf();
    let r = browser.post_form("/login/code", &[("csrf_token", &token), ("code", &t.code(&secret, 0))]).await;
    assert_eq!(r.header("location").as_deref(), Some("/continue"), "{}", r.text());
    let r = browser.get("/continue").await;
    assert_eq!(r.header("location").as_deref(), Some(APP), "back where the proxy sent them from");
    assert_eq!(browser.get("/continue").await.header("location").as_deref(), Some("/home"), "once");
    // Signed in already: /login?rd= goes straight back.
    let r = browser.get(&format!("/login?rd={}", url_encode(APP))).await;
    assert_eq!(r.header("location").as_deref(), Some(APP));

    // Hosts no rule names are ignored: Home instead.
    for evil in ["https://evil.test/", "https://wiki.acme.test@evil.test/", "//evil.test/", "javascript:alert(1)"] {
        let other = t.http();
        let page = other.get(&format!("/login?rd={}", url_encode(evil))).await;
        let token = page.form_csrf();
        t.clock.advance(30);
        let r = other
            .post_form("/login", &[("csrf_token", &token), ("email", "owner@acme.test"), ("password", PASSWORD)])
            .await;
        assert_eq!(r.header("location").as_deref(), Some("/login/code"));
        let token = other.get("/login/code").await.form_csrf();
        other.post_form("/login/code", &[("csrf_token", &token), ("code", &t.code(&secret, 0))]).await;
        assert_eq!(other.get("/continue").await.header("location").as_deref(), Some("/home"), "{evil}");
        let r = other.get(&format!("/login?rd={}", url_encode(evil))).await;
        assert_eq!(r.header("location").as_deref(), Some("/home"), "{evil}");
    }
}

async fn signing_out_from_a_protected_application_returns_to_it(db: TestDb) {
    let t = app(db).await;
    let owner = t.account("acme").await;
    t.person(&owner, "uma@acme.test", Role::User).await;
    let uma = t.signed_in("uma@acme.test").await;
    let open = "http://open.acme.test/board";
    assert_eq!(forward(&uma, open, true, &[]).await.status, 200);
    let page = uma.get(&format!("/logout?rd={}", url_encode(open))).await;
    assert_eq!(page.status, 200);
    assert!(page.text().contains("Sign out?"));
    let token = page.form_csrf();
    let r = uma.post_form("/logout", &[("csrf_token", &token), ("rd", open)]).await;
    assert_eq!((r.status, r.header("location").as_deref()), (303, Some(open)));
    assert_eq!(forward(&uma, open, true, &[]).await.status, 302, "signed out of the application too");
    // Signed out already, the link goes straight back; to an unlisted host, to the login page.
    let r = t.http().get(&format!("/logout?rd={}", url_encode(open))).await;
    assert_eq!(r.header("location").as_deref(), Some(open));
    let r = t.http().get("/logout?rd=https%3A%2F%2Fevil.test%2F").await;
    assert_eq!(r.header("location").as_deref(), Some("/login"));
}

async fn the_session_cookie_reaches_the_protected_hosts_through_cookie_domain(db: TestDb) {
    let t = app(db).await;
    t.account("acme").await;
    let r = t.http().post_json("/api/v1/login", &json!({ "email": "owner@acme.test", "password": PASSWORD })).await;
    let cookies = r.set_cookies();
    let session = cookies.iter().find(|c| c.starts_with("twofold_session=")).expect("the session cookie");
    assert!(session.contains("Domain=acme.test"), "{session}");
    // Browsers apply form-action to a sign-in form's redirects: the protected hosts are in it.
    let csp = r.header("content-security-policy").unwrap();
    assert!(csp.contains("form-action 'self' eng.acme.test:* open.acme.test:* wiki.acme.test:*;"), "{csp}");
    assert!(session.contains("HttpOnly") && session.contains("SameSite=Lax"), "{session}");
    // Under HTTPS the cookie keeps Secure, with the __Secure- prefix (__Host- forbids a domain).
    let config = AppConfig {
        public_url: "https://auth.acme.test".into(),
        cookie_domain: Some("acme.test".into()),
        forward_auth: rules(),
        ..AppConfig::default()
    };
    let t = TestApp::with_config(TestDb::sqlite().await, config).await;
    t.account("acme").await;
    let r = t.http().post_json("/api/v1/login", &json!({ "email": "owner@acme.test", "password": PASSWORD })).await;
    let cookies = r.set_cookies();
    let session = cookies.iter().find(|c| c.contains("twofold_session=")).expect("the session cookie");
    assert!(session.starts_with("__Secure-twofold_session=") && session.contains("Secure"), "{session}");
    assert!(session.contains("Domain=acme.test"), "{session}");
    // Over HTTPS, rd never sends anyone back over plain HTTP.
    assert_eq!(t.app.return_url("http://wiki.acme.test/"), None);
    assert_eq!(t.app.return_url("https://wiki.acme.test/"), Some("https://wiki.acme.test/"));
}

async fn a_person_without_2fa_is_led_through_the_wizard_and_sent_back(db: TestDb) {
    let t = app(db).await;
    let owner = t.account("acme").await;
    t.person(&owner, "uma@acme.test", Role::User).await;
    let uma = t.signed_in("uma@acme.test").await;
    let r = forward(&uma, APP, true, &[]).await;
    let wizard = r.header("location").unwrap();
    let path = wizard.strip_prefix("http://auth.acme.test:8080").unwrap();
    assert!(path.starts_with("/me/two-factor/enable?rd="), "{wizard}");
    assert_eq!(uma.get(path).await.status, 200, "the wizard's first page keeps rd");
    t.enable_two_factor(&uma).await;
    // The wizard's last screen leads to /continue?to=profile: back to the application.
    let r = uma.get("/continue?to=profile").await;
    assert_eq!(r.header("location").as_deref(), Some(APP));
    assert_eq!(forward(&uma, APP, true, &[]).await.status, 200, "now with 2FA, let in");
}

/// The attack of the assurance issue: a person signed in with the password alone (2FA
/// off), then turned 2FA on in another browser. That older session is one-factor for
/// every consumer: forward auth (both endpoints) and the OIDC provider alike (SEC-46).
async fn sec_46_a_password_session_made_before_2fa_went_on_elsewhere_signs_in_again_for_every_consumer(db: TestDb) {
    let t = app(db).await;
    t.account("acme").await;
    let older = t.signed_in("owner@acme.test").await;
    let elsewhere = t.signed_in("owner@acme.test").await;
    let secret = t.enable_two_factor(&elsewhere).await;
    let again = format!("{}&fresh=1", login_for(APP));
    let r = forward(&older, APP, true, &[]).await;
    assert_eq!((r.status, r.header("location")), (302, Some(again.clone())), "{}", r.text());
    assert!(r.header("remote-user").is_none());
    assert_eq!(forward(&older, APP, false, &[]).await.status, 401);
    let r = auth_request(&older, APP).await;
    assert_eq!((r.status, r.header("location")), (401, Some(again.clone())));
    assert!(r.header("remote-user").is_none());
    // Where a rule asks no second factor, the session still passes.
    assert_eq!(forward(&older, "http://open.acme.test/", true, &[]).await.status, 200);
    // The OIDC provider asks the same answer of the same session.
    let strict = twofold_app::oidc::clients::NewApp {
        name: "Wiki".into(),
        redirect_uris: vec!["https://app.example.test/cb".into()],
        post_logout_redirect_uris: vec![],
        public: false,
        require_two_factor: true,
        ..Default::default()
    };
    let strict = t.app.add_instance_app(&strict, None).await.unwrap();
    let authorize = format!(
        "/oauth2/authorize?response_type=code&client_id={}&redirect_uri={}&scope=openid&state=s",
        strict.client.client_id,
        url_encode("https://app.example.test/cb")
    );
    let r = older.get(&authorize).await;
    assert!(r.header("location").unwrap().starts_with("/login?fresh=1&rd="), "{:?}", r.header("location"));
    // The login page shows the form over the older session; the new sign-in passes.
    let page = older.get(again.trim_start_matches("http://auth.acme.test:8080")).await;
    assert!(page.text().contains("id=\"login-form\""), "{}", page.text());
    let fresh = t.signed_in_with_code("owner@acme.test", &secret).await;
    assert_eq!(forward(&fresh, APP, true, &[]).await.status, 200);
    assert_eq!(auth_request(&fresh, APP).await.status, 200);
    // And the enrolling session itself proved the factor: it passes too.
    assert_eq!(forward(&elsewhere, APP, true, &[]).await.status, 200);
}

async fn sec_46_an_overdue_policy_sends_forward_auth_to_the_wizard_as_it_does_the_pages(db: TestDb) {
    let t = app(db).await;
    let owner = t.account("acme").await;
    t.person(&owner, "uma@acme.test", Role::User).await;
    t.app.set_policy(&owner, true, 0, &twofold_app::RequestContext::cli()).await.unwrap();
    let uma = t.signed_in("uma@acme.test").await;
    // Even where the rule itself asks no second factor: the account's policy does.
    let r = forward(&uma, "http://open.acme.test/", true, &[]).await;
    let wizard = format!("http://auth.acme.test:8080/me/two-factor/enable?rd={}", url_encode("http://open.acme.test/"));
    assert_eq!((r.status, r.header("location")), (302, Some(wizard)));
    assert_eq!(uma.get("/api/v1/users/1").await.error_code(), "two_factor_required", "as the API answers");
}

async fn sec_49_paths_another_reader_could_climb_out_of_a_rule_with_are_refused_on_both_endpoints(db: TestDb) {
    let t = app(db).await;
    let owner = t.account("acme").await;
    t.person(&owner, "uma@acme.test", Role::User).await;
    let uma = t.signed_in("uma@acme.test").await;
    t.enable_two_factor_with_phone(&uma, "+353851230001").await;
    // A User with 2FA passes the wiki and is kept out of its admin area.
    assert_eq!(forward(&uma, "http://wiki.acme.test/x", true, &[]).await.status, 200);
    assert_eq!(forward(&uma, "http://wiki.acme.test/admin/secret", true, &[]).await.status, 403);
    for path in CLIMBING_PATHS {
        let url = format!("http://wiki.acme.test{path}");
        for r in [forward(&uma, &url, false, &[]).await, auth_request(&uma, &url).await] {
            assert_eq!((r.status, r.error_code().as_str()), (403, "forbidden"), "{path}");
            assert!(r.text().contains("ambiguous_path"), "{path}: {}", r.text());
            assert!(r.header("remote-user").is_none(), "{path}");
        }
        let r = forward(&uma, &url, true, &[]).await;
        assert_eq!(r.status, 403, "{path}");
        assert!(r.text().contains("more than one way"), "{path}: {}", r.text());
    }
}

async fn groups_reach_the_proxy_in_remote_groups_and_rules_with_groups_let_in_their_members_only(db: TestDb) {
    let t = app(db).await;
    let owner = t.account("acme").await;
    let http = t.signed_in("owner@acme.test").await;
    let eng = "https://eng.acme.test/";
    assert_eq!(forward(&http, eng, false, &[]).await.status, 403, "not in the group");
    let id =
        http.post_json("/api/v1/groups", &serde_json::json!({ "name": "eng" })).await.json()["id"].as_i64().unwrap();
    http.post_json("/api/v1/groups", &serde_json::json!({ "name": "all hands" })).await;
    let all = http.get("/api/v1/groups").await.json();
    let all_hands = all.as_array().unwrap().iter().find(|g| g["name"] == "all hands").unwrap()["id"].as_i64().unwrap();
    for group in [id, all_hands] {
        let r = http
            .put_json(&format!("/api/v1/groups/{group}/members"), &serde_json::json!({ "user_ids": [owner.id] }))
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
    }
    let r = forward(&http, eng, false, &[]).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("remote-groups").as_deref(), Some("owner,all hands,eng"), "the role, then the groups by name");
    let r = forward(&http, "https://open.acme.test/", false, &[]).await;
    assert_eq!(r.header("remote-groups").as_deref(), Some("owner,all hands,eng"));
    http.put_json(&format!("/api/v1/groups/{id}/members"), &serde_json::json!({ "user_ids": [] })).await;
    let r = forward(&http, eng, true, &[]).await;
    assert_eq!(r.status, 403, "out of the group: refused at the next check");
    assert!(r.text().contains("groups"), "the refusal page says why: {}", r.text());
}
