//! Twofold's storage: one sqlx code path over SQLite (the embedded default) and
//! PostgreSQL (the scale-out engine), with versioned migrations kept in step for both.
//!
//! Repositories are free functions over `&mut AnyConnection`, so that a use case can run
//! several of them in one transaction (`Store::begin`) or one alone on a pooled connection.

mod connect;
mod error;
mod migrations;

pub mod accounts;
pub mod api_tokens;
pub mod audit;
pub mod backup;
pub mod challenges;
pub mod devices;
pub mod factors;
pub mod groups;
pub mod links;
pub mod notices;
pub mod oidc;
pub mod operators;
pub mod outbox;
pub mod overview;
pub mod password_resets;
pub mod phones;
pub mod radius;
pub mod rate_limits;
mod realm;
pub mod recovery;
pub mod recovery_codes;
pub mod scim;
pub mod secret_box;
pub mod security_keys;
pub mod sessions;
pub mod throttles;
pub mod totp;
pub mod users;
pub mod webhooks;

pub use connect::{Backend, Store, StoreOptions, sqlite_url_in};
pub use error::StoreError;
pub use realm::Realm;
pub use sqlx::AnyConnection as Conn;

/// A transaction; commit it or it rolls back when dropped.
pub type Tx = sqlx::Transaction<'static, sqlx::Any>;

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Commits a transaction, sorting its error like any other.
pub async fn commit(tx: Tx) -> Result<()> {
    tx.commit().await.map_err(StoreError::from)
}
