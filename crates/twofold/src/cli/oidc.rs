//! `twofold oidc`: registered applications and the ID-token signing keys.

use clap::Subcommand;
use twofold_app::domain::oidc::jws::Alg;
use twofold_app::oidc::clients::NewApp;

use super::{app_error, open_app};
use crate::config::Config;

#[derive(Debug, Subcommand)]
pub enum OidcCommand {
    /// Applications that sign people in through Twofold.
    #[command(subcommand)]
    Client(ClientCommand),
    /// The keys that sign ID tokens.
    #[command(subcommand)]
    Keys(SigningKeysCommand),
}

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Register an application; prints its client_id and, unless --public, its secret (once).
    Add {
        #[arg(long)]
        name: String,
        /// Where the application receives the code (matched exactly); repeat for more.
        #[arg(long = "redirect-uri", required = true)]
        redirect_uris: Vec<String>,
        /// No secret: a single-page or native app, which must use PKCE.
        #[arg(long)]
        public: bool,
        /// Only this account's people (the account whose Owner has this email); without it
        /// the application serves every account of the instance.
        #[arg(long, value_name = "OWNER_EMAIL")]
        account: Option<String>,
        /// People without 2FA are led through the wizard before the application gets a code.
        #[arg(long)]
        require_two_factor: bool,
        /// Where the application may send people after signing out; repeat for more.
        #[arg(long = "post-logout-redirect-uri")]
        post_logout_redirect_uris: Vec<String>,
        /// How its ID tokens are signed: ES256 (the default) or RS256.
        #[arg(long = "id-token-alg", value_name = "ALG", default_value = "ES256", value_parser = parse_alg)]
        id_token_alg: Alg,
    },
    /// Every registered application.
    List,
    /// Remove an application; its tokens stop working at once.
    Remove { client_id: String },
}

#[derive(Debug, Subcommand)]
pub enum SigningKeysCommand {
    /// For each algorithm (ES256, RS256), a new key signs from now on; the old one stays
    /// published for two days, so tokens it signed still verify.
    Rotate,
    /// The signing keys, newest first.
    List,
}

pub async fn run(command: OidcCommand, config: &Config) -> anyhow::Result<()> {
    let app = open_app(config).await?;
    match command {
        OidcCommand::Client(ClientCommand::Add {
            name,
            redirect_uris,
            public,
            account,
            require_two_factor,
            post_logout_redirect_uris,
            id_token_alg,
        }) => {
            let new =
                NewApp { name, redirect_uris, post_logout_redirect_uris, public, require_two_factor, id_token_alg };
            let created = app.add_instance_app(&new, account.as_deref()).await.map_err(app_error)?;
            println!("client_id: {}", created.client.client_id);
            if let Some(secret) = created.client_secret {
                println!("client_secret: {secret}");
                println!("The secret is shown this once; only its hash is kept.");
            }
            println!("issuer: {}", app.issuer());
            if config.public_url.is_none() {
                // The issuer is whatever this command's configuration says; applications must
                // be given the address people actually reach.
                println!(
                    "That issuer is the default: set public_url in the configuration file (or \
                     TWOFOLD_PUBLIC_URL) to the address people reach Twofold at, the same for \
                     this command and for `twofold serve`."
                );
            }
        }
        OidcCommand::Client(ClientCommand::List) => {
            for row in app.all_apps().await.map_err(app_error)? {
                let c = row.facts;
                let scope = c.account_id.map_or_else(|| "every account".to_owned(), |a| format!("account {a}"));
                let kind = if c.public { "public" } else { "confidential" };
                let two_factor = if c.require_two_factor { ", requires 2FA" } else { "" };
                println!("{}\t{}\t{kind}, {scope}{two_factor}\t{}", c.client_id, c.name, c.redirect_uris.join(" "));
            }
        }
        OidcCommand::Client(ClientCommand::Remove { client_id }) => {
            app.remove_app(None, &client_id, &twofold_app::RequestContext::cli()).await.map_err(app_error)?;
            println!("Removed application {client_id}.");
        }
        OidcCommand::Keys(SigningKeysCommand::Rotate) => {
            for rotation in app.rotate_signing_keys().await.map_err(app_error)? {
                let (alg, new) = (rotation.alg, &rotation.new_kid);
                match (rotation.retired_kid, rotation.published_until) {
                    (Some(old), Some(until)) => println!(
                        "{alg} ID tokens are now signed with key {new}; key {old} stays published until {until} (Unix time)."
                    ),
                    _ => println!("{alg} ID tokens are now signed with key {new}."),
                }
            }
        }
        OidcCommand::Keys(SigningKeysCommand::List) => {
            for key in app.signing_keys().await.map_err(app_error)? {
                let state = key.retired_at.map_or_else(|| "signing".to_owned(), |t| format!("retired at {t}"));
                println!("{}\t{}\tcreated {}\t{state}", key.kid, key.alg, key.created_at);
            }
        }
    }
    Ok(())
}

fn parse_alg(s: &str) -> Result<Alg, String> {
    Alg::parse(&s.to_uppercase()).ok_or_else(|| "choose ES256 or RS256".to_owned())
}
