//! The real `twofold` binary, started on a free port with its own data directory.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub struct Server {
    child: Child,
    pub base: String,
    data_dir: Option<tempfile::TempDir>,
    stdout: Arc<Mutex<Vec<String>>>,
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_twofold")
}

impl Server {
    /// Starts `twofold serve` with `extra` arguments and environment; waits until `/readyz`.
    pub async fn start(extra_args: &[&str], env: &[(&str, &str)]) -> Server {
        let data_dir = tempfile::tempdir().unwrap();
        Self::start_in(data_dir, extra_args, env).await
    }

    pub async fn start_in(data_dir: tempfile::TempDir, extra_args: &[&str], env: &[(&str, &str)]) -> Server {
        let port = free_port();
        let listen = format!("127.0.0.1:{port}");
        let mut command = Command::new(binary());
        command
            .arg("serve")
            .arg("--listen")
            .arg(&listen)
            .arg("--data-dir")
            .arg(data_dir.path())
            .args(extra_args)
            .env("TWOFOLD_LOG_FORMAT", "json")
            .env_remove("TWOFOLD_DATABASE_URL")
            .stdout(Stdio::piped())
            .stderr(Stdio::from(std::fs::File::create(data_dir.path().join("server.log")).unwrap()));
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child = command.spawn().unwrap();
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let pipe = child.stdout.take().unwrap();
        let lines = stdout.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                lines.lock().unwrap().push(line);
            }
        });
        // The host name the default public URL names (WebAuthn refuses IP addresses).
        let server = Server { child, base: format!("http://localhost:{port}"), data_dir: Some(data_dir), stdout };
        server.wait_ready().await;
        server
    }

    async fn wait_ready(&self) {
        let client = crate::support::client(false);
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(r) = client.get(format!("{}/readyz", self.base)).send().await
                && r.status().is_success()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("twofold did not become ready at {}", self.base);
    }

    /// What the server logged (stderr, JSON lines).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.data_dir().join("server.log")).unwrap_or_default()
    }

    pub fn data_dir(&self) -> &std::path::Path {
        self.data_dir.as_ref().map_or(std::path::Path::new("/nonexistent"), |d| d.path())
    }

    /// Waits for the `file` SMS provider to write a message to `to`, newest first, and
    /// answers the code in it (the server's worker polls the outbox every second).
    pub async fn sms_code_to(&self, to: &str, after: usize) -> String {
        let path = self.data_dir().join("sms-outbox.jsonl");
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let lines: Vec<serde_json::Value> = std::fs::read_to_string(&path)
                .unwrap_or_default()
                .lines()
                .filter_map(|l| serde_json::from_str(l).ok())
                .collect();
            let code = lines
                .iter()
                .skip(after)
                .rev()
                .filter(|m| m["to"] == to)
                .find_map(|m| super::sms::code_in(m["body"].as_str().unwrap_or_default()));
            if let Some(code) = code {
                return code;
            }
            assert!(Instant::now() < deadline, "no SMS to {to} in {}", path.display());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn stdout(&self) -> Vec<String> {
        self.stdout.lock().unwrap().clone()
    }

    /// The setup link printed at first start, if any.
    pub fn setup_link(&self) -> Option<String> {
        self.stdout().iter().map(|l| l.trim()).find(|l| l.contains("/setup/")).map(str::to_owned)
    }

    /// Kills the process with SIGKILL (no shutdown of any kind) and answers its data
    /// directory, to start another server on it.
    pub fn kill(mut self) -> tempfile::TempDir {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.data_dir.take().expect("the data directory")
    }

    /// Sends SIGTERM and waits for a clean exit; answers the exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status;
            }
            assert!(Instant::now() < deadline, "twofold did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `twofold account create` on `data_dir` (SQLite), the password on standard input, as an
/// operator types it; answers what the command printed and its status.
pub fn account_create(data_dir: &std::path::Path, email: &str) -> std::process::Output {
    let args = [
        "account",
        "create",
        "--name",
        "Acme",
        "--owner-email",
        email,
        "--owner-name",
        "Ada Owner",
        "--password-stdin",
    ];
    cli(data_dir, &args, &format!("{}\n", super::PASSWORD))
}

/// `twofold ARGS --data-dir DATA_DIR` (SQLite) with `stdin` typed in; answers its output.
pub fn cli(data_dir: &std::path::Path, args: &[&str], stdin: &str) -> std::process::Output {
    use std::io::Write;
    let mut child = std::process::Command::new(binary())
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .env_remove("TWOFOLD_DATABASE_URL")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}
