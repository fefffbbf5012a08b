//! Email: invitations, forgotten and changed passwords, and security notices, sent through
//! a real SMTP server (aiosmtpd, STARTTLS required) and read from what it received.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use serde_json::json;
use twofold_app::outbox::{Channels, OutboxWorker, Pass};
use twofold_channels::mail::MailConfig;

use crate::support::smtp::SmtpServer;
use crate::support::{PASSWORD, PHONE, TestApp, TestDb};

on_both_databases!(
    sec_39_an_invitation_goes_through_smtp_with_starttls_and_its_link_works,
    sec_37_a_reset_link_through_smtp_works_once_and_keeps_the_code_step,
    sec_37_reset_links_expire_void_on_a_password_change_and_unknown_ones_are_gone,
    sec_37_known_and_unknown_addresses_get_the_same_answer_in_similar_time,
    sec_37_reset_mails_to_one_address_are_limited,
    sec_38_sec_23_changing_the_password_needs_the_current_one_and_ends_other_sessions_and_browsers,
    sec_39_notices_arrive_by_email_and_sms_without_links,
    sec_39_nothing_is_lost_while_the_smtp_server_is_down,
    sec_39_a_permanent_refusal_is_given_up_with_its_reason,
    sec_39_addresses_and_names_cannot_inject_headers,
    the_password_pages_reset_and_change_like_their_api_twins,
);

const NEW_PASSWORD: &str = "a brand new passphrase here";

/// The channels with mail through `smtp` (SMS still captured: no SMS gateway runs here).
fn smtp_channels(t: &TestApp, smtp: &SmtpServer) -> Channels {
    let config =
        MailConfig::Smtp { url: smtp.url(), from: "no-reply@twofold.test".into(), ca_file: Some(smtp.ca_file()) };
    Channels { mail: twofold_channels::mail::build(&config).unwrap(), ..t.channels() }
}

/// Passes of one worker until nothing is left to do.
async fn drain(t: &TestApp, channels: &Channels) -> Pass {
    let worker = OutboxWorker::new(t.app.clone(), channels.clone());
    let mut total = Pass::default();
    loop {
        let pass = worker.run_once().await.unwrap();
        if pass.handled() == 0 {
            return total;
        }
        total.sent += pass.sent;
        total.retrying += pass.retrying;
        total.failed += pass.failed;
    }
}

fn token_of(link: &str) -> String {
    link.rsplit('/').next().unwrap().to_string()
}

async fn sec_39_an_invitation_goes_through_smtp_with_starttls_and_its_link_works(db: TestDb) {
    let Some(smtp) = SmtpServer::start().await else { return };
    let t = TestApp::new(db).await;
    t.account("acme").await;
    let owner = t.signed_in("owner@acme.test").await;
    let r = owner
        .post_json("/api/v1/users", &json!({ "email": "pat@acme.test", "name": "Pat Person", "role": "user" }))
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let answered = r.json()["invitation_url"].as_str().unwrap().to_string();

    let channels = smtp_channels(&t, &smtp);
    assert_eq!(drain(&t, &channels).await.sent, 1);
    let got = smtp.wait_for(1).await;
    assert_eq!(got.len(), 1, "{}", smtp.log());
    let mail = &got[0];
    assert_eq!(mail.to, "pat@acme.test");
    assert_eq!(mail.subject, "Olive Owner invited you to acme");
    assert!(mail.from.starts_with("acme (via Twofold) <no-reply@twofold.test>"), "{}", mail.from);
    let mailed = mail.link("/invitations/").unwrap();
    assert!(mailed.starts_with("http://127.0.0.1:8080/invitations/"), "{mailed}");
    assert_ne!(mailed, answered, "the mailbox gets its own link, not the one the inviter saw");
    assert!(mail.html.contains(&mailed), "the HTML part links it too");
    assert!(!mail.html.contains("<img"), "no tracking pixel");
    assert!(mail.message_id.starts_with("twofold."), "{}", mail.message_id);
    // The server refuses mail before STARTTLS (aiosmtpd's require_starttls): it arrived, so
    // the client upgraded the connection.

    let r = t
        .http()
        .post_json(&format!("/api/v1/invitations/{}", token_of(&mailed)), &json!({ "password": PASSWORD }))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    t.signed_in("pat@acme.test").await;
    let mut conn = t.app.store().conn().await.unwrap();
    let pat = t.user("pat@acme.test").await;
    assert!(twofold_store::users::email_verified(&mut conn, pat.id).await.unwrap(), "the mailed link proved it");
    let (_, rows) = t.app.outbox_summary(10).await.unwrap();
    let row = rows.iter().find(|r| r.channel == "email").unwrap();
    assert_eq!((row.kind.as_str(), row.status.as_str(), row.provider.as_deref()), ("invitation", "sent", Some("smtp")));
    assert!(row.body_box.is_empty(), "the summary never carries the body");
}

