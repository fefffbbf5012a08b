//! SMS: phone numbers, codes, send limits, the outbox under provider outages, notices.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use serde_json::json;
use twofold_app::domain::Role;
use twofold_app::outbox::OutboxWorker;

use crate::support::sms::code_in;
use crate::support::{Http, PASSWORD, PHONE, TestApp, TestDb};

on_both_databases!(
    sec_11_numbers_are_validated_and_shown_masked,
    sec_12_codes_are_stored_as_keyed_hashes_and_expire,
    sec_13_codes_are_bound_to_purpose_and_request,
    sec_14_after_resend_the_previous_code_fails,
    sec_15_sends_are_limited_per_person_and_per_number,
    sec_16_changing_the_number_needs_the_password_and_tells_the_old_one,
    sec_18_an_outage_loses_nothing_and_sends_nothing_twice,
    sec_18_two_workers_never_send_one_message_twice,
    sec_18_a_crashed_worker_lease_expires_and_the_message_is_sent,
    sec_18_permanent_failures_and_old_messages_are_given_up_with_a_reason,
    sec_18_notices_carry_no_code_and_no_link,
    wrong_codes_are_limited_per_code,
);

/// Signs in as the owner and walks the wizard to Step 4.
async fn at_step_four(t: &TestApp) -> Http {
    let http = t.signed_in("owner@acme.test").await;
    let r = http.post_json("/api/v1/me/two-factor/enrollment", &json!({})).await;
    let secret = twofold_app::domain::otp::Secret::from_base32(r.json()["secret"].as_str().unwrap()).unwrap();
    let r = http.post_json("/api/v1/me/two-factor/enrollment/code", &json!({ "code": t.code(&secret, 0) })).await;
    assert_eq!(r.status, 200);
    http
}

async fn sec_11_numbers_are_validated_and_shown_masked(db: TestDb) {
    let t = TestApp::new(db).await;
    t.account("acme").await;
    let http = at_step_four(&t).await;
    let long = "9".repeat(10_000);
    for bad in ["0851234567", "+353 85 CALL ME", "+1 415", "+1234567890123456789", "+44 909 876 5432", "", &long] {
        let r = http.post_json("/api/v1/me/two-factor/enrollment/phone", &json!({ "phone": bad })).await;
        assert_eq!((r.status, r.error_code().as_str()), (422, "invalid_phone"), "{bad:.20}: {}", r.text());
    }
    assert!(t.sms.sent().is_empty() && t.deliver_sms().await.handled() == 0, "nothing was queued");
    let r = http.post_json("/api/v1/me/two-factor/enrollment/phone", &json!({ "phone": "+353 (85) 123-4567" })).await;
    assert_eq!(r.status, 202);
    assert_eq!(r.json()["sent_to"], "+•• ••• ••• 67");
    assert_eq!(r.json()["resend_after_seconds"], 60);
    let code = t.sms_code_to(PHONE).await;
    http.post_json("/api/v1/me/two-factor/enrollment/phone/verify", &json!({ "code": code })).await;
    let me = http.get("/api/v1/me").await.json();
    assert_eq!(me["two_factor"]["phone"], "+•• ••• ••• 67");
    let mut conn = t.app.store().conn().await.unwrap();
    let stored: String = sqlx::query_scalar("SELECT e164 FROM phone_numbers").fetch_one(&mut *conn).await.unwrap();
    assert_eq!(stored, PHONE, "stored in E.164");
}

