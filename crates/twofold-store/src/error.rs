//! Storage errors, sorted into what a caller can act on.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum StoreError {
    /// A uniqueness rule of the schema refused the write (duplicate email, second Owner…).
    #[error("conflicts with an existing row ({0})")]
    Unique(String),
    /// The database could not be reached in time or the pool is exhausted.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("unexpected database error: {0}")]
    Database(#[source] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("invalid database URL or options: {0}")]
    Config(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                StoreError::Unique(db.constraint().unwrap_or(db.message()).to_string())
            }
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
                StoreError::Unavailable(e.to_string())
            }
            _ => StoreError::Database(e),
        }
    }
}
