//! The first account: a one-time setup link on first run, or `twofold account create`.

use serde_json::json;
use twofold_domain::email::Email;
use twofold_domain::person::Person;
use twofold_domain::session::Stage;
use twofold_domain::{Role, password, person_name, token};
use twofold_store::users::{self, NewUser};
use twofold_store::{Conn, Realm, StoreError, accounts, commit, links};

use crate::audit::Parties;
use crate::sign_in::NewSessionToken;
use crate::tokens::InstanceCaller;
use crate::{App, Error, RequestContext, Result};
use twofold_domain::api_token::Scope;

/// What the setup form (or the command line) provides.
#[derive(Debug, Clone)]
pub struct NewAccount<'a> {
    pub account_name: &'a str,
    pub owner_name: &'a str,
    pub owner_email: &'a str,
    pub password: &'a str,
}

/// What `POST /api/v1/accounts` asks for.
#[derive(Debug, Clone)]
pub struct NewAccountByApi<'a> {
    pub name: &'a str,
    pub owner_email: &'a str,
    pub owner_name: &'a str,
}

/// An account made by API: its Owner is invited, `invitation_url` shown to the caller once.
#[derive(Debug, Clone)]
pub struct CreatedAccount {
    pub account_id: i64,
    pub account_name: String,
    pub owner: Person,
    pub invitation_url: String,
}

/// The validated form of [`NewAccount`].
struct Checked {
    account_name: String,
    owner_name: String,
    owner_email: String,
}

fn check(new: &NewAccount<'_>) -> Result<Checked> {
    let account_name = person_name::parse(new.account_name).map_err(|e| Error::invalid("invalid_account_name", e))?;
    let owner_name = person_name::parse(new.owner_name).map_err(|e| Error::invalid("invalid_name", e))?;
    let owner_email = Email::parse(new.owner_email).map_err(|e| Error::invalid("invalid_email", e))?.into_string();
    password::check_new(new.password).map_err(|e| Error::invalid("weak_password", e))?;
    Ok(Checked { account_name, owner_name, owner_email })
}

pub(crate) fn email_taken(e: StoreError) -> Error {
    match e {
        StoreError::Unique(_) => Error::conflict("email_taken", "Someone already uses this email address."),
        other => other.into(),
    }
}

impl App {
    /// Whether the database has no account yet (first run).
    pub async fn needs_setup(&self) -> Result<bool> {
        let mut conn = self.store().conn().await?;
        Ok(accounts::count(&mut conn).await? == 0)
    }

    /// Issues a setup link valid for an hour, replacing any earlier one; the raw token is
    /// returned once, to be printed on the operator's terminal, and stored only hashed.
    pub async fn issue_setup_link(&self) -> Result<String> {
        let now = self.now();
        let new = token::generate(self.entropy());
        let mut tx = self.store().begin().await?;
        links::insert_setup(&mut tx, &new.hash, now, now + self.config().setup_link_ttl).await?;
        self.record(&mut tx, now, &RequestContext::cli(), Parties::default(), "setup_link.issued", json!({})).await?;
        commit(tx).await?;
        Ok(self.url(&format!("/setup/{}", new.raw)))
    }

    /// Whether the setup link works now, without using it: `SetupLinkEnded` (410) once any
    /// account exists, however it was made (SEC-54), `LinkInvalid` (404) otherwise.
    pub async fn check_setup_link(&self, raw: &str) -> Result<()> {
        let mut conn = self.store().conn().await?;
        if accounts::count(&mut conn).await? > 0 {
            return Err(Error::SetupLinkEnded);
        }
        let valid =
            token::is_well_formed(raw) && links::setup_is_valid(&mut conn, &token::hash(raw), self.now()).await?;
        if valid { Ok(()) } else { Err(Error::LinkInvalid) }
    }