async fn sec_12_codes_are_stored_as_keyed_hashes_and_expire(db: TestDb) {
    let t = TestApp::new(db).await;
    t.account("acme").await;
    let http = at_step_four(&t).await;
    http.post_json("/api/v1/me/two-factor/enrollment/phone", &json!({ "phone": PHONE })).await;
    let mut conn = t.app.store().conn().await.unwrap();
    let queued: Vec<u8> =
        sqlx::query_scalar("SELECT body_box FROM outbox WHERE channel = 'sms'").fetch_one(&mut *conn).await.unwrap();
    let code = t.sms_code_to(PHONE).await;
    assert_eq!(code.len(), 6);
    assert!(!contains(&queued, code.as_bytes()), "the queued body is sealed");
    let mac: String = sqlx::query_scalar("SELECT code_mac FROM sms_challenges").fetch_one(&mut *conn).await.unwrap();
    assert!(!mac.contains(&code));
    let sent: Vec<u8> =
        sqlx::query_scalar("SELECT body_box FROM outbox WHERE channel = 'sms'").fetch_one(&mut *conn).await.unwrap();
    assert!(sent.is_empty(), "the body is wiped once sent");
    drop(conn);
    t.clock.advance(600);
    let r = http.post_json("/api/v1/me/two-factor/enrollment/phone/verify", &json!({ "code": code })).await;
    assert_eq!((r.status, r.error_code().as_str()), (401, "invalid_code"), "expired after 10 minutes");
    http.post_json("/api/v1/me/two-factor/enrollment/phone", &json!({ "phone": PHONE })).await;
    let fresh = t.sms_code_to(PHONE).await;
    let ok = http.post_json("/api/v1/me/two-factor/enrollment/phone/verify", &json!({ "code": fresh })).await;
    assert_eq!(ok.status, 200, "{}", ok.text());
    let again = http.post_json("/api/v1/me/two-factor/enrollment/phone/verify", &json!({ "code": fresh })).await;
    assert_ne!(again.status, 200, "single use");
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

async fn sec_13_codes_are_bound_to_purpose_and_request(db: TestDb) {
    let t = TestApp::new(db).await;
    t.account("acme").await;
    let http = t.signed_in("owner@acme.test").await;
    let secret = t.enable_two_factor(&http).await;
    // A phone-change code sent to a new number…
    let r = http.post_json("/api/v1/me/phone", &json!({ "password": PASSWORD, "phone": "+447400123456" })).await;
    assert_eq!(r.status, 202, "{}", r.text());
    let change_code = t.sms_code_to("+447400123456").await;
    // …does not work from another session (another request).
    let other = t.signed_in_with_code("owner@acme.test", &secret).await;
    let r = other.post_json("/api/v1/me/phone/verify", &json!({ "code": change_code })).await;
    assert_eq!(r.status, 401, "bound to the request that asked for it");
    // An enrolment code does not work for a phone change, and the reverse.
    let user = t.person(&t.user("owner@acme.test").await, "user@acme.test", Role::User).await;
    let u = t.signed_in(&user.email).await;
    let r = u.post_json("/api/v1/me/two-factor/enrollment", &json!({})).await;
    let secret = twofold_app::domain::otp::Secret::from_base32(r.json()["secret"].as_str().unwrap()).unwrap();
    u.post_json("/api/v1/me/two-factor/enrollment/code", &json!({ "code": t.code(&secret, 0) })).await;
    u.post_json("/api/v1/me/two-factor/enrollment/phone", &json!({ "phone": "+447400123457" })).await;
    let enrol_code = t.sms_code_to("+447400123457").await;
    let r = u.post_json("/api/v1/me/phone/verify", &json!({ "code": enrol_code })).await;
    assert_eq!(r.status, 401, "a phone-verification code is not a phone-change code");
    let r = http.post_json("/api/v1/me/phone/verify", &json!({ "code": change_code })).await;
    assert_eq!(r.status, 200, "and it still works where it belongs: {}", r.text());
}

async fn sec_14_after_resend_the_previous_code_fails(db: TestDb) {
    let t = TestApp::new(db).await;
    t.account("acme").await;
    let http = at_step_four(&t).await;
    http.post_json("/api/v1/me/two-factor/enrollment/phone", &json!({ "phone": PHONE })).await;
    let first = t.sms_code_to(PHONE).await;
    t.clock.advance(60);
    let r = http.post_json("/api/v1/me/two-factor/enrollment/phone", &json!({ "phone": PHONE })).await;
    assert_eq!(r.status, 202, "Resend after the cooldown");
    let second = t.sms_code_to(PHONE).await;
    if first != second {
        let r = http.post_json("/api/v1/me/two-factor/enrollment/phone/verify", &json!({ "code": first })).await;
        assert_eq!(r.status, 401, "the previous code is void");
    }
    let r = http.post_json("/api/v1/me/two-factor/enrollment/phone/verify", &json!({ "code": second })).await;
    assert_eq!(r.status, 200);
}

async fn sec_15_sends_are_limited_per_person_and_per_number(db: TestDb) {
    let t = TestApp::new(db).await;
    let o = t.account("acme").await;
    let http = at_step_four(&t).await;
    let send =
        async |phone: &str| http.post_json("/api/v1/me/two-factor/enrollment/phone", &json!({ "phone": phone })).await;
    assert_eq!(send(PHONE).await.status, 202);
    let r = send(PHONE).await;
    assert_eq!(r.status, 429, "cooldown");
    assert_eq!(r.json()["error"]["retry_after_seconds"], 60);
    assert_eq!(r.header("retry-after").as_deref(), Some("60"));
    assert_eq!(send("+447400123456").await.status, 429, "the cooldown is per person too");
    for _ in 0..4 {
        t.clock.advance(60);
        assert_eq!(send(PHONE).await.status, 202);
    }
    t.clock.advance(60);
    let r = send(PHONE).await;
    assert_eq!(r.status, 429, "five an hour");
    let wait = r.json()["error"]["retry_after_seconds"].as_i64().unwrap();
    assert!((3000..=3600).contains(&wait), "{wait}");
    assert_eq!(t.deliver_sms().await.sent, 5, "refused sends queued nothing");
    // Another person cannot flood the same number either.
    let other = t.person(&o, "user@acme.test", Role::User).await;
    let u = t.signed_in(&other.email).await;
    let r = u.post_json("/api/v1/me/two-factor/enrollment", &json!({})).await;
    let secret = twofold_app::domain::otp::Secret::from_base32(r.json()["secret"].as_str().unwrap()).unwrap();
    u.post_json("/api/v1/me/two-factor/enrollment/code", &json!({ "code": t.code(&secret, 0) })).await;
    let r = u.post_json("/api/v1/me/two-factor/enrollment/phone", &json!({ "phone": PHONE })).await;
    assert_eq!(r.status, 429, "the number's own hourly cap");
    let events: Vec<String> = t.events(o.account_id).await.into_iter().map(|e| e.0).collect();
    assert!(events.iter().any(|e| e == "sms.send_refused"));
}

async fn sec_16_changing_the_number_needs_the_password_and_tells_the_old_one(db: TestDb) {
    let t = TestApp::new(db).await;
    let o = t.account("acme").await;
    let http = t.signed_in("owner@acme.test").await;
    t.enable_two_factor(&http).await;
    let r =
        http.post_json("/api/v1/me/phone", &json!({ "password": "not my password", "phone": "+447400123456" })).await;
    assert_eq!((r.status, r.error_code().as_str()), (401, "invalid_credentials"));
    let r = http.post_json("/api/v1/me/phone", &json!({ "password": PASSWORD, "phone": PHONE })).await;
    assert_eq!(r.status, 409, "the same number");
    let r = http.post_json("/api/v1/me/phone", &json!({ "password": PASSWORD, "phone": "+447400123456" })).await;
    assert_eq!(r.status, 202);
    assert_eq!(
        http.get("/api/v1/me").await.json()["two_factor"]["phone"],
        "+•• ••• ••• 67",
        "unchanged until verified"
    );
    let code = t.sms_code_to("+447400123456").await;
    let r = http.post_json("/api/v1/me/phone/verify", &json!({ "code": code })).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["phone"], "+•• ••• ••• 56");
    t.deliver_sms().await;
    let notice = t.sms.sent().into_iter().rev().find(|m| m.to == PHONE && m.body.contains("number")).unwrap();
    assert!(notice.body.contains("mobile number on your account was changed"), "{}", notice.body);
    let events: Vec<String> = t.events(o.account_id).await.into_iter().map(|e| e.0).collect();
    assert!(events.contains(&"phone.change_refused".to_string()) && events.contains(&"phone.changed".to_string()));
}

