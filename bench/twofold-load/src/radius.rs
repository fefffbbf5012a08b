//! The RADIUS phase: Access-Requests in append mode (password and code in one
//! `User-Password`) from a closed loop of UDP workers, each checked to be a genuine
//! Access-Accept; and its floor, a UDP echo in its own process, driven the same way.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use tokio::net::UdpSocket;
use tokio::task::JoinSet;
use twofold_app::domain::radius::packet::{Packet, encode_request, hide_password, reply_is_genuine};
use twofold_app::domain::radius::{Attribute, Code, attr};

use crate::load::Bounds;
use crate::stats::Recorder;

pub const SECRET: &str = "twofold-load-radius-secret";

/// The `n`-th datagram to send and whether an answer to it is what the phase measures.
pub type Datagrams = Arc<dyn Fn(u64) -> Option<Vec<u8>> + Send + Sync>;

/// Registers the load tool as an append-mode RADIUS client, as an operator would.
pub fn add_client(binary: &Path, data_dir: &Path, database_url: Option<&str>, secret_key: &str) -> Result<()> {
    let mut command = Command::new(binary);
    command.args(["radius", "client", "add", "--name", "load", "--address", "127.0.0.1"]);
    command.args(["--mode", "append", "--secret-stdin", "--data-dir"]).arg(data_dir);
    if let Some(url) = database_url {
        command.arg("--database-url").arg(url);
    }
    let mut child = command
        .env("TWOFOLD_SECRET_KEY", secret_key)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    use std::io::Write;
    child.stdin.take().context("stdin")?.write_all(format!("{SECRET}\n").as_bytes())?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!("radius client add failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

/// An Access-Request for `email` with `password` followed by `code`.
pub fn append_request(seq: u64, email: &str, password: &str, code: &str) -> Vec<u8> {
    let mut authenticator = [0u8; 16];
    authenticator[..8].copy_from_slice(&seq.to_be_bytes());
    authenticator[8..].copy_from_slice(&Instant::now().elapsed().as_nanos().to_le_bytes()[..8]);
    let typed = format!("{password}{code}");
    let hidden = hide_password(typed.as_bytes(), SECRET.as_bytes(), &authenticator);
    let attributes = [Attribute::text(attr::USER_NAME, email), Attribute::bytes(attr::USER_PASSWORD, &hidden)];
    encode_request((seq % 256) as u8, authenticator, &attributes, SECRET.as_bytes())
}

/// Whether `reply` is a genuine Access-Accept to `request`.
fn accepted(request: &[u8], reply: &[u8]) -> bool {
    let Ok(sent) = Packet::decode(request) else { return false };
    reply_is_genuine(reply, &sent.authenticator, SECRET.as_bytes())
        && Packet::decode(reply).is_ok_and(|p| p.code == Code::AccessAccept)
}

/// `concurrency` workers, one socket each, sending the next datagram when the previous is
/// answered (5 s without an answer counts as an error). `echo`: any answer equal to the
/// datagram counts; otherwise only a genuine Access-Accept.
pub async fn closed_loop(
    to: SocketAddr,
    concurrency: usize,
    bounds: Bounds,
    datagrams: Datagrams,
    echo: bool,
) -> (Recorder, Duration) {
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(bounds.seconds);
    let next = Arc::new(AtomicU64::new(0));
    let mut workers = JoinSet::new();
    for _ in 0..concurrency.max(1) {
        let (next, datagrams) = (next.clone(), datagrams.clone());
        workers.spawn(async move {
            let mut rec = Recorder::default();
            let Ok(socket) = UdpSocket::bind("127.0.0.1:0").await else { return rec };
            if socket.connect(to).await.is_err() {
                return rec;
            }
            let mut buf = vec![0u8; 4096];
            while Instant::now() < deadline {
                let seq = next.fetch_add(1, Ordering::Relaxed);
                if seq >= bounds.max_requests {
                    break;
                }
                let Some(datagram) = datagrams(seq) else { break };
                let sent_at = Instant::now();
                if socket.send(&datagram).await.is_err() {
                    rec.transport_error("send");
                    continue;
                }
                match tokio::time::timeout(Duration::from_secs(5), socket.recv(&mut buf)).await {
                    Ok(Ok(n)) => {
                        let reply = &buf[..n];
                        let ok = if echo { reply == datagram.as_slice() } else { accepted(&datagram, reply) };
                        if ok {
                            rec.ok(sent_at.elapsed());
                        } else {
                            rec.unexpected(sent_at.elapsed(), 0, b"not a genuine Access-Accept");
                        }
                    }
                    Ok(Err(e)) => rec.transport_error(&format!("{e}")),
                    Err(_) => rec.transport_error("no answer within 5 s"),
                }
            }
            rec
        });
    }
    let mut all = Recorder::default();
    while let Some(done) = workers.join_next().await {
        if let Ok(rec) = done {
            all.merge(rec);
        }
    }
    (all, started.elapsed())
}

/// The UDP echo floor in its own process; killed when dropped.
pub struct Echo {
    child: Child,
    pub pid: u32,
    pub addr: SocketAddr,
}

impl Echo {
    pub fn start() -> Result<Echo> {
        let binary = std::env::current_exe()?.with_file_name("udp-echo");
        let mut child = Command::new(&binary)
            .stdout(Stdio::piped())
            .spawn()
            .with_context(|| format!("start {} (cargo build --release -p twofold-load)", binary.display()))?;
        let mut line = String::new();
        use std::io::BufRead;
        std::io::BufReader::new(child.stdout.take().context("stdout")?).read_line(&mut line)?;
        let port: u16 = line.trim().parse().context("udp-echo printed no port")?;
        Ok(Echo { pid: child.id(), child, addr: ([127, 0, 0, 1], port).into() })
    }
}

impl Drop for Echo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
