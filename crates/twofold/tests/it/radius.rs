//! RADIUS (SEC-53) with real clients: `radclient` (freeradius-utils) in both modes, on both
//! databases and across two instances, `pam_radius_auth` driven by `pamtester` as SSH
//! would drive it, and the attacks the BlastRADIUS guidance and RFC 2865 name.

use std::net::UdpSocket;
use std::time::Duration;

use twofold_app::RequestContext;
use twofold_app::domain::Role;
use twofold_app::domain::otp::Secret;
use twofold_app::domain::radius::packet::{Packet, encode_request, hide_password, reply_is_genuine};
use twofold_app::domain::radius::{Attribute, Code, Mode, attr};
use twofold_app::support::SupportActor;

use crate::support::radius::{RadiusServer, SECRET, add_client, have, pam_authenticate, radclient, radclient_with};
use crate::support::{PASSWORD, PHONE, TestApp, TestDb};

on_both_databases!(
    radius_challenge_mode_asks_for_the_code_and_another_instance_may_take_the_answer,
    radius_append_mode_takes_the_password_and_the_code_in_one,
    radius_a_recovery_code_answers_a_challenge_once,
    radius_under_an_sms_grant_the_challenge_sends_the_code,
    radius_one_factor_passes_only_where_allowed_and_the_policy_is_not_overdue,
    radius_an_account_scoped_client_knows_only_its_accounts_people,
    sec_53_a_request_without_message_authenticator_is_dropped_unless_the_client_is_legacy,
    sec_53_a_wrong_shared_secret_or_an_unknown_source_gets_no_answer,
    sec_53_a_state_is_single_use_and_short_lived,
    sec_53_a_totp_code_is_accepted_once_across_radius_and_the_web,
    sec_53_thirty_wrong_passwords_at_once_check_at_most_the_budget,
    sec_53_a_retransmission_is_answered_again_but_checked_once,
    sec_53_every_reject_looks_the_same_and_nothing_secret_is_logged,
    radius_ssh_through_pam_radius_auth_and_pamtester,
    sec_53_one_station_guessing_does_not_stall_the_gateways_other_users,
    radius_is_served_over_ipv6,
    radius_append_mode_leaves_the_digits_of_a_one_factor_password_alone,
    sec_53_a_deactivated_person_is_refused_like_a_wrong_password,
);

const OWNER: &str = "owner@acme.test";

/// An account whose Owner has 2FA on; answers the key.
async fn owner_with_two_factor(t: &TestApp) -> Secret {
    t.account("acme").await;
    t.enable_two_factor(&t.signed_in(OWNER).await).await
}

fn request(user: &str, password: &str) -> String {
    format!("User-Name = \"{user}\"\nUser-Password = \"{password}\"\nMessage-Authenticator = 0x00\n")
}

fn answer(user: &str, code: &str, state: &str) -> String {
    format!("{}State = {state}\n", request(user, code))
}

async fn radius_challenge_mode_asks_for_the_code_and_another_instance_may_take_the_answer(db: TestDb) {
    if !have("radclient") {
        return;
    }
    let t = TestApp::new(db).await;
    let secret = owner_with_two_factor(&t).await;
    add_client(&t.app, "vpn", "127.0.0.1", Mode::Challenge, |_| {}).await;
    let (one, other) = (RadiusServer::start(&t.app).await, RadiusServer::start(&t.second_app().await).await);

    let challenge = radclient(one.port, SECRET, &request(OWNER, PASSWORD)).await;
    assert_eq!(challenge.code, "Access-Challenge", "{}", challenge.output);
    assert!(challenge.get("Reply-Message").unwrap().contains("authenticator app"), "{:?}", challenge.attributes);
    assert_eq!(challenge.attributes[0].split(' ').next(), Some("Message-Authenticator"), "first (BlastRADIUS)");
    let state = challenge.get("State").unwrap();

    // The answer reaches the other instance: the challenge lives in the database.
    let accept = radclient(other.port, SECRET, &answer(OWNER, &t.code(&secret, 0), &state)).await;
    assert_eq!(accept.code, "Access-Accept", "{}", accept.output);
    assert_eq!(accept.get("Reply-Message").as_deref(), Some("Welcome, Olive Owner."));
    assert!(accept.get("Class").is_some());

    let succeeded = t.details_of("sign_in.succeeded").await;
    let last = succeeded.last().unwrap();
    assert_eq!((last["method"].as_str(), last["via"].as_str()), (Some("totp"), Some("radius")));
    assert_eq!(last["radius_client"], "vpn", "the audit names the client");
    let password_ok = t.details_of("sign_in.password_ok").await;
    assert_eq!(password_ok.last().unwrap()["radius_client"], "vpn");
}

