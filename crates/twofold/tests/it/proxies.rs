//! Forward authentication behind real proxies: Debian's nginx (`auth_request`) and Caddy
//! (`forward_auth`), started with the configurations in `deploy/forward-auth/`, in front of
//! a small upstream that echoes what reached it, and of Twofold itself at its public URL.
//! Host names (`auth.example.test`, `app.example.test`) resolve to loopback in the client.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;
use twofold_app::domain::otp::Secret;

use crate::support::api::code_at;
use crate::support::browser::Browser;
use crate::support::server::{Server, free_port};
use crate::support::{PASSWORD, url_encode};

const RULES: &str = r#"
[[forward_auth.rules]]
host = "app.example.test"

[[forward_auth.rules]]
host = "app.example.test"
path_prefix = "/admin"
roles = ["owner", "admin"]
"#;

/// A proxy process, stopped when dropped.
struct Proxy(Child);

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Twofold, the upstream and one proxy, with a browser-like client (cookies, no redirects).
struct Stack {
    server: Server,
    port: u16,
    _proxy: Proxy,
    _dir: tempfile::TempDir,
    _turn: tokio::sync::MutexGuard<'static, ()>,
}

impl Stack {
    fn auth(&self, path: &str) -> String {
        format!("http://auth.example.test:{}{path}", self.port)
    }

    fn app(&self, path: &str) -> String {
        format!("http://{}{path}", self.app_host())
    }

    /// The application's host as Caddy describes it to Twofold (`X-Forwarded-Host`).
    fn app_host(&self) -> String {
        format!("app.example.test:{}", self.port)
    }

    fn client(&self) -> reqwest::Client {
        twofold_channels::install_crypto_provider();
        let loopback = SocketAddr::from(([127, 0, 0, 1], self.port));
        reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .resolve("auth.example.test", loopback)
            .resolve("app.example.test", loopback)
            .build()
            .unwrap()
    }
}

/// The upstream: answers every request with the identity headers that reached it. It runs
/// on a thread and runtime of its own, so that nothing the test awaits can hold it up.
async fn upstream() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async move {
            let echo = |request: axum::extract::Request| async move {
                let h =
                    |name: &str| request.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
                axum::Json(json!({
                    "path": request.uri().path(),
                    "remote_user": h("remote-user"),
                    "remote_name": h("remote-name"),
                    "remote_groups": h("remote-groups"),
                    "remote_account": h("remote-account"),
                }))
            };
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            let _ = axum::serve(listener, axum::Router::new().fallback(echo)).await;
        });
    });
    port
}

fn find_binary(candidates: &[&str]) -> Option<String> {
    candidates.iter().find(|p| std::path::Path::new(p).exists()).map(|p| p.to_string())
}

