//! The holes of the third-wave review that held one at a time and broke under odd use:
//! known browsers after a password change (SEC-48), and the small rules of SEC-54 (the
//! setup link, older reset links, link-like names, `/metrics`).

use serde_json::json;
use twofold_web::{AppState, WebConfig};

use crate::support::http::{Http, Response};
use crate::support::server::Server;
use crate::support::{PASSWORD, TestApp, TestDb};

on_both_databases!(
    sec_48_known_browser_tokens_minted_before_a_password_change_get_no_private_budget,
    sec_48_a_known_browser_is_never_spared_the_source_addresss_budget,
    sec_54_the_setup_link_answers_410_once_an_account_exists,
    sec_54_asking_for_a_new_reset_link_voids_the_older_at_once,
    sec_54_names_that_would_put_a_second_link_into_a_message_are_refused,
    sec_54_metrics_ask_for_the_token_when_one_is_set,
);

const OWNER: &str = "owner@acme.test";

/// The password step from `ip`, as a reverse proxy in front would report it.
async fn login_from(http: &Http, ip: &str, email: &str, password: &str) -> Response {
    let body = json!({ "email": email, "password": password }).to_string();
    http.post_raw("/api/v1/login", "application/json", body, &[("x-forwarded-for", ip)]).await
}

async fn sec_48_known_browser_tokens_minted_before_a_password_change_get_no_private_budget(db: TestDb) {
    let t = TestApp::new(db).await;
    t.account("acme").await;
    // Six sign-ins with the right password from one address, each keeping its token.
    let mut browsers = Vec::new();
    for _ in 0..6 {
        let browser = t.http_behind_proxy();
        assert_eq!(login_from(&browser, "198.51.100.20", OWNER, PASSWORD).await.status, 200);
        assert!(browser.cookie("twofold_browser").is_some_and(|k| k.starts_with("v2.")));
        browsers.push(browser);
    }
    // The password is changed.
    let owner = t.signed_in(OWNER).await;
    let change = json!({ "current_password": PASSWORD, "new_password": "a brand new passphrase" });
    assert_eq!(owner.put_json("/api/v1/me/password", &change).await.status, 204);
    // Five wrong guesses with each old token: they share the email's budget of five.
    let mut statuses = Vec::new();
    for (b, browser) in browsers.iter().enumerate() {
        for i in 0..5 {
            statuses.push(login_from(browser, "198.51.100.20", OWNER, &format!("guess {b}.{i}")).await.status);
        }
    }
    let checked = statuses.iter().filter(|s| **s == 401).count();
    assert_eq!(checked, 5, "old tokens vouch for nothing: {statuses:?}");
    assert!(statuses.iter().all(|s| *s == 401 || *s == 429), "{statuses:?}");
}

async fn sec_48_a_known_browser_is_never_spared_the_source_addresss_budget(db: TestDb) {
    let t = TestApp::new(db).await;
    t.account("acme").await;
    let laptop = t.http_behind_proxy();
    assert_eq!(login_from(&laptop, "198.51.100.30", OWNER, PASSWORD).await.status, 200);
    // From the same address, someone sprays 15 other emails: the address's budget is spent.
    let sprayer = t.http_behind_proxy();
    for i in 0..15 {
        let r = login_from(&sprayer, "198.51.100.30", &format!("person{i}@acme.test"), "Winter2026!").await;
        assert_eq!(r.status, 401, "guess {i}");
    }
    assert_eq!(login_from(&sprayer, "198.51.100.30", "x@acme.test", "Winter2026!").await.status, 429);
    // The known browser at that address waits too, right password or not.
    let r = login_from(&laptop, "198.51.100.30", OWNER, PASSWORD).await;
    assert_eq!(r.status, 429, "{}", r.text());
    // From its usual address elsewhere it signs in: its own budget is untouched.
    assert_eq!(login_from(&laptop, "198.51.100.31", OWNER, PASSWORD).await.status, 200);
}

async fn sec_54_the_setup_link_answers_410_once_an_account_exists(db: TestDb) {
    let t = TestApp::new(db).await;
    let link = t.app.issue_setup_link().await.unwrap();
    let token = link.rsplit('/').next().unwrap().to_string();
    let http = t.http();
    assert_eq!(http.get(&format!("/setup/{token}")).await.status, 200, "the link works while no account exists");
    // The account is made another way (the command line's use case).
    t.account("acme").await;
    assert_eq!(http.get(&format!("/setup/{token}")).await.status, 410);
    let body =
        json!({ "account_name": "Evil", "owner_name": "Eve", "owner_email": "eve@evil.test", "password": PASSWORD });
    let r = http.post_json(&format!("/api/v1/setup/{token}"), &body).await;
    assert_eq!((r.status, r.error_code().as_str()), (410, "link_expired"));
    let none = t.http().post_json("/api/v1/login", &json!({ "email": "eve@evil.test", "password": PASSWORD })).await;
    assert_eq!(none.status, 401, "no second account, no second Owner");
}

