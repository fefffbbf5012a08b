//! The emails Twofold sends (an invitation, a password-reset link, security notices) and
//! their queueing through the one outbox, sealed like every other body at rest.
//!
//! Plain text first, with a simple HTML twin: no images, no remote content, no tracking
//! links or pixels, and the only link a message holds is the one it exists for (SEC-39).

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::macros::format_description;
use twofold_domain::person::Person;
use twofold_domain::person_name::inert;
use twofold_store::outbox::{self, NewMessage};
use twofold_store::{Conn, accounts};

use crate::{App, Error, Result};

/// What the AEAD of an email body is bound to.
pub(crate) const MAIL_PURPOSE: &str = "mail_body";

/// One email as the outbox keeps it (sealed): everything but the address, which is a column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Letter {
    /// The sender's display name: the account's, "Acme (via Twofold)".
    pub from_name: String,
    pub to_name: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// The parts every letter shares, in the account's name.
struct Letterhead<'a> {
    issuer: &'a str,
    account: &'a str,
    to_name: &'a str,
}

impl Letterhead<'_> {
    fn letter(&self, subject: String, paragraphs: &[String], link: Option<(&str, &str)>) -> Letter {
        let greeting = format!("Hello {},", inert(self.to_name));
        let signature = format!("{}, through {}", inert(self.account), self.issuer);
        let mut text = format!("{greeting}\n\n");
        let mut html = format!("<p>{}</p>\n", escape(&greeting));
        for (i, paragraph) in paragraphs.iter().enumerate() {
            text.push_str(paragraph);
            text.push_str("\n\n");
            html.push_str(&format!("<p>{}</p>\n", escape(paragraph)));
            if i == 0
                && let Some((label, url)) = link
            {
                text.push_str(&format!("{url}\n\n"));
                html.push_str(&format!("<p><a href=\"{}\">{}</a></p>\n", escape(url), escape(label)));
            }
        }
        text.push_str(&format!("-- \n{signature}\n"));
        html.push_str(&format!("<p style=\"color:#555\">{}</p>\n", escape(&signature)));
        Letter {
            from_name: format!("{} (via {})", inert(self.account), self.issuer),
            to_name: inert(self.to_name),
            subject,
            text,
            html: format!("<!doctype html>\n<html><body style=\"font-family:sans-serif\">\n{html}</body></html>\n"),
        }
    }
}

impl Letter {
    pub(crate) fn invitation(
        issuer: &str,
        account: &str,
        to: &Person,
        inviter: &str,
        url: &str,
        expires_at: i64,
    ) -> Self {
        let head = Letterhead { issuer, account, to_name: &to.name };
        let (inviter, account) = (inert(inviter), inert(account));
        let paragraphs = [
            format!("{inviter} invited you to {account}. Choose your password to sign in:"),
            format!(
                "The link works once, until {}. If you did not expect this invitation, ignore it.",
                when(expires_at)
            ),
        ];
        head.letter(format!("{inviter} invited you to {account}"), &paragraphs, Some(("Choose your password", url)))
    }

    pub(crate) fn password_reset(issuer: &str, account: &str, to: &Person, url: &str, expires_at: i64) -> Self {
        let head = Letterhead { issuer, account, to_name: &to.name };
        let paragraphs = [
            "Someone asked to reset the password of your account. To choose a new one, open this link:".to_owned(),
            format!(
                "It works once, until {}. Your two-factor authentication stays on: you will still be asked for your code.",
                when(expires_at)
            ),
            "If you did not ask for this, ignore this message: your password stays as it is.".to_owned(),
        ];
        head.letter(
            format!("Reset your {} password", inert(account)),
            &paragraphs,
            Some(("Choose a new password", url)),
        )
    }

    /// A security notice: what happened, and when. No link, no code (SEC-39).
    pub(crate) fn notice(issuer: &str, account: &str, to: &Person, subject: &str, what: &str, now: i64) -> Self {
        let head = Letterhead { issuer, account, to_name: &to.name };
        let paragraphs = [
            capitalised(what),
            format!("When: {}.", when(now)),
            "This notice holds no link on purpose. If this was not you, contact your administrator.".to_owned(),
        ];
        head.letter(subject.to_owned(), &paragraphs, None)
    }
}

impl App {
    /// Queues an email to `user`; call it in the transaction of the change it reports.
    pub(crate) async fn queue_email(
        &self,
        conn: &mut Conn,
        user: &Person,
        kind: &str,
        letter: &Letter,
        now: i64,
    ) -> Result<i64> {
        let plain = serde_json::to_vec(letter).map_err(|e| Error::Internal(format!("letter not encodable: {e}")))?;
        let sealed = self.secrets().seal(MAIL_PURPOSE, user.id, &plain)?;
        let message =
            NewMessage { user_id: Some(user.id), channel: "email", recipient: &user.email, kind, body_box: &sealed };
        Ok(outbox::enqueue(conn, &message, now).await?)
    }

    /// A letter back from the outbox.
    pub(crate) fn open_letter(&self, user_id: i64, sealed: &[u8]) -> Result<Letter> {
        let plain = self.secrets().open(MAIL_PURPOSE, user_id, sealed)?;
        serde_json::from_slice(&plain).map_err(|e| Error::Internal(format!("stored letter unreadable: {e}")))
    }

    /// The account's name, as letters are signed with it.
    pub(crate) async fn account_name_in(&self, conn: &mut Conn, account_id: i64) -> Result<String> {
        Ok(accounts::get(conn, account_id).await?.map(|a| a.name).unwrap_or_default())
    }
}

/// A moment as a letter states it: `2027-01-15 08:00 UTC`.
fn when(at: i64) -> String {
    let format = format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    OffsetDateTime::from_unix_timestamp(at).ok().and_then(|t| t.format(&format).ok()).unwrap_or_default()
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map(|first| first.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

/// Text into HTML: the five characters that could start markup or end an attribute.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn pat() -> Person {
        Person {
            id: 7,
            account_id: 1,
            email: "pat@acme.test".into(),
            name: "Pat <script>".into(),
            role: twofold_domain::Role::User,
            status: twofold_domain::person::PersonStatus::Active { since: 0 },
            created_at: 0,
            last_sign_in_at: None,
        }
    }

    #[test]
    fn a_letter_is_in_the_accounts_name_and_escapes_what_people_typed() {
        let letter = Letter::invitation(
            "Twofold",
            "Acme & Co",
            &pat(),
            "Olive",
            "https://t.example/invitations/abc",
            1_800_000_000,
        );
        assert_eq!(letter.from_name, "Acme & Co (via Twofold)");
        assert_eq!(letter.subject, "Olive invited you to Acme & Co");
        assert!(letter.text.contains("https://t.example/invitations/abc"), "{}", letter.text);
        assert!(letter.text.contains("2027-01-15 08:00 UTC"), "{}", letter.text);
        assert!(letter.html.contains("Hello Pat &lt;script&gt;,"), "{}", letter.html);
        assert!(letter.html.contains("Acme &amp; Co"), "{}", letter.html);
        assert!(!letter.html.contains("<img") && !letter.html.contains("<script"), "{}", letter.html);
    }

    #[test]
    fn sec_39_a_notice_holds_no_link() {
        let letter =
            Letter::notice("Twofold", "Acme", &pat(), "Your password was changed", "your password was changed.", 0);
        assert!(!letter.text.contains("http") && !letter.html.contains("href"), "{}", letter.text);
        assert!(letter.text.contains("Your password was changed."), "{}", letter.text);
        assert!(letter.text.contains("1970-01-01 00:00 UTC"), "{}", letter.text);
    }
}
