//! Driving load: closed loops (each worker sends its next request when the previous one is
//! answered) and paced loops (requests on a fixed schedule), with the server's CPU time
//! and memory watched while they run.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::task::JoinSet;

use crate::client::{Call, Connection};
use crate::server::{cpu_seconds, machine_busy_seconds, rss_kib};
use crate::stats::{Phase, Recorder};

/// One request and the status that means it did what the phase measures.
pub struct Job {
    pub call: Call,
    pub expect: u16,
}

/// The `seq`-th job of a phase, or `None` when there are no more.
pub type Source = Arc<dyn Fn(u64) -> Option<Job> + Send + Sync>;

/// Where the load goes: the servers' addresses (workers are spread over them) and process ids.
#[derive(Clone)]
pub struct Targets {
    pub addrs: Vec<SocketAddr>,
    pub pids: Vec<u32>,
}

/// How long and how much.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    pub seconds: f64,
    pub max_requests: u64,
}

async fn send_one(conn: &mut Connection, job: &Job, latency_from: Instant, rec: &mut Recorder) {
    match conn.send(&job.call).await {
        Ok((status, _)) if status == job.expect => rec.ok(latency_from.elapsed()),
        Ok((status, body)) => rec.unexpected(latency_from.elapsed(), status, &body),
        Err(e) => rec.transport_error(&format!("{e:#}")),
    }
}

/// `concurrency` workers, one connection each, until the jobs run out, `max_requests` are
/// sent or `seconds` pass. Answers what they saw and the time to the last answer.
pub async fn closed_loop(
    targets: &Targets,
    concurrency: usize,
    bounds: Bounds,
    source: Source,
) -> (Recorder, Duration) {
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(bounds.seconds);
    let next = Arc::new(AtomicU64::new(0));
    let mut workers = JoinSet::new();
    for w in 0..concurrency.max(1) {
        let addr = targets.addrs[w % targets.addrs.len()];
        let (next, source) = (next.clone(), source.clone());
        workers.spawn(async move {
            let mut conn = Connection::new(addr);
            let mut rec = Recorder::default();
            while Instant::now() < deadline {
                let seq = next.fetch_add(1, Ordering::Relaxed);
                if seq >= bounds.max_requests {
                    break;
                }
                let Some(job) = source(seq) else { break };
                send_one(&mut conn, &job, Instant::now(), &mut rec).await;
            }
            (rec, started.elapsed())
        });
    }
    join(workers).await
}

/// `workers` connections sending `rate` requests a second between them on a fixed
/// schedule. Latency counts from the scheduled moment, so a slow answer that delays the
/// next request is charged to that request too (no coordinated omission).
pub async fn paced(
    targets: &Targets,
    workers: usize,
    rate: f64,
    bounds: Bounds,
    source: Source,
) -> (Recorder, Duration) {
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(bounds.seconds);
    let workers_n = workers.max(1);
    let interval = Duration::from_secs_f64(workers_n as f64 / rate.max(0.001));
    let next = Arc::new(AtomicU64::new(0));
    let mut set = JoinSet::new();
    for w in 0..workers_n {
        let addr = targets.addrs[w % targets.addrs.len()];
        let (next, source) = (next.clone(), source.clone());
        set.spawn(async move {
            let mut conn = Connection::new(addr);
            let mut rec = Recorder::default();
            let mut due = started + Duration::from_secs_f64(w as f64 / rate.max(0.001));
            while due < deadline {
                tokio::time::sleep_until(due.into()).await;
                let seq = next.fetch_add(1, Ordering::Relaxed);
                if seq >= bounds.max_requests {
                    break;
                }
                let Some(job) = source(seq) else { break };
                send_one(&mut conn, &job, due, &mut rec).await;
                due += interval;
            }
            (rec, started.elapsed())
        });
    }
    join(set).await
}

async fn join(mut set: JoinSet<(Recorder, Duration)>) -> (Recorder, Duration) {
    let mut all = Recorder::default();
    let mut elapsed = Duration::ZERO;
    while let Some(done) = set.join_next().await {
        if let Ok((rec, took)) = done {
            all.merge(rec);
            elapsed = elapsed.max(took);
        }
    }
    (all, elapsed)
}

/// Watches the servers while `work` runs: their CPU time, this tool's CPU time, and the
/// largest RSS of any of them (sampled every 50 ms).
pub async fn measured<F, T>(name: &str, concurrency: usize, targets: &Targets, work: F) -> (Phase, T)
where
    F: std::future::Future<Output = ((Recorder, Duration), T)>,
{
    let server_cpu = |pids: &[u32]| pids.iter().map(|p| cpu_seconds(&p.to_string())).sum::<f64>();
    let before_server = server_cpu(&targets.pids);
    let before_client = cpu_seconds("self");
    let before_machine = machine_busy_seconds();
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (stop, pids) = (stop.clone(), targets.pids.clone());
        tokio::spawn(async move {
            let mut max = 0;
            while !stop.load(Ordering::Relaxed) {
                for &pid in &pids {
                    max = max.max(rss_kib(pid));
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            max
        })
    };
    let ((rec, elapsed), extra) = work.await;
    stop.store(true, Ordering::Relaxed);
    let rss = sampler.await.unwrap_or(0);
    let server = server_cpu(&targets.pids) - before_server;
    let client = cpu_seconds("self") - before_client;
    let machine = machine_busy_seconds() - before_machine;
    let answered = rec.answered().max(1) as f64;
    let mut phase = rec.summary(name, concurrency, elapsed);
    phase.server_cpu_seconds = server;
    phase.server_cpu_us_per_answer = server * 1e6 / answered;
    phase.client_cpu_us_per_answer = client * 1e6 / answered;
    phase.server_rss_max_kib = rss;
    phase.other_cpu_percent = (machine - server - client).max(0.0) / elapsed.as_secs_f64().max(1e-9) * 100.0;
    (phase, extra)
}
