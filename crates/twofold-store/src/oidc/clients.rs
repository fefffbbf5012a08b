//! Registered applications (OAuth clients).

use sqlx::Row;
use twofold_domain::oidc::client::ClientFacts;
use twofold_domain::oidc::jws::Alg;

use crate::{Conn, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientRow {
    pub facts: ClientFacts,
    /// SHA-256 of the secret; `None` for a public client.
    pub secret_hash: Option<String>,
    pub created_at: i64,
    pub secret_rotated_at: Option<i64>,
}

pub struct NewClient<'a> {
    pub client_id: &'a str,
    pub name: &'a str,
    pub account_id: Option<i64>,
    pub secret_hash: Option<&'a str>,
    pub redirect_uris: &'a [String],
    pub post_logout_redirect_uris: &'a [String],
    pub require_two_factor: bool,
    pub id_token_alg: Alg,
}

const COLUMNS: &str = "client_id, name, account_id, secret_hash, redirect_uris, post_logout_redirect_uris, require_two_factor, created_at, secret_rotated_at, id_token_alg";

fn lines(stored: &str) -> Vec<String> {
    stored.lines().filter(|l| !l.is_empty()).map(str::to_owned).collect()
}

fn from_row(r: &sqlx::any::AnyRow) -> Result<ClientRow> {
    let secret_hash: Option<String> = r.try_get(3)?;
    let redirects: String = r.try_get(4)?;
    let post_logout: String = r.try_get(5)?;
    let require: i64 = r.try_get(6)?;
    let alg: String = r.try_get(9)?;
    Ok(ClientRow {
        facts: ClientFacts {
            client_id: r.try_get(0)?,
            name: r.try_get(1)?,
            account_id: r.try_get(2)?,
            public: secret_hash.is_none(),
            require_two_factor: require != 0,
            redirect_uris: lines(&redirects),
            post_logout_redirect_uris: lines(&post_logout),
            // The column's CHECK admits only the algorithms `Alg` names.
            id_token_alg: Alg::parse(&alg).unwrap_or_default(),
        },
        secret_hash,
        created_at: r.try_get(7)?,
        secret_rotated_at: r.try_get(8)?,
    })
}

pub async fn insert(conn: &mut Conn, new: &NewClient<'_>, now: i64) -> Result<()> {
    sqlx::query(
        "INSERT INTO oidc_clients (client_id, name, account_id, secret_hash, redirect_uris, post_logout_redirect_uris, require_two_factor, created_at, id_token_alg)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(new.client_id)
    .bind(new.name)
    .bind(new.account_id)
    .bind(new.secret_hash)
    .bind(new.redirect_uris.join("\n"))
    .bind(new.post_logout_redirect_uris.join("\n"))
    .bind(i64::from(new.require_two_factor))
    .bind(now)
    .bind(new.id_token_alg.as_str())
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn by_id(conn: &mut Conn, client_id: &str) -> Result<Option<ClientRow>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM oidc_clients WHERE client_id = $1")))
        .bind(client_id)
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// An account's own applications (`Some`), or the instance-wide ones (`None`).
pub async fn list(conn: &mut Conn, account_id: Option<i64>) -> Result<Vec<ClientRow>> {
    let rows =
        match account_id {
            Some(id) => {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {COLUMNS} FROM oidc_clients WHERE account_id = $1 ORDER BY created_at, client_id"
                )))
                .bind(id)
                .fetch_all(conn)
                .await?
            }
            None => sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {COLUMNS} FROM oidc_clients ORDER BY account_id IS NOT NULL, account_id, created_at, client_id"
            )))
            .fetch_all(conn)
            .await?,
        };
    rows.iter().map(from_row).collect()
}

/// Removes an application, answering its name and account: one statement, so that it is
/// the first write of its transaction.
pub async fn delete_returning(
    conn: &mut Conn,
    client_id: &str,
    account_id: Option<i64>,
) -> Result<Option<(String, Option<i64>)>> {
    let row = match account_id {
        Some(id) => {
            sqlx::query("DELETE FROM oidc_clients WHERE client_id = $1 AND account_id = $2 RETURNING name, account_id")
                .bind(client_id)
                .bind(id)
                .fetch_optional(conn)
                .await?
        }
        None => {
            sqlx::query("DELETE FROM oidc_clients WHERE client_id = $1 RETURNING name, account_id")
                .bind(client_id)
                .fetch_optional(conn)
                .await?
        }
    };
    row.map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).transpose()
}

/// A new secret for a confidential application; the old one stops working at once.
pub async fn set_secret(
    conn: &mut Conn,
    client_id: &str,
    account_id: i64,
    secret_hash: &str,
    now: i64,
) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE oidc_clients SET secret_hash = $3, secret_rotated_at = $4
         WHERE client_id = $1 AND account_id = $2 AND secret_hash IS NOT NULL",
    )
    .bind(client_id)
    .bind(account_id)
    .bind(secret_hash)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() > 0)
}
