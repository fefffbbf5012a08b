//! The outbox worker: the only sender of every channel's messages (SMS, email and
//! webhooks; before each pass it queues the webhooks' new events). Each
//! instance runs one; rows are claimed with a lease by a conditional update, so workers on
//! several instances never send the same row at once. A worker that dies between claim and
//! send leaves a lease that expires and the row is sent again: delivery is at-least-once,
//! never silently lost (SEC-18, SEC-39).

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;
use twofold_channels::SendError;
use twofold_channels::mail::{MailProvider, OutgoingMail};
use twofold_channels::sms::{OutgoingSms, SmsProvider};
use twofold_domain::sms::retry_delay;
use twofold_store::outbox::{self, Lane, OutboxRow};

use crate::sms::BODY_PURPOSE;
use crate::{App, Result};

/// How long a claimed row is ours by default: longer than any provider call may take
/// (SMTP gives up after 15 s, the webhook and Twilio after 10 s).
pub const LEASE_SECONDS: i64 = 60;
/// The shortest lease allowed: above the longest provider timeout.
pub const MIN_LEASE_SECONDS: i64 = 20;
/// Rows claimed (and sent concurrently) per pass.
pub const BATCH: i64 = 16;
/// Webhook rows per pass of their own lane: receivers are slower and fewer.
pub const WEBHOOK_BATCH: i64 = 8;

/// The providers of every channel the outbox carries.
#[derive(Clone)]
pub struct Channels {
    pub sms: Arc<dyn SmsProvider>,
    pub mail: Arc<dyn MailProvider>,
}

#[derive(Clone)]
pub struct OutboxWorker {
    app: App,
    channels: Channels,
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

/// A row's message, opened and ready for its channel's provider.
enum Message {
    Sms(OutgoingSms),
    Mail(OutgoingMail),
}

impl OutboxWorker {
    pub fn new(app: App, channels: Channels) -> Self {
        let owner = format!("worker-{}", app.new_form_token().chars().take(12).collect::<String>());
        Self { app, channels, owner }
    }

    /// The providers' names, for the start-up log: `sms=file mail=smtp`.
    pub fn provider_names(&self) -> (&'static str, &'static str) {
        (self.channels.sms.name(), self.channels.mail.name())
    }

    /// One pass of both lanes (people's messages, then webhooks); answers what happened.
    pub async fn run_once(&self) -> Result<Pass> {
        let messages = self.run_lane(Lane::Messages).await?;
        let hooks = self.run_lane(Lane::Webhooks).await?;
        Ok(Pass {
            sent: messages.sent + hooks.sent,
            retrying: messages.retrying + hooks.retrying,
            failed: messages.failed + hooks.failed,
        })
    }