/// Queues one code per person for `n` people and answers their numbers.
async fn queue_codes(t: &TestApp, n: usize) -> Vec<String> {
    let owner = t.account("acme").await;
    let mut people = Vec::new();
    for i in 0..n {
        people.push(t.person(&owner, &format!("p{i}@acme.test"), Role::User).await);
    }
    // The invitations' emails go first: what follows counts SMS only.
    t.deliver_all().await;
    let mut numbers = Vec::new();
    for (i, person) in people.iter().enumerate() {
        let http = t.signed_in(&person.email).await;
        let r = http.post_json("/api/v1/me/two-factor/enrollment", &json!({})).await;
        let secret = twofold_app::domain::otp::Secret::from_base32(r.json()["secret"].as_str().unwrap()).unwrap();
        http.post_json("/api/v1/me/two-factor/enrollment/code", &json!({ "code": t.code(&secret, 0) })).await;
        let phone = format!("+4474001234{i:02}");
        let r = http.post_json("/api/v1/me/two-factor/enrollment/phone", &json!({ "phone": phone })).await;
        assert_eq!(r.status, 202, "{}", r.text());
        numbers.push(phone);
    }
    numbers
}

async fn sec_18_an_outage_loses_nothing_and_sends_nothing_twice(db: TestDb) {
    let t = TestApp::new(db).await;
    let numbers = queue_codes(&t, 6).await;
    t.sms.down.store(true, Ordering::SeqCst);
    // The provider answers 503 for a minute; the worker keeps trying with backoff.
    for _ in 0..12 {
        let pass = t.deliver_sms().await;
        assert_eq!(pass.sent, 0);
        t.clock.advance(5);
    }
    assert!(t.sms.calls.load(Ordering::SeqCst) >= 12, "it kept trying");
    t.sms.down.store(false, Ordering::SeqCst);
    for _ in 0..20 {
        t.clock.advance(60);
        t.deliver_sms().await;
    }
    let sent = t.sms.sent();
    let mut ids: Vec<i64> = sent.iter().map(|m| m.id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), sent.len(), "nothing sent twice");
    for number in numbers {
        assert_eq!(sent.iter().filter(|m| m.to == number).count(), 1, "{number} got its code once");
    }
    let mut conn = t.app.store().conn().await.unwrap();
    let (counts, _) = t.app.outbox_summary(10).await.unwrap();
    assert_eq!(counts, vec![("email".to_string(), "sent".to_string(), 6), ("sms".to_string(), "sent".to_string(), 6)]);
    let errors: Vec<Option<String>> =
        sqlx::query_scalar("SELECT last_error FROM outbox").fetch_all(&mut *conn).await.unwrap();
    assert!(errors.iter().all(Option::is_none), "a success clears the last error");
}