    /// Creates the first account and its Owner through the setup link, and signs the
    /// Owner in. The link works once, even when submitted twice at the same moment.
    pub async fn complete_setup(
        &self,
        raw: &str,
        new: &NewAccount<'_>,
        ctx: &RequestContext,
    ) -> Result<NewSessionToken> {
        if !token::is_well_formed(raw) {
            return Err(Error::LinkInvalid);
        }
        let checked = check(new)?;
        let hash = self.passwords().hash(new.password, self.salt()).await?;
        let now = self.now();
        let mut tx = self.store().begin().await?;
        if !links::consume_setup(&mut tx, &token::hash(raw), now).await? {
            drop(tx);
            return Err(self.check_setup_link(raw).await.err().unwrap_or(Error::LinkInvalid));
        }
        let owner = create(self, &mut tx, &checked, &hash, ctx, now).await?;
        let options = crate::credentials::SessionOptions::default();
        let issued = self.open_session(&mut tx, Realm::People, owner.id, Stage::SignedIn, options, ctx).await?;
        users::record_sign_in(&mut tx, owner.id, now).await?;
        self.record(&mut tx, now, ctx, Parties::own(&owner), "sign_in.succeeded", json!({ "method": "setup_link" }))
            .await?;
        commit(tx).await?;
        Ok(NewSessionToken::new(issued, &owner, None))
    }

    /// Creates an account and its Owner from the command line; answers (account id, owner id).
    pub async fn create_account(&self, new: &NewAccount<'_>) -> Result<(i64, i64)> {
        let checked = check(new)?;
        let hash = self.passwords().hash(new.password, self.salt()).await?;
        let now = self.now();
        let mut tx = self.store().begin().await?;
        let owner = create(self, &mut tx, &checked, &hash, &RequestContext::cli(), now).await?;
        commit(tx).await?;
        Ok((owner.account_id, owner.id))
    }

    /// A SaaS back end creates an account with an instance token (`accounts:write`); the
    /// Owner has no password yet and is mailed an invitation to choose one.
    pub async fn create_account_by_api(
        &self,
        caller: &InstanceCaller,
        new: &NewAccountByApi<'_>,
        ctx: &RequestContext,
    ) -> Result<CreatedAccount> {
        if !caller.allows(Scope::AccountsWrite) {
            let message = "This token does not have the accounts:write scope.".to_owned();
            return Err(Error::Refused { code: "insufficient_scope", message });
        }
        let account_name = person_name::parse(new.name).map_err(|e| Error::invalid("invalid_account_name", e))?;
        let owner_name = person_name::parse(new.owner_name).map_err(|e| Error::invalid("invalid_name", e))?;
        let owner_email = Email::parse(new.owner_email).map_err(|e| Error::invalid("invalid_email", e))?;
        let now = self.now();
        let mut tx = self.store().begin().await?;
        let account_id = accounts::insert(&mut tx, &account_name, now).await?;
        links::void_setup_links(&mut tx).await?;
        let owner = NewUser {
            account_id,
            email: owner_email.as_str(),
            name: &owner_name,
            role: Role::Owner,
            password_hash: None,
            now,
        };
        let owner_id = users::insert(&mut tx, &owner).await.map_err(email_taken)?;
        let owner = users::by_id(&mut tx, owner_id).await?.ok_or(Error::NotFound("No such person."))?.into_person();
        let sent = self.send_invitation(&mut tx, &owner, None, now).await?;
        let detail = json!({
            "account_name": account_name,
            "owner_email": owner.email,
            "instance_token_id": caller.token_id,
            "instance_token": caller.name,
            "outbox_id": sent.outbox_id,
        });
        self.record(&mut tx, now, ctx, Parties::own(&owner), "account.created", detail).await?;
        commit(tx).await?;
        Ok(CreatedAccount { account_id, account_name, owner, invitation_url: sent.url })
    }

    pub(crate) fn salt(&self) -> [u8; 16] {
        let mut salt = [0u8; 16];
        self.entropy().fill(&mut salt);
        salt
    }
}

async fn create(
    app: &App,
    conn: &mut Conn,
    checked: &Checked,
    password_hash: &str,
    ctx: &RequestContext,
    now: i64,
) -> Result<Person> {
    let account_id = accounts::insert(conn, &checked.account_name, now).await?;
    // Any account, however made, ends every printed setup link (SEC-54).
    links::void_setup_links(conn).await?;
    let owner_id = users::insert(
        conn,
        &NewUser {
            account_id,
            email: &checked.owner_email,
            name: &checked.owner_name,
            role: Role::Owner,
            password_hash: Some(password_hash),
            now,
        },
    )
    .await
    .map_err(email_taken)?;
    let owner = users::by_id(conn, owner_id).await?.ok_or(Error::NotFound("No such person."))?.into_person();
    let parties = Parties::own(&owner);
    app.record(
        conn,
        now,
        ctx,
        parties,
        "account.created",
        json!({ "account_name": checked.account_name, "owner_email": owner.email }),
    )
    .await?;
    Ok(owner)
}
