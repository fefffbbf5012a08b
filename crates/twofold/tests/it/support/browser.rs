//! A real headless Chromium driven through Debian's `chromedriver` (WebDriver).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use tokio::sync::{Mutex, MutexGuard};

use super::server::free_port;

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

/// One browser at a time: two cores do not run several Chromiums well.
static ONE_AT_A_TIME: Mutex<()> = Mutex::const_new(());

pub struct Browser {
    pub client: Client,
    driver: Option<Child>,
    port: u16,
    _profile: tempfile::TempDir,
    _turn: Option<MutexGuard<'static, ()>>,
}

/// WebDriver's "Add Virtual Authenticator" (WebAuthn Level 2, §11.3): a CTAP2 key with a
/// PIN and room for passkeys, that approves every prompt as a person touching it would.
#[derive(Debug)]
struct AddVirtualAuthenticator;

impl fantoccini::wd::WebDriverCompatibleCommand for AddVirtualAuthenticator {
    fn endpoint(&self, base: &url::Url, session: Option<&str>) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/webauthn/authenticator", session.unwrap_or_default()))
    }

    fn method_and_body(&self, _: &url::Url) -> (axum::http::Method, Option<String>) {
        let body = json!({
            "protocol": "ctap2",
            "transport": "usb",
            "hasResidentKey": true,
            "hasUserVerification": true,
            "isUserConsenting": true,
            "isUserVerified": true,
        });
        (axum::http::Method::POST, Some(body.to_string()))
    }
}

/// One Chrome DevTools Protocol command through chromedriver's `goog/cdp/execute`.
#[derive(Debug)]
struct Cdp {
    cmd: &'static str,
    params: serde_json::Value,
}

impl fantoccini::wd::WebDriverCompatibleCommand for Cdp {
    fn endpoint(&self, base: &url::Url, session: Option<&str>) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/goog/cdp/execute", session.unwrap_or_default()))
    }

    fn method_and_body(&self, _: &url::Url) -> (axum::http::Method, Option<String>) {
        (axum::http::Method::POST, Some(json!({ "cmd": self.cmd, "params": self.params }).to_string()))
    }
}

/// axe-core as `.ci/run` installs it (`npm install --prefix target/axe axe-core`), or where
/// `TWOFOLD_AXE_JS` points.
fn axe_source() -> Option<String> {
    let path = std::env::var("TWOFOLD_AXE_JS").map(std::path::PathBuf::from).unwrap_or_else(|_| {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/axe/node_modules/axe-core/axe.min.js")
    });
    std::fs::read_to_string(path).ok()
}

impl Browser {
    /// Asks the page's style sheet for its dark (`true`) or light colour scheme, as a
    /// system set to dark mode would.
    pub async fn prefer_dark(&self, dark: bool) {
        let value = if dark { "dark" } else { "light" };
        let params = json!({ "features": [{ "name": "prefers-color-scheme", "value": value }] });
        self.client.issue_cmd(Cdp { cmd: "Emulation.setEmulatedMedia", params }).await.unwrap();
    }

    /// axe-core's violations on the current page (WCAG 2.1 A and AA, and best practice),
    /// one line each with the elements concerned; `None` (after saying so) without axe-core.
    pub async fn axe_violations(&self) -> Option<Vec<String>> {
        let Some(source) = axe_source() else {
            super::skip("axe-core check", "axe-core is not installed (npm install --prefix target/axe axe-core)");
            return None;
        };
        self.client.execute(&source, vec![]).await.unwrap();
        let run = r#"
            const done = arguments[arguments.length - 1];
            axe.run(document, { resultTypes: ["violations"] })
                .then(r => done(r.violations.map(v => v.id + ": " + v.help + " at " + v.nodes.map(n => n.target.join(" ")).join(", "))))
                .catch(e => done(["axe failed: " + e]));
        "#;
        let found = self.client.execute_async(run, vec![]).await.unwrap();
        Some(serde_json::from_value(found).unwrap())
    }

    /// Plugs a virtual security key into this browser.
    pub async fn add_virtual_authenticator(&self) {
        self.client.issue_cmd(AddVirtualAuthenticator).await.unwrap();
    }

    /// A fresh browser with an empty profile, or `None` (after saying so) without Chromium.
    pub async fn start() -> Option<Browser> {
        if !std::path::Path::new(CHROMEDRIVER).exists() || !std::path::Path::new(CHROMIUM).exists() {
            super::skip(
                "browser test",
                "chromium and chromium-driver are not installed (apt-get install chromium chromium-driver)",
            );
            return None;
        }
        let turn = ONE_AT_A_TIME.lock().await;
        let port = free_port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let (client, profile) = connect(port).await;
        Some(Browser { client, driver: Some(driver), port, _profile: profile, _turn: Some(turn) })
    }

