//! The 2FA pages through forms, as a browser without JavaScript drives them.

use twofold_app::domain::otp::Secret;

use crate::support::{Http, PASSWORD, TestApp, TestDb};

on_both_databases!(
    wizard_enables_two_factor_in_four_steps,
    leaving_the_wizard_leaves_two_factor_off,
    code_page_signs_in_and_explains_a_wrong_clock,
    disable_pop_up_asks_for_the_password,
    sec_02_a_thousand_enrolments_give_a_thousand_secrets,
    starting_over_at_the_login_page_half_way_works,
);

/// A browser half signed in (password done, code not yet) that goes back to the sign-in
/// page can sign in again: its form carries the token the check expects.
async fn starting_over_at_the_login_page_half_way_works(db: TestDb) {
    let t = TestApp::new(db).await;
    t.account("acme").await;
    t.enable_two_factor(&t.signed_in("owner@acme.test").await).await;
    let http = page_sign_in(&t, "owner@acme.test", false).await;
    assert_eq!(http.get("/home").await.header("location").as_deref(), Some("/login/code"));
    let csrf = http.get("/login").await.form_csrf();
    let r =
        http.post_form("/login", &[("csrf_token", &csrf), ("email", "owner@acme.test"), ("password", PASSWORD)]).await;
    assert_eq!(r.header("location").as_deref(), Some("/login/code"), "{}", r.text());
}

async fn page_sign_in(t: &TestApp, email: &str, remember: bool) -> Http {
    let http = t.http();
    let token = http.get("/login").await.form_csrf();
    let mut fields = vec![("csrf_token", token.as_str()), ("email", email), ("password", PASSWORD)];
    if remember {
        fields.push(("remember_device", "true"));
    }
    http.post_form("/login", &fields).await;
    http
}

/// Walks the wizard to Step 3; answers the key shown on Step 2.
async fn wizard_to_step_three(http: &Http) -> Secret {
    let intro = http.get("/me/two-factor/enable").await;
    assert!(intro.text().contains("Enable 2FA"));
    let step1 = http.get("/me/two-factor/enable/app").await;
    for app in ["Google Authenticator", "Authy", "Duo Mobile", "1Password", "Microsoft Authenticator"] {
        assert!(step1.text().contains(app), "{app}");
    }
    let next = http.post_form("/me/two-factor/enable/key", &[("csrf_token", &step1.form_csrf())]).await;
    assert_eq!(next.header("location").as_deref(), Some("/me/two-factor/enable/key"));
    let step2 = http.get("/me/two-factor/enable/key").await.text();
    assert!(step2.contains("<svg") && step2.contains("Step 2: Scan QR code"));
    let start = step2.find("id=\"secret-key\">").unwrap() + 16;
    let grouped = step2[start..].split('<').next().unwrap();
    assert_eq!(grouped.split(' ').count(), 8, "the key in groups of four: {grouped}");
    let step3 = http.get("/me/two-factor/enable/code").await.text();
    assert!(step3.contains("autocomplete=\"one-time-code\"") && step3.contains("inputmode=\"numeric\""));
    Secret::from_base32(grouped).unwrap()
}

async fn wizard_enables_two_factor_in_four_steps(db: TestDb) {
    let t = TestApp::new(db).await;
    let o = t.account("acme").await;
    let http = page_sign_in(&t, "owner@acme.test", false).await;
    let profile = http.get(&format!("/users/{}", o.id)).await.text();
    assert!(profile.contains("Enable two-factor authentication"));
    let secret = wizard_to_step_three(&http).await;
    let csrf = http.get("/me/two-factor/enable/code").await.form_csrf();
    let wrong = http.post_form("/me/two-factor/enable/code", &[("csrf_token", &csrf), ("code", "12345")]).await;
    assert_eq!(wrong.status, 422);
    assert!(wrong.text().contains("Step 3: Enter code"), "stays on Step 3");
    let code = t.code(&secret, 0);
    let step3 = http.post_form("/me/two-factor/enable/code", &[("csrf_token", &csrf), ("code", &code)]).await;
    assert_eq!(step3.header("location").as_deref(), Some("/me/two-factor/enable/phone"), "{}", step3.text());
    // Step 3 alone does not turn 2FA on.
    let profile = http.get(&format!("/users/{}", o.id)).await.text();
    assert!(profile.contains("Enable two-factor authentication"));
    // Step 4: the number, then the code it receives.
    let step4 = http.get("/me/two-factor/enable/phone").await;
    assert!(step4.text().contains("Step 4: Phone verification") && step4.text().contains("type=\"tel\""));
    let bad = http.post_form("/me/two-factor/enable/phone", &[("csrf_token", &csrf), ("phone", "085 123 4567")]).await;
    assert_eq!(bad.status, 422);
    assert!(bad.text().contains("Start with + and your country code"));
    let sent =
        http.post_form("/me/two-factor/enable/phone", &[("csrf_token", &csrf), ("phone", "+353 85 123 4567")]).await;
    assert_eq!(sent.status, 303, "{}", sent.text());
    let waiting = http.get("/me/two-factor/enable/phone").await.text();
    assert!(waiting.contains("+•• ••• ••• 67") && waiting.contains("just now"), "{waiting}");
    assert!(waiting.contains("Still pending") && waiting.contains("up to 15 minutes") && waiting.contains("Resend"));
    let sms = t.sms_code_to(crate::support::PHONE).await;
    assert!(http.get("/me/two-factor/enable/phone").await.text().contains("Handed to the SMS network"));
    let resend = http.post_form("/me/two-factor/enable/phone/resend", &[("csrf_token", &csrf)]).await;
    assert_eq!(resend.status, 429, "Resend waits out the cooldown");
    let done = http.post_form("/me/two-factor/enable/phone/verify", &[("csrf_token", &csrf), ("code", &sms)]).await;
    // The last screen shows the recovery codes once (SEC-35), then leads to the profile.
    assert_eq!(done.status, 200, "{}", done.text());
    let page = done.text();
    assert!(page.contains("Save your recovery codes") && page.contains("Download as a text file"));
    assert_eq!(page.matches("<li><code>").count(), 10);
    assert!(page.contains("href=\"/continue?to=profile\""), "{page}");
    let next = http.get("/continue?to=profile").await;
    assert_eq!(next.header("location"), Some(format!("/users/{}?two_factor=on", o.id)), "no rd kept: the profile");
    let profile = http.get(&format!("/users/{}?two_factor=on", o.id)).await.text();
    assert!(profile.contains("Two-factor authentication is on."));
    assert!(profile.contains("+•• ••• ••• 67"), "the masked number on the profile");
    assert!(profile.contains("Disable two-factor authentication"));
    // The key is never shown again (SEC-04).
    let again = http.get("/me/two-factor/enable/key").await;
    assert_eq!(again.status, 303);
    assert!(!again.text().contains(&secret.to_base32()));
}

