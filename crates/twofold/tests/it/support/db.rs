//! A fresh database per test: a SQLite file in a temporary directory, or a new
//! PostgreSQL database created on the server named by `TWOFOLD_TEST_DATABASE_URL` and
//! dropped afterwards, so tests run in parallel without seeing each other.

use sqlx::Executor;
use twofold_store::{Store, StoreOptions};

pub struct TestDb {
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    drop_from: Option<(String, String)>,
}

impl TestDb {
    pub async fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().unwrap();
        let url = twofold_store::sqlite_url_in(dir.path());
        TestDb { url, _dir: Some(dir), drop_from: None }
    }

    /// A new PostgreSQL database, or `None` (after saying so) when none is configured.
    pub async fn postgres() -> Option<TestDb> {
        let Ok(admin_url) = std::env::var("TWOFOLD_TEST_DATABASE_URL") else {
            super::skip("PostgreSQL test", "TWOFOLD_TEST_DATABASE_URL is not set");
            return None;
        };
        let name = format!("twofold_t_{}", random_suffix());
        sqlx::any::install_default_drivers();
        let mut admin = <sqlx::AnyConnection as sqlx::Connection>::connect(&admin_url).await.unwrap();
        admin.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).await.unwrap();
        let url = with_database(&admin_url, &name);
        Some(TestDb { url, _dir: None, drop_from: Some((admin_url, name)) })
    }

    /// A migrated store on this database.
    pub async fn store(&self) -> Store {
        let store = Store::connect(&self.url, &StoreOptions::default()).await.unwrap();
        store.migrate().await.unwrap();
        store
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some((admin_url, name)) = self.drop_from.take() else {
            return;
        };
        // Drop cannot await; a short-lived thread with its own runtime does the cleanup.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                if let Ok(mut admin) = <sqlx::AnyConnection as sqlx::Connection>::connect(&admin_url).await {
                    let _ = admin
                        .execute(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")))
                        .await;
                }
            });
        })
        .join();
    }
}

fn random_suffix() -> String {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).unwrap();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The same server URL with another database name (keeping any query string).
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let server = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{server}/{name}?{q}"),
        None => format!("{server}/{name}"),
    }
}
