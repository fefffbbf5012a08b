//! The two realms that sign in: an account's people, and support operators outside every
//! account. They keep separate tables (so that no query can mix a customer with an
//! operator), but the tables have the same shape, and one set of functions serves both.

/// Which realm's tables a session or credential function reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Realm {
    People,
    Support,
}

impl Realm {
    pub const ALL: [Realm; 2] = [Realm::People, Realm::Support];

    pub(crate) fn sessions(self) -> &'static str {
        match self {
            Realm::People => "sessions",
            Realm::Support => "operator_sessions",
        }
    }

    pub(crate) fn totp(self) -> &'static str {
        match self {
            Realm::People => "totp_credentials",
            Realm::Support => "operator_totp_credentials",
        }
    }

    /// The column naming the person or operator in both tables.
    pub(crate) fn subject(self) -> &'static str {
        match self {
            Realm::People => "user_id",
            Realm::Support => "operator_id",
        }
    }
}

/// A statement for `realm`, with `{sessions}`, `{totp}` and `{subject}` filled in. Only
/// these constant names are ever substituted, never input.
pub(crate) fn sql(realm: Realm, template: &str) -> sqlx::AssertSqlSafe<String> {
    sqlx::AssertSqlSafe(
        template
            .replace("{sessions}", realm.sessions())
            .replace("{totp}", realm.totp())
            .replace("{subject}", realm.subject()),
    )
}
