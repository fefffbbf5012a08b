//! An SMS provider that keeps what it is given, and can be told to fail, for tests.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use twofold_channels::sms::{OutgoingSms, SmsProvider};
use twofold_channels::{SendError, SendFuture, Sent};

#[derive(Default)]
pub struct CaptureProvider {
    sent: Mutex<Vec<OutgoingSms>>,
    /// While set, every send fails as a provider outage would (503).
    pub down: AtomicBool,
    pub calls: AtomicUsize,
}

impl CaptureProvider {
    pub fn sent(&self) -> Vec<OutgoingSms> {
        self.sent.lock().unwrap().clone()
    }

    /// The six-digit code in the newest message to `e164`.
    pub fn last_code_to(&self, e164: &str) -> Option<String> {
        self.sent().iter().rev().filter(|m| m.to == e164).find_map(|m| code_in(&m.body))
    }
}

/// The only run of six digits in a message (api.md: "The code in the body is the only run
/// of six digits").
pub fn code_in(body: &str) -> Option<String> {
    body.split(|c: char| !c.is_ascii_digit()).find(|run| run.len() == 6).map(str::to_owned)
}

impl SmsProvider for CaptureProvider {
    fn name(&self) -> &'static str {
        "capture"
    }

    fn send<'a>(&'a self, sms: &'a OutgoingSms) -> SendFuture<'a> {
        Box::pin(async move {
            self.calls.fetch_add(1, Ordering::SeqCst);
            if self.down.load(Ordering::SeqCst) {
                return Err(SendError::Transient { reason: "503 Service Unavailable".into(), retry_after: None });
            }
            self.sent.lock().unwrap().push(sms.clone());
            Ok(Sent { provider_message_id: Some(format!("cap-{}", sms.id)), status: "queued".into() })
        })
    }
}
