//! API tokens (SEC-50): an Owner makes them (with their password) for scripts and back
//! ends; a token acts as the person who made it, within its scopes, until it expires, is
//! revoked, or that person leaves. Only its hash is kept; every request looks it up, so a
//! revocation holds on every instance at the next request.

use serde_json::json;
use twofold_domain::api_token::{self, Scope};
use twofold_domain::person::Person;
use twofold_store::api_tokens::{self, Kind};
use twofold_store::commit;

use crate::access::{AccountPermission, ManageApps};
use crate::audit::Parties;
use crate::proof::ProofFor;
use crate::{App, Error, RequestContext, Result};

/// A token as the Apps tab and the API list it: never the token itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiToken {
    pub id: i64,
    pub name: String,
    pub scopes: Vec<Scope>,
    pub created_by: i64,
    pub created_at: i64,
    pub expires_at: i64,
    pub last_used_at: Option<i64>,
}

impl From<api_tokens::TokenRow> for ApiToken {
    fn from(t: api_tokens::TokenRow) -> Self {
        ApiToken {
            id: t.id,
            name: t.name,
            scopes: api_token::split(&t.scopes),
            created_by: t.created_by,
            created_at: t.created_at,
            expires_at: t.expires_at,
            last_used_at: t.last_used_at,
        }
    }
}

/// A token's name as typed: trimmed, 1–100 characters, no control characters.
fn token_name(typed: &str) -> Result<&str> {
    let name = typed.trim();
    if !(1..=100).contains(&name.chars().count()) || name.chars().any(char::is_control) {
        return Err(Error::invalid("invalid_name", "A token needs a name of 1–100 characters."));
    }
    Ok(name)
}

/// What `POST /api/v1/tokens` asks for.
pub struct NewApiToken<'a> {
    pub name: &'a str,
    pub scopes: &'a [&'a str],
    pub expires_in_days: Option<i64>,
}

/// A token just made: `raw` is shown once and kept nowhere.
pub struct CreatedToken {
    pub token: ApiToken,
    pub raw: String,
}

/// A request that presented a live token: the person who made it, within its scopes. Only
/// [`App::token_caller`] makes one, so that a use case can trust it as its own proof.
#[derive(Debug, Clone)]
pub struct TokenCaller {
    pub user: Person,
    scopes: Vec<Scope>,
    token_id: i64,
}

impl TokenCaller {
    pub fn allows(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope)
    }

    pub fn token_id(&self) -> i64 {
        self.token_id
    }
}

impl App {
    /// An Owner makes a token, confirming with their password.
    pub async fn create_api_token(
        &self,
        actor: &Person,
        new: &NewApiToken<'_>,
        password: &str,
        ctx: &RequestContext,
    ) -> Result<CreatedToken> {
        self.allow(actor, ManageApps, ctx).await?;
        let name = token_name(new.name)?;
        let scopes = api_token::parse_scopes(new.scopes.iter().copied(), &Scope::ACCOUNT)
            .map_err(|e| Error::invalid("invalid_scope", e))?;
        let now = self.now();
        let expires_at = api_token::expires_at(now, new.expires_in_days)
            .ok_or_else(|| Error::invalid("invalid_expiry", "A token lives 1 to 366 days."))?;
        self.prove_password(actor, password, ProofFor::own(ManageApps::REFUSED), ctx).await?;
        let made = api_token::generate(self.entropy());
        let joined = api_token::joined(&scopes);
        let mut tx = self.store().begin().await?;
        let row = api_tokens::NewToken {
            account_id: actor.account_id,
            created_by: actor.id,
            name,
            token_hash: &made.hash,
            scopes: &joined,
            now,
            expires_at,
        };
        let id = api_tokens::insert(&mut tx, &row).await?;
        let detail = json!({ "token_id": id, "name": name, "scopes": joined, "expires_at": expires_at });
        self.record(&mut tx, now, ctx, Parties::own(actor), "api_token.created", detail).await?;
        commit(tx).await?;
        let token = ApiToken {
            id,
            name: name.to_owned(),
            scopes,
            created_by: actor.id,
            created_at: now,
            expires_at,
            last_used_at: None,
        };
        Ok(CreatedToken { token, raw: made.raw })
    }

    /// The account's tokens, newest first (the Owner's).
    pub async fn api_tokens(&self, actor: &Person, ctx: &RequestContext) -> Result<Vec<ApiToken>> {
        self.allow(actor, ManageApps, ctx).await?;
        let mut conn = self.store().conn().await?;
        Ok(api_tokens::in_account(&mut conn, actor.account_id).await?.into_iter().map(ApiToken::from).collect())
    }

    /// Revokes one of the account's tokens: refused at its next request on every instance.
    pub async fn revoke_api_token(&self, actor: &Person, id: i64, ctx: &RequestContext) -> Result<()> {
        self.allow(actor, ManageApps, ctx).await?;
        let now = self.now();
        let mut tx = self.store().begin().await?;
        let Some(name) = api_tokens::delete(&mut tx, actor.account_id, id).await? else {
            return Err(Error::NotFound("No such token."));
        };
        let detail = json!({ "token_id": id, "name": name });
        self.record(&mut tx, now, ctx, Parties::own(actor), "api_token.revoked", detail).await?;
        commit(tx).await?;
        Ok(())
    }

