//! `twofold serve`: open the database, print the setup link on first run, serve HTTP
//! until SIGTERM or Ctrl-C, and sweep expired sessions meanwhile.

mod listener;
mod watched;

use std::time::{Duration, Instant};

use anyhow::Context;
use twofold_app::App;
use twofold_app::outbox::{Channels, OutboxWorker};
use twofold_web::{AppState, WebConfig};

use crate::cli::open_app;
use crate::config::Config;

pub async fn serve(config: Config) -> anyhow::Result<()> {
    let started = Instant::now();
    tracing::info!(config = %config.redacted(), "starting Twofold {}", env!("CARGO_PKG_VERSION"));
    let app = open_app(&config).await?;
    tracing::info!(backend = app.store().backend().name(), "database ready");
    match app.seal_unkeyed_audit_chains().await {
        Ok(0) => {}
        Ok(n) => tracing::info!(chains = n, "audit chains written before the key are now linked to keyed events"),
        Err(e) => tracing::warn!(error = %e, "could not seal the unkeyed audit chains; will try at next start"),
    }
    if app.needs_setup().await.map_err(|e| anyhow::anyhow!("{e}"))? {
        let link = app.issue_setup_link().await.map_err(|e| anyhow::anyhow!("{e}"))?;
        // Printed, not logged: the link is a credential and logs are kept (SEC-31).
        println!("\nNo account exists yet. Open this link within an hour to create the first one:\n\n    {link}\n");
    }
    let sms = config.sms_provider().map_err(|e| anyhow::anyhow!(e))?;
    let sms = twofold_channels::sms::build(&sms).map_err(|e| anyhow::anyhow!("SMS provider: {e}"))?;
    let mail = config.mail_provider().map_err(|e| anyhow::anyhow!(e))?;
    let mail = twofold_channels::mail::build(&mail).map_err(|e| anyhow::anyhow!("mail provider: {e}"))?;
    let worker = OutboxWorker::new(app.clone(), Channels { sms, mail });
    let (sms, mail) = worker.provider_names();
    tracing::info!(sms, mail, "outbox worker started");
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let worker = tokio::spawn(worker.run(async move {
        let mut stopped = stopped;
        let _ = stopped.changed().await;
    }));
    let listener = tokio::net::TcpListener::bind(&config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let address = listener.local_addr()?;
    let state = AppState::new(
        app.clone(),
        WebConfig { trust_forwarded_for: config.trust_forwarded_for, metrics_token: config.metrics_token.clone() },
    );
    let router = twofold_web::router(state);
    tokio::spawn(sweep_sessions(app.clone()));
    let radius = match &config.radius_listen {
        Some(address) => Some(start_radius(&app, address, stop.subscribe()).await?),
        None => None,
    };
    if let Some(dir) = &config.backup_dir {
        let every = Duration::from_secs_f64(config.backup_every_hours * 3600.0);
        let schedule = crate::backup::schedule::Schedule { dir: dir.clone(), every, keep: config.backup_keep };
        tracing::info!(dir = %dir.display(), every_seconds = every.as_secs(), keep = config.backup_keep, "scheduled backups");
        tokio::spawn(crate::backup::schedule::run(app.clone(), schedule));
    }
    tracing::info!(%address, public_url = %config.public_url(), ready_ms = started.elapsed().as_millis() as u64, "listening");
    listener::serve(listener, router, listener::limits_of(&config), shutdown_signal()).await;
    // Let the worker finish the message in hand; a lease covers anything cut short.
    let _ = stop.send(true);
    if let Some(radius) = radius {
        let _ = tokio::time::timeout(Duration::from_secs(5), radius).await;
    }
    let _ = tokio::time::timeout(Duration::from_secs(15), worker).await;
    app.store().close().await;
    tracing::info!("stopped");
    Ok(())
}

/// Binds the RADIUS socket and serves it until `stop`; warns of every legacy client.
async fn start_radius(
    app: &App,
    address: &str,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let socket =
        tokio::net::UdpSocket::bind(address).await.with_context(|| format!("cannot listen for RADIUS on {address}"))?;
    let clients = app.radius_clients().await.map_err(|e| anyhow::anyhow!("{e}"))?;
    for client in clients.iter().filter(|c| c.legacy_no_message_authenticator) {
        tracing::warn!(
            client = %client.name, address = %client.address,
            "RADIUS client accepts requests without Message-Authenticator (BlastRADIUS, CVE-2024-3596): keep it on a trusted network"
        );
    }
    tracing::info!(address = %socket.local_addr()?, clients = clients.len(), "RADIUS listening");
    let app = app.clone();
    Ok(tokio::spawn(twofold_radius::serve(app, socket, async move {
        let _ = stop.changed().await;
    })))
}

/// Deletes expired sessions and RADIUS challenges every ten minutes; safe on several
/// instances at once.
async fn sweep_sessions(app: App) {
    let mut tick = tokio::time::interval(Duration::from_secs(600));
    loop {
        tick.tick().await;
        match app.sweep_expired_sessions().await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(deleted = n, "expired sessions swept"),
            Err(e) => tracing::warn!(error = %e, "session sweep failed"),
        }
        if let Err(e) = app.sweep_radius().await {
            tracing::warn!(error = %e, "RADIUS sweep failed");
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}
