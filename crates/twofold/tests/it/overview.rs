//! The Overview and the people export through HTTP: an account with people in every state
//! (2FA by app, by security key alone, locked, asking for recovery, without 2FA inside and
//! past the grace period, invited), and the numbers checked against the audit log.

use serde_json::{Value, json};
use twofold_app::domain::Role;
use twofold_app::domain::throttle::ThrottleKey;

use crate::security_keys::register;
use crate::support::authenticator::{ORIGIN, SoftKey};
use crate::support::{Http, PHONE, TestApp, TestDb};

on_both_databases!(
    the_overview_counts_people_in_every_state_and_follows_the_clock,
    a_lock_on_any_second_factor_counts_and_adding_the_app_to_a_key_is_no_second_enable,
    long_lists_name_fifty_and_count_the_rest,
    sec_27_an_overview_never_counts_or_names_another_accounts_people,
    users_get_no_overview_and_no_export,
    the_export_lists_everyone_and_defuses_formulas,
);

const DAY: i64 = 86_400;

/// The account of these tests, as the overview should see it.
struct Acme {
    owner: Http,
    owner_secret: twofold_app::domain::otp::Secret,
    ada: i64,
    uma: i64,
    nora: i64,
}

/// Locks `user_id`'s second factor the way a guesser would: 99 failures on the books, then
/// the 100th through the sign-in (which is what writes `two_factor.locked`).
async fn lock(t: &TestApp, email: &str, user_id: i64) -> Http {
    let mut conn = t.app.store().conn().await.unwrap();
    let now = twofold_app::domain::Clock::now(&*t.clock);
    for _ in 0..99 {
        twofold_store::throttles::record_failure(&mut conn, &ThrottleKey::Totp { user_id }, now).await.unwrap();
    }
    drop(conn);
    t.clock.advance(3_601);
    let pending = t.password_step(email, false).await;
    let r = pending.post_json("/api/v1/login/totp", &json!({ "code": "000000" })).await;
    assert_eq!(r.error_code(), "invalid_code", "{}", r.text());
    let r = pending.post_json("/api/v1/login/totp", &json!({ "code": "000001" })).await;
    assert_eq!(r.error_code(), "second_factor_locked", "the hundredth wrong code locked it: {}", r.text());
    pending
}

