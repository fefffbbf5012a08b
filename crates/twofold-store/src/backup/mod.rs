//! SQLite snapshots for `twofold backup`: a consistent copy taken while the server writes,
//! and what a copy holds (integrity, schema version, counts) before it is trusted.

pub mod sealed;

use std::path::Path;

use sqlx::Row;

use crate::{Backend, Result, Store, StoreError};

/// What a database file holds, as a backup or restore reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    /// `PRAGMA integrity_check` said `ok`.
    pub intact: bool,
    /// The first problem it named, if not.
    pub problem: Option<String>,
    /// The newest migration applied (0: none, or not a Twofold database).
    pub schema_version: i64,
    pub accounts: i64,
    pub people: i64,
}

impl Store {
    /// Writes a consistent copy of the SQLite database to `path` (which must not exist).
    /// `VACUUM INTO` reads inside one read transaction, so the copy is the database as of
    /// one moment, with every committed write up to it (the WAL included) and none after,
    /// while the writer goes on.
    pub async fn snapshot_to(&self, path: &Path) -> Result<()> {
        if self.backend() != Backend::Sqlite {
            return Err(StoreError::Config("a snapshot is taken of SQLite only: use pg_dump for PostgreSQL".into()));
        }
        let target = path.to_str().ok_or_else(|| StoreError::Config("the backup path is not valid UTF-8".into()))?;
        sqlx::query("VACUUM INTO $1").bind(target).execute(self.pool()).await?;
        Ok(())
    }
}

impl Store {
    /// Moves everything in SQLite's write-ahead log into the main file, so that the file
    /// alone holds the database (before it is moved).
    pub async fn checkpoint(&self) -> Result<()> {
        if self.backend() == Backend::Sqlite {
            sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(self.pool()).await?;
        }
        Ok(())
    }
}

/// Opens a database file read-only and reads what it holds. Never writes to it.
pub async fn inspect(path: &Path) -> Result<Facts> {
    use sqlx::Connection;
    let options = sqlx::sqlite::SqliteConnectOptions::new().filename(path).read_only(true);
    let mut conn = sqlx::SqliteConnection::connect_with(&options).await?;
    let facts = read_facts(&mut conn).await;
    let _ = conn.close().await;
    facts
}

async fn read_facts(conn: &mut sqlx::SqliteConnection) -> Result<Facts> {
    let rows = sqlx::query("PRAGMA integrity_check").fetch_all(&mut *conn).await?;
    let first: String = rows.first().map(|r| r.try_get(0)).transpose()?.unwrap_or_default();
    let intact = rows.len() == 1 && first == "ok";
    let problem = (!intact).then_some(first);
    let tables: Vec<String> =
        sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table'").fetch_all(&mut *conn).await?;
    let has = |name: &str| tables.iter().any(|t| t == name);
    if !intact || !has("_sqlx_migrations") || !has("users") || !has("accounts") {
        return Ok(Facts { intact, problem, schema_version: 0, accounts: 0, people: 0 });
    }
    let schema_version: Option<i64> =
        sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success = TRUE")
            .fetch_one(&mut *conn)
            .await?;
    let accounts: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM accounts").fetch_one(&mut *conn).await?;
    let people: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users").fetch_one(&mut *conn).await?;
    Ok(Facts { intact, problem, schema_version: schema_version.unwrap_or(0), accounts, people })
}