async fn sec_18_two_workers_never_send_one_message_twice(db: TestDb) {
    let t = TestApp::new(db).await;
    queue_codes(&t, 10).await;
    let a = OutboxWorker::new(t.app.clone(), t.channels());
    let b = OutboxWorker::new(t.app.clone(), t.channels());
    let (pa, pb) = tokio::join!(a.run_once(), b.run_once());
    let (pa, pb) = (pa.unwrap(), pb.unwrap());
    assert_eq!(pa.sent + pb.sent, 10, "{pa:?} {pb:?}");
    assert_eq!(t.sms.sent().len(), 10);
}

async fn sec_18_a_crashed_worker_lease_expires_and_the_message_is_sent(db: TestDb) {
    let t = TestApp::new(db).await;
    queue_codes(&t, 1).await;
    let mut conn = t.app.store().conn().await.unwrap();
    let now = twofold_app::domain::Clock::now(&*t.clock);
    let id = twofold_store::outbox::due(&mut conn, now, 10, twofold_store::outbox::Lane::Messages).await.unwrap()[0];
    // A worker claims the row and dies before sending.
    assert!(twofold_store::outbox::claim(&mut conn, id, "dead-worker", now, 60).await.unwrap().is_some());
    assert_eq!(t.deliver_sms().await.handled(), 0, "leased to someone else");
    t.clock.advance(61);
    assert_eq!(t.deliver_sms().await.sent, 1, "sent once the lease expired");
    let row = twofold_store::outbox::get(&mut conn, id).await.unwrap().unwrap();
    assert_eq!((row.status.as_str(), row.attempts), ("sent", 2));
}

