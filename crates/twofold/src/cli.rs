//! The command line: `serve`, `migrate`, `account create`, and the operators' commands.

mod oidc;
mod radius;
mod token;

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use twofold_app::setup::NewAccount;
use twofold_app::support::{OperatorChange, SupportActor};
use twofold_app::{App, Error};
use twofold_store::{Store, StoreOptions};

use crate::config::{Config, Overrides};

#[derive(Debug, Parser)]
#[command(name = "twofold", version, about = "Two-factor authentication for multi-user SaaS accounts.")]
pub struct Cli {
    /// A TOML configuration file (flags and TWOFOLD_* variables override it).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// PostgreSQL (postgres://…) or SQLite (sqlite://…) database; default: SQLite in the data dir.
    #[arg(long, global = true, value_name = "URL")]
    database_url: Option<String>,
    /// Where the embedded database lives.
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server (migrates the database first).
    Serve {
        /// Address and port to listen on [default: 127.0.0.1:8080].
        #[arg(long, value_name = "ADDR")]
        listen: Option<String>,
        /// The URL people reach Twofold at, if not http://<listen> (e.g. behind a proxy).
        #[arg(long, value_name = "URL")]
        public_url: Option<String>,
        /// Also serve RADIUS on this UDP address and port (e.g. 127.0.0.1:1812).
        #[arg(long, value_name = "ADDR")]
        radius_listen: Option<String>,
    },
    /// Bring the database schema to this version, then exit.
    Migrate,
    /// Manage accounts.
    #[command(subcommand)]
    Account(AccountCommand),
    /// Pending, sent and failed messages of every channel (SMS and email), newest first,
    /// never their text: it may hold codes or links.
    Outbox {
        /// How many messages to list.
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// The outbox, as before email joined it (`twofold sms outbox` is `twofold outbox`).
    #[command(subcommand)]
    Sms(SmsCommand),
    /// Customer Success: support operators and SMS recovery.
    #[command(subcommand)]
    Support(SupportCommand),
    /// Manage the keys that encrypt secrets at rest.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Check the audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// The OpenID Connect provider: applications and signing keys.
    #[command(subcommand)]
    Oidc(oidc::OidcCommand),
    /// The RADIUS server (VPNs, Wi-Fi, SSH through PAM): its clients.
    #[command(subcommand)]
    Radius(radius::RadiusCommand),
    /// Instance tokens, for back ends that create accounts by API.
    #[command(subcommand)]
    Token(token::TokenCommand),
    /// People who leave and come back.
    #[command(subcommand)]
    Person(PersonCommand),
    /// Write a consistent copy of the SQLite database while the server runs (PostgreSQL:
    /// use pg_dump).
    Backup {
        /// The file to write; it must not exist. Written under a temporary name and renamed
        /// only when complete.
        #[arg(long, value_name = "FILE")]
        output: PathBuf,
        /// Put the keyring in too, the whole file sealed under a passphrase read from
        /// standard input (at least 12 characters).
        #[arg(long)]
        include_keys: bool,
    },
    /// Restore a backup into the data directory: checked (integrity, schema version,
    /// keyring) before anything changes, migrated, and its audit log verified.
    Restore {
        #[arg(long, value_name = "FILE")]
        input: PathBuf,
        /// Replace a database already in the data directory (it is kept, renamed).
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Walk every account's hash chain and name the first broken event of each; exits 1
    /// when any chain is broken.
    Verify {
        /// A checkpoint taken before (`twofold audit checkpoint`): the events it names must
        /// still be there, unchanged, which shows a rewrite even of a whole chain.
        #[arg(long)]
        checkpoint: Option<std::path::PathBuf>,
    },
    /// Print each chain's head, signed with a key from the keyring, as JSON: keep it
    /// outside the database (another host, write-once storage) to check against later.
    Checkpoint {
        /// Write it to this file (created, never overwritten) instead of standard output.
        #[arg(long)]
        output: Option<std::path::PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum SupportCommand {
    /// Support operators.
    #[command(subcommand)]
    Operator(OperatorCommand),
    /// SMS recovery for a person who lost their device.
    #[command(subcommand, name = "sms-recovery")]
    SmsRecovery(SmsRecoveryCommand),
}

#[derive(Debug, Subcommand)]
enum OperatorCommand {
    /// Add a support operator (they enrol TOTP at their first sign-in at /support).
    Add {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        /// Read the password from standard input (required: never on the command line).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// List operators, their authenticator app and whether they are locked out.
    List,
    /// Remove an operator; their sessions end.
    Remove {
        #[arg(long)]
        email: String,
    },
    /// Clear an operator's locks after too many wrong passwords or codes.
    Unlock {
        #[arg(long)]
        email: String,
    },
    /// Forget an operator's authenticator app: they enrol again at their next sign-in.
    ResetTotp {
        #[arg(long)]
        email: String,
    },
}

#[derive(Debug, Subcommand)]
enum SmsRecoveryCommand {
    /// Let the person sign in with an SMS code for a while (48 hours by default).
    Grant {
        #[arg(long)]
        email: String,
        /// Why, e.g. the ticket reference and how identity was checked (required).
        #[arg(long)]
        reason: String,
        #[arg(long)]
        hours: Option<i64>,
    },
    /// End the person's SMS recovery now.
    Revoke {
        #[arg(long)]
        email: String,
    },
}

#[derive(Debug, Subcommand)]
enum SmsCommand {
    /// Pending, sent and failed messages, newest first (never their text: it may hold codes).
    Outbox {
        /// How many messages to list.
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
}

#[derive(Debug, Subcommand)]
enum PersonCommand {
    /// Ends every way in of a person at once (sessions, remembered browsers, applications'
    /// tokens, RADIUS); never an Account Owner.
    Deactivate {
        #[arg(long)]
        email: String,
    },
    /// Lets a deactivated person sign in again (their sessions stay ended).
    Reactivate {
        #[arg(long)]
        email: String,
    },
    /// Removes a person and their sign-in settings; the audit log keeps their events.
    Remove {
        #[arg(long)]
        email: String,
    },
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// With the key file: add a new key, make it current, and re-encrypt every secret with
    /// it. With TWOFOLD_SECRET_KEY: re-encrypt every secret with the first (current) key.
    Rotate,
}

#[derive(Debug, Subcommand)]
enum AccountCommand {
    /// Create an account and its Owner.
    Create {
        #[arg(long)]
        name: String,
        #[arg(long)]
        owner_email: String,
        #[arg(long)]
        owner_name: String,
        /// Read the Owner's password from standard input (required: never on the command line).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let overrides = Overrides {
        data_dir: cli.data_dir.clone(),
        database_url: cli.database_url.clone(),
        listen: match &cli.command {
            Command::Serve { listen, .. } => listen.clone(),
            _ => None,
        },
        public_url: match &cli.command {
            Command::Serve { public_url, .. } => public_url.clone(),
            _ => None,
        },
        radius_listen: match &cli.command {
            Command::Serve { radius_listen, .. } => radius_listen.clone(),
            _ => None,
        },
    };
    let config = match Config::load(cli.config.as_deref(), &overrides) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("twofold: {e}");
            return ExitCode::from(2);
        }
    };
    crate::logging::init(config.log_format.as_deref(), &config.log_level);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("twofold: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command, config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("twofold: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn print_outbox(config: &Config, limit: i64) -> anyhow::Result<()> {
    let app = open_app(config).await?;
    let (counts, rows) = app.outbox_summary(limit.clamp(1, 10_000)).await.map_err(app_error)?;
    let totals: Vec<String> = counts.iter().map(|(channel, status, n)| format!("{channel} {status}: {n}")).collect();
    println!("{}", if totals.is_empty() { "The outbox is empty.".to_string() } else { totals.join(", ") });
    for row in rows {
        let to = if row.channel == "email" {
            twofold_app::domain::email::mask(&row.recipient)
        } else {
            twofold_app::domain::phone::mask(&row.recipient)
        };
        println!(
            "#{:<6} {:<5} {:<7} {:<14} to {} attempts {} created {} provider {} {}{}",
            row.id,
            row.channel,
            row.status,
            row.kind,
            to,
            row.attempts,
            row.created_at,
            row.provider.as_deref().unwrap_or("-"),
            row.provider_message_id.as_deref().unwrap_or(""),
            row.last_error.as_deref().map(|e| format!(" ({e})")).unwrap_or_default(),
        );
    }
    Ok(())
}

async fn run(command: Command, config: Config) -> anyhow::Result<()> {
    match command {
        Command::Serve { .. } => crate::serve::serve(config).await,
        Command::Migrate => {
            let store = open_store(&config).await?;
            println!("The database is at schema version {}.", store.schema_version().await?.unwrap_or(0));
            Ok(())
        }
        Command::Support(command) => support(command, &config).await,
        Command::Outbox { limit } | Command::Sms(SmsCommand::Outbox { limit }) => print_outbox(&config, limit).await,
        Command::Audit(AuditCommand::Verify { checkpoint }) => verify_audit(&config, checkpoint.as_deref()).await,
        Command::Audit(AuditCommand::Checkpoint { output }) => audit_checkpoint(&config, output.as_deref()).await,
        Command::Oidc(command) => oidc::run(command, &config).await,
        Command::Radius(command) => radius::run(command, &config).await,
        Command::Person(command) => person(command, &config).await,
        Command::Token(command) => token::run(command, &config).await,
        Command::Backup { output, include_keys } => crate::backup::command(&config, &output, include_keys).await,
        Command::Restore { input, force } => crate::backup::restore(&config, &input, force).await,
        Command::Keys(KeysCommand::Rotate) => {
            let app = open_app(&config).await?;
            let rotation = app.rotate_keys().await.map_err(app_error)?;
            println!(
                "Secrets are now sealed with key {}: {} re-encrypted, {} changed meanwhile and left as they were.",
                rotation.new_key_id, rotation.resealed, rotation.skipped
            );
            Ok(())
        }
        Command::Account(AccountCommand::Create { name, owner_email, owner_name, password_stdin: _ }) => {
            let password = read_password()?;
            let app = open_app(&config).await?;
            let new = NewAccount {
                account_name: &name,
                owner_name: &owner_name,
                owner_email: &owner_email,
                password: &password,
            };
            let (account_id, owner_id) = app.create_account(&new).await.map_err(app_error)?;
            println!("Created account {account_id} with Owner {owner_id} ({}).", owner_email.trim().to_lowercase());
            Ok(())
        }
    }
}

/// Longest checkpoint file read: a line per chain, so a megabyte is tens of thousands.
const MAX_CHECKPOINT_BYTES: u64 = 16 << 20;

fn read_checkpoint(path: &std::path::Path) -> anyhow::Result<twofold_app::audit::Checkpoint> {
    let size = std::fs::metadata(path).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?.len();
    anyhow::ensure!(size <= MAX_CHECKPOINT_BYTES, "{} is too large to be a checkpoint", path.display());
    let text = std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("{} is not a checkpoint: {e}", path.display()))
}

/// Prints a signed checkpoint of every chain's head, to stdout or a new file.
async fn audit_checkpoint(config: &Config, output: Option<&std::path::Path>) -> anyhow::Result<()> {
    let app = open_app(config).await?;
    let checkpoint = app.audit_checkpoint().await.map_err(app_error)?;
    let text = serde_json::to_string_pretty(&checkpoint)? + "\n";
    match output {
        None => print!("{text}"),
        Some(path) => {
            use std::io::Write;
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(path)
                .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", path.display()))?;
            file.write_all(text.as_bytes())?;
            file.sync_all()?;
            eprintln!("Checkpoint of {} chains written to {}.", checkpoint.chains.len(), path.display());
        }
    }
    Ok(())
}

/// Prints what a walk over the audit chains found; a broken chain is an error (exit 1).
async fn verify_audit(config: &Config, checkpoint: Option<&std::path::Path>) -> anyhow::Result<()> {
    let checkpoint = checkpoint.map(read_checkpoint).transpose()?;
    let app = open_app(config).await?;
    let report = app.verify_audit_log(checkpoint.as_ref()).await.map_err(app_error)?;
    if let Some(c) = &checkpoint {
        println!("checked against the checkpoint of {} chains taken at {}", c.chains.len(), c.created_at);
    }
    if report.is_intact() {
        println!("{} chains, {} events: intact", report.chains, report.events);
        return Ok(());
    }
    for broken in &report.breaks {
        println!("BROKEN {broken}");
    }
    anyhow::bail!(
        "{} of {} audit chains are broken ({} events checked out)",
        report.breaks.len(),
        report.chains,
        report.events
    )
}

async fn support(command: SupportCommand, config: &Config) -> anyhow::Result<()> {
    let app = open_app(config).await?;
    let ctx = twofold_app::RequestContext::cli();
    match command {
        SupportCommand::Operator(OperatorCommand::Add { email, name, password_stdin: _ }) => {
            let password = read_password()?;
            let id = app.add_operator(&email, &name, &password).await.map_err(app_error)?;
            println!(
                "Added operator {id} ({}). They enrol TOTP at their first sign-in at /support.",
                email.trim().to_lowercase()
            );
        }
        SupportCommand::Operator(OperatorCommand::List) => {
            for op in app.operators().await.map_err(app_error)? {
                let totp = if op.totp.is_enabled() { "app enrolled" } else { "app not enrolled" };
                let locked = if op.locked { ", LOCKED" } else { "" };
                let last = op.last_sign_in_at.map_or_else(|| "never".to_string(), |t| t.to_string());
                println!("{}\t{}\t{totp}{locked}\tlast sign-in: {last}", op.email, op.name);
            }
        }
        SupportCommand::Operator(OperatorCommand::Remove { email }) => {
            app.change_operator(SupportActor::Cli, &email, OperatorChange::Remove, &ctx).await.map_err(app_error)?;
            println!("Removed operator {}.", email.trim().to_lowercase());
        }
        SupportCommand::Operator(OperatorCommand::Unlock { email }) => {
            app.change_operator(SupportActor::Cli, &email, OperatorChange::Unlock, &ctx).await.map_err(app_error)?;
            println!("Unlocked operator {}.", email.trim().to_lowercase());
        }
        SupportCommand::Operator(OperatorCommand::ResetTotp { email }) => {
            app.change_operator(SupportActor::Cli, &email, OperatorChange::ResetTotp, &ctx).await.map_err(app_error)?;
            println!(
                "Reset the authenticator app of {}: they enrol again at their next sign-in.",
                email.trim().to_lowercase()
            );
        }
        SupportCommand::SmsRecovery(SmsRecoveryCommand::Grant { email, reason, hours }) => {
            let user = app.user_by_email(&email).await.map_err(app_error)?;
            let grant = app
                .grant_sms_recovery(SupportActor::Cli, user.id, &reason, hours, None, &ctx)
                .await
                .map_err(app_error)?;
            println!("SMS recovery is enabled for {} until {} (Unix time).", user.email, grant.expires_at);
        }
        SupportCommand::SmsRecovery(SmsRecoveryCommand::Revoke { email }) => {
            let user = app.user_by_email(&email).await.map_err(app_error)?;
            app.revoke_sms_recovery(SupportActor::Cli, user.id, &ctx).await.map_err(app_error)?;
            println!("SMS recovery is revoked for {}.", user.email);
        }
    }
    Ok(())
}

/// The application on this configuration's database and keys.
pub async fn open_app(config: &Config) -> anyhow::Result<App> {
    let store = open_store(config).await?;
    if config.secret_key.is_none() {
        create_private_dir(&config.data_dir)?;
    }
    let secrets = config.secrets().map_err(|e| anyhow::anyhow!(e))?;
    App::with_system(store, config.app_config(), secrets).map_err(app_error)
}

/// Opens the database, creating the data directory for SQLite, and migrates it.
pub async fn open_store(config: &Config) -> anyhow::Result<Store> {
    if config.database_url.is_none() {
        create_private_dir(&config.data_dir)?;
    }
    let options = StoreOptions {
        max_connections: config.database_max_connections,
        acquire_timeout: std::time::Duration::from_millis(config.database_acquire_timeout_ms),
    };
    let store = Store::connect(&config.database_url(), &options).await?;
    store.migrate().await?;
    Ok(store)
}

/// The data directory holds the database and keys: readable by its owner only.
pub(crate) fn create_private_dir(dir: &std::path::Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)
        .map_err(|e| anyhow::anyhow!("cannot create the data directory {}: {e}", dir.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// The password from standard input, without the trailing newline.
/// `twofold person deactivate|reactivate|remove --email`.
async fn person(command: PersonCommand, config: &Config) -> anyhow::Result<()> {
    let app = open_app(config).await?;
    let (person, done) = match command {
        PersonCommand::Deactivate { email } => (app.set_person_active_by_email(&email, false).await, "deactivated"),
        PersonCommand::Reactivate { email } => (app.set_person_active_by_email(&email, true).await, "active again"),
        PersonCommand::Remove { email } => (app.remove_person_by_email(&email).await, "removed"),
    };
    let person = person.map_err(app_error)?;
    println!("{} ({}) is {done}.", person.name, person.email);
    Ok(())
}

pub(crate) fn read_password() -> anyhow::Result<String> {
    let mut input = String::new();
    std::io::stdin().take(4096).read_to_string(&mut input)?;
    let password = input.strip_suffix('\n').map(|p| p.strip_suffix('\r').unwrap_or(p)).unwrap_or(&input);
    Ok(password.to_string())
}

fn app_error(e: Error) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}
