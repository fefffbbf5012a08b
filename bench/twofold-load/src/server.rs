//! Starting and stopping real `twofold serve` processes, and reading their memory and CPU
//! time from /proc.

use std::fs::File;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::client::{Call, Connection};

/// How long a server may take to answer `/readyz` before the run gives up.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

pub struct Server {
    child: Child,
    pub pid: u32,
    pub addr: SocketAddr,
    /// From spawning the process to the first `200` from `/readyz`.
    pub startup: Duration,
    log: PathBuf,
}

/// What a server is started with.
pub struct Launch<'a> {
    pub binary: &'a Path,
    pub data_dir: &'a Path,
    pub database_url: Option<&'a str>,
    pub secret_key: &'a str,
    pub log: PathBuf,
    /// Extra environment (`--server-env`), e.g. allocator settings for an experiment.
    pub env: &'a [(String, String)],
    /// Where the RADIUS server listens, for the RADIUS phase.
    pub radius_listen: Option<SocketAddr>,
}

/// The protected host of the forward-auth phases (2FA required: every seeded person has it).
/// The session cookie must reach it, so Twofold itself lives under the same parent domain.
pub const FORWARD_AUTH_RULES: &str =
    "cookie_domain = \"bench.test\"\n\n[[forward_auth.rules]]\nhost = \"wiki.bench.test\"\n";

impl Server {
    /// Starts a server on a free loopback port and waits until `/readyz` answers 200.
    pub async fn start(launch: &Launch<'_>) -> Result<Server> {
        let port = free_port()?;
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let log = File::create(&launch.log).with_context(|| format!("create {}", launch.log.display()))?;
        let mut command = Command::new(launch.binary);
        command.arg("serve").arg("--listen").arg(addr.to_string()).arg("--data-dir").arg(launch.data_dir);
        // The forward-auth phases ask about this host.
        let config = launch.data_dir.join("bench.toml");
        std::fs::write(&config, FORWARD_AUTH_RULES).with_context(|| format!("write {}", config.display()))?;
        command.arg("--config").arg(&config).arg("--public-url").arg(format!("http://auth.bench.test:{port}"));
        if let Some(url) = launch.database_url {
            command.arg("--database-url").arg(url);
        }
        if let Some(radius) = launch.radius_listen {
            command.arg("--radius-listen").arg(radius.to_string());
        }
        // Only what we set: no TWOFOLD_* of the calling shell leaks into the measurement.
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("TWOFOLD_") {
                command.env_remove(name);
            }
        }
        command
            .env("TWOFOLD_SECRET_KEY", launch.secret_key)
            .env("TWOFOLD_LOG_FORMAT", "json")
            .env_remove("RUST_LOG")
            .envs(launch.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        let started = Instant::now();
        let mut child = command.spawn().with_context(|| format!("start {}", launch.binary.display()))?;
        let pid = child.id();
        let mut probe = Connection::new(addr);
        loop {
            if let Some(status) = child.try_wait()? {
                bail!("the server exited with {status} before it was ready; see {}", launch.log.display());
            }
            if let Ok((200, _)) = probe.send(&Call::get("/readyz")).await {
                break;
            }
            if started.elapsed() > READY_TIMEOUT {
                let _ = child.kill();
                bail!("the server was not ready within {READY_TIMEOUT:?}; see {}", launch.log.display());
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let startup = started.elapsed();
        Ok(Server { child, pid, addr, startup, log: launch.log.clone() })
    }

    /// SIGTERM, then waits for the graceful shutdown (SIGKILL after 20 s).
    pub async fn stop(mut self) -> Result<()> {
        let _ = Command::new("kill").arg("-TERM").arg(self.pid.to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if self.child.try_wait()?.is_some() {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        eprintln!("server {} did not stop within 20 s; killing it (log: {})", self.pid, self.log.display());
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Only reached without `stop` (an error path): never leave a server behind.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// A `kB` field of /proc/PID/status (`VmRSS`, `VmHWM`).
pub fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

pub fn rss_kib(pid: u32) -> u64 {
    status_kib(pid, "VmRSS").unwrap_or(0)
}

/// User + system CPU time of a process (`self` for this one), in seconds.
pub fn cpu_seconds(pid: &str) -> f64 {
    let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // The command name (field 2) may hold spaces; count fields after its closing ')'.
    let Some((_, rest)) = text.rsplit_once(')') else {
        return 0.0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state); utime and stime are fields 14 and 15.
    let ticks = |i: usize| fields.get(i - 3).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    (ticks(14) + ticks(15)) as f64 / clock_ticks_per_second()
}

/// Busy CPU seconds of the whole machine so far (all cores, from /proc/stat): with the
/// server's and this tool's own, it tells what other processes took during a phase.
pub fn machine_busy_seconds() -> f64 {
    let Ok(text) = std::fs::read_to_string("/proc/stat") else {
        return 0.0;
    };
    let Some(line) = text.lines().next() else {
        return 0.0;
    };
    let ticks: Vec<u64> = line.split_whitespace().skip(1).filter_map(|v| v.parse().ok()).collect();
    // user nice system idle iowait irq softirq steal (guest time is already in user).
    let busy: u64 = ticks.iter().take(8).enumerate().filter(|(i, _)| *i != 3 && *i != 4).map(|(_, t)| t).sum();
    busy as f64 / clock_ticks_per_second()
}

/// The 1-minute load average.
pub fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|t| t.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(0.0)
}

fn clock_ticks_per_second() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100.0)
    })
}