async fn radius_append_mode_takes_the_password_and_the_code_in_one(db: TestDb) {
    if !have("radclient") {
        return;
    }
    let t = TestApp::new(db).await;
    let secret = owner_with_two_factor(&t).await;
    add_client(&t.app, "vpn", "127.0.0.1", Mode::Append, |_| {}).await;
    let server = RadiusServer::start(&t.app).await;
    let accept = radclient(server.port, SECRET, &request(OWNER, &format!("{PASSWORD}{}", t.code(&secret, 0)))).await;
    assert_eq!(accept.code, "Access-Accept", "{}", accept.output);
    t.clock.advance(30);
    let wrong = t.code(&secret, 3);
    let reject = radclient(server.port, SECRET, &request(OWNER, &format!("{PASSWORD}{wrong}"))).await;
    assert_eq!(reject.code, "Access-Reject");
    let rejected = t.details_of("sign_in.totp_rejected").await;
    assert_eq!(rejected.len(), 1, "the wrong code went through the second step's budget");
    assert_eq!(rejected[0]["radius_client"], "vpn");
    // The password alone is not enough where a second factor exists.
    let alone = radclient(server.port, SECRET, &request(OWNER, PASSWORD)).await;
    assert_eq!(alone.code, "Access-Reject");
    assert_eq!(t.details_of("radius.refused").await.last().unwrap()["reason"], "code_missing");
}

async fn radius_a_recovery_code_answers_a_challenge_once(db: TestDb) {
    if !have("radclient") {
        return;
    }
    let t = TestApp::new(db).await;
    t.account("acme").await;
    let (_, codes) = t.enable_two_factor_with_codes(&t.signed_in(OWNER).await, PHONE).await;
    add_client(&t.app, "vpn", "127.0.0.1", Mode::Challenge, |_| {}).await;
    let server = RadiusServer::start(&t.app).await;
    for expected in ["Access-Accept", "Access-Reject"] {
        let state = radclient(server.port, SECRET, &request(OWNER, PASSWORD)).await.get("State").unwrap();
        let reply = radclient(server.port, SECRET, &answer(OWNER, &codes[0], &state)).await;
        assert_eq!(reply.code, expected, "{}", reply.output);
    }
    assert_eq!(t.details_of("recovery_codes.used").await.len(), 1);
    assert_eq!(t.details_of("sign_in.succeeded").await.last().unwrap()["method"], "recovery_code");
}

async fn radius_under_an_sms_grant_the_challenge_sends_the_code(db: TestDb) {
    if !have("radclient") {
        return;
    }
    let t = TestApp::new(db).await;
    let owner = t.account("acme").await;
    let user = t.person(&owner, "pat@acme.test", Role::User).await;
    t.enable_two_factor(&t.signed_in("pat@acme.test").await).await;
    t.app
        .grant_sms_recovery(SupportActor::Cli, user.id, "TICKET-9 lost phone", None, None, &RequestContext::cli())
        .await
        .unwrap();
    t.deliver_all().await;
    t.clock.advance(120);
    add_client(&t.app, "vpn", "127.0.0.1", Mode::Challenge, |_| {}).await;
    let server = RadiusServer::start(&t.app).await;
    let challenge = radclient(server.port, SECRET, &request("pat@acme.test", PASSWORD)).await;
    assert_eq!(challenge.code, "Access-Challenge", "{}", challenge.output);
    let message = challenge.get("Reply-Message").unwrap();
    assert!(message.contains("sent by SMS") && message.contains("within 5 minutes"), "{message}");
    let code = t.sms_code_to(PHONE).await;
    let accept =
        radclient(server.port, SECRET, &answer("pat@acme.test", &code, &challenge.get("State").unwrap())).await;
    assert_eq!(accept.code, "Access-Accept", "{}", accept.output);
    assert_eq!(t.details_of("sign_in.succeeded").await.last().unwrap()["method"], "sms_recovery");
}

