//! Journeys in a real Chromium against the real binary.

use twofold_app::domain::otp::Secret;

use crate::support::PASSWORD;
use crate::support::api::{api_sign_in, code_at, create_account, enable_by_api, invite};
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
    // The wizard's last screen: ten recovery codes, shown once, with Copy and Download.
    let codes = browser.text("#recovery-codes").await;
    assert_eq!(codes.lines().count(), 10, "{codes}");
    let download = browser.client.find(fantoccini::Locator::Css("#download-codes")).await.unwrap();
    assert_eq!(download.attr("download").await.unwrap().as_deref(), Some("twofold-recovery-codes.txt"));
    browser.screenshot("wizard-recovery-codes").await;
    browser.click("#codes-saved").await;
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

async fn sign_in(browser: &Browser, server: &Server, remember: bool) {
    browser.goto(&format!("{}/login", server.base)).await;
    browser.fill("#email", "ada@acme.test").await;
    browser.fill("#password", PASSWORD).await;
    if remember {
        browser.click("#remember_device").await;
    }
    browser.click("#login-form button[type=submit]").await;
}

/// The help article's lost-device path for a User: an Administrator disables their 2FA;
/// the User, signed in on another browser, is signed out at the next request, signs in
/// with the password alone, and enables 2FA again with a new key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_administrator_disables_a_users_two_factor_and_the_user_enables_it_again() {
    let Some(admin_browser) = Browser::start().await else { return };
    let server = Server::start(&[], &[]).await;
    let owner = create_account(&server).await;
    let admin = invite(&server, &owner, "ann@acme.test", "admin").await;
    let user = invite(&server, &owner, "uma@acme.test", "user").await;
    let _ = (admin, user);
    let old_key = enable_by_api(&server, "uma@acme.test", "+353851234568").await;

    // The User is signed in on their own browser.
    let user_browser = admin_browser.another().await;
    sign_in_as(&user_browser, &server, "uma@acme.test").await;
    user_browser.wait_for_path("/login/code").await;
    user_browser.fill("#code", &code_at(&old_key, 30)).await;
    user_browser.click("#code-form button[type=submit]").await;
    user_browser.wait_for_path("/home").await;

    // The Administrator turns the User's 2FA off from the User's profile.
    sign_in_as(&admin_browser, &server, "ann@acme.test").await;
    admin_browser.wait_for_path("/home").await;
    admin_browser.goto(&format!("{}/users", server.base)).await;
    admin_browser.click("#people a[href$='/users/3']").await;
    admin_browser.click("#admin-disable-2fa").await;
    admin_browser.fill("#password", PASSWORD).await;
    admin_browser.click("#confirm").await;
    assert_eq!(admin_browser.text("#two-factor-status").await, "Off");

    // The User's next request finds them signed out; the password alone signs them in.
    user_browser.goto(&format!("{}/home", server.base)).await;
    user_browser.wait_for_path("/login").await;
    sign_in_as(&user_browser, &server, "uma@acme.test").await;
    user_browser.wait_for_path("/home").await;
    assert!(user_browser.text("main").await.contains("turned off two-factor authentication"), "the in-app notice");
    user_browser.click("a[href^='/users/'].profile").await;
    user_browser.click("#enable-2fa-start").await;
    user_browser.click("#enable-2fa").await;
    user_browser.click("#wizard-next").await;
    let new_key = Secret::from_base32(&user_browser.text("#secret-key").await).unwrap();
    assert_ne!(new_key.to_base32(), old_key.to_base32(), "a new key");
    user_browser.close().await;
    admin_browser.close().await;
}

