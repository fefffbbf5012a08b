//! The SCIM phase: what a directory does to an account of many people. A page of 100
//! Users (`GET /Users?startIndex=…&count=100`, pages spread over the whole account), the
//! lookup Entra ID makes before every change (`filter=userName eq "…"`), and a PATCH of
//! one attribute (each person once), all with an account token holding the `scim` scope.

use anyhow::{Context, Result};
use data_encoding::BASE64URL_NOPAD;
use sqlx::Row;
use twofold_store::{Store, api_tokens, commit};

use crate::people::{People, unix_now};

/// `Authorization: Bearer tf_…` for a new `scim` token of the first account's Owner.
pub async fn seed_token(store: &Store, people: &People) -> Result<&'static [(&'static str, &'static str)]> {
    let owner = *people.user_ids.first().context("no people")?;
    let mut conn = store.conn().await?;
    let account_id: i64 = sqlx::query("SELECT account_id FROM users WHERE id = $1")
        .bind(owner)
        .fetch_one(&mut *conn)
        .await?
        .try_get(0)?;
    drop(conn);
    let raw = format!("tf_{}", BASE64URL_NOPAD.encode(&crate::random_bytes::<32>()?));
    let hash = twofold_app::domain::token::hash(&raw);
    let now = unix_now();
    let new = api_tokens::NewToken {
        account_id,
        created_by: owner,
        name: "load",
        token_hash: &hash,
        scopes: "scim",
        now,
        expires_at: now + 86_400,
    };
    let mut tx = store.begin().await?;
    api_tokens::insert(&mut tx, &new).await?;
    commit(tx).await?;
    let header: &'static str = Box::leak(format!("Bearer {raw}").into_boxed_str());
    Ok(Box::leak(vec![("authorization", header)].into_boxed_slice()))
}

/// The paths a phase cycles through live as long as the tool: made once, leaked.
fn leaked(paths: impl Iterator<Item = String>) -> Vec<&'static str> {
    paths.map(|p| &*Box::leak(p.into_boxed_str())).collect()
}

/// Every page of 100 of the first account's `in_account` people.
pub fn page_paths(in_account: usize) -> Vec<&'static str> {
    leaked((1..=in_account.max(1)).step_by(100).map(|start| format!("/scim/v2/Users?startIndex={start}&count=100")))
}

/// A userName lookup for each of the first account's people.
pub fn lookup_paths(people: &People, in_account: usize) -> Vec<&'static str> {
    leaked((0..in_account).map(|i| format!("/scim/v2/Users?filter=userName%20eq%20%22{}%22", people.email(i))))
}

/// `/Users/{id}` of the first account's people but its Owner (whom SCIM never changes).
pub fn user_paths(people: &People, in_account: usize) -> Vec<&'static str> {
    leaked(people.user_ids.iter().take(in_account).skip(1).map(|id| format!("/scim/v2/Users/{id}")))
}

/// The PATCH Entra ID sends when a family name changes.
pub fn patch_body(seq: u64) -> String {
    serde_json::json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{ "op": "Replace", "path": "name.familyName", "value": format!("Family{seq}") }],
    })
    .to_string()
}
