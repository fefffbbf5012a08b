//! Guessing limits that do not hand out lockouts (SEC-44): a known browser's own budget,
//! the email's shared one, and every source address's budget across all emails.

use serde_json::json;
use twofold_app::domain::Role;

use crate::support::api::create_account;
use crate::support::http::{Http, Response};
use crate::support::server::Server;
use crate::support::{PASSWORD, TestApp, TestDb};

on_both_databases!(
    sec_44_the_owner_signs_in_from_their_known_browser_while_a_stranger_hammers_their_email,
    sec_44_one_address_over_300_emails_is_answered_429_within_20_guesses,
    sec_44_a_source_budget_covers_an_ipv6_64_and_is_forgotten_after_an_hour,
    sec_44_two_instances_share_the_budgets,
    sec_47_forty_wrong_passwords_at_once_for_one_email_on_two_instances_check_at_most_five,
    sec_47_forty_wrong_passwords_at_once_over_forty_emails_from_one_address_check_at_most_fifteen,
    sec_47_forty_wrong_password_proofs_at_once_check_at_most_five,
    sec_47_two_hundred_wrong_codes_at_once_check_at_most_five,
);

/// Sends `n` password steps at the same moment, alternating between two instances over
/// one database, from `ip`; `email(i)` and `password(i)` name each. Answers the statuses.
async fn at_once(
    t: &TestApp,
    n: usize,
    ip: &'static str,
    email: impl Fn(usize) -> String,
    password: impl Fn(usize) -> String,
) -> Vec<u16> {
    let instances = [
        std::sync::Arc::new(t.http_behind_proxy()),
        std::sync::Arc::new(Http::new(t.second_instance_behind_proxy().await)),
    ];
    let mut guesses = tokio::task::JoinSet::new();
    for i in 0..n {
        let (http, email, password) = (instances[i % 2].clone(), email(i), password(i));
        guesses.spawn(async move { login_from(&http, ip, &email, &password).await.status });
    }
    guesses.join_all().await
}

fn checked(statuses: &[u16]) -> usize {
    assert!(statuses.iter().all(|s| *s == 401 || *s == 429), "only refusals and waits: {statuses:?}");
    statuses.iter().filter(|s| **s == 401).count()
}

/// The password step from `ip`, as a reverse proxy in front would report it.
async fn login_from(http: &Http, ip: &str, email: &str, password: &str) -> Response {
    let body = json!({ "email": email, "password": password }).to_string();
    http.post_raw("/api/v1/login", "application/json", body, &[("x-forwarded-for", ip)]).await
}

const OWNER: &str = "owner@acme.test";

async fn sec_44_the_owner_signs_in_from_their_known_browser_while_a_stranger_hammers_their_email(db: TestDb) {
    let t = TestApp::new(db).await;
    let owner = t.account("acme").await;
    t.person(&owner, "pat@acme.test", Role::User).await;
    let laptop = t.http_behind_proxy();
    assert_eq!(login_from(&laptop, "198.51.100.10", OWNER, PASSWORD).await.status, 200);
    let known = laptop.cookie("twofold_browser").expect("a right password makes the browser known");
    assert!(known.starts_with(&format!("v2.{}.", owner.id)), "{known}");

    // A stranger hammers the Owner's email, from several addresses.
    let stranger = t.http_behind_proxy();
    let mut answers = Vec::new();
    for i in 0..40 {
        let ip = format!("203.0.113.{}", i % 4);
        answers.push(login_from(&stranger, &ip, OWNER, &format!("guess {i}")).await.status);
    }
    assert_eq!(&answers[..5], &[401; 5]);
    assert!(answers[5..].iter().all(|s| *s == 429), "{answers:?}");

    // Anyone else with the right password waits, from the Owner's own address too...
    let new_browser = t.http_behind_proxy();
    assert_eq!(login_from(&new_browser, "198.51.100.10", OWNER, PASSWORD).await.status, 429);
    // ...and so does a forged known-browser token, or one of another person's.
    let forged = t.http_behind_proxy();
    forged.set_cookie("twofold_browser", &format!("{}0", known.trim_end_matches(|c: char| c.is_ascii_hexdigit())));
    assert_eq!(login_from(&forged, "198.51.100.10", OWNER, PASSWORD).await.status, 429);
    let pats = t.http_behind_proxy();
    assert_eq!(login_from(&pats, "198.51.100.11", "pat@acme.test", PASSWORD).await.status, 200);
    assert_eq!(login_from(&pats, "198.51.100.11", OWNER, PASSWORD).await.status, 429);

    // The Owner's browser is judged by its own budget: a typo costs nothing visible.
    let typo = login_from(&laptop, "198.51.100.10", OWNER, "correct horse battery stapel").await;
    assert_eq!(typo.status, 401, "{}", typo.text());
    let r = login_from(&laptop, "198.51.100.10", OWNER, PASSWORD).await;
    assert_eq!(r.status, 200, "the Owner is not locked out: {}", r.text());
    assert_eq!(r.json()["status"], "signed_in");
    // The stranger is still slowed down.
    assert_eq!(login_from(&stranger, "203.0.113.1", OWNER, "guess 41").await.status, 429);
}

