//! Webhooks (SEC-51): an Owner (or a token with the `webhooks` scope) points the account's
//! audit events at a receiver. Events are queued from the audit log by a cursor the
//! webhook keeps, in the transaction that moves it, and sent by the one outbox worker:
//! signed per Standard Webhooks, the same `webhook-id` on every attempt, retried for a day.

use std::net::IpAddr;

use serde_json::{Value, json};
use twofold_channels::event_hook::{self, Attempt, EventHook};
use twofold_domain::clock::rfc3339;
use twofold_domain::person::Person;
use twofold_domain::webhook::{self, TEST_EVENT};
use twofold_store::outbox::{self, NewMessage, OutboxRow};
use twofold_store::webhooks::{self as store, DeliveryRow, EventRow, NewWebhook, WebhookRow};
use twofold_store::{Conn, commit};

use crate::access::{AccountPermission, ManageApps};
use crate::audit::Parties;
use crate::proof::{Confirmation, ProofFor};
use crate::{App, Error, RequestContext, Result};

/// What a secret is sealed for; the message bodies in the outbox are sealed too.
pub(crate) const SECRET_PURPOSE: &str = "webhook-secret";
const MESSAGE_PURPOSE: &str = "webhook-message";
/// Events queued per webhook per pass.
const EVENTS_PER_PASS: i64 = 200;
/// Messages that may wait for one receiver: beyond it, its events stay in the audit log
/// (the cursor waits) until the receiver catches up, so a dead receiver fills nothing.
const MAX_WAITING: i64 = 1_000;
/// Test events that may wait for one receiver.
const MAX_WAITING_TESTS: i64 = 10;

/// A webhook as the Apps tab and the API show it: never its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    pub id: i64,
    pub url: String,
    pub events: Vec<String>,
    pub created_at: i64,
}

impl From<&WebhookRow> for Webhook {
    fn from(w: &WebhookRow) -> Self {
        Webhook {
            id: w.id,
            url: w.url.clone(),
            events: w.events.split_whitespace().map(str::to_owned).collect(),
            created_at: w.created_at,
        }
    }
}

/// A webhook just made, with its secret shown this once.
pub struct CreatedWebhook {
    pub webhook: Webhook,
    pub secret: String,
}

/// What the outbox row of one delivery holds, sealed.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Sealed {
    webhook_id: i64,
    message_id: String,
    event: String,
    body: String,
}

/// A receiver's URL as the audit log names it: scheme and host only, since receivers often
/// carry a secret in the path (`https://hooks.slack.com/services/…`).
fn receiver_of(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    format!("{scheme}://{host}")
}

impl App {
    /// Whether a webhook may reach `host` at `ip`, by the instance's policy.
    fn webhook_rule(&self) -> impl Fn(&str, IpAddr) -> bool + Send + Sync + use<> {
        let policy = self.config().webhooks.clone();
        move |host, ip| webhook::may_send_to(host, ip, &policy.allow_hosts, policy.allow_insecure_loopback)
    }

    /// A receiver's URL as typed, before any lookup: short, and https unless the instance
    /// allows plain HTTP to loopback.
    fn check_webhook_url_form(&self, url: &str) -> Result<String> {
        let url = url.trim();
        if url.chars().count() > webhook::MAX_URL_CHARS || url.chars().any(char::is_control) {
            return Err(Error::invalid("invalid_url", "The URL is too long or holds control characters."));
        }
        let insecure = self.config().webhooks.allow_insecure_loopback;
        let scheme_ok = url.get(..8).is_some_and(|s| s.eq_ignore_ascii_case("https://"))
            || (insecure && url.get(..7).is_some_and(|s| s.eq_ignore_ascii_case("http://")));
        if !scheme_ok {
            return Err(Error::invalid("invalid_url", "The URL must be https://."));
        }
        Ok(url.to_owned())
    }

    /// The receiver resolves only to addresses the policy allows, now (every delivery
    /// checks again); plain HTTP only to loopback.
    async fn check_webhook_address(&self, url: &str) -> Result<()> {
        let rule = self.webhook_rule();
        let checked = event_hook::check(url, &rule).await.map_err(|e| Error::invalid("invalid_url", e))?;
        if checked.scheme != "https" && !checked.loopback {
            return Err(Error::invalid("invalid_url", "The URL must be https://."));
        }
        Ok(())
    }