/// An Owner deactivates a User on the User's profile (confirming with the password): the
/// User's open browser is signed out at its next page and their password no longer signs
/// them in; reactivated, it does again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owner_deactivates_a_user_whose_every_way_in_closes_then_reactivates_them() {
    let Some(owner_browser) = Browser::start().await else { return };
    let server = Server::start(&[], &[]).await;
    let owner = create_account(&server).await;
    invite(&server, &owner, "uma@acme.test", "user").await;

    let user_browser = owner_browser.another().await;
    sign_in_as(&user_browser, &server, "uma@acme.test").await;
    user_browser.wait_for_path("/home").await;

    sign_in_as(&owner_browser, &server, "ada@acme.test").await;
    owner_browser.wait_for_path("/home").await;
    owner_browser.goto(&format!("{}/users", server.base)).await;
    owner_browser.click("#people a[href$='/users/2']").await;
    owner_browser.click("#deactivate").await;
    owner_browser.fill("#password", "not my password").await;
    owner_browser.click("#confirm").await;
    owner_browser.wait_for_text("#confirm-error", "The email or password is incorrect.").await;
    owner_browser.fill("#password", PASSWORD).await;
    owner_browser.click("#confirm").await;
    owner_browser.wait_for_text_containing("#deactivated", "Deactivated on").await;
    assert!(owner_browser.text("main").await.contains("is deactivated and signed out everywhere"));

    // The User's next page finds them signed out, and their password says why.
    user_browser.goto(&format!("{}/home", server.base)).await;
    user_browser.wait_for_path("/login").await;
    sign_in_as(&user_browser, &server, "uma@acme.test").await;
    user_browser.wait_for_text_containing("main", "has been deactivated").await;
    assert!(user_browser.url().await.contains("/login"), "still on the sign-in page");

    owner_browser.click("#reactivate").await;
    owner_browser.fill("#password", PASSWORD).await;
    owner_browser.click("#confirm").await;
    owner_browser.wait_for_text_containing("main", "can sign in again").await;
    sign_in_as(&user_browser, &server, "uma@acme.test").await;
    user_browser.wait_for_path("/home").await;

    // Removed from the account: back to the Users tab, where they are no longer listed.
    owner_browser.click("#remove").await;
    owner_browser.fill("#password", PASSWORD).await;
    owner_browser.click("#confirm").await;
    owner_browser.wait_for_text("#users-notice", "The person is removed from the account.").await;
    assert!(!owner_browser.text("#people").await.contains("uma@acme.test"));
    user_browser.goto(&format!("{}/home", server.base)).await;
    user_browser.wait_for_path("/login").await;
    user_browser.close().await;
    owner_browser.close().await;
}

/// An Owner makes a group on the Users tab, puts a person in it and takes them out again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owner_makes_a_group_and_fills_it_on_the_users_tab() {
    let Some(browser) = Browser::start().await else { return };
    let server = Server::start(&[], &[]).await;
    let owner = create_account(&server).await;
    invite(&server, &owner, "uma@acme.test", "user").await;
    sign_in_as(&browser, &server, "ada@acme.test").await;
    browser.wait_for_path("/home").await;
    browser.goto(&format!("{}/users", server.base)).await;
    browser.fill("#group-name", "vpn-users").await;
    browser.click("#new-group button[type=submit]").await;
    browser.wait_for_text("#group-1-name", "vpn-users").await;
    browser.click("#group-1 form[action='/groups/1/members'] button").await;
    browser.wait_for_text_containing("#group-1 .members", "Ada Owner").await;
    browser.click("#group-1 .members button").await;
    browser.wait_for_text_containing("#group-1", "No members yet.").await;
    browser.close().await;
}

/// An Owner makes an API token on the Apps tab, a script uses it, the Owner revokes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owner_makes_an_api_token_on_the_apps_tab_and_revokes_it() {
    let Some(browser) = Browser::start().await else { return };
    let server = Server::start(&[], &[]).await;
    create_account(&server).await;
    sign_in_as(&browser, &server, "ada@acme.test").await;
    browser.wait_for_path("/home").await;
    browser.goto(&format!("{}/apps", server.base)).await;
    browser.fill("#token-name", "crm sync").await;
    browser.click("#scope_people_read").await;
    browser.fill("#token-password", PASSWORD).await;
    browser.click("#make-token").await;
    browser.wait_for_text_containing("#new-token-box", "tf_").await;
    let token = browser.text("#new-token").await;
    let script = crate::support::client(false);
    let users = format!("{}/api/v1/users", server.base);
    let r = script.get(&users).bearer_auth(&token).send().await.unwrap();
    assert_eq!(r.status(), 200);
    browser.click("#tokens button.danger").await;
    browser.wait_for_text_containing("main", "The token was revoked.").await;
    let r = script.get(&users).bearer_auth(&token).send().await.unwrap();
    assert_eq!(r.status(), 401);
    browser.close().await;
}

