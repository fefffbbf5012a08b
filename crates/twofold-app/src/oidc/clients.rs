//! Registered applications: added from the command line (instance-wide, or for one account)
//! or by an account's Owner on the Apps tab; the secret is shown once and kept hashed.

use data_encoding::HEXLOWER;
use serde_json::json;
use subtle::ConstantTimeEq;
use twofold_domain::oidc::client::{ClientFacts, check_registration};
use twofold_domain::oidc::jws::Alg;
use twofold_domain::person::Person;
use twofold_domain::token;
use twofold_store::oidc::clients::{self, ClientRow, NewClient};
use twofold_store::{Conn, commit};

use super::OAuthError;
use crate::access::ManageApps;
use crate::audit::Parties;
use crate::{App, Error, RequestContext, Result};

/// What an application is registered with.
#[derive(Debug, Clone, Default)]
pub struct NewApp {
    pub name: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    /// No secret: a single-page or native app, which must use PKCE.
    pub public: bool,
    pub require_two_factor: bool,
    /// How its ID tokens are signed.
    pub id_token_alg: Alg,
}

/// A registered application as its lists show it (never its secret's hash).
#[derive(Debug, Clone)]
pub struct AppInfo {
    pub facts: ClientFacts,
    pub created_at: i64,
    pub secret_rotated_at: Option<i64>,
}

impl From<ClientRow> for AppInfo {
    fn from(row: ClientRow) -> Self {
        AppInfo { facts: row.facts, created_at: row.created_at, secret_rotated_at: row.secret_rotated_at }
    }
}

/// A registered application and, for a confidential one, its secret: shown this once.
#[derive(Debug, Clone)]
pub struct CreatedApp {
    pub client: ClientFacts,
    pub client_secret: Option<String>,
}

/// How a client authenticated at the token or revocation endpoint.
#[derive(Debug, Clone, Default)]
pub struct ClientAuth {
    pub client_id: Option<String>,
    pub secret: Option<String>,
}

fn new_client_id(app: &App) -> String {
    let mut id = [0u8; 16];
    app.entropy().fill(&mut id);
    HEXLOWER.encode(&id)
}

impl App {
    /// `twofold oidc client add`: for every account (no `owner_email`) or the account of
    /// the Owner named.
    pub async fn add_instance_app(&self, new: &NewApp, owner_email: Option<&str>) -> Result<CreatedApp> {
        let mut conn = self.store().conn().await?;
        let account_id = match owner_email {
            None => None,
            Some(email) => Some(self.account_of_owner(&mut conn, email).await?),
        };
        drop(conn);
        let parties = Parties { account_id, ..Parties::default() };
        self.create_app(new, account_id, parties, &RequestContext::cli()).await
    }

    /// An Owner registers an application for their account.
    pub async fn add_app(&self, actor: &Person, new: &NewApp, ctx: &RequestContext) -> Result<CreatedApp> {
        self.may_manage_apps(actor, ctx).await?;
        let parties = Parties { account_id: Some(actor.account_id), actor: Some(actor.id), target: None };
        self.create_app(new, Some(actor.account_id), parties, ctx).await
    }

    async fn create_app(
        &self,
        new: &NewApp,
        account_id: Option<i64>,
        parties: Parties,
        ctx: &RequestContext,
    ) -> Result<CreatedApp> {
        let name = check_registration(&new.name, &new.redirect_uris, &new.post_logout_redirect_uris)
            .map_err(|e| Error::invalid("invalid_app", e))?;
        let client_id = new_client_id(self);
        let secret = (!new.public).then(|| token::generate(self.entropy()));
        let now = self.now();
        let mut tx = self.store().begin().await?;
        let row = NewClient {
            client_id: &client_id,
            name: &name,
            account_id,
            secret_hash: secret.as_ref().map(|s| s.hash.as_str()),
            redirect_uris: &new.redirect_uris,
            post_logout_redirect_uris: &new.post_logout_redirect_uris,
            require_two_factor: new.require_two_factor,
            id_token_alg: new.id_token_alg,
        };
        clients::insert(&mut tx, &row, now).await?;
        let detail = json!({
            "client_id": client_id,
            "name": name,
            "public": new.public,
            "require_two_factor": new.require_two_factor,
            "id_token_alg": new.id_token_alg.as_str(),
            "redirect_uris": new.redirect_uris,
        });
        self.record(&mut tx, now, ctx, parties, "oidc.client_created", detail).await?;
        commit(tx).await?;
        let client = ClientFacts {
            client_id,
            name,
            account_id,
            public: new.public,
            require_two_factor: new.require_two_factor,
            redirect_uris: new.redirect_uris.clone(),
            post_logout_redirect_uris: new.post_logout_redirect_uris.clone(),
            id_token_alg: new.id_token_alg,
        };
        Ok(CreatedApp { client, client_secret: secret.map(|s| s.raw) })
    }

