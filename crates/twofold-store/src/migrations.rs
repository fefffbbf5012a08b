//! The schema's versions, embedded in the binary: one list per backend, kept in step.

use sqlx::SqlSafeStr;
use sqlx::migrate::{Migration, MigrationType, Migrator};

use crate::Backend;

/// (version, description, SQLite script, PostgreSQL script). Append only: an applied
/// migration is checksummed and must never change.
const MIGRATIONS: &[(i64, &str, &str, &str)] = &[
    (
        1,
        "foundation",
        include_str!("../migrations/sqlite/0001_foundation.sql"),
        include_str!("../migrations/postgres/0001_foundation.sql"),
    ),
    (
        2,
        "two factor",
        include_str!("../migrations/sqlite/0002_two_factor.sql"),
        include_str!("../migrations/postgres/0002_two_factor.sql"),
    ),
    (3, "sms", include_str!("../migrations/sqlite/0003_sms.sql"), include_str!("../migrations/postgres/0003_sms.sql")),
    (
        4,
        "administration",
        include_str!("../migrations/sqlite/0004_administration.sql"),
        include_str!("../migrations/postgres/0004_administration.sql"),
    ),
    (
        5,
        "audit chain",
        include_str!("../migrations/sqlite/0005_audit_chain.sql"),
        include_str!("../migrations/postgres/0005_audit_chain.sql"),
    ),
    (
        6,
        "support",
        include_str!("../migrations/sqlite/0006_support.sql"),
        include_str!("../migrations/postgres/0006_support.sql"),
    ),
    (
        7,
        "realms",
        include_str!("../migrations/sqlite/0007_realms.sql"),
        include_str!("../migrations/postgres/0007_realms.sql"),
    ),
    (
        8,
        "more factors",
        include_str!("../migrations/sqlite/0008_more_factors.sql"),
        include_str!("../migrations/postgres/0008_more_factors.sql"),
    ),
    (
        9,
        "email",
        include_str!("../migrations/sqlite/0009_email.sql"),
        include_str!("../migrations/postgres/0009_email.sql"),
    ),
    (
        10,
        "oidc",
        include_str!("../migrations/sqlite/0010_oidc.sql"),
        include_str!("../migrations/postgres/0010_oidc.sql"),
    ),
    (
        11,
        "audit_head_follows",
        include_str!("../migrations/sqlite/0011_audit_head_follows.sql"),
        include_str!("../migrations/postgres/0011_audit_head_follows.sql"),
    ),
    (
        12,
        "throttle_reservations",
        include_str!("../migrations/sqlite/0012_throttle_reservations.sql"),
        include_str!("../migrations/postgres/0012_throttle_reservations.sql"),
    ),
    (
        13,
        "rs256_and_mailed_invitations",
        include_str!("../migrations/sqlite/0013_rs256_and_mailed_invitations.sql"),
        include_str!("../migrations/postgres/0013_rs256_and_mailed_invitations.sql"),
    ),
    (
        14,
        "overview",
        include_str!("../migrations/sqlite/0014_overview.sql"),
        include_str!("../migrations/postgres/0014_overview.sql"),
    ),
    (
        15,
        "radius",
        include_str!("../migrations/sqlite/0015_radius.sql"),
        include_str!("../migrations/postgres/0015_radius.sql"),
    ),
    (
        16,
        "people_lifecycle",
        include_str!("../migrations/sqlite/0016_people_lifecycle.sql"),
        include_str!("../migrations/postgres/0016_people_lifecycle.sql"),
    ),
    (
        17,
        "groups",
        include_str!("../migrations/sqlite/0017_groups.sql"),
        include_str!("../migrations/postgres/0017_groups.sql"),
    ),
    (
        18,
        "api_tokens",
        include_str!("../migrations/sqlite/0018_api_tokens.sql"),
        include_str!("../migrations/postgres/0018_api_tokens.sql"),
    ),
    (
        19,
        "instance_tokens",
        include_str!("../migrations/sqlite/0019_instance_tokens.sql"),
        include_str!("../migrations/postgres/0019_instance_tokens.sql"),
    ),
    (
        20,
        "scim",
        include_str!("../migrations/sqlite/0020_scim.sql"),
        include_str!("../migrations/postgres/0020_scim.sql"),
    ),
    (
        21,
        "webhooks",
        include_str!("../migrations/sqlite/0021_webhooks.sql"),
        include_str!("../migrations/postgres/0021_webhooks.sql"),
    ),
];

/// The migrations up to and including `up_to` for one backend.
pub(crate) fn migrator(backend: Backend, up_to: i64) -> Migrator {
    let migrations = MIGRATIONS
        .iter()
        .filter(|m| m.0 <= up_to)
        .map(|&(version, description, sqlite, postgres)| {
            let sql = match backend {
                Backend::Sqlite => sqlite,
                Backend::Postgres => postgres,
            };
            Migration::new(version, description.into(), MigrationType::Simple, sql.into_sql_str(), false)
        })
        .collect();
    Migrator::with_migrations(migrations)
}

/// The newest schema version this build knows.
pub fn latest_version() -> i64 {
    MIGRATIONS.iter().map(|m| m.0).max().unwrap_or(0)
}