async fn sec_37_a_reset_link_through_smtp_works_once_and_keeps_the_code_step(db: TestDb) {
    let Some(smtp) = SmtpServer::start().await else { return };
    let t = TestApp::new(db).await;
    t.account("acme").await;
    let http = t.signed_in("owner@acme.test").await;
    let secret = t.enable_two_factor(&http).await;
    // A remembered browser and a signed-in session, both to be ended by the reset.
    let browser = t.password_step("owner@acme.test", true).await;
    let r = browser.post_json("/api/v1/login/totp", &json!({ "code": t.code(&secret, 0) })).await;
    assert_eq!(r.status, 200, "{}", r.text());
    t.clock.advance(30);
    let signed_in = t.signed_in_with_code("owner@acme.test", &secret).await;
    let channels = smtp_channels(&t, &smtp);
    drain(&t, &channels).await;
    let before = smtp.received().len();

    let r = t.http().post_json("/api/v1/password-reset", &json!({ "email": "Owner@Acme.test " })).await;
    assert_eq!(r.status, 202, "{}", r.text());
    drain(&t, &channels).await;
    let got = smtp.wait_for(before + 1).await;
    let mail = got.iter().rev().find(|m| m.subject == "Reset your acme password").expect("the reset mail");
    let link = mail.link("/password-reset/").expect("one link");
    assert!(link.starts_with(&t.app.url("/password-reset/")), "{link}");
    let token = token_of(&link);
    assert!(token.len() >= 22, "at least 128 bits");

    let path = format!("/api/v1/password-reset/{token}");
    let r = t.http().post_json(&path, &json!({ "password": "short" })).await;
    assert_eq!(
        (r.status, r.json()["error"]["code"].as_str()),
        (422, Some("weak_password")),
        "a weak password keeps the link"
    );
    let r = t.http().post_json(&path, &json!({ "password": NEW_PASSWORD })).await;
    assert_eq!(r.status, 204, "{}", r.text());
    let r = t.http().post_json(&path, &json!({ "password": NEW_PASSWORD })).await;
    assert_eq!((r.status, r.json()["error"]["code"].as_str()), (410, Some("link_expired")), "single use");

    // Every session ended; the remembered browser no longer skips the code (SEC-23).
    assert_eq!(signed_in.get("/api/v1/me").await.status, 401);
    let body = json!({ "email": "owner@acme.test", "password": NEW_PASSWORD });
    let r = browser.post_json("/api/v1/login", &body).await;
    assert_eq!(r.json()["status"], "second_factor_required", "2FA stays on: {}", r.text());
    let r = t.http().post_json("/api/v1/login", &json!({ "email": "owner@acme.test", "password": PASSWORD })).await;
    assert_eq!(r.status, 401, "the old password is gone");

    drain(&t, &channels).await;
    let got = smtp.wait_for(before + 2).await;
    let notice = got.iter().find(|m| m.subject == "Your password was reset").expect("the notice arrived");
    assert!(got.iter().any(|m| m.subject == "A browser was remembered"), "the remembered browser was told too");
    assert!(!notice.text.contains("http"), "a notice holds no link: {}", notice.text);
    let sms = t.sms.sent();
    assert!(sms.iter().any(|m| m.to == PHONE && m.body.contains("password of your account was reset")), "{sms:?}");
    assert!(!t.details_of("password.reset").await.is_empty());
}

