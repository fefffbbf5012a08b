//! The OpenID Provider's token endpoint under load: an application registered, and codes
//! (or refresh tokens) written straight into the database, each redeemed once, as a
//! relying party's server would after a sign-in.

use anyhow::Result;
use data_encoding::BASE64;
use twofold_app::OsEntropy;
use twofold_app::domain::oidc::{GRANT_MAX_SECONDS, SignInMethod};
use twofold_app::domain::token;
use twofold_store::oidc::clients::{self, NewClient};
use twofold_store::oidc::grants::{self, NewCode, NewGrant, TokenKind};
use twofold_store::{Store, commit};

use crate::people::{People, unix_now};

pub const REDIRECT: &str = "https://app.bench.test/cb";
const BATCH: usize = 2_000;

/// A confidential application and the Basic header that authenticates it.
pub struct Client {
    pub id: String,
    pub headers: &'static [(&'static str, &'static str)],
}

pub async fn seed_client(store: &Store) -> Result<Client> {
    let id = token::generate(&OsEntropy).raw.chars().take(32).collect::<String>();
    let secret = token::generate(&OsEntropy);
    let mut conn = store.conn().await?;
    let new = NewClient {
        client_id: &id,
        name: "Bench",
        account_id: None,
        secret_hash: Some(&secret.hash),
        redirect_uris: &[REDIRECT.to_owned()],
        post_logout_redirect_uris: &[],
        require_two_factor: false,
        id_token_alg: Default::default(),
    };
    clients::insert(&mut conn, &new, unix_now()).await?;
    // The load tool's requests borrow their headers for the whole run.
    let basic = format!("Basic {}", BASE64.encode(format!("{id}:{}", secret.raw).as_bytes()));
    let headers: &'static [(&'static str, &'static str)] =
        Box::leak(Box::new([("authorization", &*Box::leak(basic.into_boxed_str()))]));
    Ok(Client { id, headers })
}

/// What each request redeems.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Redeem {
    Code,
    Refresh,
}

/// `n` grants of people in turn (signed in with their code), each with an unused code or
/// refresh token; answers the raw codes or tokens.
pub async fn seed_grants(
    store: &Store,
    client: &Client,
    people: &People,
    n: usize,
    what: Redeem,
) -> Result<Vec<String>> {
    let now = unix_now();
    let scope = if what == Redeem::Refresh { "openid email offline_access" } else { "openid email" };
    let mut out = Vec::with_capacity(n);
    for start in (0..n).step_by(BATCH) {
        let mut tx = store.begin().await?;
        for i in start..(start + BATCH).min(n) {
            let Some(&user_id) = people.user_ids.get(i % people.len().max(1)) else { continue };
            let grant = NewGrant {
                client_id: &client.id,
                user_id,
                session_hash: "bench",
                scope,
                nonce: Some("n"),
                auth_time: now,
                method: SignInMethod::Totp.as_str(),
                expires_at: now + GRANT_MAX_SECONDS,
            };
            let grant_id = grants::insert_grant(&mut tx, &grant, now).await?;
            let secret = token::generate(&OsEntropy);
            match what {
                Redeem::Code => {
                    let code = NewCode {
                        code_hash: &secret.hash,
                        grant_id,
                        redirect_uri: REDIRECT,
                        code_challenge: None,
                        expires_at: now + 3_600,
                    };
                    grants::insert_code(&mut tx, &code, now).await?;
                }
                Redeem::Refresh => {
                    grants::insert_token(&mut tx, &secret.hash, grant_id, TokenKind::Refresh, now, now + 3_600).await?;
                }
            }
            out.push(secret.raw);
        }
        commit(tx).await?;
    }
    Ok(out)
}

/// The token request's form for one code or refresh token.
pub fn form(what: Redeem, secret: &str) -> String {
    match what {
        Redeem::Code => {
            format!("grant_type=authorization_code&code={secret}&redirect_uri=https%3A%2F%2Fapp.bench.test%2Fcb")
        }
        Redeem::Refresh => format!("grant_type=refresh_token&refresh_token={secret}"),
    }
}
