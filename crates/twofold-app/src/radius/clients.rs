//! RADIUS clients: registered from the command line with a shared secret sealed at rest,
//! found for each request by its source address.

use std::net::IpAddr;

use serde_json::json;
use twofold_domain::radius::client::{self, ClientAddress, Mode};
use twofold_store::{commit, radius};
use zeroize::Zeroizing;

use crate::audit::Parties;
use crate::{App, Error, RequestContext, Result};

/// What `twofold radius client add` asks for.
pub struct NewRadiusClient<'a> {
    pub name: &'a str,
    pub address: &'a str,
    pub secret: &'a str,
    /// The Owner whose account's people alone may sign in through this client.
    pub owner_email: Option<&'a str>,
    pub mode: Mode,
    pub allow_one_factor: bool,
    pub legacy_no_message_authenticator: bool,
}

/// A client as `twofold radius client list` shows it: never its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RadiusClientInfo {
    pub name: String,
    pub address: String,
    pub account_id: Option<i64>,
    pub mode: Mode,
    pub allow_one_factor: bool,
    pub legacy_no_message_authenticator: bool,
    pub created_at: i64,
}

/// The client a request came from, with its secret opened for the packet's checks.
#[derive(Clone)]
pub struct RadiusClient {
    pub id: i64,
    pub name: String,
    pub account_id: Option<i64>,
    pub mode: Mode,
    pub allow_one_factor: bool,
    pub legacy_no_message_authenticator: bool,
    secret: Zeroizing<Vec<u8>>,
}

impl RadiusClient {
    pub fn secret(&self) -> &[u8] {
        &self.secret
    }
}

impl std::fmt::Debug for RadiusClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RadiusClient").field("id", &self.id).field("name", &self.name).finish_non_exhaustive()
    }
}

/// The secret is bound to the client's name: a sealed secret copied to another row opens
/// nowhere.
pub(crate) fn secret_purpose(name: &str) -> String {
    format!("radius-client-secret:{name}")
}

fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

fn info_of(row: radius::ClientRow) -> RadiusClientInfo {
    RadiusClientInfo {
        name: row.name,
        address: row.address,
        account_id: row.account_id,
        mode: Mode::parse(&row.mode).unwrap_or(Mode::Challenge),
        allow_one_factor: row.allow_one_factor,
        legacy_no_message_authenticator: row.legacy_no_message_authenticator,
        created_at: row.created_at,
    }
}

impl App {
    /// `twofold radius client add`: audited, in the account's log when it is scoped to one.
    pub async fn add_radius_client(&self, new: &NewRadiusClient<'_>) -> Result<RadiusClientInfo> {
        if !valid_name(new.name) {
            return Err(Error::invalid("invalid_name", "A client's name has 1–64 letters, digits, '-', '_' or '.'."));
        }
        let address: ClientAddress =
            new.address.parse().map_err(|e| Error::invalid("invalid_address", format!("--address: {e}")))?;
        client::check_secret(new.secret).map_err(|e| Error::invalid("weak_secret", e))?;
        let sealed = self.secrets().seal(&secret_purpose(new.name), 0, new.secret.as_bytes())?;
        let now = self.now();
        let mut tx = self.store().begin().await?;
        let account_id = match new.owner_email {
            None => None,
            Some(email) => Some(self.account_of_owner(&mut tx, email).await?),
        };
        let address = address.to_string();
        // Two clients on one address would answer by name order: refuse the second.
        if let Some(same) = radius::clients(&mut tx).await?.into_iter().find(|c| c.address == address) {
            return Err(Error::conflict(
                "address_taken",
                format!("The RADIUS client {} has that address; remove it first.", same.name),
            ));
        }
        let row = radius::NewClient {
            name: new.name,
            address: &address,
            secret_box: &sealed,
            account_id,
            mode: new.mode.as_str(),
            allow_one_factor: new.allow_one_factor,
            legacy_no_message_authenticator: new.legacy_no_message_authenticator,
            now,
        };
        if radius::add_client(&mut tx, &row).await?.is_none() {
            return Err(Error::conflict("name_taken", "A RADIUS client with that name exists; remove it first."));
        }
        let detail = json!({
            "name": new.name, "address": address, "mode": new.mode.as_str(),
            "allow_one_factor": new.allow_one_factor,
            "legacy_no_message_authenticator": new.legacy_no_message_authenticator,
        });
        let parties = Parties { account_id, ..Parties::default() };
        self.record(&mut tx, now, &RequestContext::cli(), parties, "radius.client_added", detail).await?;
        commit(tx).await?;
        Ok(RadiusClientInfo {
            name: new.name.to_owned(),
            address,
            account_id,
            mode: new.mode,
            allow_one_factor: new.allow_one_factor,
            legacy_no_message_authenticator: new.legacy_no_message_authenticator,
            created_at: now,
        })
    }