    async fn may_manage_apps(&self, actor: &Person, ctx: &RequestContext) -> Result<()> {
        self.allow(actor, ManageApps, ctx).await.map(drop)
    }

    /// The Owner's list of their account's applications.
    pub async fn apps(&self, actor: &Person, ctx: &RequestContext) -> Result<Vec<AppInfo>> {
        self.may_manage_apps(actor, ctx).await?;
        let mut conn = self.store().conn().await?;
        Ok(clients::list(&mut conn, Some(actor.account_id)).await?.into_iter().map(AppInfo::from).collect())
    }

    /// Every application of the instance (the command line).
    pub async fn all_apps(&self) -> Result<Vec<AppInfo>> {
        let mut conn = self.store().conn().await?;
        Ok(clients::list(&mut conn, None).await?.into_iter().map(AppInfo::from).collect())
    }

    /// Removes an application: its grants and tokens go with it. `actor` is an Owner (their
    /// account's applications only) or `None` from the command line.
    pub async fn remove_app(&self, actor: Option<&Person>, client_id: &str, ctx: &RequestContext) -> Result<()> {
        if let Some(actor) = actor {
            self.may_manage_apps(actor, ctx).await?;
        }
        let now = self.now();
        // The write first: on SQLite a transaction that read first could not write later.
        let mut tx = self.store().begin().await?;
        let account = actor.map(|a| a.account_id);
        let Some((name, account_id)) = clients::delete_returning(&mut tx, client_id, account).await? else {
            return Err(Error::NotFound("No such application."));
        };
        let parties = Parties { account_id, actor: actor.map(|a| a.id), target: None };
        let detail = json!({ "client_id": client_id, "name": name });
        self.record(&mut tx, now, ctx, parties, "oidc.client_removed", detail).await?;
        commit(tx).await?;
        Ok(())
    }

    /// A new secret for a confidential application of the Owner's account; the old one
    /// stops working at once. Answers the new secret, shown once.
    pub async fn rotate_app_secret(&self, actor: &Person, client_id: &str, ctx: &RequestContext) -> Result<String> {
        self.may_manage_apps(actor, ctx).await?;
        let now = self.now();
        let secret = token::generate(self.entropy());
        let mut tx = self.store().begin().await?;
        if !clients::set_secret(&mut tx, client_id, actor.account_id, &secret.hash, now).await? {
            let found =
                clients::by_id(&mut tx, client_id).await?.filter(|r| r.facts.account_id == Some(actor.account_id));
            return Err(match found {
                Some(_) => Error::conflict("public_client", "A public application has no secret to rotate."),
                None => Error::NotFound("No such application."),
            });
        }
        let parties = Parties { account_id: Some(actor.account_id), actor: Some(actor.id), target: None };
        self.record(&mut tx, now, ctx, parties, "oidc.client_secret_rotated", json!({ "client_id": client_id }))
            .await?;
        commit(tx).await?;
        Ok(secret.raw)
    }

    /// The client behind a token or revocation request: a confidential one must prove its
    /// secret (compared in constant time, SEC-40); a public one sends only its id.
    pub(crate) async fn authenticate_client(
        &self,
        conn: &mut Conn,
        auth: &ClientAuth,
    ) -> std::result::Result<ClientRow, OAuthError> {
        let id = auth
            .client_id
            .as_deref()
            .filter(|id| !id.is_empty() && id.len() <= 100)
            .ok_or_else(OAuthError::invalid_client)?;
        let row = clients::by_id(conn, id).await?.ok_or_else(OAuthError::invalid_client)?;
        match (&row.secret_hash, auth.secret.as_deref()) {
            (None, None) => Ok(row),
            (Some(stored), Some(sent)) if bool::from(token::hash(sent).as_bytes().ct_eq(stored.as_bytes())) => Ok(row),
            _ => Err(OAuthError::invalid_client()),
        }
    }

    /// The name of the application a sign-in is for, when `rd` is an authorization request:
    /// the login page says where the person is going.
    pub async fn app_signing_in_to(&self, rd: &str) -> Option<String> {
        let query = rd.strip_prefix(super::authorize::PATH)?.strip_prefix('?')?;
        let client_id = query.split('&').find_map(|p| p.strip_prefix("client_id="))?;
        let mut conn = self.store().conn().await.ok()?;
        clients::by_id(&mut conn, client_id).await.ok().flatten().map(|r| r.facts.name)
    }
}