async fn sec_44_one_address_over_300_emails_is_answered_429_within_20_guesses(db: TestDb) {
    let t = TestApp::new(db).await;
    t.account("acme").await;
    let sprayer = t.http_behind_proxy();
    let mut first_429 = None;
    let mut refused = 0;
    for i in 0..300 {
        let r = login_from(&sprayer, "203.0.113.7", &format!("person{i}@acme.test"), "Winter2026!").await;
        if r.status == 429 {
            refused += 1;
            if first_429.is_none() {
                first_429 = Some(i + 1);
                assert_eq!(r.error_code(), "too_many_attempts");
                let wait: i64 = r.header("retry-after").expect("Retry-After").parse().unwrap();
                assert!((1..=60).contains(&wait), "{wait}");
            }
        } else {
            assert_eq!(r.status, 401, "{}", r.text());
        }
    }
    let first = first_429.expect("a 429 at all");
    assert!(first <= 20, "first 429 at guess {first}");
    assert_eq!(refused, 300 - 15, "every guess after the 15th free one waits");
    // Another address is not touched, and the Owner's right password still works there.
    assert_eq!(login_from(&t.http_behind_proxy(), "198.51.100.20", "x@acme.test", "y").await.status, 401);
    assert_eq!(login_from(&t.http_behind_proxy(), "198.51.100.20", OWNER, PASSWORD).await.status, 200);
}

async fn sec_44_a_source_budget_covers_an_ipv6_64_and_is_forgotten_after_an_hour(db: TestDb) {
    let t = TestApp::new(db).await;
    t.account("acme").await;
    let http = t.http_behind_proxy();
    for i in 0..15 {
        // A new host of the same /64 for every guess: one subscriber's prefix.
        let ip = format!("2001:db8:5:6::{:x}", i + 1);
        assert_eq!(login_from(&http, &ip, &format!("p{i}@acme.test"), "x").await.status, 401);
    }
    let same_prefix = login_from(&http, "2001:db8:5:6:ffff::1", "q@acme.test", "x").await;
    assert_eq!(same_prefix.status, 429);
    assert_eq!(same_prefix.header("retry-after").as_deref(), Some("60"));
    assert_eq!(login_from(&http, "2001:db8:5:7::1", "q@acme.test", "x").await.status, 401, "another /64");
    // After the wait, one more guess; the next wait doubles.
    t.clock.advance(60);
    assert_eq!(login_from(&http, "2001:db8:5:6::1", "q@acme.test", "x").await.status, 401);
    let doubled = login_from(&http, "2001:db8:5:6::1", "q@acme.test", "x").await;
    assert_eq!(doubled.header("retry-after").as_deref(), Some("120"));
    t.clock.advance(3599);
    assert_eq!(login_from(&http, "2001:db8:5:6::2", "r@acme.test", "x").await.status, 401, "the 120 s passed");
    t.clock.advance(3599);
    let still = login_from(&http, "2001:db8:5:6::2", "r@acme.test", "x").await;
    assert_eq!(still.status, 401, "the 240 s passed: {}", still.text());
    assert_eq!(login_from(&http, "2001:db8:5:6::2", "r@acme.test", "x").await.status, 429, "no forgetting yet");
    t.clock.advance(3600);
    let r = login_from(&http, "2001:db8:5:6::1", "r@acme.test", "x").await;
    assert_eq!(r.status, 401, "an hour without a failure: the count starts again");
    for i in 0..14 {
        login_from(&http, "2001:db8:5:6::1", &format!("s{i}@acme.test"), "x").await;
    }
    assert_eq!(login_from(&http, "2001:db8:5:6::1", "t@acme.test", "x").await.status, 429, "a fresh 15");
}

async fn sec_44_two_instances_share_the_budgets(db: TestDb) {
    let t = TestApp::new(db).await;
    t.account("acme").await;
    let (a, b) = (t.http_behind_proxy(), Http::new(t.second_instance_behind_proxy().await));
    // A sprayer alternating between two instances: the source's 15 free failures are
    // counted once, in the database, not 15 on each.
    for i in 0..15 {
        let instance = if i % 2 == 0 { &a } else { &b };
        assert_eq!(login_from(instance, "203.0.113.9", &format!("p{i}@acme.test"), "x").await.status, 401);
    }
    assert_eq!(login_from(&a, "203.0.113.9", "q@acme.test", "x").await.status, 429);
    assert_eq!(login_from(&b, "203.0.113.9", "q@acme.test", "x").await.status, 429);
    // A browser known on one instance is known on the other (the token is signed by the
    // shared keyring, not remembered in memory).
    let laptop = t.http_behind_proxy();
    assert_eq!(login_from(&laptop, "198.51.100.10", OWNER, PASSWORD).await.status, 200);
    for i in 0..6 {
        login_from(&b, "198.51.100.66", OWNER, &format!("guess {i}")).await;
    }
    let known = laptop.cookie("twofold_browser").unwrap();
    let other = Http::new(t.second_instance_behind_proxy().await);
    other.set_cookie("twofold_browser", &known);
    assert_eq!(login_from(&other, "198.51.100.10", OWNER, PASSWORD).await.status, 200);
}