async fn sec_18_permanent_failures_and_old_messages_are_given_up_with_a_reason(db: TestDb) {
    let t = TestApp::new(db).await;
    queue_codes(&t, 1).await;
    // A provider that refuses the number for good.
    struct Refuses;
    impl twofold_channels::sms::SmsProvider for Refuses {
        fn name(&self) -> &'static str {
            "refuses"
        }
        fn send<'a>(&'a self, _: &'a twofold_channels::sms::OutgoingSms) -> twofold_channels::SendFuture<'a> {
            Box::pin(async {
                Err(twofold_channels::SendError::Permanent { reason: "21211 invalid 'To' number".into() })
            })
        }
    }
    let channels = twofold_app::outbox::Channels { sms: Arc::new(Refuses), ..t.channels() };
    let pass = OutboxWorker::new(t.app.clone(), channels).run_once().await.unwrap();
    assert_eq!(pass.failed, 1);
    let (_, rows) = t.app.outbox_summary(10).await.unwrap();
    assert_eq!(rows[0].status, "failed");
    assert!(rows[0].last_error.as_deref().unwrap().contains("invalid 'To' number"));
    // A message the provider keeps refusing for a day is given up too.
    let numbers = queue_codes_again(&t).await;
    t.sms.down.store(true, Ordering::SeqCst);
    t.deliver_sms().await;
    t.clock.advance(24 * 3600);
    let pass = t.deliver_sms().await;
    assert_eq!(pass.failed, 1, "{pass:?}");
    let (_, rows) = t.app.outbox_summary(10).await.unwrap();
    let row = rows.iter().find(|r| r.recipient == numbers).unwrap();
    assert!(row.last_error.as_deref().unwrap().starts_with("gave up after"), "{row:?}");
}

async fn queue_codes_again(t: &TestApp) -> String {
    let owner = t.user("owner@acme.test").await;
    let person = t.person(&owner, "late@acme.test", Role::User).await;
    let http = t.signed_in(&person.email).await;
    let r = http.post_json("/api/v1/me/two-factor/enrollment", &json!({})).await;
    let secret = twofold_app::domain::otp::Secret::from_base32(r.json()["secret"].as_str().unwrap()).unwrap();
    http.post_json("/api/v1/me/two-factor/enrollment/code", &json!({ "code": t.code(&secret, 0) })).await;
    http.post_json("/api/v1/me/two-factor/enrollment/phone", &json!({ "phone": "+447400123499" })).await;
    "+447400123499".into()
}

async fn sec_18_notices_carry_no_code_and_no_link(db: TestDb) {
    let t = TestApp::new(db).await;
    t.account("acme").await;
    let http = t.signed_in("owner@acme.test").await;
    t.enable_two_factor(&http).await;
    let body = json!({ "password": PASSWORD }).to_string();
    let r = http
        .send(axum::http::Method::DELETE, "/api/v1/me/two-factor", Some("application/json"), body.into(), &[])
        .await;
    assert_eq!(r.status, 204);
    t.deliver_sms().await;
    let sent = t.sms.sent();
    let notice = sent.iter().find(|m| m.body.contains("turned off")).unwrap_or_else(|| panic!("{sent:?}")).clone();
    assert_eq!(notice.to, PHONE);
    assert!(notice.body.contains("two-factor authentication was turned off"), "{}", notice.body);
    assert!(code_in(&notice.body).is_none() && !notice.body.contains("http"), "{}", notice.body);
    assert_eq!(
        http.get("/api/v1/me").await.json()["two_factor"]["phone"],
        serde_json::Value::Null,
        "the number goes with 2FA"
    );
}