    /// The caller behind a presented token, if it is live and its maker may still act.
    pub async fn token_caller(&self, raw: &str) -> Result<Option<TokenCaller>> {
        if !api_token::is_well_formed(raw) {
            return Ok(None);
        }
        let now = self.now();
        let mut conn = self.store().conn().await?;
        let Some((token, maker)) = api_tokens::live(&mut conn, &twofold_domain::token::hash(raw), now).await? else {
            return Ok(None);
        };
        let user = maker.into_person();
        if user.is_deactivated() || user.account_id != token.account_id {
            return Ok(None);
        }
        api_tokens::touch(&mut conn, Kind::Account, token.id, now).await?;
        Ok(Some(TokenCaller { user, scopes: api_token::split(&token.scopes), token_id: token.id }))
    }
}

/// An instance token as `twofold token list` shows it: never the token itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceToken {
    pub id: i64,
    pub name: String,
    pub scopes: Vec<Scope>,
    pub created_at: i64,
    pub expires_at: i64,
    pub last_used_at: Option<i64>,
}

impl From<api_tokens::InstanceTokenRow> for InstanceToken {
    fn from(t: api_tokens::InstanceTokenRow) -> Self {
        InstanceToken {
            id: t.id,
            name: t.name,
            scopes: api_token::split(&t.scopes),
            created_at: t.created_at,
            expires_at: t.expires_at,
            last_used_at: t.last_used_at,
        }
    }
}

/// A request that presented a live instance token. Only [`App::instance_caller`] makes one.
#[derive(Debug, Clone)]
pub struct InstanceCaller {
    pub token_id: i64,
    pub name: String,
    scopes: Vec<Scope>,
}

impl InstanceCaller {
    pub fn allows(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope)
    }
}

impl App {
    /// An operator makes an instance token from the shell; `raw` is printed once.
    pub async fn create_instance_token(
        &self,
        name: &str,
        scopes: &[&str],
        expires_in_days: Option<i64>,
    ) -> Result<(InstanceToken, String)> {
        let name = token_name(name)?;
        let scopes = api_token::parse_scopes(scopes.iter().copied(), &Scope::INSTANCE)
            .map_err(|e| Error::invalid("invalid_scope", e))?;
        let now = self.now();
        let expires_at = api_token::expires_at(now, expires_in_days)
            .ok_or_else(|| Error::invalid("invalid_expiry", "A token lives 1 to 366 days."))?;
        let made = api_token::generate(self.entropy());
        let joined = api_token::joined(&scopes);
        let mut tx = self.store().begin().await?;
        let row = api_tokens::NewInstanceToken { name, token_hash: &made.hash, scopes: &joined, now, expires_at };
        let id = api_tokens::insert_instance(&mut tx, &row).await?;
        let detail = json!({ "token_id": id, "name": name, "scopes": joined, "expires_at": expires_at });
        let cli = RequestContext::cli();
        self.record(&mut tx, now, &cli, Parties::default(), "instance_token.created", detail).await?;
        commit(tx).await?;
        let token =
            InstanceToken { id, name: name.to_owned(), scopes, created_at: now, expires_at, last_used_at: None };
        Ok((token, made.raw))
    }

    /// Every instance token, newest first.
    pub async fn instance_tokens(&self) -> Result<Vec<InstanceToken>> {
        let mut conn = self.store().conn().await?;
        Ok(api_tokens::instance_tokens(&mut conn).await?.into_iter().map(InstanceToken::from).collect())
    }

    /// Revokes an instance token: refused at its next request on every instance.
    pub async fn revoke_instance_token(&self, id: i64) -> Result<()> {
        let now = self.now();
        let mut tx = self.store().begin().await?;
        let Some(name) = api_tokens::delete_instance(&mut tx, id).await? else {
            return Err(Error::NotFound("No such token."));
        };
        let detail = json!({ "token_id": id, "name": name });
        self.record(&mut tx, now, &RequestContext::cli(), Parties::default(), "instance_token.revoked", detail).await?;
        commit(tx).await?;
        Ok(())
    }

    /// The instance token behind a presented bearer token, if it is live.
    pub async fn instance_caller(&self, raw: &str) -> Result<Option<InstanceCaller>> {
        if !api_token::is_well_formed(raw) {
            return Ok(None);
        }
        let now = self.now();
        let mut conn = self.store().conn().await?;
        let Some(token) = api_tokens::live_instance(&mut conn, &twofold_domain::token::hash(raw), now).await? else {
            return Ok(None);
        };
        api_tokens::touch(&mut conn, Kind::Instance, token.id, now).await?;
        Ok(Some(InstanceCaller { token_id: token.id, name: token.name, scopes: api_token::split(&token.scopes) }))
    }
}