    /// Makes a webhook for the actor's account; its secret (`whsec_…`) is answered once.
    pub async fn create_webhook(
        &self,
        actor: &Person,
        url: &str,
        events: &[&str],
        confirmation: Confirmation<'_>,
        ctx: &RequestContext,
    ) -> Result<CreatedWebhook> {
        self.allow(actor, ManageApps, ctx).await?;
        let events = webhook::parse_events(events.iter().copied()).map_err(|e| Error::invalid("invalid_events", e))?;
        let url = self.check_webhook_url_form(url)?;
        // The password first: the address check resolves a name, which is not for guessers.
        self.confirm(actor, confirmation, ProofFor::own(ManageApps::REFUSED), ctx).await?;
        self.check_webhook_address(&url).await?;
        let secret = webhook::generate_secret(self.entropy());
        let now = self.now();
        let mut tx = self.store().begin().await?;
        if store::in_account(&mut tx, actor.account_id).await?.len() >= webhook::MAX_PER_ACCOUNT {
            let message = format!("An account has at most {} webhooks.", webhook::MAX_PER_ACCOUNT);
            return Err(Error::conflict("too_many_webhooks", message));
        }
        let joined = events.join(" ");
        let new = NewWebhook { account_id: actor.account_id, url: &url, events: &joined, created_by: actor.id, now };
        let id = store::insert(&mut tx, &new).await?;
        store::set_secret(&mut tx, id, &self.secrets().seal(SECRET_PURPOSE, id, secret.as_bytes())?).await?;
        let detail = json!({ "webhook_id": id, "receiver": receiver_of(&url), "events": events });
        self.record(&mut tx, now, ctx, Parties::actor(actor), "webhook.created", detail).await?;
        store::skip_to_latest(&mut tx, id).await?;
        commit(tx).await?;
        Ok(CreatedWebhook { webhook: Webhook { id, url, events, created_at: now }, secret })
    }

    /// The account's webhooks.
    pub async fn webhooks(&self, actor: &Person, ctx: &RequestContext) -> Result<Vec<Webhook>> {
        self.allow(actor, ManageApps, ctx).await?;
        let mut conn = self.store().conn().await?;
        Ok(store::in_account(&mut conn, actor.account_id).await?.iter().map(Webhook::from).collect())
    }

    async fn own_webhook(&self, conn: &mut Conn, actor: &Person, id: i64) -> Result<WebhookRow> {
        store::get(conn, id)
            .await?
            .filter(|w| w.account_id == actor.account_id)
            .ok_or(Error::NotFound("No such webhook."))
    }

    /// Deletes a webhook; what it had queued is given up at its next attempt.
    pub async fn delete_webhook(&self, actor: &Person, id: i64, ctx: &RequestContext) -> Result<()> {
        self.allow(actor, ManageApps, ctx).await?;
        let now = self.now();
        let mut tx = self.store().begin().await?;
        let url = store::delete(&mut tx, actor.account_id, id).await?.ok_or(Error::NotFound("No such webhook."))?;
        let detail = json!({ "webhook_id": id, "receiver": receiver_of(&url) });
        self.record(&mut tx, now, ctx, Parties::actor(actor), "webhook.deleted", detail).await?;
        commit(tx).await?;
        Ok(())
    }

    /// The test button: a `webhook.test` event queued for this webhook alone.
    pub async fn test_webhook(&self, actor: &Person, id: i64, ctx: &RequestContext) -> Result<String> {
        self.allow(actor, ManageApps, ctx).await?;
        let now = self.now();
        let mut tx = self.store().begin().await?;
        let hook = self.own_webhook(&mut tx, actor, id).await?;
        if outbox::waiting_for(&mut tx, &hook.url).await? >= MAX_WAITING_TESTS {
            return Err(Error::Throttled { retry_after: 60 });
        }
        let event = EventRow {
            id: 0,
            event: TEST_EVENT.into(),
            detail: json!({ "message": "A test from the Apps tab." }).to_string(),
            actor_user_id: Some(actor.id),
            target_user_id: None,
            created_at: now,
        };
        let message_id = self.queue_event(&mut tx, &hook, &event, now).await?;
        commit(tx).await?;
        Ok(message_id)
    }

    /// A webhook's newest attempts, newest first.
    pub async fn webhook_deliveries(&self, actor: &Person, id: i64, ctx: &RequestContext) -> Result<Vec<DeliveryRow>> {
        self.allow(actor, ManageApps, ctx).await?;
        let mut conn = self.store().conn().await?;
        self.own_webhook(&mut conn, actor, id).await?;
        Ok(store::deliveries(&mut conn, id, 100).await?)
    }

    /// Queues one event for one webhook in the outbox; answers its `webhook-id`.
    async fn queue_event(&self, tx: &mut Conn, hook: &WebhookRow, event: &EventRow, now: i64) -> Result<String> {
        let data: Value = serde_json::from_str(&event.detail).unwrap_or_else(|_| json!({}));
        let body = json!({
            "type": event.event,
            "timestamp": rfc3339(event.created_at),
            "data": {
                "account_id": hook.account_id,
                "event_id": event.id,
                "actor_user_id": event.actor_user_id,
                "target_user_id": event.target_user_id,
                "detail": data,
            },
        })
        .to_string();
        let message_id = webhook::message_id(self.entropy());
        let sealed = Sealed { webhook_id: hook.id, message_id: message_id.clone(), event: event.event.clone(), body };
        let plain = serde_json::to_vec(&sealed).map_err(|e| Error::Internal(format!("webhook body: {e}")))?;
        // Sealed under no owner: the webhook's id is inside, and the send checks that it
        // still exists and still has this URL.
        let body_box = self.secrets().seal(MESSAGE_PURPOSE, 0, &plain)?;
        let message =
            NewMessage { user_id: None, channel: "webhook", recipient: &hook.url, kind: "event", body_box: &body_box };
        outbox::enqueue(tx, &message, now).await?;
        Ok(message_id)
    }