async fn sec_54_asking_for_a_new_reset_link_voids_the_older_at_once(db: TestDb) {
    let t = TestApp::new(db).await;
    t.account("acme").await;
    let ask = || async { t.http().post_json("/api/v1/password-reset", &json!({ "email": OWNER })).await.status };
    assert_eq!(ask().await, 202);
    let older = t.mailed_link(OWNER, "/password-reset/").await;
    t.clock.advance(61);
    assert_eq!(ask().await, 202);
    let newer = t.mailed_link(OWNER, "/password-reset/").await;
    assert_ne!(older, newer);
    let token = |link: &str| link.rsplit('/').next().unwrap().to_string();
    // The older one, before the newer is used: gone.
    let r = t
        .http()
        .post_json(
            &format!("/api/v1/password-reset/{}", token(&older)),
            &json!({ "password": "older link passphrase" }),
        )
        .await;
    assert_eq!((r.status, r.error_code().as_str()), (410, "link_expired"));
    let r = t
        .http()
        .post_json(
            &format!("/api/v1/password-reset/{}", token(&newer)),
            &json!({ "password": "newer link passphrase" }),
        )
        .await;
    assert_eq!(r.status, 204);
}

async fn sec_54_names_that_would_put_a_second_link_into_a_message_are_refused(db: TestDb) {
    let t = TestApp::new(db).await;
    t.account("acme").await;
    let http = t.signed_in(OWNER).await;
    for name in ["https://evil.test/login", "evil.test", "Visit www.evil.test", "eve@evil.test"] {
        let r =
            http.post_json("/api/v1/users", &json!({ "email": "new@acme.test", "name": name, "role": "user" })).await;
        assert_eq!((r.status, r.error_code().as_str()), (422, "invalid_name"), "{name}");
    }
    // Nobody can take such a name for the account either.
    let new = twofold_app::setup::NewAccount {
        account_name: "https://evil.test/login",
        owner_name: "Eve",
        owner_email: "eve@evil.test",
        password: PASSWORD,
    };
    assert!(t.app.create_account(&new).await.is_err());
    // An invitation from a plainly named inviter carries exactly one link.
    let r =
        http.post_json("/api/v1/users", &json!({ "email": "uma@acme.test", "name": "Uma User", "role": "user" })).await;
    assert_eq!(r.status, 201, "{}", r.text());
    t.deliver_all().await;
    let mail = t.mail.to("uma@acme.test").into_iter().last().expect("the invitation");
    let links = mail.text.split_whitespace().filter(|w| w.contains("://") || w.contains("www.")).count();
    assert_eq!(links, 1, "{}", mail.text);
}

async fn sec_54_metrics_ask_for_the_token_when_one_is_set(db: TestDb) {
    let t = TestApp::new(db).await;
    assert_eq!(t.http().get("/metrics").await.status, 200, "open without a token: keep the port private");
    let web = WebConfig { metrics_token: Some("a-long-scrape-token-42".into()), ..WebConfig::default() };
    let guarded = Http::new(twofold_web::router(AppState::new(t.app.clone(), web)));
    let r = guarded.get("/metrics").await;
    assert_eq!((r.status, r.header("www-authenticate").as_deref()), (401, Some("Bearer")));
    let wrong = [("authorization", "Bearer a-long-scrape-token-43")];
    assert_eq!(
        guarded.send(axum::http::Method::GET, "/metrics", None, axum::body::Body::empty(), &wrong).await.status,
        401
    );
    let right = [("authorization", "Bearer a-long-scrape-token-42")];
    let r = guarded.send(axum::http::Method::GET, "/metrics", None, axum::body::Body::empty(), &right).await;
    assert_eq!(r.status, 200);
    assert!(r.text().contains("twofold_http_requests_total"), "{}", r.text());
}

/// The finding as it was made: an empty instance prints its link, an operator creates the
/// account from the command line while it runs, and the printed link then makes nothing.
#[tokio::test]
async fn sec_54_a_printed_setup_link_dies_when_the_command_line_creates_the_account() {
    let server = Server::start(&[], &[]).await;
    let link = server.setup_link().expect("a setup link on first start");
    let out = crate::support::server::account_create(server.data_dir(), "ada@acme.test");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let token = link.rsplit('/').next().unwrap();
    let client = crate::support::client(false);
    let body =
        json!({ "account_name": "Evil", "owner_name": "Eve", "owner_email": "eve@evil.test", "password": PASSWORD });
    let r = client.post(format!("{}/api/v1/setup/{token}", server.base)).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 410);
}