async fn wrong_codes_are_limited_per_code(db: TestDb) {
    let t = TestApp::new(db).await;
    t.account("acme").await;
    let http = at_step_four(&t).await;
    http.post_json("/api/v1/me/two-factor/enrollment/phone", &json!({ "phone": PHONE })).await;
    let code = t.sms_code_to(PHONE).await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for _ in 0..5 {
        let r = http.post_json("/api/v1/me/two-factor/enrollment/phone/verify", &json!({ "code": wrong })).await;
        assert_eq!(r.status, 401);
    }
    // The attempt pipeline (SEC-34) now also makes the sixth try wait 30 s; after the
    // wait, the right code is still refused: five wrong tries voided it.
    t.clock.advance(31);
    let r = http.post_json("/api/v1/me/two-factor/enrollment/phone/verify", &json!({ "code": code })).await;
    assert_eq!(r.status, 401, "five wrong tries void the code");
    let r = http.post_json("/api/v1/me/two-factor/enrollment/phone/verify", &json!({ "code": "12ab56" })).await;
    assert_eq!(r.status, 422);
}

/// The real webhook provider against a local receiver that answers 503 for a minute, then
/// recovers: every message arrives once, signed (SEC-18).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sec_18_webhook_outage_then_recovery_delivers_each_message_once() {
    use axum::extract::State;
    use axum::http::{HeaderMap, StatusCode};
    use std::sync::Mutex;
    use std::sync::atomic::AtomicBool;

    #[derive(Clone, Default)]
    struct Receiver {
        down: Arc<AtomicBool>,
        got: Arc<Mutex<Vec<(i64, bool)>>>,
    }
    async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: axum::body::Bytes) -> StatusCode {
        if r.down.load(Ordering::SeqCst) {
            return StatusCode::SERVICE_UNAVAILABLE;
        }
        let timestamp: i64 = headers["x-twofold-timestamp"].to_str().unwrap().parse().unwrap();
        let signed = twofold_channels::sms::webhook_signature(b"receiver secret", timestamp, &body)
            == headers["x-twofold-signature"];
        let id = serde_json::from_slice::<serde_json::Value>(&body).unwrap()["id"].as_i64().unwrap();
        r.got.lock().unwrap().push((id, signed));
        StatusCode::OK
    }
    let receiver = Receiver::default();
    receiver.down.store(true, Ordering::SeqCst);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/sms", listener.local_addr().unwrap());
    let app = axum::Router::new().route("/sms", axum::routing::post(receive)).with_state(receiver.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let t = TestApp::new(TestDb::sqlite().await).await;
    queue_codes(&t, 8).await;
    let config = twofold_channels::sms::ProviderConfig::Webhook { url, secret: "receiver secret".into() };
    let channels =
        twofold_app::outbox::Channels { sms: twofold_channels::sms::build(&config).unwrap(), ..t.channels() };
    let worker = OutboxWorker::new(t.app.clone(), channels);
    for _ in 0..12 {
        assert_eq!(worker.run_once().await.unwrap().sent, 0);
        t.clock.advance(5);
    }
    receiver.down.store(false, Ordering::SeqCst);
    for _ in 0..20 {
        t.clock.advance(60);
        worker.run_once().await.unwrap();
    }
    let got = receiver.got.lock().unwrap().clone();
    assert_eq!(got.len(), 8, "{got:?}");
    assert!(got.iter().all(|(_, signed)| *signed), "every request is signed");
    let mut ids: Vec<i64> = got.iter().map(|(id, _)| *id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 8, "none twice");
}