/// An Owner adds a webhook on the Apps tab, keeps the secret shown once, sends a test
/// event and reads its delivery, verified by the receiver's Standard Webhooks library.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owner_adds_a_webhook_on_the_apps_tab_and_sends_a_test() {
    let Some(browser) = Browser::start().await else { return };
    let Some(receiver) = crate::webhooks::Receiver::start("ok", 0) else { return };
    let server = Server::start(&[], &[("TWOFOLD_WEBHOOK_ALLOW_INSECURE_LOOPBACK", "true")]).await;
    create_account(&server).await;
    sign_in_as(&browser, &server, "ada@acme.test").await;
    browser.wait_for_path("/home").await;
    browser.goto(&format!("{}/apps", server.base)).await;
    let scim = browser.text("#scim-base").await;
    assert_eq!(scim, format!("{}/scim/v2", server.base), "the SCIM base URL for the directory");
    browser.click("#webhooks-link").await;
    browser.wait_for_path("/apps/webhooks").await;
    browser.fill("#webhook-url", &receiver.url).await;
    browser.fill("#webhook-events", "*").await;
    browser.fill("#webhook-password", PASSWORD).await;
    browser.click("#add-webhook").await;
    browser.wait_for_text_containing("#new-secret-box", "whsec_").await;
    receiver.set_secret(&browser.text("#new-secret").await);
    browser.click("#test-1").await;
    browser.wait_for_text_containing("#webhooks-notice", "A test event").await;
    let mut delivered = String::new();
    for _ in 0..30 {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        browser.goto(&format!("{}/apps/webhooks", server.base)).await;
        delivered = browser.text("#webhook-1").await;
        if delivered.contains("204") {
            break;
        }
    }
    assert!(delivered.contains("webhook.test") && delivered.contains("204"), "{delivered}");
    let seen = receiver.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0]["verified"], true);
    browser.close().await;
}

async fn sign_in_as(browser: &Browser, server: &Server, email: &str) {
    browser.goto(&format!("{}/login", server.base)).await;
    browser.fill("#email", email).await;
    browser.fill("#password", PASSWORD).await;
    browser.click("#login-form button[type=submit]").await;
}