async fn sec_37_reset_links_expire_void_on_a_password_change_and_unknown_ones_are_gone(db: TestDb) {
    let t = TestApp::new(db).await;
    t.account("acme").await;
    let ask = |t: &TestApp| {
        let http = t.http();
        async move { http.post_json("/api/v1/password-reset", &json!({ "email": "owner@acme.test" })).await.status }
    };
    let gone = |status: u16, body: serde_json::Value| {
        assert_eq!((status, body["error"]["code"].as_str()), (410, Some("link_expired")), "{body}");
    };
    // Expired after an hour.
    assert_eq!(ask(&t).await, 202);
    let link = t.mailed_link("owner@acme.test", "/password-reset/").await;
    t.clock.advance(3601);
    let r = t
        .http()
        .post_json(&format!("/api/v1/password-reset/{}", token_of(&link)), &json!({ "password": NEW_PASSWORD }))
        .await;
    gone(r.status, r.json());
    // Void once the password changes.
    assert_eq!(ask(&t).await, 202);
    let link = t.mailed_link("owner@acme.test", "/password-reset/").await;
    let owner = t.signed_in("owner@acme.test").await;
    let change = json!({ "current_password": PASSWORD, "new_password": NEW_PASSWORD });
    assert_eq!(owner.put_json("/api/v1/me/password", &change).await.status, 204);
    let r = t
        .http()
        .post_json(
            &format!("/api/v1/password-reset/{}", token_of(&link)),
            &json!({ "password": "another passphrase 42" }),
        )
        .await;
    gone(r.status, r.json());
    // Two requests, two links: using the newer voids the older.
    t.clock.advance(3600);
    assert_eq!(ask(&t).await, 202);
    let older = t.mailed_link("owner@acme.test", "/password-reset/").await;
    t.clock.advance(61);
    assert_eq!(ask(&t).await, 202);
    let newer = t.mailed_link("owner@acme.test", "/password-reset/").await;
    assert_ne!(older, newer);
    let r = t
        .http()
        .post_json(
            &format!("/api/v1/password-reset/{}", token_of(&newer)),
            &json!({ "password": "third passphrase here" }),
        )
        .await;
    assert_eq!(r.status, 204);
    let r = t
        .http()
        .post_json(
            &format!("/api/v1/password-reset/{}", token_of(&older)),
            &json!({ "password": "fourth passphrase here" }),
        )
        .await;
    gone(r.status, r.json());
    // Unknown and malformed tokens, and the page twin.
    for token in ["A".repeat(43), "not-a-token".into(), "x".repeat(300)] {
        let r =
            t.http().post_json(&format!("/api/v1/password-reset/{token}"), &json!({ "password": NEW_PASSWORD })).await;
        gone(r.status, r.json());
    }
    let r = t.http().get(&format!("/password-reset/{}", token_of(&link))).await;
    assert_eq!(r.status, 410);
    assert!(r.text().contains("expired or was already used"), "{}", r.text());
}

async fn sec_37_known_and_unknown_addresses_get_the_same_answer_in_similar_time(db: TestDb) {
    let t = TestApp::new(db).await;
    t.account("acme").await;
    let mut times = [Vec::new(), Vec::new()];
    let mut answers = HashSet::new();
    for round in 0..16 {
        for (i, email) in ["owner@acme.test", "nobody@acme.test"].iter().enumerate() {
            let http = t.http();
            let started = Instant::now();
            let r = http.post_json("/api/v1/password-reset", &json!({ "email": email })).await;
            times[i].push(started.elapsed());
            answers.insert((r.status, r.text()));
        }
        // Past the per-address allowance, so that every known request really mails.
        t.clock.advance(3600);
        let _ = round;
    }
    assert_eq!(answers.len(), 1, "one answer for both: {answers:?}");
    assert_eq!(answers.iter().next().unwrap().0, 202);
    let median = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let (known, unknown) = (median(&mut times[0]), median(&mut times[1]));
    // Both do a lookup and a write transaction; the known one adds two inserts and an audit
    // record. A password hash (tens of ms) or a network send in the request would show here.
    let gap = known.abs_diff(unknown);
    assert!(gap < Duration::from_millis(8), "known {known:?} vs unknown {unknown:?}");
    t.deliver_sms().await;
    assert_eq!(t.mail.to("owner@acme.test").len(), 16);
    assert!(t.mail.to("nobody@acme.test").is_empty());
}

async fn sec_37_reset_mails_to_one_address_are_limited(db: TestDb) {
    let t = TestApp::new(db).await;
    t.account("acme").await;
    for _ in 0..3 {
        let r = t.http().post_json("/api/v1/password-reset", &json!({ "email": "owner@acme.test" })).await;
        assert_eq!(r.status, 202, "the same answer when throttled");
    }
    t.deliver_sms().await;
    assert_eq!(t.mail.to("owner@acme.test").len(), 1, "one mail per minute to an address");
    assert_eq!(t.details_of("password.reset_throttled").await.len(), 2);
    let r =
        t.http().post_json("/api/v1/password-reset", &json!({ "email": "owner@acme.test\r\nBcc: x@evil.test" })).await;
    assert_eq!((r.status, r.json()["error"]["code"].as_str()), (422, Some("invalid_email")));
}

