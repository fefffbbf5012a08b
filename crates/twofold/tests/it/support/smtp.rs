//! A real SMTP server for the tests: Debian's `python3-aiosmtpd`, on loopback, with
//! STARTTLS required and a throwaway certificate, storing what it receives in a Maildir.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mail_parser::MessageParser;

/// Debian's interpreter, which has the `python3-aiosmtpd` package (a pyenv one may not).
const PYTHON: &str = "/usr/bin/python3";

pub struct SmtpServer {
    child: Option<Child>,
    pub port: u16,
    dir: tempfile::TempDir,
    extra: Vec<String>,
}

/// One message as it arrived.
#[derive(Debug, Clone)]
pub struct Received {
    pub raw: String,
    pub to: String,
    pub from: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    pub message_id: String,
}

impl Received {
    /// The first URL in the text part whose path holds `path`.
    pub fn link(&self, path: &str) -> Option<String> {
        super::mail::link_in(&self.text, path)
    }

    /// The header block as it came over the wire.
    pub fn headers(&self) -> &str {
        self.raw.split("\r\n\r\n").next().unwrap_or(&self.raw).split("\n\n").next().unwrap_or("")
    }
}

impl SmtpServer {
    /// Starts a server, or answers `None` (after saying so) where aiosmtpd is not installed.
    pub async fn start() -> Option<SmtpServer> {
        Self::start_with(&[]).await
    }

    /// With more aiosmtpd arguments (`-s 200` refuses every message over 200 bytes, 552).
    pub async fn start_with(extra: &[&str]) -> Option<SmtpServer> {
        let installed =
            Command::new(PYTHON).args(["-c", "import aiosmtpd"]).status().map(|s| s.success()).unwrap_or(false);
        if !installed {
            super::skip("the SMTP tests", "python3-aiosmtpd is not installed (apt-get install python3-aiosmtpd)");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
        std::fs::write(dir.path().join("cert.pem"), cert.cert.pem()).unwrap();
        std::fs::write(dir.path().join("key.pem"), cert.signing_key.serialize_pem()).unwrap();
        let extra = extra.iter().map(|s| s.to_string()).collect();
        let mut server = SmtpServer { child: None, port: super::server::free_port(), dir, extra };
        server.resume().await;
        Some(server)
    }

    /// The CA file a client must trust for this server's certificate.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("cert.pem")
    }

    /// `smtp://127.0.0.1:PORT`: STARTTLS, which the server requires.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    fn maildir(&self) -> PathBuf {
        self.dir.path().join("Maildir")
    }

    /// Stops the server as an outage would: connections are refused until [`resume`].
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts (again) on the same port, certificate and Maildir.
    pub async fn resume(&mut self) {
        let d = self.dir.path();
        let child = Command::new(PYTHON)
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{}", self.port)])
            .arg("--tlscert")
            .arg(d.join("cert.pem"))
            .arg("--tlskey")
            .arg(d.join("key.pem"))
            .args(&self.extra)
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(self.maildir())
            .stdout(Stdio::null())
            .stderr(Stdio::from(std::fs::File::create(d.join("aiosmtpd.log")).unwrap()))
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(15);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "aiosmtpd did not start: {}", self.log());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("aiosmtpd.log")).unwrap_or_default()
    }

    /// Everything received so far, oldest first.
    pub fn received(&self) -> Vec<Received> {
        let mut files: Vec<(std::time::SystemTime, PathBuf)> = ["new", "cur"]
            .iter()
            .filter_map(|sub| std::fs::read_dir(self.maildir().join(sub)).ok())
            .flatten()
            .filter_map(Result::ok)
            .map(|e| (e.metadata().and_then(|m| m.modified()).unwrap_or(std::time::UNIX_EPOCH), e.path()))
            .collect();
        files.sort();
        files.iter().map(|(_, path)| parse(path)).collect()
    }

    /// Messages to `address`, oldest first.
    pub fn received_by(&self, address: &str) -> Vec<Received> {
        self.received().into_iter().filter(|m| m.to == address).collect()
    }

    /// Waits until `n` messages in all have arrived (at most 10 s).
    pub async fn wait_for(&self, n: usize) -> Vec<Received> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let got = self.received();
            if got.len() >= n || Instant::now() > deadline {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn parse(path: &Path) -> Received {
    let bytes = std::fs::read(path).unwrap();
    let message = MessageParser::default().parse(&bytes).unwrap();
    let address = |list: Option<&mail_parser::Address>| {
        list.and_then(|a| a.first()).and_then(|a| a.address()).unwrap_or("").to_string()
    };
    let from = message
        .from()
        .and_then(|a| a.first())
        .map(|a| format!("{} <{}>", a.name().unwrap_or(""), a.address().unwrap_or("")));
    Received {
        raw: String::from_utf8_lossy(&bytes).into_owned(),
        to: address(message.to()),
        from: from.unwrap_or_default(),
        subject: message.subject().unwrap_or("").to_string(),
        text: message.body_text(0).map(|t| t.into_owned()).unwrap_or_default(),
        html: message.body_html(0).map(|t| t.into_owned()).unwrap_or_default(),
        message_id: message.message_id().unwrap_or("").to_string(),
    }
}
