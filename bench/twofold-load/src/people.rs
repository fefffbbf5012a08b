//! The people of a run: who they are, their TOTP secrets (derived, so the tool never reads
//! them back), seeding them through the project's store code, and opening their
//! half-finished sign-ins.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Instant;

use anyhow::{Result, ensure};
use sha2::{Digest, Sha256};
use twofold_app::domain::Role;
use twofold_app::domain::otp::{Secret, TotpParams, Verification, current_code, verify};
use twofold_app::domain::session::{SessionPolicy, Stage};
use twofold_app::domain::token;
use twofold_app::{OsEntropy, Secrets};
use twofold_store::users::NewUser;
use twofold_store::{Backend, Realm, Store, accounts, commit, phones, sessions, totp, users};

/// Rows per seeding transaction.
const BATCH: usize = 5_000;

/// Everyone's password: one Argon2id hash, computed once and stored for every person.
pub const PASSWORD: &str = "a long load-test passphrase";

pub struct People {
    seed: [u8; 32],
    per_account: usize,
    pub user_ids: Vec<i64>,
    /// The last time step each person submitted a valid code for: a code is accepted once
    /// (the high-water mark), so a person signs in at most once per 30-s step.
    last_step: Vec<AtomicI64>,
    params: TotpParams,
}

impl People {
    pub fn new(per_account: usize) -> Result<People> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| anyhow::anyhow!("random seed: {e}"))?;
        Ok(People {
            seed,
            per_account: per_account.max(1),
            user_ids: Vec::new(),
            last_step: Vec::new(),
            params: TotpParams::default(),
        })
    }

    pub fn len(&self) -> usize {
        self.user_ids.len()
    }

    pub fn email(&self, i: usize) -> String {
        format!("p{i}@a{}.load.example", i / self.per_account)
    }

    pub fn secret(&self, i: usize) -> Secret {
        let digest = Sha256::new()
            .chain_update(b"twofold-load/totp\0")
            .chain_update(self.seed)
            .chain_update((i as u64).to_be_bytes())
            .finalize();
        let mut bytes = [0u8; 20];
        bytes.copy_from_slice(&digest[..20]);
        Secret::from_bytes(bytes)
    }

    /// The code person `i`'s app shows now; records its step as used.
    pub fn take_code(&self, i: usize) -> String {
        let now = unix_now();
        if let Some(last) = self.last_step.get(i) {
            last.fetch_max(now / self.params.period as i64, Ordering::Relaxed);
        }
        current_code(&self.params, &self.secret(i), now)
    }

    /// A code that is wrong for person `i` now and matches no step of the clock-drift search
    /// either, so the server does the whole rejection path.
    pub fn wrong_code(&self, i: usize) -> String {
        let secret = self.secret(i);
        let now = unix_now();
        let right: u32 = current_code(&self.params, &secret, now).parse().unwrap_or(0);
        let mut candidate = (right + 500_000) % 1_000_000;
        loop {
            let code = format!("{candidate:06}");
            if verify(&self.params, &secret, &code, now, None) == Verification::Rejected {
                return code;
            }
            candidate = (candidate + 1) % 1_000_000;
        }
    }

    /// `want` people (or everyone, if fewer) from the `from`-th place of the same shuffle as
    /// [`People::fresh`], whatever codes they used: for wrong codes, which use none.
    pub fn any(&self, want: usize, from: usize) -> Vec<usize> {
        let n = self.len().max(1);
        let stride = stride_for(n);
        (0..want.min(self.len())).map(|k| ((from + k) % n) * stride % n).collect()
    }

    /// Up to `want` people who have not used the current step's code yet, taken from the
    /// `from`-th place of a fixed shuffle of everyone (a stride through the table, so that a
    /// phase touches rows spread over the whole database, not one hot corner of it).
    pub fn fresh(&self, want: usize, from: usize) -> Vec<usize> {
        let step = unix_now() / self.params.period as i64;
        let n = self.len();
        let stride = stride_for(n);
        (0..n)
            .map(|k| ((from + k) % n.max(1)) * stride % n.max(1))
            .filter(|&i| self.last_step.get(i).is_some_and(|s| s.load(Ordering::Relaxed) < step))
            .take(want)
            .collect()
    }

    /// Seconds until the next 30-s step begins.
    pub fn seconds_to_next_step(&self) -> f64 {
        let period = self.params.period as f64;
        let now =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0);
        period - now % period
    }

    /// Seeds `n` people with 2FA on through the store's own functions and encryption: an
    /// account per `per_account` people (the first its Owner), a password hash, a sealed TOTP
    /// secret (enrolled, confirmed, enabled) and a verified mobile number each.
    pub async fn seed(&mut self, store: &Store, secrets: &Secrets, password_hash: &str, n: usize) -> Result<()> {
        let now = unix_now();
        // Confirmed a few steps ago, so that the current code is not a replay.
        let confirm_step = now / self.params.period as i64 - 4;
        let started = Instant::now();
        let mut account_id = 0;
        self.user_ids.reserve(n);
        for batch_start in (0..n).step_by(BATCH) {
            let mut tx = store.begin().await?;
            for i in batch_start..n.min(batch_start + BATCH) {
                let owner = i % self.per_account == 0;
                if owner {
                    account_id =
                        accounts::insert(&mut tx, &format!("Load account {}", i / self.per_account), now).await?;
                }
                let email = self.email(i);
                let name = format!("Person {i}");
                let user = NewUser {
                    account_id,
                    email: &email,
                    name: &name,
                    role: if owner { Role::Owner } else { Role::User },
                    password_hash: Some(password_hash),
                    now,
                };
                let id = users::insert(&mut tx, &user).await?;
                let sealed = secrets.seal("totp", id, self.secret(i).as_bytes())?;
                ensure!(
                    totp::begin_enrolment(&mut tx, Realm::People, id, &sealed, now).await?,
                    "enrolment of {id} refused"
                );
                ensure!(
                    totp::confirm(&mut tx, Realm::People, id, &sealed, confirm_step, now).await?,
                    "confirm of {id} refused"
                );
                ensure!(totp::enable(&mut tx, Realm::People, id, now).await?, "enable of {id} refused");
                phones::set_verified(&mut tx, id, &format!("+447{:09}", 700_000_000 + i), now).await?;
                self.user_ids.push(id);
                self.last_step.push(AtomicI64::new(confirm_step));
            }
            commit(tx).await?;
            let done = n.min(batch_start + BATCH);
            if done.is_multiple_of(100_000) && done < n {
                eprintln!("  seeded {done} of {n} people ({:.0} s)", started.elapsed().as_secs_f64());
            }
        }
        Ok(())
    }

    /// Opens a half-finished sign-in (password done, code awaited) for each of `who`, as the
    /// password step would, and answers the cookie and CSRF header each one signs in with.
    pub async fn open_pending(&self, store: &Store, who: &[usize]) -> Result<Vec<Pending>> {
        self.open_sessions(store, who, Stage::SecondFactor).await
    }

    /// Sessions at `stage` for `who`, written straight to the database.
    pub async fn open_sessions(&self, store: &Store, who: &[usize], stage: Stage) -> Result<Vec<Pending>> {
        let now = unix_now();
        let expires_at = SessionPolicy::default().expires_at(stage, now, now);
        let mut out = Vec::with_capacity(who.len());
        for batch in who.chunks(BATCH) {
            let mut tx = store.begin().await?;
            for &i in batch {
                let new = token::generate(&OsEntropy);
                let Some(&user_id) = self.user_ids.get(i) else { continue };
                sessions::insert(
                    &mut tx,
                    Realm::People,
                    &sessions::NewSession {
                        id_hash: &new.hash,
                        subject_id: user_id,
                        stage,
                        remember_device: false,
                        now,
                        expires_at,
                        ip: Some("127.0.0.1"),
                        user_agent: Some("twofold-load"),
                        // Signed in with password and code: two-factor, as the forward-auth
                        // rule asks (without a method a session counts as password-only).
                        method: (stage == Stage::SignedIn).then_some("totp"),
                    },
                )
                .await?;
                out.push(Pending {
                    person: i,
                    cookie: format!("twofold_session={}", new.raw),
                    csrf: token::csrf_for_session(&new.raw),
                });
            }
            commit(tx).await?;
        }
        Ok(out)
    }
}