    /// A second, separate browser (its own profile and cookies) on the same driver.
    pub async fn another(&self) -> Browser {
        let (client, profile) = connect(self.port).await;
        Browser { client, driver: None, port: self.port, _profile: profile, _turn: None }
    }
}

/// A new WebDriver session with an empty profile of its own, retrying while the driver starts.
async fn connect(port: u16) -> (Client, tempfile::TempDir) {
    let profile = tempfile::tempdir().unwrap();
    let mut args: Vec<String> = [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        // The forward-auth journeys' host names (auth.example.test, app.example.test) are loopback.
        "--host-resolver-rules=MAP *.example.test 127.0.0.1",
        // Plain-HTTP test hosts that are not localhost: no upgrade attempt to HTTPS first
        // (its fallback can take seconds).
        "--disable-features=HttpsUpgrades,HttpsFirstBalancedModeAutoEnable,HttpsFirstModeV2ForTypicallySecureUsers",
        "--window-size=1280,900",
    ]
    .iter()
    .map(|s| (*s).to_string())
    .collect();
    args.push(format!("--user-data-dir={}", profile.path().display()));
    let mut caps = serde_json::Map::new();
    caps.insert("goog:chromeOptions".into(), json!({ "binary": CHROMIUM, "args": args }));
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        match ClientBuilder::new(connector).capabilities(caps.clone()).connect(&url).await {
            Ok(client) => return (client, profile),
            Err(_) if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(100)).await,
            Err(e) => panic!("chromedriver did not start: {e}"),
        }
    }
}

impl Browser {
    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.unwrap();
    }

    /// The element, or a screenshot and a failure that names what was missing.
    async fn find(&self, css: &str) -> fantoccini::elements::Element {
        match self.client.wait().at_most(Duration::from_secs(10)).for_element(Locator::Css(css)).await {
            Ok(element) => element,
            Err(e) => {
                self.screenshot("missing-element").await;
                let url = self.url().await;
                panic!("no {css} on {url} ({e}); see target/screenshots/missing-element.png");
            }
        }
    }

    pub async fn fill(&self, css: &str, text: &str) {
        let field = self.find(css).await;
        field.clear().await.unwrap();
        field.send_keys(text).await.unwrap();
    }

    pub async fn click(&self, css: &str) {
        self.find(css).await.click().await.unwrap();
    }

    pub async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.unwrap()
    }

    /// Waits until the element's text is `expected` (after a form post reloads the page).
    pub async fn wait_for_text(&self, css: &str, expected: &str) {
        self.wait_for(css, &format!("{expected:?}"), |text| text == expected).await;
    }

    /// Waits until the element's text contains `part`.
    pub async fn wait_for_text_containing(&self, css: &str, part: &str) {
        self.wait_for(css, &format!("something with {part:?}"), |text| text.contains(part)).await;
    }

    async fn wait_for(&self, css: &str, expected: &str, ok: impl Fn(&str) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            // The page may be reloading: a missing or stale element is simply "not yet".
            let text = match self.client.find(Locator::Css(css)).await {
                Ok(element) => element.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            if ok(&text) {
                return;
            }
            if Instant::now() > deadline {
                self.screenshot("wait-for-text").await;
                panic!("{css} says {text:?}, expected {expected}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn url(&self) -> String {
        self.client.current_url().await.unwrap().to_string()
    }

    /// Waits until the page's URL ends with `suffix`.
    pub async fn wait_for_path(&self, path: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let url = self.url().await;
            if url.split('?').next().unwrap_or_default().ends_with(path) {
                return;
            }
            if Instant::now() > deadline {
                self.screenshot("wait-for-path").await;
                panic!("expected to reach {path}, still at {url}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Saves a PNG of the page under `target/screenshots/` (for failures and for looking).
    pub async fn screenshot(&self, name: &str) {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots");
        let _ = std::fs::create_dir_all(&dir);
        if let Ok(png) = self.client.screenshot().await {
            let _ = std::fs::write(dir.join(format!("{name}.png")), png);
        }
    }

    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        if let Some(mut driver) = self.driver.take() {
            let _ = driver.kill();
            let _ = driver.wait();
        }
    }
}

/// A test that fails half-way still stops its driver (and with it the browser).
impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(mut driver) = self.driver.take() {
            let _ = driver.kill();
            let _ = driver.wait();
        }
    }
}