/// The help article's path for an Account Owner who lost their device: a recovery request
/// from the code page, an operator who grants SMS recovery through the support pages,
/// sign-in with the SMS code, then 2FA off and on again with a new key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owner_recovers_with_support_and_an_sms_code() {
    let Some(owner_browser) = Browser::start().await else { return };
    // The real clock runs here: a short SMS cooldown lets the sign-in code follow the
    // phone-verification code within the test's seconds.
    let server = Server::start(&[], &[("TWOFOLD_SMS_COOLDOWN_SECONDS", "1")]).await;
    create_account(&server).await;
    let old_key = enable_by_api(&server, "ada@acme.test", "+353851234567").await;
    add_operator(&server).await;

    // The Owner, without their device, asks support from the second-factor page.
    sign_in_as_owner(&owner_browser, &server).await;
    owner_browser.wait_for_path("/login/code").await;
    owner_browser.click("#lost-device").await;
    owner_browser.fill("#message", "Lost my phone on the train; I still have my SIM.").await;
    owner_browser.fill("#contact", "+353 85 123 4567").await;
    owner_browser.click("#send-request").await;
    assert!(owner_browser.text("#request-status").await.contains("waiting for support"));

    // An operator signs in (enrolling TOTP), takes the request and grants SMS recovery.
    let operator = owner_browser.another().await;
    sign_in_operator(&operator, &server, "cs@twofold.test").await;
    operator.click("#queue a").await;
    operator.click("#take").await;
    operator.wait_for_text("#request-status", "taken").await;
    operator.fill("#identity_check", "Called back on the number on file; confirmed the company address").await;
    operator.fill("#reason", "TICKET-7").await;
    operator.click("#grant").await;
    operator.wait_for_text("#request-status", "granted").await;
    operator.close().await;

    // The Owner signs in with an SMS code read from the file outbox.
    let sent_before =
        std::fs::read_to_string(server.data_dir().join("sms-outbox.jsonl")).unwrap_or_default().lines().count();
    sign_in_as_owner(&owner_browser, &server).await;
    owner_browser.wait_for_path("/login/code").await;
    owner_browser.click("#use-sms").await;
    owner_browser.click("#send-sms").await;
    assert!(owner_browser.text("#sms-status").await.contains("+•• ••• ••• 67"));
    let sms = server.sms_code_to("+353851234567", sent_before).await;
    owner_browser.fill("#code", &sms).await;
    owner_browser.click("#sms-form button[type=submit]").await;
    owner_browser.wait_for_path("/recovery").await;

    // …turns 2FA off and sets it up again with a new key; the old key no longer works.
    owner_browser.click("#reset-2fa").await;
    owner_browser.fill("#password", PASSWORD).await;
    owner_browser.click("#confirm-disable").await;
    assert_eq!(owner_browser.text("#two-factor-status").await, "Off");
    owner_browser.click("#enable-2fa-start").await;
    owner_browser.click("#enable-2fa").await;
    owner_browser.click("#wizard-next").await;
    let new_key = Secret::from_base32(&owner_browser.text("#secret-key").await).unwrap();
    assert_ne!(new_key.to_base32(), old_key.to_base32());
    owner_browser.click("#wizard-next").await;
    owner_browser.fill("#code", &code_at(&new_key, 0)).await;
    owner_browser.click("#wizard-next").await;
    owner_browser.wait_for_path("/me/two-factor/enable/phone").await;
    let sent_before =
        std::fs::read_to_string(server.data_dir().join("sms-outbox.jsonl")).unwrap_or_default().lines().count();
    owner_browser.fill("#phone", "+353 85 123 4567").await;
    owner_browser.click("#wizard-next").await;
    let sms = server.sms_code_to("+353851234567", sent_before).await;
    owner_browser.fill("#code", &sms).await;
    owner_browser.click("#wizard-next").await;
    owner_browser.click("#codes-saved").await; // a new set of recovery codes, shown once
    assert!(owner_browser.text("#two-factor-status").await.starts_with("On since"));
    let (api, answer) = api_sign_in(&server, "ada@acme.test").await;
    assert_eq!(answer["status"], "second_factor_required");
    let totp = format!("{}/api/v1/login/totp", server.base);
    let r = api
        .client
        .post(&totp)
        .header("x-csrf-token", &api.csrf)
        .json(&serde_json::json!({ "code": code_at(&old_key, 30) }));
    assert_eq!(r.send().await.unwrap().status(), 401, "the old key no longer works");
    let r = api
        .client
        .post(&totp)
        .header("x-csrf-token", &api.csrf)
        .json(&serde_json::json!({ "code": code_at(&new_key, 30) }));
    assert_eq!(r.send().await.unwrap().status(), 200, "the new one does");
    owner_browser.close().await;
}

