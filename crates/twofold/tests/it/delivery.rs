//! Delivery across a crash: the outbox's lease is what makes a message sent again when
//! the process holding it dies mid-send, and the conditional updates what makes it sent
//! only once more.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::support::PHONE;
use crate::support::api::{api_sign_in, create_account, enrol_up_to_the_phone_code};
use crate::support::server::Server;

/// One webhook request as it arrived.
#[derive(Debug, Clone)]
struct Delivery {
    at: Instant,
    idempotency_key: String,
    body: String,
}

/// An SMS webhook receiver that never answers the first request (the sender is then
/// "mid-send" for as long as it waits) and answers 200 to every later one.
async fn receiver() -> (String, Arc<Mutex<Vec<Delivery>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/sms", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(answer(stream, log.clone()));
        }
    });
    (url, seen)
}

async fn answer(mut stream: TcpStream, log: Arc<Mutex<Vec<Delivery>>>) {
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    let (head, body_len) = loop {
        let Ok(n) = stream.read(&mut buf).await else { return };
        if n == 0 {
            return;
        }
        raw.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&raw).into_owned();
        if let Some((head, _)) = text.split_once("\r\n\r\n") {
            let len = head
                .lines()
                .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_owned()))
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(0);
            break (head.to_owned(), len);
        }
    };
    while raw.len() < head.len() + 4 + body_len {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
        }
    }
    let key = head
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("idempotency-key:").map(|v| v.trim().to_owned()))
        .unwrap_or_default();
    let body = String::from_utf8_lossy(&raw[head.len() + 4..]).into_owned();
    let first = {
        let mut log = log.lock().unwrap();
        log.push(Delivery { at: Instant::now(), idempotency_key: key, body });
        log.len() == 1
    };
    if first {
        // Hold the connection: the sender waits until it dies or gives up.
        let _ = stream.read(&mut buf).await;
        return;
    }
    let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").await;
}

async fn wait_for(seen: &Mutex<Vec<Delivery>>, n: usize, within: Duration) -> Vec<Delivery> {
    let deadline = Instant::now() + within;
    loop {
        let now = seen.lock().unwrap().clone();
        if now.len() >= n || Instant::now() > deadline {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_whose_sender_is_killed_mid_send_is_sent_again_after_the_lease_exactly_once_more() {
    let (url, seen) = receiver().await;
    let lease = 20;
    let lease_text = lease.to_string();
    let env = [
        ("TWOFOLD_SMS_PROVIDER", "webhook"),
        ("TWOFOLD_SMS_WEBHOOK_URL", url.as_str()),
        ("TWOFOLD_SMS_WEBHOOK_SECRET", "a shared secret of some length"),
        ("TWOFOLD_OUTBOX_LEASE_SECONDS", lease_text.as_str()),
    ];
    let server = Server::start(&[], &env).await;
    create_account(&server).await;
    let (api, _) = api_sign_in(&server, "ada@acme.test").await;
    enrol_up_to_the_phone_code(&server, &api, PHONE).await;

    let first = wait_for(&seen, 1, Duration::from_secs(10)).await;
    assert_eq!(first.len(), 1, "the worker took the message");
    // The worker now waits on the receiver with the message leased: kill -9.
    let data = server.kill();
    let server = Server::start_in(data, &[], &env).await;

    let all = wait_for(&seen, 2, Duration::from_secs(lease + 15)).await;
    assert_eq!(all.len(), 2, "sent again after the lease: {}", server.log());
    let waited = all[1].at - all[0].at;
    assert!(waited >= Duration::from_secs(lease - 1), "not before the lease ran out: {waited:?}");
    assert_eq!(all[1].idempotency_key, all[0].idempotency_key, "the receiver can tell it is the same message");
    assert!(all[0].idempotency_key.starts_with("twofold-sms-"), "{:?}", all[0]);
    assert_eq!(all[1].body, all[0].body);

    // Delivered once more, and only once: nothing further after another lease.
    let after = wait_for(&seen, 3, Duration::from_secs(lease + 3)).await;
    assert_eq!(after.len(), 2, "sent exactly once more");
    drop(server);
}