async fn sec_38_sec_23_changing_the_password_needs_the_current_one_and_ends_other_sessions_and_browsers(db: TestDb) {
    let t = TestApp::new(db).await;
    t.account("acme").await;
    let http = t.signed_in("owner@acme.test").await;
    let secret = t.enable_two_factor(&http).await;
    let remembered = t.password_step("owner@acme.test", true).await;
    let r = remembered.post_json("/api/v1/login/totp", &json!({ "code": t.code(&secret, 0) })).await;
    assert_eq!(r.status, 200, "{}", r.text());
    t.clock.advance(30);
    let this = t.signed_in_with_code("owner@acme.test", &secret).await;
    let other = t.signed_in_with_code("owner@acme.test", &secret).await;

    let change = |current: &str, new: &str| json!({ "current_password": current, "new_password": new });
    let r = this.put_json("/api/v1/me/password", &change("wrong password here", NEW_PASSWORD)).await;
    assert_eq!((r.status, r.json()["error"]["code"].as_str()), (401, Some("invalid_credentials")));
    let r = this.put_json("/api/v1/me/password", &change(PASSWORD, "short")).await;
    assert_eq!((r.status, r.json()["error"]["code"].as_str()), (422, Some("weak_password")));
    let r = this.put_json("/api/v1/me/password", &change(PASSWORD, PASSWORD)).await;
    assert_eq!(r.status, 422, "the same password is no change");
    let r = t.http().put_json("/api/v1/me/password", &change(PASSWORD, NEW_PASSWORD)).await;
    assert_eq!(r.status, 401, "signed in only");
    assert_eq!(other.get("/api/v1/me").await.status, 200, "nothing changed yet");

    let r = this.put_json("/api/v1/me/password", &change(PASSWORD, NEW_PASSWORD)).await;
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(this.get("/api/v1/me").await.status, 200, "this session stays");
    assert_eq!(other.get("/api/v1/me").await.status, 401, "the others end");
    // SEC-23: the remembered browser now asks for the code again.
    let r =
        remembered.post_json("/api/v1/login", &json!({ "email": "owner@acme.test", "password": NEW_PASSWORD })).await;
    assert_eq!(r.json()["status"], "second_factor_required", "{}", r.text());
    let r = t.http().post_json("/api/v1/login", &json!({ "email": "owner@acme.test", "password": PASSWORD })).await;
    assert_eq!(r.status, 401);
    let detail = t.details_of("password.changed").await;
    assert_eq!(detail[0]["sessions_ended"], 3, "the enrolling one, the remembered one, the other: {detail:?}");
    assert_eq!(detail[0]["remembered_browsers_forgotten"], 1, "{detail:?}");
    assert_eq!(t.details_of("password.change_refused").await.len(), 1);
    t.deliver_sms().await;
    assert!(t.mail.subjects_to("owner@acme.test").contains(&"Your password was changed".to_string()));
    // A stolen session cannot guess the current password faster than the login page allows.
    let mut statuses = Vec::new();
    for _ in 0..8 {
        statuses.push(this.put_json("/api/v1/me/password", &change("a wrong guess here", PASSWORD)).await.status);
    }
    assert!(statuses.contains(&429), "throttled: {statuses:?}");
}

async fn sec_39_notices_arrive_by_email_and_sms_without_links(db: TestDb) {
    let Some(smtp) = SmtpServer::start().await else { return };
    let t = TestApp::new(db).await;
    t.account("acme").await;
    let http = t.signed_in("owner@acme.test").await;
    let secret = t.enable_two_factor(&http).await;
    let http = t.signed_in_with_code("owner@acme.test", &secret).await;
    let r = http.post_json("/api/v1/me/two-factor/recovery-codes", &json!({ "password": PASSWORD })).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let body = json!({ "password": PASSWORD }).to_string();
    let r = http
        .send(axum::http::Method::DELETE, "/api/v1/me/two-factor", Some("application/json"), body.into(), &[])
        .await;
    assert_eq!(r.status, 204, "{}", r.text());

    let channels = smtp_channels(&t, &smtp);
    drain(&t, &channels).await;
    let got = smtp.wait_for(3).await;
    let subjects: Vec<&str> = got.iter().map(|m| m.subject.as_str()).collect();
    for expected in
        ["Two-factor authentication turned on", "New recovery codes were made", "Two-factor authentication turned off"]
    {
        assert!(subjects.contains(&expected), "{expected} in {subjects:?}");
    }
    for mail in &got {
        assert!(!mail.text.contains("http") && !mail.html.contains("href"), "no link in a notice: {}", mail.text);
        assert!(
            !mail.text.chars().collect::<Vec<_>>().windows(6).any(|w| w.iter().all(char::is_ascii_digit)),
            "no code"
        );
    }
    let sms: Vec<String> = t.sms.sent().into_iter().filter(|m| m.to == PHONE).map(|m| m.body).collect();
    assert!(sms.iter().any(|b| b.contains("turned on")), "{sms:?}");
    assert!(sms.iter().any(|b| b.contains("turned off")), "{sms:?}");
}