async fn radius_one_factor_passes_only_where_allowed_and_the_policy_is_not_overdue(db: TestDb) {
    if !have("radclient") {
        return;
    }
    let t = TestApp::new(db).await;
    t.account("acme").await;
    add_client(&t.app, "strict", "127.0.0.1", Mode::Challenge, |_| {}).await;
    let strict = RadiusServer::start(&t.app).await;
    assert_eq!(radclient(strict.port, SECRET, &request(OWNER, PASSWORD)).await.code, "Access-Reject");
    assert_eq!(t.details_of("radius.refused").await.last().unwrap()["reason"], "two_factor_required");
    t.app.remove_radius_client("strict").await.unwrap();
    add_client(&t.app, "wifi", "127.0.0.1", Mode::Challenge, |c| c.allow_one_factor = true).await;
    let accept = radclient(strict.port, SECRET, &request(OWNER, PASSWORD)).await;
    assert_eq!(accept.code, "Access-Accept", "a change takes effect at once: {}", accept.output);
    // The Owner requires 2FA with a grace period of 1 day; two days later it is overdue.
    let http = t.signed_in(OWNER).await;
    let r = http
        .put_json("/api/v1/account/policy", &serde_json::json!({ "require_two_factor": true, "grace_days": 1 }))
        .await;
    assert!(r.status < 300, "{}", r.text());
    assert_eq!(radclient(strict.port, SECRET, &request(OWNER, PASSWORD)).await.code, "Access-Accept");
    t.clock.advance(2 * 86_400);
    assert_eq!(radclient(strict.port, SECRET, &request(OWNER, PASSWORD)).await.code, "Access-Reject");
    assert_eq!(t.details_of("radius.refused").await.last().unwrap()["reason"], "two_factor_overdue");
}

async fn radius_an_account_scoped_client_knows_only_its_accounts_people(db: TestDb) {
    if !have("radclient") {
        return;
    }
    let t = TestApp::new(db).await;
    t.account("acme").await;
    t.account("globex").await;
    add_client(&t.app, "acme-wifi", "127.0.0.1", Mode::Challenge, |c| {
        c.allow_one_factor = true;
        c.owner_email = Some("owner@acme.test");
    })
    .await;
    let server = RadiusServer::start(&t.app).await;
    assert_eq!(radclient(server.port, SECRET, &request(OWNER, PASSWORD)).await.code, "Access-Accept");
    let other = radclient(server.port, SECRET, &request("owner@globex.test", PASSWORD)).await;
    assert_eq!(other.code, "Access-Reject", "another account's person with the right password");
    let failed = t.details_of("sign_in.failed").await;
    assert_eq!(failed.last().unwrap()["reason"], "unknown_email", "treated as nobody");
}

async fn sec_53_a_request_without_message_authenticator_is_dropped_unless_the_client_is_legacy(db: TestDb) {
    if !have("radclient") {
        return;
    }
    let t = TestApp::new(db).await;
    t.account("acme").await;
    add_client(&t.app, "vpn", "127.0.0.1", Mode::Challenge, |c| c.allow_one_factor = true).await;
    let server = RadiusServer::start(&t.app).await;
    let unsigned = format!("User-Name = \"{OWNER}\"\nUser-Password = \"{PASSWORD}\"\n");
    assert_eq!(radclient(server.port, SECRET, &unsigned).await.code, "none", "dropped silently");
    assert!(t.details_of("sign_in.succeeded").await.is_empty() && t.details_of("sign_in.failed").await.is_empty());
    t.app.remove_radius_client("vpn").await.unwrap();
    add_client(&t.app, "old-pam", "127.0.0.1", Mode::Challenge, |c| {
        c.allow_one_factor = true;
        c.legacy_no_message_authenticator = true;
    })
    .await;
    let reply = radclient(server.port, SECRET, &unsigned).await;
    assert_eq!(reply.code, "Access-Accept", "{}", reply.output);
    assert!(reply.get("Message-Authenticator").is_some(), "answers carry it even to legacy clients");
}