    pub async fn radius_clients(&self) -> Result<Vec<RadiusClientInfo>> {
        let mut conn = self.store().conn().await?;
        Ok(radius::clients(&mut conn).await?.into_iter().map(info_of).collect())
    }

    /// `twofold radius client remove`: its open challenges end with it.
    pub async fn remove_radius_client(&self, name: &str) -> Result<()> {
        let now = self.now();
        let mut tx = self.store().begin().await?;
        let account_id = radius::clients(&mut tx).await?.into_iter().find(|c| c.name == name).map(|c| c.account_id);
        let Some(account_id) = account_id else { return Err(Error::NotFound("No RADIUS client has that name.")) };
        radius::remove_client(&mut tx, name).await?;
        let parties = Parties { account_id, ..Parties::default() };
        self.record(&mut tx, now, &RequestContext::cli(), parties, "radius.client_removed", json!({ "name": name }))
            .await?;
        commit(tx).await?;
        Ok(())
    }

    /// The client whose addresses hold `ip` (the most specific), with its secret opened;
    /// read for every request, so that a change takes effect at once on every instance.
    pub async fn radius_client_for(&self, ip: IpAddr) -> Result<Option<RadiusClient>> {
        let mut conn = self.store().conn().await?;
        let rows = radius::clients(&mut conn).await?;
        drop(conn);
        let parsed: Vec<(ClientAddress, radius::ClientRow)> =
            rows.into_iter().filter_map(|r| Some((r.address.parse().ok()?, r))).collect();
        let Some(row) = client::best_match(ip, parsed.iter().map(|(a, r)| (a, r))) else { return Ok(None) };
        let secret = Zeroizing::new(self.secrets().open(&secret_purpose(&row.name), 0, &row.secret_box)?);
        Ok(Some(RadiusClient {
            id: row.id,
            name: row.name.clone(),
            account_id: row.account_id,
            mode: Mode::parse(&row.mode).unwrap_or(Mode::Challenge),
            allow_one_factor: row.allow_one_factor,
            legacy_no_message_authenticator: row.legacy_no_message_authenticator,
            secret,
        }))
    }

    /// Re-encrypts every client's secret under the current key (`twofold keys rotate`).
    pub(crate) async fn reseal_radius_secrets(&self) -> Result<(usize, usize)> {
        let mut conn = self.store().conn().await?;
        let rows = radius::clients(&mut conn).await?;
        drop(conn);
        let (mut resealed, mut skipped) = (0, 0);
        for row in rows {
            let Some(new) = self.secrets().rewrap_if_needed(&secret_purpose(&row.name), 0, &row.secret_box)? else {
                continue;
            };
            let mut conn = self.store().conn().await?;
            if radius::reseal_client(&mut conn, row.id, &row.secret_box, &new).await? {
                resealed += 1;
            } else {
                skipped += 1;
            }
        }
        Ok((resealed, skipped))
    }
}