async fn sec_39_nothing_is_lost_while_the_smtp_server_is_down(db: TestDb) {
    let Some(mut smtp) = SmtpServer::start().await else { return };
    let t = TestApp::new(db).await;
    t.account("acme").await;
    let owner = t.signed_in("owner@acme.test").await;
    let channels = smtp_channels(&t, &smtp);
    let worker = OutboxWorker::new(t.app.clone(), channels.clone());
    smtp.stop();
    for i in 0..6 {
        let body = json!({ "email": format!("p{i}@acme.test"), "name": "Pat", "role": "user" });
        assert_eq!(owner.post_json("/api/v1/users", &body).await.status, 201);
    }
    // A minute of outage, the worker passing every few seconds of the fake clock.
    let mut retried = 0;
    for _ in 0..12 {
        retried += worker.run_once().await.unwrap().retrying;
        t.clock.advance(5);
    }
    assert!(retried >= 6, "each was tried and kept: {retried}");
    assert!(smtp.received().is_empty());
    smtp.resume().await;
    for _ in 0..30 {
        worker.run_once().await.unwrap();
        t.clock.advance(60);
        if smtp.received().len() >= 6 {
            break;
        }
    }
    let got = smtp.wait_for(6).await;
    let to: HashSet<&str> = got.iter().map(|m| m.to.as_str()).collect();
    assert_eq!(
        (got.len(), to.len()),
        (6, 6),
        "every message once: {:?}",
        got.iter().map(|m| &m.to).collect::<Vec<_>>()
    );
    let (counts, _) = t.app.outbox_summary(10).await.unwrap();
    assert_eq!(counts, vec![("email".to_string(), "sent".to_string(), 6)]);
}

async fn sec_39_a_permanent_refusal_is_given_up_with_its_reason(db: TestDb) {
    // A server that refuses every message over 200 bytes (552, permanent).
    let Some(smtp) = SmtpServer::start_with(&["-s", "200"]).await else { return };
    let t = TestApp::new(db).await;
    t.account("acme").await;
    let owner = t.signed_in("owner@acme.test").await;
    let body = json!({ "email": "pat@acme.test", "name": "Pat", "role": "user" });
    assert_eq!(owner.post_json("/api/v1/users", &body).await.status, 201);
    let pass = drain(&t, &smtp_channels(&t, &smtp)).await;
    assert_eq!((pass.sent, pass.failed, pass.retrying), (0, 1, 0), "given up at once, not retried");
    let (_, rows) = t.app.outbox_summary(10).await.unwrap();
    let row = rows.iter().find(|r| r.channel == "email").unwrap();
    assert_eq!(row.status, "failed");
    assert!(row.last_error.as_deref().unwrap_or("").contains("552"), "{row:?}");
}