async fn sec_53_a_wrong_shared_secret_or_an_unknown_source_gets_no_answer(db: TestDb) {
    if !have("radclient") {
        return;
    }
    let t = TestApp::new(db).await;
    t.account("acme").await;
    add_client(&t.app, "vpn", "127.0.0.1", Mode::Challenge, |c| c.allow_one_factor = true).await;
    let server = RadiusServer::start(&t.app).await;
    let wrong = radclient(server.port, "another secret of 16+ chars", &request(OWNER, PASSWORD)).await;
    assert_eq!(wrong.code, "none", "{}", wrong.output);
    t.app.remove_radius_client("vpn").await.unwrap();
    add_client(&t.app, "elsewhere", "192.0.2.0/24", Mode::Challenge, |c| c.allow_one_factor = true).await;
    assert_eq!(radclient(server.port, SECRET, &request(OWNER, PASSWORD)).await.code, "none");
    assert!(t.details_of("sign_in.failed").await.is_empty(), "nothing was checked or counted");
    assert!(t.details_of("sign_in.succeeded").await.is_empty());
}

async fn sec_53_a_state_is_single_use_and_short_lived(db: TestDb) {
    if !have("radclient") {
        return;
    }
    let t = TestApp::new(db).await;
    let secret = owner_with_two_factor(&t).await;
    add_client(&t.app, "vpn", "127.0.0.1", Mode::Challenge, |_| {}).await;
    let server = RadiusServer::start(&t.app).await;
    let state = radclient(server.port, SECRET, &request(OWNER, PASSWORD)).await.get("State").unwrap();
    let accept = radclient(server.port, SECRET, &answer(OWNER, &t.code(&secret, 0), &state)).await;
    assert_eq!(accept.code, "Access-Accept");
    t.clock.advance(30);
    let replayed = radclient(server.port, SECRET, &answer(OWNER, &t.code(&secret, 0), &state)).await;
    assert_eq!(replayed.code, "Access-Reject", "a State is used once, whatever its code");
    // A State older than five minutes is refused, even with a right code.
    let stale = radclient(server.port, SECRET, &request(OWNER, PASSWORD)).await.get("State").unwrap();
    t.clock.advance(301);
    let late = radclient(server.port, SECRET, &answer(OWNER, &t.code(&secret, 0), &stale)).await;
    assert_eq!(late.code, "Access-Reject");
    let forged = radclient(server.port, SECRET, &answer(OWNER, &t.code(&secret, 0), "0x41414141")).await;
    assert_eq!(forged.code, "Access-Reject");
    // A State answers for the person who gave the password: not for another name.
    let owners = radclient(server.port, SECRET, &request(OWNER, PASSWORD)).await.get("State").unwrap();
    let other = radclient(server.port, SECRET, &answer("someone@acme.test", &t.code(&secret, 0), &owners)).await;
    assert_eq!(other.code, "Access-Reject");
    let reasons: Vec<_> = t.details_of("radius.refused").await.into_iter().map(|d| d["reason"].clone()).collect();
    assert_eq!(reasons.iter().filter(|r| *r == "unknown_or_used_state").count(), 4, "{reasons:?}");
}

async fn sec_53_a_totp_code_is_accepted_once_across_radius_and_the_web(db: TestDb) {
    if !have("radclient") {
        return;
    }
    let t = TestApp::new(db).await;
    let secret = owner_with_two_factor(&t).await;
    add_client(&t.app, "vpn", "127.0.0.1", Mode::Append, |_| {}).await;
    let server = RadiusServer::start(&t.app).await;
    let code = t.code(&secret, 0);
    let first = radclient(server.port, SECRET, &request(OWNER, &format!("{PASSWORD}{code}"))).await;
    assert_eq!(first.code, "Access-Accept");
    let again = radclient(server.port, SECRET, &request(OWNER, &format!("{PASSWORD}{code}"))).await;
    assert_eq!(again.code, "Access-Reject", "the same code twice");
    let web = t.password_step(OWNER, false).await;
    let r = web.post_json("/api/v1/login/totp", &serde_json::json!({ "code": code })).await;
    assert_eq!(r.status, 401, "nor on the web after RADIUS: {}", r.text());
    let reasons: Vec<_> =
        t.details_of("sign_in.totp_rejected").await.into_iter().map(|d| d["reason"].clone()).collect();
    assert_eq!(reasons, ["replay", "replay"]);
}

