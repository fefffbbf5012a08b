//! RADIUS for the tests: Twofold's server on a free UDP port over a test app, and the real
//! clients that talk to it (`radclient` from freeradius-utils; `pamtester` with
//! `pam_radius_auth`).

use std::io::Write;
use std::process::{Command, Stdio};

use twofold_app::App;
use twofold_app::domain::radius::Mode;
use twofold_app::radius::NewRadiusClient;

/// The shared secret of every test client.
pub const SECRET: &str = "a-shared-secret-of-the-tests";

/// Twofold's RADIUS server over `app`, on 127.0.0.1 and a free port; stops when dropped.
pub struct RadiusServer {
    pub port: u16,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl RadiusServer {
    pub async fn start(app: &App) -> RadiusServer {
        Self::start_on(app, "127.0.0.1:0").await
    }

    /// On `address` (`[::1]:0` for IPv6).
    pub async fn start_on(app: &App, address: &str) -> RadiusServer {
        let socket = tokio::net::UdpSocket::bind(address).await.unwrap();
        let port = socket.local_addr().unwrap().port();
        let (stop, stopped) = tokio::sync::oneshot::channel();
        tokio::spawn(twofold_radius::serve(app.clone(), socket, async move {
            let _ = stopped.await;
        }));
        RadiusServer { port, stop: Some(stop) }
    }
}

impl Drop for RadiusServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Registers a client as `twofold radius client add` does.
pub async fn add_client(app: &App, name: &str, address: &str, mode: Mode, tweak: impl FnOnce(&mut NewRadiusClient)) {
    let mut new = NewRadiusClient {
        name,
        address,
        secret: SECRET,
        owner_email: None,
        mode,
        allow_one_factor: false,
        legacy_no_message_authenticator: false,
    };
    tweak(&mut new);
    app.add_radius_client(&new).await.unwrap();
}

/// Whether a real client program is installed; otherwise the test says it skipped.
pub fn have(program: &str) -> bool {
    let found =
        Command::new("sh").arg("-c").arg(format!("command -v {program}")).output().is_ok_and(|o| o.status.success());
    if !found {
        crate::support::skip(&format!("RADIUS test with {program}"), &format!("{program} is not installed"));
    }
    found
}

/// What radclient received.
#[derive(Debug, Clone)]
pub struct Reply {
    /// `Access-Accept`, `Access-Reject`, `Access-Challenge`, or `none`.
    pub code: String,
    /// Every attribute line radclient printed for the reply (`Name = value`).
    pub attributes: Vec<String>,
    pub output: String,
}

impl Reply {
    pub fn get(&self, name: &str) -> Option<String> {
        let prefix = format!("{name} = ");
        self.attributes.iter().find_map(|a| a.strip_prefix(&prefix).map(|v| v.trim_matches('"').to_owned()))
    }
}

/// Sends one Access-Request with `attributes` (radclient's syntax, one per line) and
/// answers the reply. `Message-Authenticator = 0x00` asks radclient to sign it.
pub async fn radclient(port: u16, secret: &str, attributes: &str) -> Reply {
    radclient_with(port, secret, attributes, &["-r", "1", "-t", "2"]).await.remove(0)
}

/// Runs radclient with `extra` options over one request file (requests separated by blank
/// lines); answers one reply per request, in the order radclient printed them.
pub async fn radclient_with(port: u16, secret: &str, requests: &str, extra: &[&str]) -> Vec<Reply> {
    let (port, secret, requests) = (port, secret.to_owned(), requests.to_owned());
    let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("requests");
        std::fs::write(&file, &requests).unwrap();
        let out = Command::new("radclient")
            .arg("-x")
            .args(&extra)
            .arg("-f")
            .arg(&file)
            .arg(format!("127.0.0.1:{port}"))
            .arg("auth")
            .arg(&secret)
            .output()
            .unwrap();
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        parse(&text, requests.split("\n\n").filter(|r| !r.trim().is_empty()).count())
    })
    .await
    .unwrap()
}

fn parse(text: &str, requests: usize) -> Vec<Reply> {
    let mut replies = Vec::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let Some(rest) = line.strip_prefix("Received ") else { continue };
        let code = rest.split_whitespace().next().unwrap_or_default().to_owned();
        let mut attributes = Vec::new();
        while let Some(next) = lines.peek().filter(|l| l.starts_with('\t')) {
            attributes.push(next.trim().to_owned());
            lines.next();
        }
        replies.push(Reply { code, attributes, output: text.to_owned() });
    }
    while replies.len() < requests.max(1) {
        replies.push(Reply { code: "none".into(), attributes: Vec::new(), output: text.to_owned() });
    }
    replies
}

/// `pamtester SERVICE USER authenticate` through `pam_radius_auth` pointed at `port` and
/// bound to `source`, answering its prompts with `answers` (one per line). Answers whether
/// PAM authenticated.
pub fn pam_authenticate(port: u16, source: &str, user: &str, answers: &[&str]) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("pam_radius_auth.conf");
    // server[:port] secret timeout source-address
    std::fs::write(&conf, format!("127.0.0.1:{port} {SECRET} 5 {source}\n")).unwrap();
    let service = format!("twofold-test-{port}");
    let pam_file = std::path::Path::new("/etc/pam.d").join(&service);
    std::fs::write(&pam_file, format!("auth required pam_radius_auth.so conf={}\n", conf.display())).unwrap();
    let mut child = Command::new("pamtester")
        .args(["-v", &service, user, "authenticate"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    for answer in answers {
        writeln!(stdin, "{answer}").unwrap();
    }
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    let _ = std::fs::remove_file(&pam_file);
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success() && text.contains("successfully authenticated"), text)
}
