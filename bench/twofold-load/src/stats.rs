//! Latency samples, outcome counts, and the summary of one phase.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

/// What one worker saw: a latency per request (µs) and how each one ended.
#[derive(Debug, Default)]
pub struct Recorder {
    latencies_us: Vec<u32>,
    ok: u64,
    /// Answers with an unexpected status, by status.
    unexpected: BTreeMap<u16, u64>,
    /// Requests that got no answer (connection refused or reset, timeout).
    transport_errors: u64,
    first_problem: Option<String>,
}

impl Recorder {
    pub fn ok(&mut self, latency: Duration) {
        self.latencies_us.push(micros(latency));
        self.ok += 1;
    }

    pub fn unexpected(&mut self, latency: Duration, status: u16, body: &[u8]) {
        self.latencies_us.push(micros(latency));
        *self.unexpected.entry(status).or_default() += 1;
        if self.first_problem.is_none() {
            let text: String = String::from_utf8_lossy(body).chars().take(300).collect();
            self.first_problem = Some(format!("HTTP {status}: {text}"));
        }
    }

    pub fn transport_error(&mut self, error: &str) {
        self.transport_errors += 1;
        if self.first_problem.is_none() {
            self.first_problem = Some(error.to_owned());
        }
    }

    pub fn merge(&mut self, other: Recorder) {
        self.latencies_us.extend(other.latencies_us);
        self.ok += other.ok;
        for (status, n) in other.unexpected {
            *self.unexpected.entry(status).or_default() += n;
        }
        self.transport_errors += other.transport_errors;
        if self.first_problem.is_none() {
            self.first_problem = other.first_problem;
        }
    }

    pub fn answered(&self) -> u64 {
        self.latencies_us.len() as u64
    }

    /// The summary; `elapsed` is the wall time from the phase's start to its last answer.
    pub fn summary(mut self, name: &str, concurrency: usize, elapsed: Duration) -> Phase {
        self.latencies_us.sort_unstable();
        let l = &self.latencies_us;
        let seconds = elapsed.as_secs_f64().max(1e-9);
        Phase {
            name: name.to_owned(),
            concurrency,
            requests: l.len() as u64 + self.transport_errors,
            ok: self.ok,
            unexpected: self.unexpected.iter().map(|(s, n)| (s.to_string(), *n)).collect(),
            transport_errors: self.transport_errors,
            first_problem: self.first_problem,
            seconds,
            ok_per_second: self.ok as f64 / seconds,
            answers_per_second: l.len() as f64 / seconds,
            p50_ms: percentile(l, 0.50),
            p90_ms: percentile(l, 0.90),
            p99_ms: percentile(l, 0.99),
            p999_ms: percentile(l, 0.999),
            max_ms: l.last().map_or(0.0, |&us| f64::from(us) / 1000.0),
            server_cpu_seconds: 0.0,
            server_cpu_us_per_answer: 0.0,
            client_cpu_us_per_answer: 0.0,
            server_rss_max_kib: 0,
            other_cpu_percent: 0.0,
        }
    }
}

fn micros(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}

/// Nearest-rank percentile of sorted samples, in milliseconds.
fn percentile(sorted: &[u32], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted.get(rank - 1).map_or(0.0, |&us| f64::from(us) / 1000.0)
}

/// One measured phase.
#[derive(Debug, Clone, Serialize)]
pub struct Phase {
    pub name: String,
    pub concurrency: usize,
    pub requests: u64,
    /// Answers with the expected status (200 for a sign-in, 401 for a wrong code…).
    pub ok: u64,
    pub unexpected: BTreeMap<String, u64>,
    pub transport_errors: u64,
    pub first_problem: Option<String>,
    pub seconds: f64,
    pub ok_per_second: f64,
    pub answers_per_second: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
    /// CPU time (user + system) the server process(es) used during the phase.
    pub server_cpu_seconds: f64,
    pub server_cpu_us_per_answer: f64,
    /// CPU time this load tool used per answer (it shares the cores with the server).
    pub client_cpu_us_per_answer: f64,
    pub server_rss_max_kib: u64,
    /// CPU that neither the server nor this tool used during the phase, in % of one core:
    /// PostgreSQL's backends, or other work on the machine that disturbs the figures.
    pub other_cpu_percent: f64,
}

impl Phase {
    pub fn line(&self) -> String {
        if self.server_cpu_us_per_answer == 0.0 && self.server_rss_max_kib == 0 {
            // A load measured together with another (the flood of the isolation phase).
            return format!(
                "{:<34} c={:<3} n={:<7} ok={:<7} {:>9.1}/s  p50 {:>7.2} ms  p99 {:>7.2} ms  p99.9 {:>7.2} ms  max {:>7.2} ms",
                self.name,
                self.concurrency,
                self.requests,
                self.ok,
                self.ok_per_second,
                self.p50_ms,
                self.p99_ms,
                self.p999_ms,
                self.max_ms
            ) + &self.problems();
        }
        let s = format!(
            "{:<34} c={:<3} n={:<7} ok={:<7} {:>9.1}/s  p50 {:>7.2} ms  p99 {:>7.2} ms  p99.9 {:>7.2} ms  max {:>7.2} ms  \
             server {:>6.0} µs CPU/req  client {:>5.0} µs CPU/req  others {:>4.0}% CPU  RSS≤{:.1} MB",
            self.name,
            self.concurrency,
            self.requests,
            self.ok,
            self.ok_per_second,
            self.p50_ms,
            self.p99_ms,
            self.p999_ms,
            self.max_ms,
            self.server_cpu_us_per_answer,
            self.client_cpu_us_per_answer,
            self.other_cpu_percent,
            self.server_rss_max_kib as f64 / 1024.0,
        );
        s + &self.problems()
    }

    fn problems(&self) -> String {
        if self.unexpected.is_empty() && self.transport_errors == 0 {
            return String::new();
        }
        format!(
            "\n{:<34} unexpected {:?}, no answer {}; first: {}",
            "",
            self.unexpected,
            self.transport_errors,
            self.first_problem.as_deref().unwrap_or("-")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let samples: Vec<u32> = (1..=1000).map(|ms| ms * 1000).collect();
        assert_eq!(percentile(&samples, 0.5), 500.0);
        assert_eq!(percentile(&samples, 0.99), 990.0);
        assert_eq!(percentile(&samples, 0.999), 999.0);
        assert_eq!(percentile(&[], 0.5), 0.0);
        assert_eq!(percentile(&[7000], 0.999), 7.0);
    }
}
