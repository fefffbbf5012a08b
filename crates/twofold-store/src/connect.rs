//! Opening the pool: which backend, its per-connection settings, and migrations.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};

use crate::{Result, StoreError, Tx};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn from_url(url: &str) -> Result<Backend> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Ok(Backend::Postgres)
        } else {
            Err(StoreError::Config("the database URL must start with sqlite: or postgres:".into()))
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

#[derive(Debug, Clone)]
pub struct StoreOptions {
    pub max_connections: u32,
    pub acquire_timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self { max_connections: 16, acquire_timeout: Duration::from_secs(2) }
    }
}

/// The connection pool and the backend it speaks to.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// SQLite only: transactions (the writes) take turns on one connection. SQLite has one
    /// writer at a time anyway; queueing here instead of in its busy handler (which sleeps
    /// and retries) cut the second step's p99 from 193 to 30 ms in docs/performance.md.
    /// A use case must therefore never open a transaction while it holds another.
    writer: Option<AnyPool>,
}

fn pool_options(backend: Backend, max: u32, acquire_timeout: Duration) -> AnyPoolOptions {
    let options = AnyPoolOptions::new().max_connections(max).acquire_timeout(acquire_timeout);
    match backend {
        // WAL lets readers run beside the one writer; the busy timeout makes a write from
        // outside a transaction wait for the lock instead of failing at once. A local file
        // needs no liveness ping before each use.
        Backend::Sqlite => options.test_before_acquire(false).after_connect(|conn, _meta| {
            Box::pin(async move {
                conn.execute("PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;")
                    .await?;
                Ok(())
            })
        }),
        Backend::Postgres => options,
    }
}

/// The URL of the SQLite database kept in `data_dir`, created if missing.
pub fn sqlite_url_in(data_dir: &Path) -> String {
    format!("sqlite://{}?mode=rwc", data_dir.join("twofold.db").display())
}

impl Store {
    /// Connects without migrating; see [`Store::migrate`].
    pub async fn connect(url: &str, options: &StoreOptions) -> Result<Store> {
        sqlx::any::install_default_drivers();
        let backend = Backend::from_url(url)?;
        let connect_options = AnyConnectOptions::from_str(url).map_err(|e| StoreError::Config(e.to_string()))?;
        let writer = match backend {
            Backend::Sqlite => {
                Some(pool_options(backend, 1, options.acquire_timeout).connect_with(connect_options.clone()).await?)
            }
            Backend::Postgres => None,
        };
        let pool = pool_options(backend, options.max_connections, options.acquire_timeout)
            .connect_with(connect_options)
            .await?;
        Ok(Store { pool, backend, writer })
    }

    /// Brings the schema to the newest version. Safe to run from several instances at
    /// once: the migrator takes an advisory lock on PostgreSQL.
    pub async fn migrate(&self) -> Result<()> {
        self.migrate_to(crate::migrations::latest_version()).await
    }

    /// Brings the schema to `version` and no further: for tests of a migration that moves
    /// data, which need rows written under the schema before it.
    pub async fn migrate_to(&self, version: i64) -> Result<()> {
        crate::migrations::migrator(self.backend, version).run(&self.pool).await?;
        Ok(())
    }

    /// The schema version applied to this database, if any.
    pub async fn schema_version(&self) -> Result<Option<i64>> {
        let version: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success = TRUE")
            .fetch_one(&self.pool)
            .await?;
        Ok(version)
    }

    pub fn latest_version() -> i64 {
        crate::migrations::latest_version()
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub async fn begin(&self) -> Result<Tx> {
        match &self.writer {
            // IMMEDIATE takes SQLite's write lock at once. A deferred transaction that reads
            // first and writes later fails with SQLITE_BUSY_SNAPSHOT (517, "database is
            // locked", no busy wait) when a write outside it (a token's last use, the
            // outbox worker) commits in between.
            Some(writer) => Ok(writer.begin_with("BEGIN IMMEDIATE").await?),
            None => Ok(self.pool.begin().await?),
        }
    }

    pub async fn conn(&self) -> Result<sqlx::pool::PoolConnection<sqlx::Any>> {
        Ok(self.pool.acquire().await?)
    }

    /// Whether the database answers: the readiness probe.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    pub async fn close(&self) {
        if let Some(writer) = &self.writer {
            writer.close().await;
        }
        self.pool.close().await;
    }
}
