//! The server-rendered pages, driven through forms like a browser without JavaScript.

use twofold_app::domain::Role;

use crate::support::{PASSWORD, TestApp, TestDb};

on_both_databases!(
    login_page_offers_remember_me_below_the_password,
    sign_in_by_form_reaches_home_and_the_users_tab,
    wrong_password_keeps_you_on_the_login_page_with_a_message,
    setup_page_creates_the_account_and_signs_in,
    invitation_page_sets_the_password,
    owner_changes_a_role_from_the_profile,
    pages_carry_security_headers,
);

async fn login_page_offers_remember_me_below_the_password(db: TestDb) {
    let t = TestApp::new(db).await;
    let page = t.http().get("/login").await.text();
    let password = page.find("id=\"password\"").unwrap();
    let remember = page.find("Remember for 30 days").unwrap();
    assert!(password < remember, "the box sits under the password field");
    assert!(page.contains("type=\"checkbox\" name=\"remember_device\""));
}

async fn sign_in_by_form_reaches_home_and_the_users_tab(db: TestDb) {
    let t = TestApp::new(db).await;
    let o = t.account("acme").await;
    t.person(&o, "user@acme.test", Role::User).await;
    let http = t.http();
    let token = http.get("/login").await.form_csrf();
    let r =
        http.post_form("/login", &[("csrf_token", &token), ("email", "owner@acme.test"), ("password", PASSWORD)]).await;
    assert_eq!(r.header("location").as_deref(), Some("/continue"));
    let home = http.get("/home").await;
    assert_eq!(home.status, 200);
    assert!(home.text().contains("Welcome, Olive Owner"));
    let users = http.get("/users").await.text();
    assert!(users.contains("Users, Plans and Billing"));
    assert!(users.contains("user@acme.test") && users.contains("owner@acme.test"));
    assert!(users.contains("<th>2FA</th>"));
    let token = http.get("/home").await.form_csrf();
    let out = http.post_form("/logout", &[("csrf_token", &token)]).await;
    assert_eq!(out.header("location").as_deref(), Some("/login?signed_out=1"));
    assert_eq!(http.get("/home").await.status, 303);
}

async fn wrong_password_keeps_you_on_the_login_page_with_a_message(db: TestDb) {
    let t = TestApp::new(db).await;
    t.account("acme").await;
    let http = t.http();
    let token = http.get("/login").await.form_csrf();
    let r = http
        .post_form("/login", &[("csrf_token", &token), ("email", "owner@acme.test"), ("password", "nope nope nope")])
        .await;
    assert_eq!(r.status, 401);
    assert!(r.text().contains("The email or password is incorrect."));
    assert!(r.text().contains("value=\"owner@acme.test\""), "the email is kept");
}

async fn setup_page_creates_the_account_and_signs_in(db: TestDb) {
    let t = TestApp::new(db).await;
    let link = t.app.issue_setup_link().await.unwrap();
    let path = link.trim_start_matches("http://127.0.0.1:8080");
    let http = t.http();
    let page = http.get(path).await;
    assert_eq!(page.status, 200);
    let token = page.form_csrf();
    let weak = http
        .post_form(
            path,
            &[
                ("csrf_token", &token),
                ("account_name", "Acme"),
                ("owner_name", "Ada"),
                ("owner_email", "ada@acme.test"),
                ("password", "short"),
            ],
        )
        .await;
    assert_eq!(weak.status, 422);
    assert!(weak.text().contains("Use at least 12 characters."));
    let r = http
        .post_form(
            path,
            &[
                ("csrf_token", &token),
                ("account_name", "Acme"),
                ("owner_name", "Ada"),
                ("owner_email", "ada@acme.test"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(r.header("location").as_deref(), Some("/home"), "{}", r.text());
    assert!(http.get("/home").await.text().contains("Welcome, Ada"));
    // Used, and an account exists: the link has ended (SEC-54).
    let used = t.http().get(path).await;
    assert_eq!(used.status, 410);
    assert!(used.text().contains("This setup link has ended"), "{}", used.text());
}

async fn invitation_page_sets_the_password(db: TestDb) {
    let t = TestApp::new(db).await;
    let o = t.account("acme").await;
    let owner = t.http();
    let token = owner.get("/login").await.form_csrf();
    owner.post_form("/login", &[("csrf_token", &token), ("email", "owner@acme.test"), ("password", PASSWORD)]).await;
    let token = owner.get("/users").await.form_csrf();
    let r = owner
        .post_form(
            "/users",
            &[("csrf_token", &token), ("email", "new@acme.test"), ("name", "Nia New"), ("role", "user")],
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let html = r.text();
    let start = html.find("/invitations/").unwrap();
    let path = html[start..].split('<').next().unwrap().to_string();
    let invitee = t.http();
    let page = invitee.get(&path).await;
    assert!(page.text().contains("new@acme.test"));
    let token = page.form_csrf();
    let r = invitee.post_form(&path, &[("csrf_token", &token), ("password", PASSWORD)]).await;
    assert_eq!(r.header("location").as_deref(), Some("/login?password_set=1"));
    t.signed_in("new@acme.test").await;
    let _ = o;
}

async fn owner_changes_a_role_from_the_profile(db: TestDb) {
    let t = TestApp::new(db).await;
    let o = t.account("acme").await;
    let user = t.person(&o, "user@acme.test", Role::User).await;
    let http = t.http();
    let token = http.get("/login").await.form_csrf();
    http.post_form("/login", &[("csrf_token", &token), ("email", "owner@acme.test"), ("password", PASSWORD)]).await;
    let profile = http.get(&format!("/users/{}", user.id)).await;
    assert!(profile.text().contains("Make Administrator"));
    let token = profile.form_csrf();
    let r = http.post_form(&format!("/users/{}/role", user.id), &[("csrf_token", &token), ("role", "admin")]).await;
    assert_eq!(r.status, 303);
    let after = http.get(&format!("/users/{}?role_changed=1", user.id)).await.text();
    assert!(after.contains("is now Administrator"));
    assert_eq!(t.user("user@acme.test").await.role, Role::Admin);
    let own = http.get(&format!("/users/{}", o.id)).await.text();
    assert!(!own.contains("Make User") && !own.contains("Make Administrator"), "no role button for the Owner");
}

async fn pages_carry_security_headers(db: TestDb) {
    let t = TestApp::new(db).await;
    t.account("acme").await;
    let http = t.signed_in("owner@acme.test").await;
    let r = http.get("/home").await;
    let csp = r.header("content-security-policy").unwrap();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert_eq!(r.header("x-frame-options").as_deref(), Some("DENY"));
    assert_eq!(r.header("cache-control").as_deref(), Some("no-store"));
    assert_eq!(r.header("referrer-policy").as_deref(), Some("same-origin"), "links carry tokens");
    let metrics = http.get("/metrics").await.text();
    assert!(metrics.contains("twofold_http_requests_total"), "Prometheus counters: {metrics:.200}");
    let css = http.get("/static/app.css").await;
    assert_eq!(css.status, 200);
    assert!(css.header("cache-control").unwrap().contains("max-age"));
}