/// A half-finished sign-in, ready for its code.
#[derive(Debug, Clone)]
pub struct Pending {
    pub person: usize,
    pub cookie: String,
    pub csrf: String,
}

/// A multiplier coprime with `n`, so that `k * stride % n` visits every person once.
fn stride_for(n: usize) -> usize {
    fn gcd(a: usize, b: usize) -> usize {
        if b == 0 { a } else { gcd(b, a % b) }
    }
    [1_000_003, 7_919, 101, 1].into_iter().find(|&p| n == 0 || gcd(p % n.max(1), n) == 1 && p % n != 0).unwrap_or(1)
}

pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The bytes the database takes now (SQLite: the file after a WAL checkpoint).
pub async fn database_bytes(store: &Store, sqlite_file: Option<&std::path::Path>) -> Result<u64> {
    match store.backend() {
        Backend::Sqlite => {
            sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(store.pool()).await?;
            let path = sqlite_file.ok_or_else(|| anyhow::anyhow!("no SQLite file"))?;
            Ok(std::fs::metadata(path)?.len())
        }
        Backend::Postgres => {
            let bytes: i64 =
                sqlx::query_scalar("SELECT pg_database_size(current_database())").fetch_one(store.pool()).await?;
            Ok(u64::try_from(bytes).unwrap_or(0))
        }
    }
}