    /// One pass of the dispatcher: every webhook behind its account's audit log gets the
    /// events after its cursor queued, in the transaction that moves the cursor (another
    /// instance that moved it first wins; this transaction then queues nothing).
    pub async fn queue_webhook_events(&self) -> Result<usize> {
        let mut conn = self.store().conn().await?;
        let behind = store::behind(&mut conn).await?;
        drop(conn);
        let mut queued = 0;
        for hook in behind {
            let now = self.now();
            let mut tx = self.store().begin().await?;
            if outbox::waiting_for(&mut tx, &hook.url).await? >= MAX_WAITING {
                continue;
            }
            let events = store::events_after(&mut tx, hook.account_id, hook.last_event_id, EVENTS_PER_PASS).await?;
            let Some(last) = events.last().map(|e| e.id) else { continue };
            if !store::advance(&mut tx, hook.id, hook.last_event_id, last).await? {
                continue;
            }
            for event in events.iter().filter(|e| webhook::wants(&hook.events, &e.event)) {
                self.queue_event(&mut tx, &hook, event, now).await?;
                queued += 1;
            }
            commit(tx).await?;
        }
        Ok(queued)
    }

    /// Sends one queued webhook message (the outbox worker's `webhook` channel): signs it
    /// now with the webhook's secret and logs the attempt for the Owner.
    pub(crate) async fn send_webhook(&self, row: &OutboxRow) -> Attempt {
        let unanswered = |reason: &str| Attempt {
            status: None,
            outcome: Err(twofold_channels::SendError::Permanent { reason: reason.to_owned() }),
        };
        let Some(sealed) = self.open_webhook_message(row) else {
            return unanswered("the message body could not be decrypted");
        };
        let key = match self.webhook_key(sealed.webhook_id, &row.recipient).await {
            Ok(Some(key)) => key,
            Ok(None) => return unanswered("the webhook was deleted"),
            Err(e) => {
                let reason = format!("the webhook could not be read: {e}");
                return Attempt {
                    status: None,
                    outcome: Err(twofold_channels::SendError::Transient { reason, retry_after: None }),
                };
            }
        };
        let timestamp = self.now();
        let hook = EventHook {
            url: row.recipient.clone(),
            signature: webhook::signature(&key, &sealed.message_id, timestamp, &sealed.body),
            message_id: sealed.message_id.clone(),
            timestamp,
            body: sealed.body,
        };
        let rule = self.webhook_rule();
        let attempt = event_hook::deliver(&hook, &rule, twofold_channels::Timeouts::default()).await;
        let logged = DeliveryRow {
            message_id: sealed.message_id,
            event: sealed.event,
            attempt: row.attempts,
            status: attempt.status.map(i64::from),
            error: attempt.outcome.as_ref().err().map(|e| e.to_string().chars().take(300).collect()),
            at: timestamp,
        };
        match self.store().conn().await {
            Ok(mut conn) => {
                if let Err(e) = store::log_attempt(&mut conn, sealed.webhook_id, &logged).await {
                    tracing::warn!(error = %e, "a webhook attempt could not be logged");
                }
            }
            Err(e) => tracing::warn!(error = %e, "a webhook attempt could not be logged"),
        }
        attempt
    }

    /// Re-encrypts every webhook's secret under the current key (`twofold keys rotate`).
    pub(crate) async fn reseal_webhook_secrets(&self) -> Result<(usize, usize)> {
        let mut conn = self.store().conn().await?;
        let sealed = store::all_sealed(&mut conn).await?;
        drop(conn);
        let (mut resealed, mut skipped) = (0, 0);
        for (id, blob) in sealed {
            let Some(new) = self.secrets().rewrap_if_needed(SECRET_PURPOSE, id, &blob)? else { continue };
            let mut conn = self.store().conn().await?;
            if store::reseal(&mut conn, id, &blob, &new).await? {
                resealed += 1;
            } else {
                skipped += 1;
            }
        }
        Ok((resealed, skipped))
    }

    fn open_webhook_message(&self, row: &OutboxRow) -> Option<Sealed> {
        let plain = self.secrets().open(MESSAGE_PURPOSE, 0, &row.body_box).ok()?;
        serde_json::from_slice(&plain).ok()
    }

    /// The signing key of the webhook the message is for, if it still exists and still
    /// points where the message goes.
    async fn webhook_key(&self, webhook_id: i64, url: &str) -> Result<Option<Vec<u8>>> {
        let mut conn = self.store().conn().await?;
        let Some(hook) = store::get(&mut conn, webhook_id).await?.filter(|h| h.url == url) else { return Ok(None) };
        let secret = self.secrets().open(SECRET_PURPOSE, webhook_id, &hook.secret_box)?;
        Ok(webhook::secret_key(&String::from_utf8_lossy(&secret)))
    }
}
