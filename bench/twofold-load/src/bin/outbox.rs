//! How fast the SMS outbox drains through the `webhook` provider into a local receiver,
//! and how long one message takes from the request that queues it to the receiver.
//!
//!     cargo run --release -p twofold-load --bin outbox -- [MESSAGES]
//!
//! Loopback only; bounded by the message count (default 2,000) and 60 seconds.
// A measuring tool, not the server: it reads no outside input, and a broken assumption
// should stop the run loudly.
#![allow(clippy::indexing_slicing, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::extract::State;
use axum::http::StatusCode;
use twofold_app::outbox::{Channels, OutboxWorker};
use twofold_app::{App, AppConfig, Secrets};
use twofold_channels::mail::MailConfig;
use twofold_store::outbox::NewMessage;
use twofold_store::secret_box::{Keyring, SecretBox};
use twofold_store::{Store, StoreOptions, outbox};

#[derive(Clone, Default)]
struct Receiver {
    got: Arc<AtomicUsize>,
    last: Arc<std::sync::Mutex<Option<Instant>>>,
}

async fn receive(State(r): State<Receiver>) -> StatusCode {
    r.got.fetch_add(1, Ordering::SeqCst);
    if let Ok(mut last) = r.last.lock() {
        *last = Some(Instant::now());
    }
    StatusCode::OK
}

/// A notice to one number, as the app queues them.
fn sms_notice(body: &[u8]) -> NewMessage<'_> {
    NewMessage { user_id: None, channel: "sms", recipient: "+353851234567", kind: "notice", body_box: body }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let messages: usize = std::env::args().nth(1).map(|n| n.parse()).transpose()?.unwrap_or(2_000);
    twofold_channels::install_crypto_provider();
    let receiver = Receiver::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/sms", listener.local_addr()?);
    let router = axum::Router::new().route("/sms", axum::routing::post(receive)).with_state(receiver.clone());
    tokio::spawn(async move { axum::serve(listener, router).await });

    let dir = std::env::temp_dir().join(format!("twofold-outbox-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let store = Store::connect(&twofold_store::sqlite_url_in(&dir), &StoreOptions::default()).await?;
    store.migrate().await?;
    let sealer = SecretBox::new(Keyring::generate()?);
    let app = App::with_system(store.clone(), AppConfig::default(), Secrets::fixed(sealer.clone()))?;
    let config = twofold_channels::sms::ProviderConfig::Webhook { url, secret: "bench secret".into() };
    let provider = twofold_channels::sms::build(&config).map_err(anyhow::Error::msg)?;
    let mail = twofold_channels::mail::build(&MailConfig::File { path: dir.join("mail-outbox.jsonl") })
        .map_err(anyhow::Error::msg)?;
    let worker = OutboxWorker::new(app.clone(), Channels { sms: provider, mail });

    // Throughput: queue everything, then let one worker drain it.
    let now = app.now();
    let mut tx = store.begin().await?;
    for i in 0..messages {
        let body = sealer.seal("sms_body", 0, format!("Twofold: notice {i}").as_bytes())?;
        outbox::enqueue(&mut tx, &sms_notice(&body), now).await?;
    }
    twofold_store::commit(tx).await?;
    let started = Instant::now();
    while receiver.got.load(Ordering::SeqCst) < messages && started.elapsed() < Duration::from_secs(60) {
        worker.run_once().await?;
    }
    let elapsed = started.elapsed();
    let delivered = receiver.got.load(Ordering::SeqCst);
    println!(
        "throughput: {delivered} messages in {:.2} s = {:.0} messages/s (one worker, webhook to a local receiver)",
        elapsed.as_secs_f64(),
        delivered as f64 / elapsed.as_secs_f64()
    );

    // Latency: the worker polls as in production (every second when idle).
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let background = tokio::spawn(worker.clone().run(async move {
        let mut stopped = stopped;
        let _ = stopped.changed().await;
    }));
    let mut latencies = Vec::new();
    for i in 0..20 {
        tokio::time::sleep(Duration::from_millis(137 * (i % 7) + 50)).await;
        let before = receiver.got.load(Ordering::SeqCst);
        let queued = Instant::now();
        let mut conn = store.conn().await?;
        let body = sealer.seal("sms_body", 0, b"Twofold: latency probe")?;
        outbox::enqueue(&mut conn, &sms_notice(&body), app.now()).await?;
        drop(conn);
        while receiver.got.load(Ordering::SeqCst) == before {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        latencies.push(queued.elapsed());
    }
    let _ = stop.send(true);
    let _ = background.await;
    latencies.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "latency, queue to receiver: p50 {:.0} ms, p90 {:.0} ms, max {:.0} ms (the idle worker polls every 1 s)",
        ms(latencies[latencies.len() / 2]),
        ms(latencies[latencies.len() * 9 / 10]),
        ms(*latencies.last().context("no samples")?)
    );
    store.close().await;
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