/// SEC-34 in Chromium: an operator locked out after 100 wrong codes is unlocked by another
/// operator from the operators page, and `twofold support operator list` agrees.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_unlocks_another_in_the_browser() {
    let Some(browser) = Browser::start().await else { return };
    let server = Server::start(&[], &[]).await;
    add_operator(&server).await;
    add_operator_named(&server, "lee@twofold.test").await;
    // Lee's code counter reaches the lock (what 100 wrong codes leave behind).
    let url = twofold_store::sqlite_url_in(server.data_dir());
    let store = twofold_store::Store::connect(&url, &Default::default()).await.unwrap();
    let mut conn = store.conn().await.unwrap();
    let lee = twofold_store::operators::by_email(&mut conn, "lee@twofold.test").await.unwrap().unwrap();
    let key = twofold_app::domain::throttle::ThrottleKey::OperatorTotp { operator_id: lee.id };
    for _ in 0..100 {
        twofold_store::throttles::record_failure(&mut conn, &key, 0).await.unwrap();
    }
    drop(conn);

    sign_in_operator(&browser, &server, "cs@twofold.test").await;
    browser.click("#nav-operators").await;
    browser.wait_for_path("/support/operators").await;
    assert!(browser.text("#operators").await.contains("Locked"));
    browser.click("#operators form[action='/support/operators/unlock'] button").await;
    browser.wait_for_text("#operators-notice", "The operator can sign in again.").await;
    assert!(!browser.text("#operators").await.contains("Locked"));

    let out = std::process::Command::new(crate::support::server::binary())
        .args(["support", "operator", "list", "--data-dir"])
        .arg(server.data_dir())
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && listed.contains("lee@twofold.test") && !listed.contains("LOCKED"), "{listed}");
    let mut conn = store.conn().await.unwrap();
    let q = twofold_store::audit::Query { limit: 100, ..Default::default() };
    let events = twofold_store::audit::list(&mut conn, &q).await.unwrap();
    assert!(events.iter().any(|e| e.event == "support.operator_unlocked"));
    browser.close().await;
}

/// An operator's first sign-in at /support: password, then enrolling the app with its code.
async fn sign_in_operator(browser: &Browser, server: &Server, email: &str) {
    browser.goto(&format!("{}/support/login", server.base)).await;
    browser.fill("#email", email).await;
    browser.fill("#password", PASSWORD).await;
    browser.click("#support-login-form button[type=submit]").await;
    let key = Secret::from_base32(&browser.text("#secret-key").await).unwrap();
    browser.fill("#code", &code_at(&key, 0)).await;
    browser.click("#support-code-form button[type=submit]").await;
    browser.wait_for_path("/support").await;
}

async fn sign_in_as_owner(browser: &Browser, server: &Server) {
    sign_in_as(browser, server, "ada@acme.test").await;
}

async fn add_operator(server: &Server) {
    add_operator_named(server, "cs@twofold.test").await;
}

async fn add_operator_named(server: &Server, email: &str) {
    use std::io::Write;
    let mut child = std::process::Command::new(crate::support::server::binary())
        .args(["support", "operator", "add", "--email", email, "--name", "Casey Support", "--password-stdin"])
        .arg("--data-dir")
        .arg(server.data_dir())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(PASSWORD.as_bytes()).unwrap();
    assert!(child.wait().unwrap().success());
}

