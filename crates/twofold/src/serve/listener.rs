//! The HTTP/1.1 listener: hyper, with what `axum::serve` does not offer: a cap on
//! connections served at once, and connections that time out when idle or too slow to
//! send their headers (see [`super::watched`]). Graceful: on shutdown it stops accepting
//! and lets requests in flight finish.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt;

use super::watched::{Activity, Deadlines, Watched};

/// How the listener treats connections.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub deadlines: Deadlines,
    pub max_connections: usize,
}

/// Longest the server waits for requests in flight after a shutdown signal.
const DRAIN: Duration = Duration::from_secs(20);

/// Serves `router` on `listener` until `shutdown` completes.
pub async fn serve(listener: TcpListener, router: Router, limits: Limits, shutdown: impl Future<Output = ()>) {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        // Past the cap, connections wait in the kernel's listen queue, not in memory here.
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of descriptors, most often: wait for some to be freed.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let activity = Activity::new();
        let io = TokioIo::new(Watched::new(stream, activity.clone(), limits.deadlines));
        let router = router.clone();
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            let in_flight = activity.request_started();
            request.extensions_mut().insert(ConnectInfo(remote));
            let router = router.clone();
            async move {
                let response = router.oneshot(request).await;
                drop(in_flight);
                response
            }
        });
        let connection = hyper::server::conn::http1::Builder::new().serve_connection(io, service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, %remote, "connection ended");
            }
            drop(permit);
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN, graceful.shutdown()).await.is_err() {
        tracing::warn!("requests still in flight after {} s; stopping anyway", DRAIN.as_secs());
    }
}

/// The listener's limits from the configuration.
pub fn limits_of(config: &crate::config::Config) -> Limits {
    Limits {
        deadlines: Deadlines {
            header_read: Duration::from_secs(config.http_header_read_timeout_seconds),
            idle: Duration::from_secs(config.http_idle_timeout_seconds),
        },
        max_connections: config.http_max_connections,
    }
}
