//! `twofold token`: instance tokens, for a back end that works above any one account
//! (`accounts:write` creates accounts with their Owner by API).

use clap::Subcommand;

use super::{app_error, open_app};
use crate::config::Config;

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Make an instance token and print it once (only its hash is kept).
    Create {
        /// What it is for, as the list and the audit log show it.
        #[arg(long)]
        name: String,
        /// What it may do: accounts:write (create accounts and invite their Owner).
        #[arg(long = "scope", required = true, value_name = "SCOPE")]
        scopes: Vec<String>,
        /// 1–366 days [default: 90].
        #[arg(long)]
        expires_in_days: Option<i64>,
    },
    /// Every instance token, never the token itself.
    List,
    /// Revoke a token: refused at its next request, on every instance.
    Revoke { id: i64 },
}

pub async fn run(command: TokenCommand, config: &Config) -> anyhow::Result<()> {
    let app = open_app(config).await?;
    match command {
        TokenCommand::Create { name, scopes, expires_in_days } => {
            let scopes: Vec<&str> = scopes.iter().flat_map(|s| s.split([',', ' '])).filter(|s| !s.is_empty()).collect();
            let (token, raw) = app.create_instance_token(&name, &scopes, expires_in_days).await.map_err(app_error)?;
            eprintln!("Instance token {} ({}) made; it is shown this once:", token.id, token.name);
            println!("{raw}");
        }
        TokenCommand::List => {
            let tokens = app.instance_tokens().await.map_err(app_error)?;
            if tokens.is_empty() {
                println!("No instance tokens.");
            }
            for t in tokens {
                let scopes: Vec<&str> = t.scopes.iter().map(|s| s.as_str()).collect();
                let used = t.last_used_at.map_or("never used".to_owned(), |at| format!("last used {at}"));
                println!("{}\t{}\t{}\texpires {}\t{used}", t.id, t.name, scopes.join(","), t.expires_at);
            }
        }
        TokenCommand::Revoke { id } => {
            app.revoke_instance_token(id).await.map_err(app_error)?;
            println!("Instance token {id} revoked.");
        }
    }
    Ok(())
}
