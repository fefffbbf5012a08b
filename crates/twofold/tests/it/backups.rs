//! `twofold backup` and `twofold restore` on the real binary, as an operator runs them: a
//! backup taken under load restores into a new directory where everyone signs in; an
//! interrupted backup leaves nothing that looks whole; restores refuse what would lose or
//! mislead (a database already there, the wrong keyring, the wrong passphrase); `serve`
//! keeps scheduled backups and reports them in `/metrics`.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use twofold_app::domain::otp::Secret;

use crate::support::PASSWORD;
use crate::support::api::{code_at, create_account, enable_by_api, invite};
use crate::support::server::{Server, binary};

const PASSPHRASE: &str = "a long backup passphrase";

/// `twofold ARGS` with `stdin` typed in, away from any database or key the environment names.
fn twofold(args: &[&str], stdin: Option<&str>, env: &[(&str, &str)]) -> Output {
    use std::io::Write;
    let mut child = Command::new(binary())
        .args(args)
        .env_remove("TWOFOLD_DATABASE_URL")
        .env_remove("TWOFOLD_SECRET_KEY")
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(format!("{text}\n").as_bytes()).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

fn said(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The Owner and seven Users, each with 2FA on: (email, key).
async fn eight_people(server: &Server) -> Vec<(String, Secret)> {
    let owner = create_account(server).await;
    let mut people = vec![("ada@acme.test".to_owned(), enable_by_api(server, "ada@acme.test", "+353851110000").await)];
    for i in 1..8 {
        let email = format!("p{i}@acme.test");
        invite(server, &owner, &email, "user").await;
        let secret = enable_by_api(server, &email, &format!("+35385111000{i}")).await;
        people.push((email, secret));
    }
    people
}

/// Password, then code: a whole sign-in through the API of `base`.
async fn signs_in_with_code(base: &str, email: &str, secret: &Secret) {
    let client = crate::support::client(true);
    let r: serde_json::Value = client
        .post(format!("{base}/api/v1/login"))
        .json(&json!({ "email": email, "password": PASSWORD }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["status"], "second_factor_required", "{email}: {r}");
    let r = client
        .post(format!("{base}/api/v1/login/totp"))
        .header("x-csrf-token", r["csrf_token"].as_str().unwrap())
        .json(&json!({ "code": code_at(secret, 30) }))
        .send()
        .await
        .unwrap();
    let status = r.status();
    assert_eq!(status, 200, "{email}: {}", r.text().await.unwrap_or_default());
}

/// Eight clients, one per person, each signing in (the password step: a session and audit
/// events written) again and again until `stop`; answers how many sign-ins they made.
fn sign_in_continuously(base: &str, people: &[(String, Secret)], stop: &Arc<AtomicBool>) -> Arc<AtomicUsize> {
    let done = Arc::new(AtomicUsize::new(0));
    for (email, _) in people {
        let (base, email, stop, done) = (base.to_owned(), email.clone(), stop.clone(), done.clone());
        tokio::spawn(async move {
            let client = crate::support::client(true);
            while !stop.load(Ordering::Relaxed) {
                let r = client
                    .post(format!("{base}/api/v1/login"))
                    .json(&json!({ "email": email, "password": PASSWORD }))
                    .send()
                    .await;
                if r.is_ok_and(|r| r.status() == 200) {
                    done.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
    }
    done
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_while_eight_clients_sign_in_restores_where_everyone_signs_in() {
    let server = Server::start(&[], &[]).await;
    let people = eight_people(&server).await;
    let stop = Arc::new(AtomicBool::new(false));
    let signed_in = sign_in_continuously(&server.base, &people, &stop);
    while signed_in.load(Ordering::Relaxed) < 8 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let out_dir = tempfile::tempdir().unwrap();
    let file = out_dir.path().join("nightly.db");
    let data = path(server.data_dir()).to_owned();
    let before = signed_in.load(Ordering::Relaxed);
    let args = ["backup", "--data-dir", &data, "--output", path(&file)].map(str::to_owned);
    let out =
        tokio::task::spawn_blocking(move || twofold(&args.each_ref().map(String::as_str), None, &[])).await.unwrap();
    let during = signed_in.load(Ordering::Relaxed) - before;
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    assert!(out.status.success(), "{}", said(&out));
    let text = said(&out);
    assert!(text.contains("1 accounts, 8 people") && text.contains("schema version"), "{text}");
    assert!(text.contains("The keyring is not in this backup"), "{text}");
    assert!(signed_in.load(Ordering::Relaxed) > before, "the clients went on signing in ({during} during the backup)");
    let leftovers: Vec<_> = std::fs::read_dir(out_dir.path()).unwrap().flatten().map(|e| e.file_name()).collect();
    assert_eq!(leftovers, [std::ffi::OsString::from("nightly.db")], "nothing but the backup");

    // A new directory with the keyring (kept apart, as the backup says), then the backup.
    let restored = tempfile::tempdir().unwrap();
    std::fs::copy(server.data_dir().join("secret.key"), restored.path().join("secret.key")).unwrap();
    let out = twofold(&["restore", "--data-dir", path(restored.path()), "--input", path(&file)], None, &[]);
    assert!(out.status.success(), "{}", said(&out));
    let text = said(&out);
    assert!(text.contains("Restored 1 accounts and 8 people") && text.contains("intact"), "{text}");
    let out = twofold(&["audit", "verify", "--data-dir", path(restored.path())], None, &[]);
    assert!(out.status.success(), "audit verify: {}", said(&out));
    drop(server);
    let again = Server::start_in(restored, &[], &[]).await;
    for (email, secret) in &people {
        signs_in_with_code(&again.base, email, secret).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_killed_midway_leaves_no_file_at_its_name_and_the_next_one_succeeds() {
    let server = Server::start(&[], &[]).await;
    create_account(&server).await;
    let out_dir = tempfile::tempdir().unwrap();
    let file = out_dir.path().join("keys-and-all.twofold");
    let data = path(server.data_dir()).to_owned();
    // With the keyring: the passphrase's Argon2id runs after the snapshot is on disk.
    let mut child = Command::new(binary())
        .args(["backup", "--include-keys", "--data-dir", &data, "--output", path(&file)])
        .env_remove("TWOFOLD_DATABASE_URL")
        .env_remove("TWOFOLD_SECRET_KEY")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(format!("{PASSPHRASE}\n").as_bytes()).unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    let partial = loop {
        let found = std::fs::read_dir(out_dir.path()).unwrap().flatten().find(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.starts_with(".keys-and-all.twofold.partial-")
        });
        if let Some(entry) = found {
            break entry.path();
        }
        assert!(child.try_wait().unwrap().is_none(), "the backup ended before it could be interrupted");
        assert!(Instant::now() < deadline, "no partial file appeared");
        std::thread::sleep(Duration::from_millis(2));
    };
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!file.exists(), "an interrupted backup leaves nothing at {} (only {})", file.display(), partial.display());
    let out =
        twofold(&["backup", "--include-keys", "--data-dir", &data, "--output", path(&file)], Some(PASSPHRASE), &[]);
    assert!(out.status.success(), "{}", said(&out));
    let names: Vec<_> = std::fs::read_dir(out_dir.path()).unwrap().flatten().map(|e| e.file_name()).collect();
    assert_eq!(names, [std::ffi::OsString::from("keys-and-all.twofold")], "the leftovers are gone");
    // A backup never overwrites one.
    let out = twofold(&["backup", "--data-dir", &data, "--output", path(&file)], None, &[]);
    assert!(!out.status.success() && said(&out).contains("already exists"), "{}", said(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restores_refuse_a_database_in_place_the_wrong_keyring_and_the_wrong_passphrase() {
    let server = Server::start(&[], &[]).await;
    let people = eight_people(&server).await;
    let data = path(server.data_dir()).to_owned();
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("plain.db");
    let sealed = dir.path().join("sealed.twofold");
    assert!(twofold(&["backup", "--data-dir", &data, "--output", path(&plain)], None, &[]).status.success());
    let out =
        twofold(&["backup", "--include-keys", "--data-dir", &data, "--output", path(&sealed)], Some("short"), &[]);
    assert!(!out.status.success() && said(&out).contains("at least 12 characters"), "{}", said(&out));
    let out =
        twofold(&["backup", "--include-keys", "--data-dir", &data, "--output", path(&sealed)], Some(PASSPHRASE), &[]);
    assert!(out.status.success(), "{}", said(&out));
    let bytes = std::fs::read(&sealed).unwrap();
    assert!(!bytes.windows(15).any(|w| w == b"SQLite format 3"), "sealed: the database is not in the clear");
    let kept = server.kill();

    // A directory that holds a database: refused, unchanged; with --force, replaced and kept.
    let db = kept.path().join("twofold.db");
    let before = std::fs::read(&db).unwrap();
    let out = twofold(&["restore", "--data-dir", path(kept.path()), "--input", path(&plain)], None, &[]);
    assert!(!out.status.success() && said(&out).contains("already holds a database"), "{}", said(&out));
    assert_eq!(std::fs::read(&db).unwrap(), before, "nothing was changed");
    let out = twofold(&["restore", "--force", "--data-dir", path(kept.path()), "--input", path(&plain)], None, &[]);
    assert!(out.status.success(), "{}", said(&out));
    let aside: Vec<_> = std::fs::read_dir(kept.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("twofold.db.replaced-") && !n.ends_with("-wal") && !n.ends_with("-shm"))
        .collect();
    assert_eq!(aside.len(), 1, "the database that was there is kept, renamed");

    // No keys in the backup and none in the directory; then another keyring: refused
    // before anything is written there.
    let empty = tempfile::tempdir().unwrap();
    let out = twofold(&["restore", "--data-dir", path(empty.path()), "--input", path(&plain)], None, &[]);
    assert!(!out.status.success() && said(&out).contains("holds no keyring"), "{}", said(&out));
    let mut other = [0u8; 32];
    getrandom::fill(&mut other).unwrap();
    let other = format!("1:{}", data_encoding::BASE64.encode(&other));
    let env = [("TWOFOLD_SECRET_KEY", other.as_str())];
    let out = twofold(&["restore", "--data-dir", path(empty.path()), "--input", path(&plain)], None, &env);
    let text = said(&out);
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("does not open") && text.contains("not the keyring the backup was made with"), "{text}");
    assert_eq!(std::fs::read_dir(empty.path()).unwrap().count(), 0, "nothing was written: {text}");

    // The sealed backup: a wrong passphrase is refused; the right one brings the keyring.
    let out = twofold(
        &["restore", "--data-dir", path(empty.path()), "--input", path(&sealed)],
        Some("not the passphrase"),
        &[],
    );
    assert!(!out.status.success() && said(&out).contains("passphrase is wrong"), "{}", said(&out));
    assert_eq!(std::fs::read_dir(empty.path()).unwrap().count(), 0);
    let out = twofold(&["restore", "--data-dir", path(empty.path()), "--input", path(&sealed)], Some(PASSPHRASE), &[]);
    assert!(out.status.success(), "{}", said(&out));
    assert!(empty.path().join("secret.key").exists(), "{}", said(&out));
    let again = Server::start_in(empty, &[], &[]).await;
    let (email, secret) = &people[3];
    signs_in_with_code(&again.base, email, secret).await;

    // Not a backup at all.
    let junk = dir.path().join("junk");
    std::fs::write(&junk, b"hello").unwrap();
    let fresh = tempfile::tempdir().unwrap();
    let out = twofold(&["restore", "--data-dir", path(fresh.path()), "--input", path(&junk)], None, &[]);
    assert!(!out.status.success() && said(&out).contains("not a Twofold backup"), "{}", said(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgresql_backup_names_pg_dump_instead_of_pretending() {
    let out =
        twofold(&["backup", "--database-url", "postgres://postgres@127.0.0.1:5432/x", "--output", "/tmp/x"], None, &[]);
    assert!(!out.status.success(), "{}", said(&out));
    assert!(said(&out).contains("pg_dump"), "{}", said(&out));
    let out =
        twofold(&["restore", "--database-url", "postgres://postgres@127.0.0.1:5432/x", "--input", "/tmp/x"], None, &[]);
    assert!(!out.status.success() && said(&out).contains("pg_restore"), "{}", said(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_keeps_the_newest_scheduled_backups_and_reports_the_last_in_metrics() {
    let backups = tempfile::tempdir().unwrap();
    let env = [
        ("TWOFOLD_BACKUP_DIR", path(backups.path())),
        ("TWOFOLD_BACKUP_EVERY_HOURS", "0.0003"),
        ("TWOFOLD_BACKUP_KEEP", "2"),
    ];
    let server = Server::start(&[], &env).await;
    create_account(&server).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let metrics = loop {
        let text = crate::support::client(false)
            .get(format!("{}/metrics", server.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let written: usize = text.lines().find(|l| l.starts_with("twofold_backup_last_size_bytes")).map_or(0, |_| 1);
        let files = std::fs::read_dir(backups.path()).unwrap().count();
        if written == 1 && files == 2 && Instant::now() > deadline - Duration::from_secs(25) {
            break text;
        }
        assert!(Instant::now() < deadline, "no scheduled backups: {}", server.log());
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(metrics.contains("twofold_backup_last_success_timestamp_seconds"), "{metrics}");
    let mut names: Vec<String> = std::fs::read_dir(backups.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names.len(), 2, "only the newest two are kept: {names:?}");
    assert!(names.iter().all(|n| n.starts_with("twofold-") && n.ends_with(".db")), "{names:?}");
    let newest = backups.path().join(&names[1]);
    let facts = twofold_store::backup::inspect(&newest).await.unwrap();
    assert!(facts.intact && facts.accounts == 1 && facts.people == 1, "{facts:?}");

    // Restarted with a daily schedule: the last backup is reported at once, and the next is
    // due a day after it, not at start.
    drop(server);
    let env = [("TWOFOLD_BACKUP_DIR", path(backups.path())), ("TWOFOLD_BACKUP_EVERY_HOURS", "24")];
    let server = Server::start(&[], &env).await;
    let metrics = crate::support::client(false)
        .get(format!("{}/metrics", server.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let size = std::fs::metadata(&newest).unwrap().len();
    assert!(metrics.contains(&format!("twofold_backup_last_size_bytes {size}")), "{metrics}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(std::fs::read_dir(backups.path()).unwrap().count(), 2, "no backup at start: the last is recent");
}
