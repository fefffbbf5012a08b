//! Known browsers (SEC-44): issuing the signed token a browser keeps after signing in as
//! a person, and recognising it (or a remembered device) at the next password step, so
//! that the attempt pipeline can judge that browser by its own failure budget.

use twofold_domain::known_browser::{KnownBrowser, MAC_LABEL};
use twofold_domain::token;
use twofold_store::{Conn, devices};

use crate::{App, Result};

impl App {
    /// A fresh known-browser token for `user_id`, to be kept by the browser that just gave
    /// the right password, bound to the password's stored hash (SEC-48).
    pub(crate) fn issue_known_browser(&self, user_id: i64, password_hash: &str, now: i64) -> String {
        let claim = KnownBrowser { user_id, issued_at: now };
        claim.token(&self.secrets().mac(MAC_LABEL, claim.mac_input(&token::hash(password_hash)).as_bytes()))
    }

    /// The digest naming this browser's own budget, when it proves it has signed in as
    /// `user_id` before, under the password it has now: by a valid known-browser token
    /// minted under `password_hash`, or by a live remembered device (which a password change
    /// deletes).
    pub(crate) async fn known_browser_digest(
        &self,
        conn: &mut Conn,
        (user_id, password_hash): (i64, &str),
        known_browser: Option<&str>,
        remembered_device: Option<&str>,
        now: i64,
    ) -> Result<Option<String>> {
        if let Some(raw) = known_browser
            && let Some((claim, mac)) = KnownBrowser::parse(raw)
            && claim.vouches_for(user_id, now)
            && self.secrets().verify_mac(MAC_LABEL, claim.mac_input(&token::hash(password_hash)).as_bytes(), mac)
        {
            return Ok(Some(token::hash(raw)));
        }
        if let Some(raw) = remembered_device.filter(|r| token::is_well_formed(r)) {
            let hash = token::hash(raw);
            if devices::live_for_user(conn, &hash, user_id, now).await?.is_some() {
                return Ok(Some(hash));
            }
        }
        Ok(None)
    }
}
