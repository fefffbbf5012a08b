//! Retransmitted requests (RFC 5080 §2.2.2): a client that hears nothing sends the same
//! request again. The first sight claims it in the database, so that on any instance a
//! retransmission is answered from the first answer and never checked, or counted, twice.

use twofold_domain::radius::RETRANSMISSION_SECONDS;
use twofold_store::radius::{self, Sighting};

use crate::{App, Result};

/// The answer to a request already answered is sealed: it may hold a challenge's State.
const REPLY_PURPOSE: &str = "radius-reply";

/// What a request's key found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FirstSight {
    /// New: answer it, then [`App::radius_answered`].
    New,
    /// Answered before: send these bytes again.
    Again(Vec<u8>),
    /// Being answered right now (on this or another instance): send nothing.
    InFlight,
}

impl App {
    pub async fn radius_sighting(&self, request_key: &str) -> Result<FirstSight> {
        let now = self.now();
        let mut conn = self.store().conn().await?;
        Ok(match radius::sight(&mut conn, request_key, now, now - RETRANSMISSION_SECONDS).await? {
            Sighting::First => FirstSight::New,
            Sighting::InFlight => FirstSight::InFlight,
            Sighting::Answered(sealed) => FirstSight::Again(self.secrets().open(REPLY_PURPOSE, 0, &sealed)?),
        })
    }

    /// Keeps the answer for the request's retransmissions.
    pub async fn radius_answered(&self, request_key: &str, reply: &[u8]) -> Result<()> {
        let sealed = self.secrets().seal(REPLY_PURPOSE, 0, reply)?;
        let mut conn = self.store().conn().await?;
        radius::answered(&mut conn, request_key, &sealed).await?;
        Ok(())
    }

    /// Gives back the claim of a request that got no answer (the store failed), so that
    /// its retransmission is answered afresh.
    pub async fn radius_unanswered(&self, request_key: &str) {
        let forgot = async {
            let mut conn = self.store().conn().await?;
            radius::forget(&mut conn, request_key).await
        };
        if let Err(e) = forgot.await {
            tracing::warn!(error = %e, "a RADIUS request's claim was not given back; it ends by itself");
        }
    }

    /// Deletes expired challenges and forgotten requests; safe on several instances.
    pub async fn sweep_radius(&self) -> Result<u64> {
        let now = self.now();
        let mut conn = self.store().conn().await?;
        Ok(radius::sweep(&mut conn, now, now - RETRANSMISSION_SECONDS).await?)
    }
}
