//! Connections against the real binary: slow and idle clients are cut off, the number
//! served at once is capped, an oversized body closes its connection, and a database that
//! goes away is reported fast instead of hanging requests.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::db::TestDb;
use crate::support::server::Server;
use crate::support::tcp_proxy::{Mode, TcpProxy};

const SHORT_TIMEOUTS: &[(&str, &str)] =
    &[("TWOFOLD_HTTP_HEADER_READ_TIMEOUT_SECONDS", "2"), ("TWOFOLD_HTTP_IDLE_TIMEOUT_SECONDS", "3")];

async fn connect(server: &Server) -> TcpStream {
    TcpStream::connect(server.base.trim_start_matches("http://").replace("localhost", "127.0.0.1")).await.unwrap()
}

/// Reads until the server closes the connection; answers what it sent and when it closed.
async fn until_closed(stream: &mut TcpStream, within: Duration) -> (String, Option<Instant>) {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (String::from_utf8_lossy(&seen).into_owned(), Some(Instant::now())),
            Ok(Ok(n)) => seen.extend_from_slice(&buf[..n]),
            Err(_) => return (String::from_utf8_lossy(&seen).into_owned(), None),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_header_connection_is_closed_within_the_header_timeout() {
    let server = Server::start(&[], SHORT_TIMEOUTS).await;
    let mut slow = connect(&server).await;
    let started = Instant::now();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n").await.unwrap();
    // One header byte every 300 ms: never idle, never done.
    let (mut reader, mut writer) = slow.into_split();
    let drip = tokio::spawn(async move {
        for _ in 0..40 {
            if writer.write_all(b"X").await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    });
    let mut buf = [0u8; 1024];
    let closed = tokio::time::timeout(Duration::from_secs(8), async {
        loop {
            match reader.read(&mut buf).await {
                Ok(0) | Err(_) => break Instant::now(),
                Ok(_) => {}
            }
        }
    })
    .await
    .expect("the slow client is still connected after 8 s");
    drip.abort();
    let held = closed - started;
    assert!(held >= Duration::from_millis(1900) && held < Duration::from_millis(3500), "closed after {held:?}");
    // Others were served meanwhile and still are.
    let r = crate::support::client(false).get(format!("{}/healthz", server.base)).send().await.unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_are_closed_after_the_idle_timeout_and_busy_ones_are_not() {
    let server = Server::start(&[], SHORT_TIMEOUTS).await;
    // Connected, nothing sent: idle from the start (a proxy's pre-opened connection).
    let mut silent = connect(&server).await;
    let started = Instant::now();
    let (_, closed) = until_closed(&mut silent, Duration::from_secs(8)).await;
    let held = closed.expect("an idle connection stays open") - started;
    assert!(held >= Duration::from_millis(2900) && held < Duration::from_millis(4500), "closed after {held:?}");

    // Keep-alive: two requests 2 s apart on one connection (under the idle timeout, over
    // the header timeout: the wait between requests is idle time), then silence.
    let mut kept = connect(&server).await;
    for _ in 0..2 {
        kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n").await.unwrap();
        let mut buf = [0u8; 2048];
        let n = kept.read(&mut buf).await.unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"), "served on the same connection");
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let waited_from = Instant::now() - Duration::from_secs(2);
    let (_, closed) = until_closed(&mut kept, Duration::from_secs(8)).await;
    let idle = closed.expect("closed after the idle timeout") - waited_from;
    assert!(idle < Duration::from_millis(4500), "idle for {idle:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_cap_wait_until_one_is_free() {
    let server = Server::start(&[], &[("TWOFOLD_HTTP_MAX_CONNECTIONS", "3")]).await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(connect(&server).await);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut fourth = connect(&server).await;
    fourth.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").await.unwrap();
    let (answer, _) = until_closed(&mut fourth, Duration::from_secs(1)).await;
    assert!(answer.is_empty(), "served beyond the cap: {answer}");
    drop(held.pop());
    let (answer, closed) = until_closed(&mut fourth, Duration::from_secs(5)).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(closed.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_body_is_refused_with_413_and_connection_close() {
    let server = Server::start(&[], &[]).await;
    let mut stream = connect(&server).await;
    let body = "a=".to_string() + &"x".repeat(1 << 20);
    let head = format!(
        "POST /login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let _ = stream.write_all(body.as_bytes()).await;
    let (answer, closed) = until_closed(&mut stream, Duration::from_secs(10)).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.to_ascii_lowercase().contains("\r\nconnection: close\r\n"), "{answer}");
    assert!(closed.is_some(), "and the connection is closed");
}

/// The database through a relay this test can cut; a server on it with a short acquire
/// timeout.
async fn server_behind_a_relay() -> Option<(Server, TcpProxy, TestDb)> {
    let db = TestDb::postgres().await?;
    let proxy = TcpProxy::start("127.0.0.1:5432").await;
    let url = db.url.replacen("127.0.0.1:5432", &format!("127.0.0.1:{}", proxy.port), 1);
    assert_ne!(url, db.url, "TWOFOLD_TEST_DATABASE_URL must name 127.0.0.1:5432");
    let env = [("TWOFOLD_DATABASE_URL", url.as_str()), ("TWOFOLD_DATABASE_ACQUIRE_TIMEOUT_MS", "1000")];
    let server = Server::start(&[], &env).await;
    Some((server, proxy, db))
}

/// `/readyz` and a sign-in while the database cannot be reached: how fast, what answer.
async fn outage_answers(server: &Server) -> ((u16, Duration), (u16, String, Duration)) {
    let client = crate::support::client(false);
    let started = Instant::now();
    let ready = client.get(format!("{}/readyz", server.base)).send().await.unwrap().status().as_u16();
    let ready_took = started.elapsed();
    let started = Instant::now();
    let body = serde_json::json!({ "email": "ada@acme.test", "password": "whatever it is" });
    let r = client.post(format!("{}/api/v1/login", server.base)).json(&body).send().await.unwrap();
    let status = r.status().as_u16();
    let v: serde_json::Value = r.json().await.unwrap_or_default();
    let code = v["error"]["code"].as_str().unwrap_or_default().to_owned();
    ((ready, ready_took), (status, code, started.elapsed()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_answers_503_within_a_second_with_postgresql_stopped_and_recovers() {
    let Some((server, proxy, _db)) = server_behind_a_relay().await else { return };
    for mode in [Mode::Refuse, Mode::Blackhole] {
        proxy.set(mode).await;
        let ((ready, ready_took), (status, code, login_took)) = outage_answers(&server).await;
        assert_eq!(ready, 503, "{mode:?}");
        assert!(ready_took < Duration::from_secs(1), "{mode:?}: /readyz took {ready_took:?}");
        let log = server.log();
        let tail = &log[log.len().saturating_sub(1500)..];
        assert_eq!((status, code.as_str()), (503, "database_unavailable"), "{mode:?}: {tail}");
        assert!(login_took < Duration::from_millis(2500), "{mode:?}: the sign-in took {login_took:?}");
        proxy.set(Mode::Open).await;
        let client = crate::support::client(false);
        let mut back = false;
        for _ in 0..50 {
            if client.get(format!("{}/readyz", server.base)).send().await.unwrap().status() == 200 {
                back = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(back, "{mode:?}: ready again once the database is back");
    }
}
