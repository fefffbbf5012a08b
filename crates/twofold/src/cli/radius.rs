//! `twofold radius client`: the VPN gateways, Wi-Fi controllers and servers allowed to ask
//! the RADIUS server.

use std::io::{BufRead, Read};

use clap::Subcommand;
use twofold_app::domain::radius::Mode;
use twofold_app::radius::NewRadiusClient;

use super::{app_error, open_app};
use crate::config::Config;

#[derive(Debug, Subcommand)]
pub enum RadiusCommand {
    /// The RADIUS clients: who may ask, with which secret and how.
    #[command(subcommand)]
    Client(ClientCommand),
}

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Register a client; it may ask at once, on every running instance.
    Add {
        /// A name for the audit log and the list (letters, digits, '-', '_', '.').
        #[arg(long)]
        name: String,
        /// The address requests come from, or a CIDR block (10.0.0.0/24, 2001:db8::/48).
        #[arg(long, value_name = "IP_OR_CIDR")]
        address: String,
        /// Read the shared secret from standard input, up to its newline (at least 16
        /// characters; never on the command line).
        #[arg(long, required = true)]
        secret_stdin: bool,
        /// Only this account's people (the account whose Owner has this email).
        #[arg(long, value_name = "OWNER_EMAIL")]
        account: Option<String>,
        /// `challenge` (password, then the code when asked) or `append` (the code typed
        /// right after the password).
        #[arg(long, default_value = "challenge", value_parser = parse_mode)]
        mode: Mode,
        /// Let people without 2FA in with their password alone (while the account's policy
        /// allows it).
        #[arg(long)]
        allow_one_factor: bool,
        /// Accept requests without Message-Authenticator, for old clients such as Debian 12's
        /// pam_radius_auth. Exposes the client to BlastRADIUS (CVE-2024-3596): loopback or a
        /// trusted network only.
        #[arg(long)]
        legacy_no_message_authenticator: bool,
    },
    /// Every registered client, never its secret.
    List,
    /// Remove a client; its requests are dropped from then on.
    Remove { name: String },
}

fn parse_mode(s: &str) -> Result<Mode, String> {
    Mode::parse(s).ok_or_else(|| format!("{s:?} is not a mode: use challenge or append"))
}

/// The secret's first line, without its line ending.
fn read_secret() -> anyhow::Result<zeroize::Zeroizing<String>> {
    let mut line = zeroize::Zeroizing::new(String::new());
    std::io::stdin().lock().take(4096).read_line(&mut line)?;
    let secret = line.trim_end_matches(['\n', '\r']).to_owned();
    Ok(zeroize::Zeroizing::new(secret))
}

pub async fn run(command: RadiusCommand, config: &Config) -> anyhow::Result<()> {
    let RadiusCommand::Client(command) = command;
    match command {
        ClientCommand::Add {
            name,
            address,
            secret_stdin: _,
            account,
            mode,
            allow_one_factor,
            legacy_no_message_authenticator,
        } => {
            let secret = read_secret()?;
            let app = open_app(config).await?;
            let new = NewRadiusClient {
                name: &name,
                address: &address,
                secret: &secret,
                owner_email: account.as_deref(),
                mode,
                allow_one_factor,
                legacy_no_message_authenticator,
            };
            let added = app.add_radius_client(&new).await.map_err(app_error)?;
            println!("RADIUS client {} added for {} ({} mode).", added.name, added.address, added.mode.as_str());
            if added.legacy_no_message_authenticator {
                println!(
                    "Warning: it may send requests without Message-Authenticator (BlastRADIUS, CVE-2024-3596). Keep it on loopback or a trusted network."
                );
            }
        }
        ClientCommand::List => {
            let app = open_app(config).await?;
            let clients = app.radius_clients().await.map_err(app_error)?;
            if clients.is_empty() {
                println!("No RADIUS clients.");
            }
            for c in clients {
                let account = c.account_id.map_or("every account".to_owned(), |id| format!("account {id}"));
                let mut flags = Vec::new();
                if c.allow_one_factor {
                    flags.push("allow-one-factor");
                }
                if c.legacy_no_message_authenticator {
                    flags.push("legacy-no-message-authenticator");
                }
                println!("{}\t{}\t{}\t{}\t{}", c.name, c.address, c.mode.as_str(), account, flags.join(","));
            }
        }
        ClientCommand::Remove { name } => {
            let app = open_app(config).await?;
            app.remove_radius_client(&name).await.map_err(app_error)?;
            println!("RADIUS client {name} removed.");
        }
    }
    Ok(())
}