async fn sec_53_thirty_wrong_passwords_at_once_check_at_most_the_budget(db: TestDb) {
    if !have("radclient") {
        return;
    }
    let t = TestApp::new(db).await;
    t.account("acme").await;
    add_client(&t.app, "vpn", "127.0.0.1", Mode::Challenge, |c| c.allow_one_factor = true).await;
    let server = RadiusServer::start(&t.app).await;
    let requests: Vec<String> = (0..30).map(|i| request(OWNER, &format!("guess number {i}"))).collect();
    let replies = radclient_with(server.port, SECRET, &requests.join("\n"), &["-p", "30", "-r", "1", "-t", "15"]).await;
    assert_eq!(replies.len(), 30);
    assert!(
        replies.iter().all(|r| r.code == "Access-Reject"),
        "{:?}",
        replies.iter().map(|r| &r.code).collect::<Vec<_>>()
    );
    let checked = t.details_of("sign_in.failed").await.len();
    assert!((1..=5).contains(&checked), "{checked} of 30 checked");
    // The email's budget is the web sign-in's: the right password waits there too.
    let r = t.http().post_json("/api/v1/login", &serde_json::json!({ "email": OWNER, "password": PASSWORD })).await;
    assert_eq!(r.status, 429, "{}", r.text());
}

/// Sends `datagram` from `socket` and answers the reply, if one comes within a second.
fn exchange(socket: &UdpSocket, datagram: &[u8]) -> Option<Vec<u8>> {
    socket.send(datagram).unwrap();
    let mut buf = [0u8; 4096];
    socket.recv(&mut buf).ok().map(|n| buf[..n].to_vec())
}

fn client_socket(port: u16) -> UdpSocket {
    client_socket_on("127.0.0.1", port)
}

fn client_socket_on(host: &str, port: u16) -> UdpSocket {
    let socket = UdpSocket::bind((host, 0)).unwrap();
    socket.connect((host, port)).unwrap();
    socket.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    socket
}

/// An Access-Request as a NAS sends it, signed with the test secret.
fn signed_request(identifier: u8, authenticator: [u8; 16], user: &str, password: &str) -> Vec<u8> {
    from_station(identifier, authenticator, user, password, None)
}

/// The same, naming the station the person connects from (`Calling-Station-Id`).
fn from_station(identifier: u8, authenticator: [u8; 16], user: &str, password: &str, station: Option<&str>) -> Vec<u8> {
    let hidden = hide_password(password.as_bytes(), SECRET.as_bytes(), &authenticator);
    let mut attributes = vec![Attribute::text(attr::USER_NAME, user), Attribute::bytes(attr::USER_PASSWORD, &hidden)];
    if let Some(station) = station {
        attributes.push(Attribute::text(attr::CALLING_STATION_ID, station));
    }
    encode_request(identifier, authenticator, &attributes, SECRET.as_bytes())
}

fn code_of(reply: &[u8]) -> Code {
    Packet::decode(reply).unwrap().code
}

async fn sec_53_a_retransmission_is_answered_again_but_checked_once(db: TestDb) {
    let t = TestApp::new(db).await;
    t.account("acme").await;
    add_client(&t.app, "vpn", "127.0.0.1", Mode::Challenge, |c| c.allow_one_factor = true).await;
    let server = RadiusServer::start(&t.app).await;
    let port = server.port;
    let (first, again, fresh) = tokio::task::spawn_blocking(move || {
        let socket = client_socket(port);
        let datagram = signed_request(42, [5; 16], OWNER, "not the password");
        let first = exchange(&socket, &datagram).unwrap();
        let again = exchange(&socket, &datagram).unwrap();
        // A new request (another authenticator) with the same identifier is checked anew.
        let fresh = exchange(&socket, &signed_request(42, [6; 16], OWNER, "not the password either")).unwrap();
        (first, again, fresh)
    })
    .await
    .unwrap();
    assert_eq!(first, again, "the retransmission gets the first answer, byte for byte");
    assert!(reply_is_genuine(&first, &[5; 16], SECRET.as_bytes()));
    assert_eq!(Packet::decode(&first).unwrap().code, Code::AccessReject);
    assert!(reply_is_genuine(&fresh, &[6; 16], SECRET.as_bytes()));
    assert_eq!(t.details_of("sign_in.failed").await.len(), 2, "two requests checked, not three");
}

