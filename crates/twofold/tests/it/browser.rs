//! Journeys in a real Chromium against the real binary.

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
    assert_eq!(
        browser.text("#login-error").await,
        "The email or password is incorrect."
    );
    browser.fill("#password", PASSWORD).await;
    browser.click("#login-form button[type=submit]").await;
    browser.wait_for_path("/home").await;
    assert_eq!(browser.text("#welcome").await, "Welcome, Ada Owner");

    browser.goto(&format!("{}/users", server.base)).await;
    assert!(browser.text("#people").await.contains("ada@acme.test"));
    browser.close().await;
}