/// One proxy stack at a time: each is three processes on a two-core machine.
static ONE_STACK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn stack(kind: &str) -> Option<Stack> {
    let binary = match kind {
        "nginx" => find_binary(&["/usr/sbin/nginx", "/usr/bin/nginx"]),
        _ => find_binary(&["/usr/bin/caddy"]),
    };
    let Some(binary) = binary else {
        crate::support::skip(
            &format!("the {kind} forward-auth tests"),
            &format!(
                "{kind} is not installed (apt-get install {})",
                if kind == "nginx" { "nginx-light" } else { "caddy" }
            ),
        );
        return None;
    };
    let turn = ONE_STACK.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = dir.path().join("twofold.toml");
    std::fs::write(&config, RULES).unwrap();
    let public_url = format!("http://auth.example.test:{port}");
    let env = [("TWOFOLD_PUBLIC_URL", public_url.as_str()), ("TWOFOLD_COOKIE_DOMAIN", "example.test")];
    let server = Server::start(&["--config", &config.display().to_string()], &env).await;
    let twofold = server.base.replace("http://localhost", "127.0.0.1");
    let up = format!("127.0.0.1:{}", upstream().await);
    let prefix = dir.path().display().to_string();
    let (file, auth_host, app_host) = match kind {
        "nginx" => ("nginx.conf", "auth.example.test".to_string(), "app.example.test".to_string()),
        _ => ("Caddyfile", format!("auth.example.test:{port}"), format!("app.example.test:{port}")),
    };
    let template =
        std::fs::read_to_string(format!("{}/../../deploy/forward-auth/{file}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let conf = template
        .replace("{{PREFIX}}", &prefix)
        .replace("{{LISTEN}}", &format!("127.0.0.1:{port}"))
        .replace("{{AUTH_HOST}}", &auth_host)
        .replace("{{APP_HOST}}", &app_host)
        .replace("{{TWOFOLD}}", &twofold)
        .replace("{{UPSTREAM}}", &up);
    let conf_path = dir.path().join(file);
    std::fs::write(&conf_path, conf).unwrap();
    let log = std::fs::File::create(dir.path().join("proxy.log")).unwrap();
    let mut command = Command::new(&binary);
    match kind {
        "nginx" => command.args(["-p", &prefix, "-c", &conf_path.display().to_string(), "-g", "daemon off;"]),
        _ => command
            .args(["run", "--adapter", "caddyfile", "--config", &conf_path.display().to_string()])
            .env("XDG_DATA_HOME", dir.path())
            .env("XDG_CONFIG_HOME", dir.path())
            .env("HOME", dir.path()),
    };
    let child = command.stdout(Stdio::null()).stderr(Stdio::from(log)).spawn().unwrap();
    let stack = Stack { server, port, _proxy: Proxy(child), _dir: dir, _turn: turn };
    let deadline = Instant::now() + Duration::from_secs(20);
    let client = stack.client();
    while !client.get(stack.auth("/readyz")).send().await.is_ok_and(|r| r.status().is_success()) {
        let log = std::fs::read_to_string(stack._dir.path().join("proxy.log")).unwrap_or_default();
        assert!(Instant::now() < deadline, "{kind} did not come up: {log}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Some(stack)
}

/// An API client signed in on Twofold's public host (where the cookie's domain belongs).
struct Api {
    client: reqwest::Client,
    csrf: String,
}

impl Api {
    async fn sign_in(s: &Stack, email: &str) -> Api {
        let client = s.client();
        let r = client
            .post(s.auth("/api/v1/login"))
            .json(&json!({ "email": email, "password": PASSWORD }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let body: serde_json::Value = r.json().await.unwrap();
        Api { client, csrf: body["csrf_token"].as_str().unwrap().to_string() }
    }

    async fn post(&self, s: &Stack, path: &str, body: serde_json::Value) -> serde_json::Value {
        let r = self.client.post(s.auth(path)).header("x-csrf-token", &self.csrf).json(&body).send().await.unwrap();
        r.json().await.unwrap_or_default()
    }
}

/// The account through the setup link; answers the Owner signed in.
async fn create_account(s: &Stack) -> Api {
    let token = s.server.setup_link().expect("setup link").rsplit('/').next().unwrap().to_string();
    let body = json!({ "account_name": "Acme", "owner_name": "Ada Owner", "owner_email": "ada@acme.test", "password": PASSWORD });
    let r = s.client().post(s.auth(&format!("/api/v1/setup/{token}"))).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 200);
    Api::sign_in(s, "ada@acme.test").await
}

/// 2FA on for `email` through the API, the SMS read from the file outbox.
async fn enable(s: &Stack, email: &str) -> Secret {
    let api = Api::sign_in(s, email).await;
    let phone = "+353851234567";
    let e = api.post(s, "/api/v1/me/two-factor/enrollment", json!({})).await;
    let secret = Secret::from_base32(e["secret"].as_str().unwrap()).unwrap();
    api.post(s, "/api/v1/me/two-factor/enrollment/code", json!({ "code": code_at(&secret, 0) })).await;
    api.post(s, "/api/v1/me/two-factor/enrollment/phone", json!({ "phone": phone })).await;
    let sms = s.server.sms_code_to(phone, 0).await;
    let done = api.post(s, "/api/v1/me/two-factor/enrollment/phone/verify", json!({ "code": sms })).await;
    assert_eq!(done["enabled"], true, "{done}");
    secret
}

async fn invite(s: &Stack, owner: &Api, email: &str) {
    let r = owner.post(s, "/api/v1/users", json!({ "email": email, "name": "Uma User", "role": "user" })).await;
    let token = r["invitation_url"].as_str().unwrap().rsplit('/').next().unwrap().to_string();
    let r = s
        .client()
        .post(s.auth(&format!("/api/v1/invitations/{token}")))
        .json(&json!({ "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

fn csrf_in(html: &str) -> String {
    let start = html.find("name=\"csrf_token\" value=\"").expect("a form") + "name=\"csrf_token\" value=\"".len();
    html[start..].split('"').next().unwrap().to_string()
}

async fn get(client: &reqwest::Client, url: &str, extra: &[(&str, &str)]) -> reqwest::Response {
    let mut request = client.get(url).header("accept", "text/html,application/xhtml+xml");
    for (k, v) in extra {
        request = request.header(*k, *v);
    }
    request.send().await.unwrap()
}

fn location(r: &reqwest::Response) -> String {
    r.headers().get("location").and_then(|v| v.to_str().ok()).unwrap_or("").to_string()
}

/// The login page's form, then the code page's (with a key), as a browser would post them.
async fn sign_in_through_pages(
    s: &Stack,
    client: &reqwest::Client,
    login_url: &str,
    email: &str,
    key: Option<&Secret>,
) -> String {
    let page = get(client, login_url, &[]).await;
    assert_eq!(page.status(), 200);
    let csrf = csrf_in(&page.text().await.unwrap());
    let form = [("csrf_token", csrf.as_str()), ("email", email), ("password", PASSWORD)];
    let r = client.post(s.auth("/login")).form(&form).send().await.unwrap();
    let Some(key) = key else {
        assert_eq!(location(&r), "/continue", "no 2FA: signed in with the password");
        return location(&get(client, &s.auth("/continue"), &[]).await);
    };
    assert_eq!(location(&r), "/login/code");
    let csrf = csrf_in(&get(client, &s.auth("/login/code"), &[]).await.text().await.unwrap());
    let code = code_at(key, 30);
    let r = client
        .post(s.auth("/login/code"))
        .form(&[("csrf_token", csrf.as_str()), ("code", &code)])
        .send()
        .await
        .unwrap();
    let to = location(&r);
    assert_eq!(to, "/continue", "{}", r.text().await.unwrap_or_default());
    location(&get(client, &s.auth("/continue"), &[]).await)
}

/// The whole SEC-43 journey through one proxy.
async fn journey(kind: &str) {
    let Some(s) = stack(kind).await else { return };
    let owner = create_account(&s).await;
    let key = enable(&s, "ada@acme.test").await;
    let client = s.client();
    let page = s.app("/docs/page?x=1");

    // Not signed in: to Twofold's login page, with rd.
    let r = get(&client, &page, &[]).await;
    assert_eq!(r.status(), 302, "{kind}");
    let login = location(&r);
    assert_eq!(login, s.auth(&format!("/login?rd={}", url_encode(&page))), "{kind}");
    // Password, code, and back at the original URL.
    assert_eq!(sign_in_through_pages(&s, &client, &login, "ada@acme.test", Some(&key)).await, page, "{kind}");
    let r = get(&client, &page, &[]).await;
    assert_eq!(r.status(), 200, "{kind}");
    let seen: serde_json::Value = r.json().await.unwrap();
    assert_eq!(seen["remote_user"], "ada@acme.test", "{kind}: {seen}");
    assert_eq!((seen["remote_groups"].as_str(), seen["path"].as_str()), (Some("owner"), Some("/docs/page")), "{kind}");
    // Spoofed identity and forwarding headers change nothing.
    let spoof = [
        ("remote-user", "eve@evil.test"),
        ("remote-groups", "admin"),
        ("x-forwarded-host", "evil.test"),
        ("x-original-url", "http://evil.test/"),
    ];
    let seen: serde_json::Value = get(&client, &page, &spoof).await.json().await.unwrap();
    assert_eq!(
        (seen["remote_user"].as_str(), seen["remote_groups"].as_str()),
        (Some("ada@acme.test"), Some("owner")),
        "{kind}: {seen}"
    );
    let stranger = s.client();
    let r = get(&stranger, &page, &spoof).await;
    assert_eq!(r.status(), 302, "{kind}: a claimed identity is no identity");

    // A User is refused by the Administrators' rule, and sent to the wizard elsewhere.
    invite(&s, &owner, "uma@acme.test").await;
    let uma = s.client();
    let r = uma
        .post(s.auth("/api/v1/login"))
        .json(&json!({ "email": "uma@acme.test", "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = get(&uma, &s.app("/admin/settings"), &[]).await;
    assert_eq!(r.status(), 403, "{kind}");
    let html = r.text().await.unwrap();
    if kind == "caddy" {
        // Caddy shows Twofold's answer: a page for a person, naming the application.
        assert!(html.contains(&format!("You cannot open {}", s.app_host())), "{html}");
        assert!(html.contains("other roles") && !html.contains("\"error\""), "{html}");
    }
    assert!(!html.contains("remote_user"), "{kind}: the upstream was not reached");
    // A script (no text/html) gets the JSON error.
    let r = uma.get(s.app("/admin/settings")).header("accept", "application/json").send().await.unwrap();
    assert_eq!(r.status(), 403, "{kind}");
    if kind == "caddy" {
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], "forbidden");
    }
    let r = get(&uma, &page, &[]).await;
    assert_eq!(r.status(), 302, "{kind}");
    assert!(location(&r).starts_with(&s.auth("/me/two-factor/enable?rd=")), "{kind}: {}", location(&r));

    // Sign out from the application: back to it, and asked to sign in again.
    let confirm = get(&client, &s.auth(&format!("/logout?rd={}", url_encode(&page))), &[]).await;
    let csrf = csrf_in(&confirm.text().await.unwrap());
    let r = client
        .post(s.auth("/logout"))
        .form(&[("csrf_token", csrf.as_str()), ("rd", page.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(location(&r), page, "{kind}");
    assert_eq!(get(&client, &page, &[]).await.status(), 302, "{kind}: signed out");

    // An rd to a host no rule names is ignored (Uma has no 2FA: no second code needed).
    let login = s.auth("/login?rd=http%3A%2F%2Fevil.test%2F");
    assert_eq!(sign_in_through_pages(&s, &s.client(), &login, "uma@acme.test", None).await, "/home", "{kind}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sec_43_nginx_auth_request_journey() {
    journey("nginx").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sec_43_caddy_forward_auth_journey() {
    journey("caddy").await;
}

/// A person in Chromium opens a protected page behind Caddy, signs in with password and
/// code, and lands on the page with their identity. (This is the test that found that the
/// CSP's `form-action 'self'` blocked the redirect back: browsers apply it to a form's
/// whole redirect chain, which an HTTP client does not.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_reaches_an_application_behind_caddy_after_signing_in() {
    let Some(browser) = Browser::start().await else { return };
    let Some(s) = stack("caddy").await else { return };
    create_account(&s).await;
    let key = enable(&s, "ada@acme.test").await;
    browser.goto(&s.app("/wiki/home")).await;
    browser.wait_for_path("/login").await;
    browser.fill("#email", "ada@acme.test").await;
    browser.fill("#password", PASSWORD).await;
    browser.click("#login-form button[type=submit]").await;
    browser.wait_for_path("/login/code").await;
    browser.fill("#code", &code_at(&key, 30)).await;
    browser.click("#code-form button[type=submit]").await;
    browser.wait_for_path("/wiki/home").await;
    assert!(browser.url().await.starts_with(&s.app("/wiki/home")), "{}", browser.url().await);
    assert!(browser.text("body").await.contains("ada@acme.test"), "the upstream saw who signed in");
    browser.close().await;
}

/// A User in Chromium opens the application's admin area behind Caddy, which a rule keeps
/// for Administrators: after signing in they read a page naming the application and why,
/// not JSON, and its link takes them back to Twofold.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_refused_behind_caddy_reads_a_page_that_says_why() {
    let Some(browser) = Browser::start().await else { return };
    let Some(s) = stack("caddy").await else { return };
    let owner = create_account(&s).await;
    invite(&s, &owner, "uma@acme.test").await;
    let key = enable(&s, "uma@acme.test").await;
    browser.goto(&s.app("/admin/settings")).await;
    browser.wait_for_path("/login").await;
    browser.fill("#email", "uma@acme.test").await;
    browser.fill("#password", PASSWORD).await;
    browser.click("#login-form button[type=submit]").await;
    browser.wait_for_path("/login/code").await;
    browser.fill("#code", &code_at(&key, 30)).await;
    browser.click("#code-form button[type=submit]").await;
    browser.wait_for_path("/admin/settings").await;
    let heading = browser.text("#refused-heading").await;
    assert_eq!(heading, format!("You cannot open {}", s.app_host()));
    let reason = browser.text("#refused-reason").await;
    assert!(reason.contains("other roles"), "{reason}");
    assert!(!browser.text("body").await.contains("{\"error\""), "no raw JSON");
    browser.screenshot("forward-auth-refused").await;
    browser.click("#refused-home").await;
    browser.wait_for_path("/home").await;
    assert!(browser.url().await.starts_with(&s.auth("/home")), "{}", browser.url().await);
    browser.close().await;
}

/// SEC-46 behind a real proxy: a session signed in with the password alone, before its
/// person turned 2FA on in another browser, is one-factor. The proxy sends it to sign in
/// again (over the old session) and the upstream never sees it; the fresh sign-in passes.
async fn an_older_password_session_signs_in_again(kind: &str) {
    let Some(s) = stack(kind).await else { return };
    create_account(&s).await;
    let older = Api::sign_in(&s, "ada@acme.test").await;
    let key = enable(&s, "ada@acme.test").await;
    let page = s.app("/docs/page?x=1");
    let r = get(&older.client, &page, &[]).await;
    assert_eq!(r.status(), 302, "{kind}: the upstream is not reached");
    let login = location(&r);
    assert_eq!(login, s.auth(&format!("/login?rd={}&fresh=1", url_encode(&page))), "{kind}");
    assert_eq!(sign_in_through_pages(&s, &older.client, &login, "ada@acme.test", Some(&key)).await, page, "{kind}");
    let r = get(&older.client, &page, &[]).await;
    assert_eq!(r.status(), 200, "{kind}");
    let seen: serde_json::Value = r.json().await.unwrap();
    assert_eq!(seen["remote_user"], "ada@acme.test", "{kind}: {seen}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sec_46_nginx_sends_an_older_password_session_to_sign_in_again() {
    an_older_password_session_signs_in_again("nginx").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sec_46_caddy_sends_an_older_password_session_to_sign_in_again() {
    an_older_password_session_signs_in_again("caddy").await;
}

/// SEC-49 behind a real proxy: a User with 2FA reaches the application but not its admin
/// area; the four spellings that climbed out of `/admin` in Twofold's old reading are
/// refused by the proxy, and the upstream (which decodes as a framework does) never sees
/// them.
async fn ambiguous_paths_are_refused(kind: &str) {
    let Some(s) = stack(kind).await else { return };
    let owner = create_account(&s).await;
    invite(&s, &owner, "uma@acme.test").await;
    let key = enable(&s, "uma@acme.test").await;
    let client = s.client();
    sign_in_through_pages(&s, &client, &s.auth("/login"), "uma@acme.test", Some(&key)).await;
    assert_eq!(get(&client, &s.app("/docs/x"), &[]).await.status(), 200, "{kind}");
    assert_eq!(get(&client, &s.app("/admin/secret"), &[]).await.status(), 403, "{kind}");
    for path in crate::forward_auth::CLIMBING_PATHS {
        let r = get(&client, &s.app(path), &[]).await;
        let status = r.status().as_u16();
        let body = r.text().await.unwrap_or_default();
        assert!(matches!(status, 400 | 403), "{kind} {path}: {status} {body}");
        assert!(!body.contains("remote_user"), "{kind} {path}: the upstream answered: {body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sec_49_nginx_refuses_paths_the_application_could_read_otherwise() {
    ambiguous_paths_are_refused("nginx").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sec_49_caddy_refuses_paths_the_application_could_read_otherwise() {
    ambiguous_paths_are_refused("caddy").await;
}