/// Security keys and passkeys in Chromium with WebDriver's virtual authenticator: add one
/// from the profile (its recovery codes are shown), pass the second step with it, use a
/// recovery code, sign in with the passkey and no password, then remove it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_security_key_is_added_used_as_second_step_and_passkey_then_removed() {
    let Some(browser) = Browser::start().await else { return };
    let server = Server::start(&[], &[]).await;
    create_account(&server).await;
    browser.add_virtual_authenticator().await;

    sign_in_as_owner(&browser, &server).await;
    browser.wait_for_path("/home").await;
    browser.click("a[href^='/users/'].profile").await;
    browser.fill("#key-name", "Laptop key").await;
    // SEC-46: a session alone does not add a key; the dialog asks the password with it.
    browser.click("#add-security-key").await;
    browser.wait_for_text("#webauthn-error", "Enter your password to add a key.").await;
    browser.fill("#key-password", "not the password at all").await;
    browser.click("#add-security-key").await;
    browser.wait_for_text("#webauthn-error", "The email or password is incorrect.").await;
    assert!(!browser.text("body").await.contains("Laptop key"), "no key was added");
    browser.fill("#key-password", PASSWORD).await;
    browser.click("#add-security-key").await;
    // The key was the first factor: its recovery codes are shown this once.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let codes = loop {
        let text = browser.text("#new-recovery-codes").await;
        if text.lines().count() == 10 || std::time::Instant::now() > deadline {
            break text;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!(codes.lines().count(), 10, "codes: {codes:?}, error: {:?}", browser.text("#webauthn-error").await);
    browser.screenshot("security-key-added").await;
    browser.click("#codes-saved").await;
    let keys = browser.text("#security-keys").await;
    assert!(keys.contains("Laptop key") && keys.contains("Passkey"), "{keys}");
    assert!(browser.text("#two-factor-status").await.starts_with("On since"));

    // The second step with the key.
    browser.click("header form button").await;
    sign_in_as_owner(&browser, &server).await;
    browser.wait_for_path("/login/code").await;
    browser.click("#use-security-key").await;
    browser.wait_for_path("/home").await;

    // The second step with a recovery code.
    browser.click("header form button").await;
    sign_in_as_owner(&browser, &server).await;
    browser.wait_for_path("/login/code").await;
    browser.click("#use-recovery-code").await;
    browser.fill("#code", codes.lines().next().unwrap()).await;
    browser.click("#recovery-code-form button[type=submit]").await;
    browser.wait_for_path("/home").await;

    // A passkey: no email, no password.
    browser.click("header form button").await;
    browser.wait_for_path("/login").await;
    browser.click("#passkey-sign-in").await;
    browser.wait_for_path("/home").await;
    assert_eq!(browser.text("#welcome").await, "Welcome, Ada Owner");

    // Removing it asks for the password; the last factor gone, 2FA is off.
    browser.click("a[href^='/users/'].profile").await;
    browser.click("a[id^='remove-key-']").await;
    browser.fill("#password", PASSWORD).await;
    browser.click("#confirm").await;
    assert_eq!(browser.text("#two-factor-status").await, "Off");
    browser.close().await;
}

/// "Forgot your password?" end to end: the real binary mails the link through a real SMTP
/// server (STARTTLS), the person chooses a new password, and sign-in still asks the code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forgotten_password_is_reset_by_mail_and_the_code_step_follows() {
    let Some(browser) = Browser::start().await else { return };
    let Some(smtp) = crate::support::smtp::SmtpServer::start().await else { return };
    let url = smtp.url();
    let ca = smtp.ca_file().display().to_string();
    let env = [
        ("TWOFOLD_MAIL_PROVIDER", "smtp"),
        ("TWOFOLD_SMTP_URL", url.as_str()),
        ("TWOFOLD_MAIL_FROM", "no-reply@twofold.test"),
        ("TWOFOLD_SMTP_CA_FILE", ca.as_str()),
    ];
    let server = Server::start(&[], &env).await;
    create_account(&server).await;
    let key = enable_by_api(&server, "ada@acme.test", "+353851234567").await;

    browser.goto(&format!("{}/login", server.base)).await;
    browser.click("#forgot-password").await;
    browser.wait_for_path("/password-reset").await;
    browser.fill("#email", "ada@acme.test").await;
    browser.click("#forgot-form button[type=submit]").await;
    browser.wait_for_text("main h1", "Check your email").await;

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let link = loop {
        let mails = smtp.received_by("ada@acme.test");
        if let Some(link) = mails
            .iter()
            .rev()
            .find(|m| m.subject == "Reset your Acme password")
            .and_then(|m| m.link("/password-reset/"))
        {
            break link;
        }
        assert!(std::time::Instant::now() < deadline, "no reset mail arrived: {}", server.log());
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    browser.goto(&link).await;
    browser.fill("#password", "a brand new passphrase here").await;
    browser.click("#reset-form button[type=submit]").await;
    browser.wait_for_path("/login").await;
    assert!(browser.text("main").await.contains("Your password is changed"));

    browser.fill("#email", "ada@acme.test").await;
    browser.fill("#password", "a brand new passphrase here").await;
    browser.click("#login-form button[type=submit]").await;
    browser.wait_for_path("/login/code").await;
    browser.fill("#code", &code_at(&key, 30)).await;
    browser.click("#code-form button[type=submit]").await;
    browser.wait_for_path("/home").await;
    browser.close().await;
}