async fn sec_39_addresses_and_names_cannot_inject_headers(db: TestDb) {
    let Some(smtp) = SmtpServer::start().await else { return };
    let t = TestApp::new(db).await;
    t.account("acme").await;
    let owner = t.signed_in("owner@acme.test").await;
    let invite = |email: String, name: &str| json!({ "email": email, "name": name, "role": "user" });
    for email in ["pat@acme.test\r\nBcc: victim@evil.test".to_string(), format!("{}@acme.test", "p".repeat(250))] {
        let r = owner.post_json("/api/v1/users", &invite(email, "Pat")).await;
        assert_eq!((r.status, r.json()["error"]["code"].as_str()), (422, Some("invalid_email")), "{}", r.text());
    }
    let r = owner.post_json("/api/v1/users", &invite("eve@acme.test".into(), "Eve\r\nBcc: victim")).await;
    assert_eq!(r.status, 201, "the name is folded onto one line: {}", r.text());
    let r = owner.post_json("/api/v1/users", &invite("zoe@acme.test".into(), "Zoë \"Z\" <admin>")).await;
    assert_eq!(r.status, 201, "{}", r.text());
    // A name holding an address never reaches a header or a message at all (SEC-54).
    let r = owner.post_json("/api/v1/users", &invite("ann@acme.test".into(), "Ann\r\nBcc: victim@evil.test")).await;
    assert_eq!((r.status, r.json()["error"]["code"].as_str()), (422, Some("invalid_name")), "{}", r.text());
    drain(&t, &smtp_channels(&t, &smtp)).await;
    let got = smtp.wait_for(2).await;
    assert_eq!(got.len(), 2);
    for mail in &got {
        let headers = mail.headers();
        assert!(!headers.lines().any(|l| l.to_ascii_lowercase().starts_with("bcc:")), "{headers}");
        // aiosmtpd's Mailbox records the envelope's recipients: only the invited person.
        let rcpt = headers.lines().find(|l| l.starts_with("X-RcptTo:")).unwrap_or("");
        assert!(!rcpt.contains("evil"), "{rcpt}");
    }
    assert!(got.iter().any(|m| m.to == "zoe@acme.test"), "the address, not the one in the name");
}

async fn the_password_pages_reset_and_change_like_their_api_twins(db: TestDb) {
    let t = TestApp::new(db).await;
    t.account("acme").await;
    let http = t.http();
    let login = http.get("/login").await;
    assert!(login.text().contains("href=\"/password-reset\""), "the login page links it");
    let page = http.get("/password-reset").await;
    assert_eq!(page.status, 200);
    assert!(page.text().contains("Forgot your password?"));
    let token = page.form_csrf();
    let r = http.post_form("/password-reset", &[("csrf_token", &token), ("email", "not an address")]).await;
    assert_eq!(r.status, 422);
    assert!(r.text().contains("name@example.com"), "{}", r.text());
    let r = http.post_form("/password-reset", &[("csrf_token", &token), ("email", "owner@acme.test")]).await;
    assert_eq!(r.status, 200);
    assert!(r.text().contains("Check your email"));
    let r = http.post_form("/password-reset", &[("csrf_token", "forged"), ("email", "owner@acme.test")]).await;
    assert_eq!(r.status, 403, "SEC-25 on the form too");

    let link = t.mailed_link("owner@acme.test", "/password-reset/").await;
    let path = link.strip_prefix(&t.app.url("")).unwrap().to_string();
    let form = http.get(&path).await;
    assert_eq!(form.status, 200);
    assert!(form.text().contains("owner@acme.test"), "the page says whose password");
    let token = form.form_csrf();
    let r = http.post_form(&path, &[("csrf_token", &token), ("password", "short")]).await;
    assert_eq!(r.status, 422);
    assert!(r.text().contains("at least 12"), "{}", r.text());
    let r = http.post_form(&path, &[("csrf_token", &token), ("password", NEW_PASSWORD)]).await;
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location").as_deref(), Some("/login?password_reset=1"));
    assert!(http.get("/login?password_reset=1").await.text().contains("Your password is changed"));
    let r = http.post_form(&path, &[("csrf_token", &token), ("password", NEW_PASSWORD)]).await;
    assert_eq!(r.status, 410, "used");

    // Change password from the profile.
    let token = http.get("/login").await.form_csrf();
    let r = http
        .post_form("/login", &[("csrf_token", &token), ("email", "owner@acme.test"), ("password", NEW_PASSWORD)])
        .await;
    assert_eq!(r.status, 303);
    let owner = t.user("owner@acme.test").await;
    let profile = http.get(&format!("/users/{}", owner.id)).await;
    assert!(profile.text().contains("href=\"/me/password\""), "the profile links it: {}", profile.text());
    let page = http.get("/me/password").await;
    let token = page.form_csrf();
    let wrong = [("csrf_token", token.as_str()), ("current_password", "not my password"), ("new_password", PASSWORD)];
    let r = http.post_form("/me/password", &wrong).await;
    assert_eq!(r.status, 401);
    assert!(r.text().contains("Change password"), "the form again, with the error");
    let right = [("csrf_token", token.as_str()), ("current_password", NEW_PASSWORD), ("new_password", PASSWORD)];
    let r = http.post_form("/me/password", &right).await;
    assert_eq!(r.status, 200);
    assert!(r.text().contains("Password changed"));
    assert_eq!(http.get("/home").await.status, 200, "still signed in");
}