    /// Claims what is due in one lane and sends it. Before the webhooks' lane, their new
    /// events are queued (a failure there is logged: it must not stop the sending).
    async fn run_lane(&self, lane: Lane) -> Result<Pass> {
        let queued = if lane == Lane::Webhooks { self.app.queue_webhook_events().await.map(|_| ()) } else { Ok(()) };
        if let Err(e) = queued {
            tracing::warn!(error = %e, "webhook events could not be queued; the next pass tries again");
        }
        let now = self.app.now();
        let mut conn = self.app.store().conn().await?;
        let batch = if lane == Lane::Webhooks { WEBHOOK_BATCH } else { BATCH };
        let candidates = outbox::due(&mut conn, now, batch, lane).await?;
        let mut claimed = Vec::new();
        for id in candidates {
            if let Some(row) =
                outbox::claim(&mut conn, id, &self.owner, now, self.app.config().outbox_lease_seconds).await?
            {
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

    fn provider_name(&self, row: &OutboxRow) -> &'static str {
        match channel_label(row) {
            "email" => self.channels.mail.name(),
            "webhook" => "webhook",
            _ => self.channels.sms.name(),
        }
    }

    /// The row's body, opened for its channel.
    fn open(&self, row: &OutboxRow) -> Option<Message> {
        let user_id = row.user_id.unwrap_or(0);
        if is_email(row) {
            let letter = self.app.open_letter(user_id, &row.body_box).ok()?;
            Some(Message::Mail(OutgoingMail {
                id: row.id,
                to: row.recipient.clone(),
                to_name: Some(letter.to_name),
                from_name: Some(letter.from_name),
                subject: letter.subject,
                text: letter.text,
                html: letter.html,
            }))
        } else {
            let body = self.app.secrets().open(BODY_PURPOSE, user_id, &row.body_box).ok()?;
            let body = String::from_utf8_lossy(&body).into_owned();
            Some(Message::Sms(OutgoingSms { id: row.id, to: row.recipient.clone(), body }))
        }
    }

    async fn deliver(&self, row: OutboxRow) -> Result<Outcome> {
        let provider = self.provider_name(&row);
        let channel = channel_label(&row);
        let result = if channel == "webhook" {
            self.app.send_webhook(&row).await.outcome
        } else {
            match self.open(&row) {
                Some(Message::Sms(sms)) => self.channels.sms.send(&sms).await,
                Some(Message::Mail(mail)) => self.channels.mail.send(&mail).await,
                None => return self.give_up(&row, "the message body could not be decrypted").await,
            }
        };
        let now = self.app.now();
        let mut conn = self.app.store().conn().await?;
        match result {
            Ok(sent) => {
                let id = sent.provider_message_id.as_deref();
                outbox::mark_sent(&mut conn, row.id, &self.owner, provider, id, &sent.status, now).await?;
                tracing::info!(outbox_id = row.id, channel, provider, status = %sent.status, "message handed to the provider");
                metrics::counter!("twofold_outbox_sent_total", "channel" => channel, "provider" => provider)
                    .increment(1);
                Ok(Outcome::Sent)
            }
            Err(SendError::Permanent { reason }) => self.give_up(&row, &reason).await,
            Err(SendError::Transient { reason, retry_after }) => {
                if now - row.created_at >= self.give_up_after(&row) {
                    let why = format!("gave up after {} attempts: {reason}", row.attempts);
                    return self.give_up(&row, &why).await;
                }
                let attempt = u32::try_from(row.attempts).unwrap_or(u32::MAX);
                let backoff = if channel == "webhook" {
                    twofold_domain::webhook::retry_delay(attempt)
                } else {
                    retry_delay(attempt, self.app.jitter())
                };
                let wait = retry_after.map_or(backoff, |d| backoff.max(i64::try_from(d.as_secs()).unwrap_or(600)));
                outbox::mark_retry(&mut conn, row.id, &self.owner, &clip(&reason), now + wait).await?;
                tracing::warn!(
                    outbox_id = row.id,
                    channel,
                    provider,
                    attempt,
                    retry_in = wait,
                    "send failed; will retry"
                );
                metrics::counter!("twofold_outbox_retries_total", "channel" => channel, "provider" => provider)
                    .increment(1);
                Ok(Outcome::Retrying)
            }
        }
    }

    /// SMS carry codes that expire within minutes; mails carry links that live for days;
    /// webhooks are tried for a day.
    fn give_up_after(&self, row: &OutboxRow) -> i64 {
        let config = self.app.config();
        match channel_label(row) {
            "email" => config.mail.give_up_after,
            "webhook" => twofold_domain::webhook::GIVE_UP_AFTER,
            _ => config.sms.give_up_after,
        }
    }

    async fn give_up(&self, row: &OutboxRow, reason: &str) -> Result<Outcome> {
        let provider = self.provider_name(row);
        let channel = channel_label(row);
        let mut conn = self.app.store().conn().await?;
        outbox::mark_failed(&mut conn, row.id, &self.owner, provider, &clip(reason), self.app.now()).await?;
        tracing::error!(outbox_id = row.id, channel, provider, reason = %clip(reason), "message given up");
        metrics::counter!("twofold_outbox_failed_total", "channel" => channel, "provider" => provider).increment(1);
        Ok(Outcome::Failed)
    }

    /// Passes until `shutdown` resolves, each lane in its own loop so that a slow webhook
    /// receiver never holds a code: quickly while there is work, every second otherwise.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let hooks = tokio::spawn(self.clone().run_loop(Lane::Webhooks, stopped.clone()));
        let messages = tokio::spawn(self.run_loop(Lane::Messages, stopped));
        shutdown.await;
        let _ = stop.send(true);
        let _ = tokio::join!(hooks, messages);
    }

    async fn run_loop(self, lane: Lane, mut stopped: tokio::sync::watch::Receiver<bool>) {
        let batch = if lane == Lane::Webhooks { WEBHOOK_BATCH } else { BATCH };
        loop {
            let busy = match self.run_lane(lane).await {
                Ok(pass) => pass.handled() as i64 >= batch,
                Err(e) => {
                    tracing::warn!(error = %e, "outbox pass failed");
                    false
                }
            };
            let pause = if busy { Duration::from_millis(10) } else { Duration::from_secs(1) };
            tokio::select! {
                _ = stopped.changed() => return,
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

fn is_email(row: &OutboxRow) -> bool {
    row.channel == "email"
}

/// The row's channel as a fixed label for logs and metrics (the column allows only these).
fn channel_label(row: &OutboxRow) -> &'static str {
    match row.channel.as_str() {
        "email" => "email",
        "webhook" => "webhook",
        _ => "sms",
    }
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

    /// The newest outbox rows, without bodies, for `twofold outbox`; and how many rows each
    /// channel has in each status.
    pub async fn outbox_summary(&self, limit: i64) -> Result<(Vec<(String, String, i64)>, Vec<OutboxRow>)> {
        let mut conn = self.store().conn().await?;
        let counts = outbox::counts(&mut conn).await?;
        let mut rows = outbox::recent(&mut conn, limit).await?;
        for row in &mut rows {
            row.body_box.clear();
        }
        Ok((counts, rows))
    }
}