async fn sec_53_every_reject_looks_the_same_and_nothing_secret_is_logged(db: TestDb) {
    let t = TestApp::new(db).await;
    let secret = owner_with_two_factor(&t).await;
    add_client(&t.app, "vpn", "127.0.0.1", Mode::Append, |_| {}).await;
    let server = RadiusServer::start(&t.app).await;
    let port = server.port;
    let wrong_code = t.code(&secret, 4);
    let cases = vec![
        ("unknown email", "nobody@acme.test".to_owned(), format!("{PASSWORD}123456")),
        ("wrong password", OWNER.to_owned(), "wrong password123456".to_owned()),
        ("wrong code", OWNER.to_owned(), format!("{PASSWORD}{wrong_code}")),
        ("no code", OWNER.to_owned(), PASSWORD.to_owned()),
    ];
    let replies = tokio::task::spawn_blocking(move || {
        let socket = client_socket(port);
        cases
            .into_iter()
            .enumerate()
            .map(|(i, (why, user, password))| {
                let id = u8::try_from(i).unwrap();
                (why, exchange(&socket, &signed_request(id, [id + 10; 16], &user, &password)).unwrap())
            })
            .collect::<Vec<_>>()
    })
    .await
    .unwrap();
    for (why, reply) in &replies {
        let packet = Packet::decode(reply).unwrap();
        assert_eq!(packet.code, Code::AccessReject, "{why}");
        let kinds: Vec<u8> = packet.attributes.iter().map(|a| a.kind).collect();
        assert_eq!(kinds, [attr::MESSAGE_AUTHENTICATOR], "{why}: nothing but the signature");
        assert_eq!(reply.len(), replies[0].1.len(), "{why}");
    }
    let mut conn = t.app.store().conn().await.unwrap();
    let q = twofold_store::audit::Query { limit: 1000, ..Default::default() };
    let all = twofold_store::audit::list(&mut conn, &q).await.unwrap();
    let text: String = all.iter().map(|r| r.detail.clone()).collect();
    assert!(!text.contains(PASSWORD) && !text.contains("wrong password") && !text.contains(&wrong_code), "{text}");
}