/// The Overview in Chromium for an account with people in several states: its figures,
/// lists and day table match `GET /api/v1/account/overview`, and axe-core finds nothing
/// wrong in the light or the dark colour scheme.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_overview_matches_its_api_and_passes_axe_in_light_and_dark() {
    let Some(browser) = Browser::start().await else { return };
    let server = Server::start(&[], &[]).await;
    let owner = create_account(&server).await;
    let key = enable_by_api(&server, "ada@acme.test", "+353851234560").await;
    invite(&server, &owner, "ann@acme.test", "admin").await;
    enable_by_api(&server, "ann@acme.test", "+353851234567").await;
    invite(&server, &owner, "uma@acme.test", "user").await;
    // An invitation not yet taken up, and a wrong password.
    owner
        .post(&server, "/api/v1/users", serde_json::json!({ "email": "ian@acme.test", "name": "Ian", "role": "user" }))
        .await;
    let wrong = serde_json::json!({ "email": "uma@acme.test", "password": "not the password" });
    let r =
        crate::support::client(false).post(format!("{}/api/v1/login", server.base)).json(&wrong).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let policy = owner
        .put(&server, "/api/v1/account/policy", serde_json::json!({ "require_two_factor": true, "grace_days": 14 }))
        .await;
    assert_eq!(policy["require_two_factor"], true, "{policy}");

    sign_in_as_owner(&browser, &server).await;
    browser.wait_for_path("/login/code").await;
    browser.fill("#code", &code_at(&key, 30)).await;
    browser.click("#code-form button[type=submit]").await;
    browser.wait_for_path("/home").await;
    browser.click("#overview-link").await;
    browser.wait_for_path("/overview").await;
    let api = owner.get(&server, "/api/v1/account/overview").await;
    let people = &api["people"];
    assert_eq!((people["active"].as_i64(), people["with_two_factor"].as_i64()), (Some(3), Some(2)), "{api}");
    for (css, number) in [
        ("#with-two-factor", &people["with_two_factor"]),
        ("#active", &people["active"]),
        ("#factor-app", &people["by_factor"]["authenticator_app"]),
        ("#factor-key", &people["by_factor"]["security_key"]),
        ("#codes-low", &people["by_factor"]["recovery_codes_low"]),
    ] {
        assert_eq!(browser.text(css).await, number.to_string(), "{css}");
    }
    let in_grace = browser.text("#in-grace").await;
    assert_eq!(in_grace.lines().count(), api["policy"]["in_grace"].as_array().unwrap().len(), "{in_grace}");
    assert!(in_grace.contains("14 days left"), "{in_grace}");
    // The day table (newest first) holds the chart's numbers.
    browser.click("#activity-details summary").await;
    let today = api["sign_ins"].as_array().unwrap().last().unwrap().clone();
    let row = browser.text("#activity-table tbody tr").await;
    let expected =
        format!("{} {} {} {}", today["date"].as_str().unwrap(), today["succeeded"], today["failed"], today["locked"]);
    assert_eq!(row, expected);
    assert!(today["failed"].as_i64().unwrap() >= 1 && today["succeeded"].as_i64().unwrap() >= 3, "{today}");

    browser.client.execute("window.scrollTo(0, 0)", vec![]).await.unwrap();
    browser.screenshot("overview-light").await;
    if let Some(violations) = browser.axe_violations().await {
        assert!(violations.is_empty(), "axe-core, light scheme: {violations:#?}");
    }
    browser.prefer_dark(true).await;
    let background =
        browser.client.execute("return getComputedStyle(document.body).backgroundColor", vec![]).await.unwrap();
    assert_eq!(background, "rgb(17, 21, 28)", "the dark scheme applies");
    browser.screenshot("overview-dark").await;
    if let Some(violations) = browser.axe_violations().await {
        assert!(violations.is_empty(), "axe-core, dark scheme: {violations:#?}");
    }
    browser.close().await;
}
