//! The outbox worker: the only sender of SMS. Each instance runs one; rows are claimed with
//! a lease by a conditional update, so workers on several instances never send the same
//! row at once. A worker that dies between claim and send leaves a lease that expires and
//! the row is sent again: delivery is at-least-once, never silently lost (SEC-18).

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;
use twofold_domain::sms::retry_delay;
use twofold_sms::{OutgoingSms, SendError, SmsProvider};
use twofold_store::outbox::{self, OutboxRow};

use crate::sms::BODY_PURPOSE;
use crate::{App, Result};

/// How long a claimed row is ours: longer than any provider call may take.
pub const LEASE_SECONDS: i64 = 60;
/// Rows claimed (and sent concurrently) per pass.
pub const BATCH: i64 = 16;

#[derive(Clone)]
pub struct OutboxWorker {
    app: App,
    provider: Arc<dyn SmsProvider>,
    owner: String,
}

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pass {
    pub sent: usize,
    pub retrying: usize,
    pub failed: usize,
}

impl Pass {
    pub fn handled(&self) -> usize {
        self.sent + self.retrying + self.failed
    }
}

impl OutboxWorker {
    pub fn new(app: App, provider: Arc<dyn SmsProvider>) -> Self {
        let owner = format!("worker-{}", app.new_form_token().chars().take(12).collect::<String>());
        Self { app, provider, owner }
    }

    pub fn provider_name(&self) -> &'static str {
        self.provider.name()
    }

    /// Claims what is due and sends it; answers what happened.
    pub async fn run_once(&self) -> Result<Pass> {
        let now = self.app.now();
        let mut conn = self.app.store().conn().await?;
        let candidates = outbox::due(&mut conn, now, BATCH).await?;
        let mut claimed = Vec::new();
        for id in candidates {
            if let Some(row) = outbox::claim(&mut conn, id, &self.owner, now, LEASE_SECONDS).await? {
                claimed.push(row);
            }
        }
        drop(conn);
        let mut sends = JoinSet::new();
        for row in claimed {
            let worker = self.clone();
            sends.spawn(async move { worker.deliver(row).await });
        }
        let mut pass = Pass::default();
        while let Some(done) = sends.join_next().await {
            match done {
                Ok(Ok(Outcome::Sent)) => pass.sent += 1,
                Ok(Ok(Outcome::Retrying)) => pass.retrying += 1,
                Ok(Ok(Outcome::Failed)) => pass.failed += 1,
                Ok(Err(e)) => tracing::warn!(error = %e, "outbox row could not be updated; its lease will expire"),
                Err(e) => tracing::error!(error = %e, "outbox send task failed"),
            }
        }
        Ok(pass)
    }

    async fn deliver(&self, row: OutboxRow) -> Result<Outcome> {
        let provider = self.provider.name();
        let body = match self.app.secrets().open(BODY_PURPOSE, row.user_id.unwrap_or(0), &row.body_box) {
            Ok(body) => String::from_utf8_lossy(&body).into_owned(),
            Err(_) => return self.give_up(&row, "the message body could not be decrypted").await,
        };
        let sms = OutgoingSms { id: row.id, to: row.e164.clone(), body };
        let result = self.provider.send(&sms).await;
        let now = self.app.now();
        let mut conn = self.app.store().conn().await?;
        match result {
            Ok(sent) => {
                outbox::mark_sent(
                    &mut conn,
                    row.id,
                    &self.owner,
                    provider,
                    sent.provider_message_id.as_deref(),
                    &sent.status,
                    now,
                )
                .await?;
                tracing::info!(outbox_id = row.id, provider, status = %sent.status, "SMS handed to the provider");
                metrics::counter!("twofold_sms_sent_total", "provider" => provider).increment(1);
                Ok(Outcome::Sent)
            }
            Err(SendError::Permanent { reason }) => self.give_up(&row, &reason).await,
            Err(SendError::Transient { reason, retry_after }) => {
                if now - row.created_at >= self.app.config().sms.give_up_after {
                    let why = format!("gave up after {} attempts: {reason}", row.attempts);
                    return self.give_up(&row, &why).await;
                }
                let attempt = u32::try_from(row.attempts).unwrap_or(u32::MAX);
                let backoff = retry_delay(attempt, self.app.jitter());
                let wait = retry_after.map_or(backoff, |d| backoff.max(i64::try_from(d.as_secs()).unwrap_or(600)));
                outbox::mark_retry(&mut conn, row.id, &self.owner, &clip(&reason), now + wait).await?;
                tracing::warn!(outbox_id = row.id, provider, attempt, retry_in = wait, "SMS send failed; will retry");
                metrics::counter!("twofold_sms_retries_total", "provider" => provider).increment(1);
                Ok(Outcome::Retrying)
            }
        }
    }

    async fn give_up(&self, row: &OutboxRow, reason: &str) -> Result<Outcome> {
        let mut conn = self.app.store().conn().await?;
        outbox::mark_failed(&mut conn, row.id, &self.owner, self.provider.name(), &clip(reason), self.app.now())
            .await?;
        tracing::error!(outbox_id = row.id, provider = self.provider.name(), "SMS given up");
        metrics::counter!("twofold_sms_failed_total", "provider" => self.provider.name()).increment(1);
        Ok(Outcome::Failed)
    }

    /// Passes until `shutdown` resolves: quickly while there is work, every second otherwise.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            let busy = match self.run_once().await {
                Ok(pass) => pass.handled() as i64 >= BATCH,
                Err(e) => {
                    tracing::warn!(error = %e, "outbox pass failed");
                    false
                }
            };
            let pause = if busy { Duration::from_millis(10) } else { Duration::from_secs(1) };
            tokio::select! {
                () = &mut shutdown => return,
                () = tokio::time::sleep(pause) => {}
            }
        }
    }
}

enum Outcome {
    Sent,
    Retrying,
    Failed,
}

/// Provider errors are logged and stored; keep them short.
fn clip(reason: &str) -> String {
    reason.chars().take(300).collect()
}

impl App {
    /// A number in [0, 1) from the CSPRNG, for retry jitter.
    pub(crate) fn jitter(&self) -> f64 {
        let mut bytes = [0u8; 4];
        self.entropy().fill(&mut bytes);
        f64::from(u32::from_be_bytes(bytes)) / (f64::from(u32::MAX) + 1.0)
    }

    /// The newest outbox rows, without bodies, for `twofold sms outbox`.
    pub async fn outbox_summary(&self, limit: i64) -> Result<(Vec<(String, i64)>, Vec<OutboxRow>)> {
        let mut conn = self.store().conn().await?;
        let counts = outbox::counts(&mut conn).await?;
        let mut rows = outbox::recent(&mut conn, limit).await?;
        for row in &mut rows {
            row.body_box.clear();
        }
        Ok((counts, rows))
    }
}