async fn acme(t: &TestApp) -> Acme {
    let o = t.account("acme").await;
    let (owner_secret, codes) = t.enable_two_factor_with_codes(&t.signed_in("owner@acme.test").await, PHONE).await;
    let ada = t.person_named(&o, "ada@acme.test", "Ada Admin", Role::Admin).await;
    t.enable_two_factor(&t.signed_in("ada@acme.test").await).await;
    let uma = t.person_named(&o, "uma@acme.test", "Uma User", Role::User).await;
    register(&t.signed_in("uma@acme.test").await, &mut SoftKey::security_key(), "YubiKey").await;
    let nora = t.person_named(&o, "nora@acme.test", "Nora None", Role::User).await;
    let invited = twofold_app::people::NewPerson { email: "ian@acme.test", name: "Ian Invited", role: Role::User };
    t.app.invite(&o, &invited, &Default::default()).await.unwrap();

    let owner = t.signed_in_with_code("owner@acme.test", &owner_secret).await;
    let r = owner.put_json("/api/v1/account/policy", &json!({ "require_two_factor": true, "grace_days": 7 })).await;
    assert_eq!(r.status, 200, "{}", r.text());
    // A wrong password, then Ada's factor locked and her recovery request.
    let r = t.http().post_json("/api/v1/login", &json!({ "email": "nora@acme.test", "password": "not it" })).await;
    assert_eq!(r.status, 401);
    let pending = lock(t, "ada@acme.test", ada.id).await;
    let r = pending
        .post_json(
            "/api/v1/login/recovery-requests",
            &json!({ "message": "Lost my phone", "contact": "+353851234567" }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    // The Owner signs in with seven of ten recovery codes: three left is "running low".
    for code in codes.iter().take(7) {
        let http = t.password_step("owner@acme.test", false).await;
        let r = http.post_json("/api/v1/login/recovery-code", &json!({ "code": code })).await;
        assert_eq!(r.status, 200, "{}", r.text());
    }
    let owner = t.signed_in_with_code("owner@acme.test", &owner_secret).await;
    Acme { owner, owner_secret, ada: ada.id, uma: uma.id, nora: nora.id }
}

fn ids(list: &Value) -> Vec<i64> {
    list.as_array().unwrap().iter().map(|p| p["id"].as_i64().unwrap()).collect()
}

/// How many of the account's audit events are `event`.
async fn count(t: &TestApp, account_id: i64, events: &[&str]) -> i64 {
    t.events(account_id).await.iter().filter(|(e, _, _)| events.contains(&e.as_str())).count() as i64
}

fn sum(days: &Value, field: &str) -> i64 {
    days.as_array().unwrap().iter().map(|d| d[field].as_i64().unwrap()).sum()
}

async fn the_overview_counts_people_in_every_state_and_follows_the_clock(db: TestDb) {
    let t = TestApp::with_webauthn(db).await;
    let a = acme(&t).await;
    let account = t.user("owner@acme.test").await.account_id;
    let r = a.owner.get("/api/v1/account/overview").await;
    assert_eq!(r.status, 200, "{}", r.text());
    let o = r.json();

    // Four chose a password (Ian's invitation is open); three have 2FA.
    assert_eq!(o["people"]["active"], 4, "{o}");
    assert_eq!(o["people"]["with_two_factor"], 3);
    assert_eq!(o["people"]["by_factor"]["authenticator_app"], 2);
    assert_eq!(o["people"]["by_factor"]["security_key"], 1);
    // The Owner has three codes left; the others still have their ten.
    assert_eq!(o["people"]["by_factor"]["recovery_codes_low"], 1);
    let trend = o["people"]["trend"].as_array().unwrap();
    assert_eq!(trend.len(), 90);
    assert_eq!(trend.last().unwrap()["with_two_factor"], 3);

    assert_eq!(o["policy"]["required"], true);
    assert_eq!(ids(&o["policy"]["in_grace"]), [a.nora]);
    assert_eq!(o["policy"]["in_grace"][0]["days_left"], 7, "set today with seven days of grace");
    assert_eq!(ids(&o["policy"]["overdue"]), Vec::<i64>::new());

    // The chart's numbers are the audit log's, each event once.
    let days = &o["sign_ins"];
    assert_eq!(days.as_array().unwrap().len(), 30);
    assert_eq!(sum(days, "succeeded"), count(&t, account, &["sign_in.succeeded"]).await);
    let failed =
        ["sign_in.failed", "sign_in.totp_rejected", "sign_in.recovery_code_rejected", "sign_in.webauthn_rejected"];
    assert_eq!(sum(days, "failed"), count(&t, account, &failed).await);
    assert!(sum(days, "failed") >= 2, "Nora's wrong password and Ada's wrong code: {days}");
    assert_eq!(sum(days, "locked"), 1);
    assert!(sum(days, "succeeded") >= 10);

    let attention = &o["needs_attention"];
    assert_eq!(ids(&attention["locked"]), [a.ada]);
    assert_eq!(ids(&attention["recovery_requests"]), [a.ada]);
    assert_eq!(ids(&attention["without_phone"]), [a.uma]);
    assert_eq!(ids(&attention["new_security_keys"]), [a.uma]);
    assert_eq!(attention["new_security_keys"][0]["key_name"], "YubiKey");
    let recent: Vec<&str> =
        o["recent_events"].as_array().unwrap().iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert!(recent.contains(&"two_factor.locked"), "{recent:?}");
    // The ten newest security events of the log, newest first.
    let security = twofold_app::domain::overview::SECURITY_EVENTS;
    let log = t.events(account).await;
    let expected: Vec<&str> =
        log.iter().rev().map(|(e, _, _)| e.as_str()).filter(|e| security.contains(e)).take(10).collect();
    assert_eq!(recent, expected);
    assert_eq!(recent.len(), 10, "more than ten happened: {log:?}");
    assert!(!recent.contains(&"sign_in.succeeded"), "sign-ins are the chart's, not security events");

    // The page shows the same numbers, and the audit log filtered to each event.
    let page = a.owner.get("/overview").await;
    assert_eq!(page.status, 200);
    let html = page.text();
    assert!(html.contains(r#"<strong id="with-two-factor">3</strong> of <strong id="active">4</strong>"#), "{html}");
    assert!(html.contains(&format!(r#"<a href="/users/{}">Nora None</a>: 7 days left"#, a.nora)));
    assert!(html.contains(r#"<svg class="chart" id="activity-chart""#) && html.contains(r#"id="trend-chart""#));
    assert!(html.contains("/audit?event=two_factor.locked"), "events link to the filtered log");

    // Eight days on (a day and an hour past the deadline): Nora is overdue, and Uma's key
    // is no longer new. The Owner's session has idled out meanwhile.
    t.clock.advance(8 * DAY);
    let owner = t.signed_in_with_code("owner@acme.test", &a.owner_secret).await;
    let o = owner.get("/api/v1/account/overview").await.json();
    assert_eq!(ids(&o["policy"]["overdue"]), [a.nora], "{o}");
    assert_eq!(o["policy"]["overdue"][0]["days_over"], 1);
    assert_eq!(ids(&o["policy"]["in_grace"]), Vec::<i64>::new());
    assert_eq!(ids(&o["needs_attention"]["new_security_keys"]), Vec::<i64>::new());
    // The trend rebuilt from the log: nobody 89 days ago, three since the set-ups, never
    // going down meanwhile.
    let trend: Vec<i64> =
        o["people"]["trend"].as_array().unwrap().iter().map(|p| p["with_two_factor"].as_i64().unwrap()).collect();
    assert_eq!((trend[0], trend[89]), (0, 3), "{trend:?}");
    assert!(trend.windows(2).all(|w| w[0] <= w[1]), "{trend:?}");
    assert_eq!(trend.iter().filter(|n| **n == 3).count(), 9, "on for the last nine calendar days: {trend:?}");
}

async fn users_get_no_overview_and_no_export(db: TestDb) {
    let t = TestApp::new(db).await;
    let o = t.account("acme").await;
    t.person(&o, "user@acme.test", Role::User).await;
    let user = t.signed_in("user@acme.test").await;
    for path in ["/api/v1/account/overview", "/api/v1/account/people.csv"] {
        let r = user.get(path).await;
        assert_eq!(r.status, 403, "{path}");
        assert_eq!(r.error_code(), "forbidden");
    }
    assert_eq!(user.get("/overview").await.status, 403);
    assert!(!user.get("/home").await.text().contains("/overview"), "Home leads only managers to the Overview");
    assert_eq!(t.http().get("/api/v1/account/overview").await.status, 401);
    let refused = t.details_of("overview.view_refused").await;
    assert_eq!(refused.len(), 3, "each refusal (page, API, export) is audited: {refused:?}");
    let admin = t.person(&o, "admin@acme.test", Role::Admin).await;
    let admin_http = t.signed_in(&admin.email).await;
    assert_eq!(admin_http.get("/api/v1/account/overview").await.status, 200, "Administrators see it");
    let home = admin_http.get("/home").await.text();
    assert!(home.contains(r#"href="/overview""#), "Home shows managers the Overview first");
}

async fn the_export_lists_everyone_and_defuses_formulas(db: TestDb) {
    let t = TestApp::new(db).await;
    let o = t.account("acme").await;
    let secret = t.enable_two_factor(&t.signed_in("owner@acme.test").await).await;
    t.person_named(&o, "eve@acme.test", "=2+5 Eve", Role::User).await;
    let invited =
        twofold_app::people::NewPerson { email: "ian@acme.test", name: "Ian, \"the new one\"", role: Role::User };
    t.app.invite(&o, &invited, &Default::default()).await.unwrap();
    let owner = t.signed_in_with_code("owner@acme.test", &secret).await;
    let r = owner.get("/api/v1/account/people.csv").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type").as_deref(), Some("text/csv; charset=utf-8"));
    assert!(r.header("content-disposition").unwrap().contains("people.csv"));
    let csv = r.text();
    let lines: Vec<&str> = csv.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 4, "a header and three people: {csv}");
    assert!(lines[0].starts_with("name,email,role,status,two_factor,"), "{csv}");
    let owner_line = lines.iter().find(|l| l.contains("owner@acme.test")).unwrap();
    assert!(owner_line.contains(",owner,active,on,"), "{owner_line}");
    let eve = lines.iter().find(|l| l.contains("eve@acme.test")).unwrap();
    assert!(eve.starts_with("'=2+5 Eve,"), "a spreadsheet must not read a formula: {eve}");
    let ian = lines.iter().find(|l| l.contains("ian@acme.test")).unwrap();
    assert!(ian.starts_with("\"Ian, \"\"the new one\"\"\",") && ian.contains(",invited,off,"), "{ian}");
    assert!(!csv.contains(PHONE), "phones are masked in the export");
}

async fn a_lock_on_any_second_factor_counts_and_adding_the_app_to_a_key_is_no_second_enable(db: TestDb) {
    let t = TestApp::with_webauthn(db).await;
    let o = t.account("acme").await;
    let kim = t.person_named(&o, "kim@acme.test", "Kim Keys", Role::User).await;
    let mut key = SoftKey::security_key();
    register(&t.signed_in("kim@acme.test").await, &mut key, "YubiKey").await;
    // Kim signs in with the key and adds the app: 2FA was already on, and the log says so.
    let kim_http = t.password_step("kim@acme.test", false).await;
    let c = kim_http.post_json("/api/v1/login/webauthn/challenge", &json!({})).await.json();
    let credential = key.sign(&c["public_key"], ORIGIN);
    let r = kim_http
        .post_json("/api/v1/login/webauthn", &json!({ "challenge_id": c["challenge_id"], "credential": credential }))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    kim_http.set_csrf(r.json()["csrf_token"].as_str().unwrap());
    t.enable_two_factor(&kim_http).await;
    let events: Vec<String> = t.events(o.account_id).await.into_iter().map(|(e, _, _)| e).collect();
    assert_eq!(events.iter().filter(|e| *e == "two_factor.enabled").count(), 1, "{events:?}");
    assert_eq!(events.iter().filter(|e| *e == "authenticator_app.added").count(), 1, "{events:?}");
    // Locked by recovery-code guesses, not the app's: the Overview says so as the profile does.
    let mut conn = t.app.store().conn().await.unwrap();
    let now = twofold_app::domain::Clock::now(&*t.clock);
    for _ in 0..100 {
        twofold_store::throttles::record_failure(&mut conn, &ThrottleKey::RecoveryCode { user_id: kim.id }, now)
            .await
            .unwrap();
    }
    drop(conn);
    let owner = t.signed_in("owner@acme.test").await;
    let o = owner.get("/api/v1/account/overview").await.json();
    assert_eq!(ids(&o["needs_attention"]["locked"]), [kim.id], "{o}");
    assert_eq!(o["people"]["with_two_factor"], 1);
    assert_eq!(
        (o["people"]["by_factor"]["authenticator_app"].as_i64(), o["people"]["by_factor"]["security_key"].as_i64()),
        (Some(1), Some(1))
    );
    let recent: Vec<&str> =
        o["recent_events"].as_array().unwrap().iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert!(recent.contains(&"authenticator_app.added"), "{recent:?}");
    let profile = owner.get(&format!("/users/{}", kim.id)).await.text();
    assert!(profile.contains("Unlock two-factor sign-in"), "the profile agrees that Kim is locked");
}

async fn long_lists_name_fifty_and_count_the_rest(db: TestDb) {
    let t = TestApp::new(db).await;
    let o = t.account("acme").await;
    for i in 0..51 {
        t.person_named(&o, &format!("p{i}@acme.test"), &format!("Person {i:02}"), Role::User).await;
    }
    let owner = t.signed_in("owner@acme.test").await;
    let r = owner.put_json("/api/v1/account/policy", &json!({ "require_two_factor": true, "grace_days": 7 })).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let o = owner.get("/api/v1/account/overview").await.json();
    // Everyone, the Owner too, is inside the grace period: 52 people, 50 named.
    assert_eq!(o["policy"]["in_grace"].as_array().unwrap().len(), 50, "{o}");
    assert_eq!(o["policy"]["in_grace_total"], 52);
    assert_eq!((o["policy"]["overdue"].as_array().unwrap().len(), o["policy"]["overdue_total"].as_i64()), (0, Some(0)));
    let page = owner.get("/overview").await.text();
    assert!(page.contains("and 2 more"), "the page counts those it does not name");
}

async fn sec_27_an_overview_never_counts_or_names_another_accounts_people(db: TestDb) {
    let t = TestApp::new(db).await;
    let acme = t.account("acme").await;
    let rival = t.account("rival").await;
    t.person_named(&rival, "ruth@rival.test", "Ruth Rival", Role::User).await;
    t.enable_two_factor(&t.signed_in("owner@rival.test").await).await;
    let wrong = json!({ "email": "ruth@rival.test", "password": "not it" });
    assert_eq!(t.http().post_json("/api/v1/login", &wrong).await.status, 401);
    t.person_named(&acme, "ann@acme.test", "Ann Acme", Role::Admin).await;
    let admin = t.signed_in("ann@acme.test").await;
    let o = admin.get("/api/v1/account/overview").await.json();
    assert_eq!((o["people"]["active"].as_i64(), o["people"]["with_two_factor"].as_i64()), (Some(2), Some(0)), "{o}");
    assert_eq!(sum(&o["sign_ins"], "failed"), 0, "rival's failed sign-in is not acme's");
    let text =
        o.to_string() + &admin.get("/api/v1/account/people.csv").await.text() + &admin.get("/overview").await.text();
    assert!(!text.contains("Ruth") && !text.contains("rival.test"), "{text}");
}
