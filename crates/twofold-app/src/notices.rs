//! Security notices: every change to how a person signs in is told to them by email and,
//! when they have a verified number, by SMS, in the transaction of the change itself, so
//! that a change is never made without its notice queued (SEC-18, SEC-39).
//!
//! People choose nothing here yet: both channels get every notice.

use twofold_domain::person::Person;
use twofold_store::{Conn, outbox, phones};

use crate::mail::Letter;
use crate::sms::{BODY_PURPOSE, sms_message};
use crate::{App, Result};

impl App {
    /// Queues `what` (a sentence: "your password was changed.") to the person's address and
    /// verified number. No code and no link in it, so that it cannot be used to phish.
    pub(crate) async fn queue_notice(
        &self,
        conn: &mut Conn,
        user: &Person,
        subject: &str,
        what: &str,
        now: i64,
    ) -> Result<()> {
        let account = self.account_name_in(conn, user.account_id).await?;
        let letter = Letter::notice(&self.config().issuer, &account, user, subject, what, now);
        self.queue_email(conn, user, "notice", &letter, now).await?;
        if let Some(phone) = phones::get(conn, user.id).await? {
            let body = format!("{}: {what}", self.config().issuer);
            let sealed = self.secrets().seal(BODY_PURPOSE, user.id, body.as_bytes())?;
            outbox::enqueue(conn, &sms_message(user.id, &phone.e164, "notice", &sealed), now).await?;
        }
        Ok(())
    }
}