async fn leaving_the_wizard_leaves_two_factor_off(db: TestDb) {
    let t = TestApp::new(db).await;
    let o = t.account("acme").await;
    let http = page_sign_in(&t, "owner@acme.test", false).await;
    let first = wizard_to_step_three(&http).await;
    // Walk away, come back: 2FA is off and the wizard hands out a new key.
    let profile = http.get(&format!("/users/{}", o.id)).await.text();
    assert!(profile.contains("Enable two-factor authentication"));
    let second = wizard_to_step_three(&http).await;
    assert_ne!(first.to_base32(), second.to_base32());
    let fresh = page_sign_in(&t, "owner@acme.test", false).await;
    assert!(fresh.get("/home").await.text().contains("Welcome"), "no code asked");
}

async fn code_page_signs_in_and_explains_a_wrong_clock(db: TestDb) {
    let t = TestApp::new(db).await;
    t.account("acme").await;
    let secret = t.enable_two_factor(&t.signed_in("owner@acme.test").await).await;
    let http = page_sign_in(&t, "owner@acme.test", false).await;
    assert_eq!(http.get("/home").await.header("location").as_deref(), Some("/login/code"));
    let page = http.get("/login/code").await;
    let csrf = page.form_csrf();
    let drifted = t.code(&secret, -5);
    let r = http.post_form("/login/code", &[("csrf_token", &csrf), ("code", &drifted)]).await;
    assert_eq!(r.status, 401);
    assert!(
        r.text().replace("&#39;", "'").contains("Your phone's clock seems to be about 2 minutes 20 seconds slow"),
        "{}",
        r.text()
    );
    let r = http.post_form("/login/code", &[("csrf_token", &csrf), ("code", &t.code(&secret, 0))]).await;
    assert_eq!(r.header("location").as_deref(), Some("/continue"));
    assert!(http.get("/home").await.text().contains("Welcome"));
}

async fn disable_pop_up_asks_for_the_password(db: TestDb) {
    let t = TestApp::new(db).await;
    let o = t.account("acme").await;
    let secret = t.enable_two_factor(&t.signed_in("owner@acme.test").await).await;
    let step = t.password_step("owner@acme.test", false).await;
    let code = t.code(&secret, 0);
    let r = step.post_json("/api/v1/login/totp", &serde_json::json!({ "code": code })).await;
    assert_eq!(r.status, 200);
    let http = step;
    let page = http.get("/me/two-factor/disable").await;
    assert!(page.text().contains("Disable two-factor authentication?"));
    let csrf = page.form_csrf();
    let wrong =
        http.post_form("/me/two-factor/disable", &[("csrf_token", &csrf), ("password", "nope nope nope")]).await;
    assert_eq!(wrong.status, 401);
    assert!(wrong.text().contains("The email or password is incorrect."));
    let ok = http.post_form("/me/two-factor/disable", &[("csrf_token", &csrf), ("password", PASSWORD)]).await;
    assert_eq!(ok.header("location"), Some(format!("/users/{}?two_factor=off", o.id)));
    assert!(http.get(&format!("/users/{}", o.id)).await.text().contains("Enable two-factor authentication"));
}

async fn sec_02_a_thousand_enrolments_give_a_thousand_secrets(db: TestDb) {
    let t = TestApp::new(db).await;
    let owner = t.account("acme").await;
    let mut seen = std::collections::HashSet::new();
    for _ in 0..1000 {
        let e = t.app.start_enrolment(&owner, &twofold_app::RequestContext::default()).await.unwrap();
        assert_eq!(e.secret_base32.len(), 32, "160 bits");
        seen.insert(e.secret_base32);
    }
    assert_eq!(seen.len(), 1000);
}