/// The attack as it was tried: the real binary on loopback, one client, 300 emails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sec_44_one_address_over_300_emails_meets_429_within_20_guesses_on_loopback() {
    let server = Server::start(&[], &[]).await;
    create_account(&server).await;
    let client = crate::support::client(false);
    let mut statuses = Vec::new();
    for i in 0..300 {
        let body = json!({ "email": format!("person{i}@acme.test"), "password": "Winter2026!" });
        let r = client.post(format!("{}/api/v1/login", server.base)).json(&body).send().await.unwrap();
        if r.status() == 429 {
            assert!(r.headers().get("retry-after").is_some());
        }
        statuses.push(r.status().as_u16());
    }
    let first = statuses.iter().position(|s| *s == 429).map(|i| i + 1);
    assert!(first.is_some_and(|n| n <= 20), "first 429 at {first:?}");
    assert!(statuses.iter().all(|s| *s == 401 || *s == 429), "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 285);
}

async fn sec_47_forty_wrong_passwords_at_once_for_one_email_on_two_instances_check_at_most_five(db: TestDb) {
    let t = TestApp::new(db).await;
    t.account("acme").await;
    let statuses = at_once(&t, 40, "203.0.113.50", |_| OWNER.to_owned(), |i| format!("guess {i}")).await;
    let checked = checked(&statuses);
    assert!((1..=5).contains(&checked), "{checked} of 40 checked: {statuses:?}");
    assert_eq!(t.details_of("sign_in.failed").await.len(), checked, "each check counted once");
    // The budget still holds afterwards, for the right password too.
    assert_eq!(login_from(&t.http_behind_proxy(), "198.51.100.1", OWNER, PASSWORD).await.status, 429);
}

async fn sec_47_forty_wrong_passwords_at_once_over_forty_emails_from_one_address_check_at_most_fifteen(db: TestDb) {
    let t = TestApp::new(db).await;
    t.account("acme").await;
    let statuses =
        at_once(&t, 40, "203.0.113.60", |i| format!("person{i}@acme.test"), |_| "Winter2026!".to_owned()).await;
    let checked = checked(&statuses);
    assert!((1..=15).contains(&checked), "{checked} of 40 checked: {statuses:?}");
    // Another address is not slowed down.
    assert_eq!(login_from(&t.http_behind_proxy(), "198.51.100.2", OWNER, PASSWORD).await.status, 200);
}

async fn sec_47_forty_wrong_password_proofs_at_once_check_at_most_five(db: TestDb) {
    let t = TestApp::new(db).await;
    t.account("acme").await;
    let http = std::sync::Arc::new(t.signed_in(OWNER).await);
    let mut proofs = tokio::task::JoinSet::new();
    for i in 0..40 {
        let http = http.clone();
        proofs.spawn(async move {
            let body = json!({ "password": format!("guess {i}") });
            http.post_json("/api/v1/me/two-factor/recovery-codes", &body).await.status
        });
    }
    let statuses = proofs.join_all().await;
    let checked = checked(&statuses);
    assert!((1..=5).contains(&checked), "{checked} of 40 checked: {statuses:?}");
}

async fn sec_47_two_hundred_wrong_codes_at_once_check_at_most_five(db: TestDb) {
    let t = TestApp::new(db).await;
    t.account("acme").await;
    let enrol = t.signed_in(OWNER).await;
    let secret = t.enable_two_factor(&enrol).await;
    let pending = t.password_step(OWNER, false).await;
    let cookie = pending.cookie("twofold_session").unwrap();
    let csrf = pending.csrf();
    let right = t.code(&secret, 0);
    let instances = [std::sync::Arc::new(pending), std::sync::Arc::new(Http::new(t.second_instance().await))];
    instances[1].set_cookie("twofold_session", &cookie);
    instances[1].set_csrf(&csrf);
    let mut guesses = tokio::task::JoinSet::new();
    for i in 0..200 {
        let http = instances[i % 2].clone();
        let code = if right == "000000" { "111111".to_owned() } else { "000000".to_owned() };
        guesses.spawn(async move { http.post_json("/api/v1/login/totp", &json!({ "code": code })).await.status });
    }
    let statuses = guesses.join_all().await;
    let checked = checked(&statuses);
    assert!((1..=5).contains(&checked), "{checked} of 200 checked: {statuses:?}");
}
