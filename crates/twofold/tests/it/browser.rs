//! Journeys in a real Chromium against the real binary.

use twofold_app::domain::otp::{self, Secret};

use crate::support::PASSWORD;
use crate::support::browser::Browser;
use crate::support::server::Server;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_run_setup_then_sign_out_and_sign_in_again() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let server = Server::start(&[], &[]).await;
    let link = server.setup_link().expect("setup link");

    browser.goto(&link).await;
    browser.fill("#account_name", "Acme Inc").await;
    browser.fill("#owner_name", "Ada Owner").await;
    browser.fill("#owner_email", "ada@acme.test").await;
    browser.fill("#password", PASSWORD).await;
    browser.click("#setup-form button[type=submit]").await;
    browser.wait_for_path("/home").await;
    assert_eq!(browser.text("#welcome").await, "Welcome, Ada Owner");

    browser.click("header form button").await;
    browser.wait_for_path("/login").await;
    browser.fill("#email", "ada@acme.test").await;
    browser.fill("#password", "wrong password here").await;
    browser.click("#login-form button[type=submit]").await;
    assert_eq!(browser.text("#login-error").await, "The email or password is incorrect.");
    browser.fill("#password", PASSWORD).await;
    browser.click("#login-form button[type=submit]").await;
    browser.wait_for_path("/home").await;
    assert_eq!(browser.text("#welcome").await, "Welcome, Ada Owner");

    browser.goto(&format!("{}/users", server.base)).await;
    assert!(browser.text("#people").await.contains("ada@acme.test"));
    browser.close().await;
}

/// The help article's journey: enable 2FA from the profile with the key shown under the
/// QR code, sign out, sign in with a code ticking "Remember for 30 days", sign in again
/// without a code, then disable 2FA.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enable_sign_in_with_code_remember_and_disable() {
    let Some(browser) = Browser::start().await else { return };
    let server = Server::start(&[], &[]).await;
    create_account(&server).await;

    sign_in(&browser, &server, false).await;
    browser.wait_for_path("/home").await;
    browser.click("a[href^='/users/'].profile").await;
    browser.click("#enable-2fa-start").await;
    browser.click("#enable-2fa").await;
    browser.click("#wizard-next").await; // Step 1: an app is installed
    let key = browser.text("#secret-key").await; // Step 2: type the key shown
    let secret = Secret::from_base32(&key).expect("the page shows a base32 key");
    assert!(browser.client.find(fantoccini::Locator::Css(".qr svg")).await.is_ok(), "a QR code is shown");
    browser.screenshot("wizard-step-2").await;
    browser.click("#wizard-next").await;
    browser.fill("#code", "000 000").await; // Step 3: a wrong code first
    browser.click("#wizard-next").await;
    assert!(browser.text("#wizard-error").await.contains("not valid"));
    browser.fill("#code", &code_at(&secret, 0)).await;
    browser.click("#wizard-next").await;
    browser.wait_for_path("/me/two-factor/enable/phone").await; // Step 4: phone verification
    browser.fill("#phone", "+353 85 123 4567").await;
    browser.click("#wizard-next").await;
    assert!(browser.text("#sms-status").await.contains("+•• ••• ••• 67"));
    let sms = server.sms_code_to("+353851234567", 0).await; // read from the file outbox
    browser.screenshot("wizard-step-4").await;
    browser.fill("#code", &sms).await;
    browser.click("#wizard-next").await;
    assert!(browser.text("#two-factor-status").await.starts_with("On since"));

    browser.click("header form button").await; // Sign out
    sign_in(&browser, &server, true).await;
    browser.wait_for_path("/login/code").await;
    browser.fill("#code", &code_at(&secret, 30)).await;
    browser.click("#code-form button[type=submit]").await;
    browser.wait_for_path("/home").await;

    browser.click("header form button").await;
    sign_in(&browser, &server, false).await;
    browser.wait_for_path("/home").await; // remembered: no code this time

    browser.click("a[href^='/users/'].profile").await;
    assert!(browser.text("#devices").await.contains("Revoke"), "the remembered browser is listed");
    browser.click("#disable-2fa").await;
    browser.fill("#password", PASSWORD).await;
    browser.click("#confirm-disable").await;
    assert_eq!(browser.text("#two-factor-status").await, "Off");
    browser.close().await;
}

async fn create_account(server: &Server) {
    let token = server.setup_link().expect("setup link").rsplit('/').next().unwrap().to_string();
    let body = serde_json::json!({ "account_name": "Acme", "owner_name": "Ada Owner", "owner_email": "ada@acme.test", "password": PASSWORD });
    let r = crate::support::client(false)
        .post(format!("{}/api/v1/setup/{token}", server.base))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

async fn sign_in(browser: &Browser, server: &Server, remember: bool) {
    browser.goto(&format!("{}/login", server.base)).await;
    browser.fill("#email", "ada@acme.test").await;
    browser.fill("#password", PASSWORD).await;
    if remember {
        browser.click("#remember_device").await;
    }
    browser.click("#login-form button[type=submit]").await;
}

/// The code an authenticator app shows `ahead` seconds from now (the server runs on the
/// real clock; a code one step ahead is inside the accepted window and never a replay of
/// the code that just confirmed enrolment).
fn code_at(secret: &Secret, ahead: i64) -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    otp::current_code(&otp::TotpParams::default(), secret, now + ahead)
}
