//! How fast the outbox drains email through the `smtp` provider into a real SMTP server
//! (Debian's aiosmtpd on loopback, STARTTLS required, storing to a Maildir), and how long
//! one message takes from the commit that queues it to its file in the Maildir.
//!
//!     cargo run --release -p twofold-load --bin mail -- [MESSAGES]
//!
//! Needs `python3-aiosmtpd`. Loopback only; bounded by the message count (default 500)
//! and 120 seconds.
// A measuring tool, not the server: it reads no outside input, and a broken assumption
// should stop the run loudly.
#![allow(clippy::indexing_slicing, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use twofold_app::outbox::{Channels, OutboxWorker};
use twofold_app::{App, AppConfig, Secrets};
use twofold_channels::mail::MailConfig;
use twofold_channels::sms::FileProvider;
use twofold_store::outbox::{self, NewMessage};
use twofold_store::secret_box::{Keyring, SecretBox};
use twofold_store::{Store, StoreOptions};

fn arrived(maildir: &Path) -> usize {
    std::fs::read_dir(maildir.join("new")).map(|d| d.count()).unwrap_or(0)
}

/// A letter as the app seals it (`mail_body`), to one address.
fn letter(sealer: &SecretBox, i: usize) -> anyhow::Result<Vec<u8>> {
    let body = serde_json::json!({
        "from_name": "Acme (via Twofold)",
        "to_name": "Pat Person",
        "subject": format!("Security notice {i}"),
        "text": "Hello Pat,\n\nYour password was changed.\n\nWhen: 2026-12-02 10:00 UTC.\n",
        "html": "<p>Hello Pat,</p><p>Your password was changed.</p>",
    });
    Ok(sealer.seal("mail_body", 0, &serde_json::to_vec(&body)?)?)
}

fn message(body: &[u8]) -> NewMessage<'_> {
    NewMessage { user_id: None, channel: "email", recipient: "pat@acme.test", kind: "notice", body_box: body }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let messages: usize = std::env::args().nth(1).map(|n| n.parse()).transpose()?.unwrap_or(500);
    let dir = std::env::temp_dir().join(format!("twofold-mail-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()])?;
    std::fs::write(dir.join("cert.pem"), cert.cert.pem())?;
    std::fs::write(dir.join("key.pem"), cert.signing_key.serialize_pem())?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let maildir = dir.join("Maildir");
    let mut server = Command::new("/usr/bin/python3")
        .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}")])
        .arg("--tlscert")
        .arg(dir.join("cert.pem"))
        .arg("--tlskey")
        .arg(dir.join("key.pem"))
        .args(["-c", "aiosmtpd.handlers.Mailbox"])
        .arg(&maildir)
        .stdout(Stdio::null())
        .spawn()
        .context("cannot start aiosmtpd (apt-get install python3-aiosmtpd)")?;
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let store = Store::connect(&twofold_store::sqlite_url_in(&dir), &StoreOptions::default()).await?;
    store.migrate().await?;
    let sealer = SecretBox::new(Keyring::generate()?);
    let app = App::with_system(store.clone(), AppConfig::default(), Secrets::fixed(sealer.clone()))?;
    let config = MailConfig::Smtp {
        url: format!("smtp://127.0.0.1:{port}"),
        from: "no-reply@twofold.test".into(),
        ca_file: Some(dir.join("cert.pem")),
    };
    let mail = twofold_channels::mail::build(&config).map_err(anyhow::Error::msg)?;
    let sms = Arc::new(FileProvider::new(dir.join("sms.jsonl")));
    let worker = OutboxWorker::new(app.clone(), Channels { sms, mail });

    // Throughput: queue everything, then let one worker drain it.
    let now = app.now();
    let mut tx = store.begin().await?;
    for i in 0..messages {
        outbox::enqueue(&mut tx, &message(&letter(&sealer, i)?), now).await?;
    }
    twofold_store::commit(tx).await?;
    let started = Instant::now();
    while arrived(&maildir) < messages && started.elapsed() < Duration::from_secs(120) {
        worker.run_once().await?;
    }
    let elapsed = started.elapsed();
    let delivered = arrived(&maildir);
    println!(
        "throughput: {delivered} mails in {:.2} s = {:.0} mails/s (one worker, SMTP with STARTTLS to aiosmtpd on loopback)",
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
    for i in 0..40 {
        tokio::time::sleep(Duration::from_millis(137 * (i % 7) + 50)).await;
        let before = arrived(&maildir);
        let body = letter(&sealer, i as usize)?;
        let queued = Instant::now();
        let mut conn = store.conn().await?;
        outbox::enqueue(&mut conn, &message(&body), app.now()).await?;
        drop(conn);
        while arrived(&maildir) == before {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        latencies.push(queued.elapsed());
    }
    let _ = stop.send(true);
    let _ = background.await;
    latencies.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "latency, commit to Maildir: p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms over {} mails (the idle worker polls every 1 s)",
        ms(latencies[latencies.len() / 2]),
        ms(latencies[latencies.len() * 99 / 100]),
        ms(*latencies.last().context("no samples")?),
        latencies.len()
    );
    let _ = server.kill();
    store.close().await;
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