async fn radius_ssh_through_pam_radius_auth_and_pamtester(db: TestDb) {
    if !have("pamtester") || !std::path::Path::new("/lib/x86_64-linux-gnu/security/pam_radius_auth.so").exists() {
        crate::support::skip("RADIUS through PAM", "pam_radius_auth (libpam-radius-auth) is not installed");
        return;
    }
    let t = TestApp::new(db).await;
    let secret = owner_with_two_factor(&t).await;
    // pam_radius_auth 2.0 sends no Message-Authenticator: registered as legacy, on loopback.
    for (name, address, mode) in
        [("ssh-append", "127.0.0.2", Mode::Append), ("ssh-challenge", "127.0.0.3", Mode::Challenge)]
    {
        add_client(&t.app, name, address, mode, |c| c.legacy_no_message_authenticator = true).await;
    }
    let port = RadiusServer::start(&t.app).await;
    let run = |source: &'static str, answers: Vec<String>| {
        let port = port.port;
        tokio::task::spawn_blocking(move || {
            let answers: Vec<&str> = answers.iter().map(String::as_str).collect();
            pam_authenticate(port, source, OWNER, &answers)
        })
    };
    let (ok, out) = run("127.0.0.2", vec![format!("{PASSWORD}{}", t.code(&secret, 0))]).await.unwrap();
    assert!(ok, "password and code in one prompt: {out}");
    t.clock.advance(30);
    let (ok, out) = run("127.0.0.2", vec![format!("{PASSWORD}{}", t.code(&secret, 5))]).await.unwrap();
    assert!(!ok, "a wrong code: {out}");
    let (ok, out) = run("127.0.0.3", vec![PASSWORD.to_owned(), t.code(&secret, 0)]).await.unwrap();
    assert!(ok, "password, then the code at the challenge's prompt: {out}");
    assert!(out.contains("authenticator app"), "the challenge's message is shown: {out}");
    let clients: Vec<_> = t
        .details_of("sign_in.succeeded")
        .await
        .into_iter()
        .filter_map(|d| d["radius_client"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(clients, ["ssh-append", "ssh-challenge"]);
}

/// Runs `twofold ARGS --data-dir DIR` with `stdin`; answers (success, stdout + stderr).
fn twofold(dir: &std::path::Path, args: &[&str], stdin: &str) -> (bool, String) {
    let out = crate::support::server::cli(dir, args, stdin);
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sec_53_the_binary_serves_radius_to_clients_added_from_the_command_line() {
    if !have("radclient") {
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().to_owned();
    let create =
        ["account", "create", "--name", "Acme", "--owner-email", OWNER, "--owner-name", "Olive", "--password-stdin"];
    assert!(twofold(&dir, &create, &format!("{PASSWORD}\n")).0);
    let add = [
        "radius",
        "client",
        "add",
        "--name",
        "vpn",
        "--address",
        "127.0.0.0/8",
        "--secret-stdin",
        "--allow-one-factor",
    ];
    let (ok, out) = twofold(&dir, &add, "fifteen chars!!\n");
    assert!(!ok && out.contains("at least 16 characters"), "{out}");
    let (ok, out) = twofold(&dir, &add, &format!("{SECRET}\nthe next line is not the secret\n"));
    assert!(ok, "{out}");
    let legacy = [
        "radius",
        "client",
        "add",
        "--name",
        "old-pam",
        "--address",
        "127.0.0.9",
        "--secret-stdin",
        "--legacy-no-message-authenticator",
    ];
    let (ok, out) = twofold(&dir, &legacy, &format!("{SECRET}\n"));
    assert!(ok && out.contains("BlastRADIUS"), "{out}");
    let same_address = ["radius", "client", "add", "--name", "vpn2", "--address", "127.0.0.0/8", "--secret-stdin"];
    let (ok, out) = twofold(&dir, &same_address, &format!("{SECRET}\n"));
    assert!(!ok && out.contains("has that address"), "{out}");
    let (_, list) = twofold(&dir, &["radius", "client", "list"], "");
    assert!(list.contains("vpn\t127.0.0.0/8\tchallenge\tevery account\tallow-one-factor"), "{list}");
    assert!(!list.contains(SECRET), "never the secret: {list}");

    let radius_port = crate::support::server::free_port();
    let listen = format!("127.0.0.1:{radius_port}");
    let server = crate::support::server::Server::start_in(data, &["--radius-listen", &listen], &[]).await;
    assert!(server.log().contains("without Message-Authenticator"), "a warning for each legacy client");
    let reply = radclient(radius_port, SECRET, &request(OWNER, PASSWORD)).await;
    assert_eq!(reply.code, "Access-Accept", "{}", reply.output);
    let unsigned = format!("User-Name = \"{OWNER}\"\nUser-Password = \"{PASSWORD}\"\n");
    assert_eq!(radclient(radius_port, SECRET, &unsigned).await.code, "none");
    assert_eq!(radclient(radius_port, "a-wrong-secret-of-16+", &request(OWNER, PASSWORD)).await.code, "none");
    let metrics = crate::support::client(false).get(format!("{}/metrics", server.base)).send().await.unwrap();
    let metrics = metrics.text().await.unwrap();
    for line in [
        "twofold_radius_dropped_total{reason=\"missing_message_authenticator\"} 1",
        "twofold_radius_dropped_total{reason=\"bad_authenticator\"} 1",
        "twofold_radius_answers_total{answer=\"accept\"} 1",
    ] {
        assert!(metrics.contains(line), "{line} in {metrics}");
    }
    assert!(!server.log().contains(PASSWORD), "no password in the log");
    let (ok, _) = twofold(server.data_dir(), &["radius", "client", "remove", "vpn"], "");
    assert!(ok);
    let after = radclient(radius_port, SECRET, &request(OWNER, PASSWORD)).await;
    assert_eq!(after.code, "none", "a removed client is unknown at once");
}

async fn sec_53_one_station_guessing_does_not_stall_the_gateways_other_users(db: TestDb) {
    let t = TestApp::new(db).await;
    t.account("acme").await;
    add_client(&t.app, "vpn", "127.0.0.1", Mode::Challenge, |c| c.allow_one_factor = true).await;
    let server = RadiusServer::start(&t.app).await;
    let port = server.port;
    let codes = tokio::task::spawn_blocking(move || {
        let socket = client_socket(port);
        let mut codes = Vec::new();
        // One attacker's station sprays a password over 16 emails, one after another.
        for i in 0..16u8 {
            let request = from_station(i, [i; 16], &format!("p{i}@acme.test"), "Winter2026!", Some("198.51.100.66"));
            codes.push(code_of(&exchange(&socket, &request).unwrap()));
        }
        // The Owner, behind the same gateway, from their own station; then from the attacker's.
        let own = from_station(100, [100; 16], OWNER, PASSWORD, Some("203.0.113.10"));
        codes.push(code_of(&exchange(&socket, &own).unwrap()));
        let shared = from_station(101, [101; 16], OWNER, PASSWORD, Some("198.51.100.66"));
        codes.push(code_of(&exchange(&socket, &shared).unwrap()));
        codes
    })
    .await
    .unwrap();
    assert!(codes[..16].iter().all(|c| *c == Code::AccessReject));
    assert_eq!(t.details_of("sign_in.failed").await.len(), 15, "the station's 15 free failures, then a wait");
    assert_eq!(codes[16], Code::AccessAccept, "another station behind the same gateway signs in");
    assert_eq!(codes[17], Code::AccessReject, "the guessing station waits, even with a right password");
}

async fn radius_is_served_over_ipv6(db: TestDb) {
    let t = TestApp::new(db).await;
    t.account("acme").await;
    add_client(&t.app, "v6", "::1", Mode::Challenge, |c| c.allow_one_factor = true).await;
    let server = RadiusServer::start_on(&t.app, "[::1]:0").await;
    let port = server.port;
    let reply = tokio::task::spawn_blocking(move || {
        let socket = client_socket_on("::1", port);
        exchange(&socket, &signed_request(1, [1; 16], OWNER, PASSWORD))
    })
    .await
    .unwrap()
    .expect("an answer over IPv6");
    assert!(reply_is_genuine(&reply, &[1; 16], SECRET.as_bytes()));
    assert_eq!(code_of(&reply), Code::AccessAccept);
}

async fn radius_append_mode_leaves_the_digits_of_a_one_factor_password_alone(db: TestDb) {
    let t = TestApp::new(db).await;
    t.account("acme").await;
    let digits = "summer holidays 123456";
    let change = serde_json::json!({ "current_password": PASSWORD, "new_password": digits });
    assert_eq!(t.signed_in(OWNER).await.put_json("/api/v1/me/password", &change).await.status, 204);
    add_client(&t.app, "wifi", "127.0.0.1", Mode::Append, |c| c.allow_one_factor = true).await;
    let server = RadiusServer::start(&t.app).await;
    let port = server.port;
    let reply =
        tokio::task::spawn_blocking(move || exchange(&client_socket(port), &signed_request(1, [1; 16], OWNER, digits)))
            .await
            .unwrap()
            .unwrap();
    assert_eq!(
        code_of(&reply),
        Code::AccessAccept,
        "without 2FA nothing is appended: the six digits are the password's"
    );
}

async fn sec_53_a_deactivated_person_is_refused_like_a_wrong_password(db: TestDb) {
    let t = TestApp::new(db).await;
    let owner = t.account("acme").await;
    t.person(&owner, "pat@acme.test", Role::User).await;
    add_client(&t.app, "wifi", "127.0.0.1", Mode::Challenge, |c| c.allow_one_factor = true).await;
    let server = RadiusServer::start(&t.app).await;
    let port = server.port;
    let ask = move |id: u8| {
        tokio::task::spawn_blocking(move || {
            exchange(&client_socket(port), &signed_request(id, [id; 16], "pat@acme.test", PASSWORD))
        })
    };
    assert_eq!(code_of(&ask(1).await.unwrap().unwrap()), Code::AccessAccept);
    t.app.set_person_active_by_email("pat@acme.test", false).await.unwrap();
    let refused = ask(2).await.unwrap().unwrap();
    assert_eq!(code_of(&refused), Code::AccessReject);
    let kinds: Vec<u8> = Packet::decode(&refused).unwrap().attributes.iter().map(|a| a.kind).collect();
    assert_eq!(kinds, [attr::MESSAGE_AUTHENTICATOR], "nothing says why");
    assert_eq!(t.details_of("sign_in.failed").await.last().unwrap()["reason"], "unknown_email", "nobody, here");
}
