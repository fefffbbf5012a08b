//! A fresh password proof for changes a thief could use (SEC-46): adding a security key or
//! passkey, turning one's own 2FA off, new recovery codes, changing the phone or the
//! password, an administrator's disable, ownership transfer, removing a key. The password
//! comes in the same request and goes through the attempt pipeline with the sign-in's
//! budgets (the email's and the source address's), so a stolen session guesses no faster
//! than the login page allows.

use twofold_domain::person::Person;

use crate::attempt::{Guard, Rejection, Verdict};
use crate::tokens::TokenCaller;
use crate::{App, Error, RequestContext, Result};

/// How a change is confirmed: a session proves the password again in the same request; a
/// request made with an API token carries no password (proofs are for sessions), and the
/// token, live and within its scopes, is its own proof (SEC-50).
#[derive(Debug, Clone, Copy)]
pub enum Confirmation<'a> {
    Password(&'a str),
    Token(&'a TokenCaller),
}

/// What a proof is for, as the audit log names a refusal, and whom the change touches.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ProofFor<'a> {
    /// The event a wrong password is audited as (`two_factor.disable_refused`…).
    pub refused_event: &'static str,
    /// The person the change is made to, when it is not the prover.
    pub target: Option<&'a Person>,
}

impl<'a> ProofFor<'a> {
    /// A change to one's own sign-in.
    pub fn own(refused_event: &'static str) -> Self {
        ProofFor { refused_event, target: None }
    }

    /// A change to another person's sign-in or role.
    pub fn on(target: &'a Person, refused_event: &'static str) -> Self {
        ProofFor { refused_event, target: Some(target) }
    }
}

impl App {
    /// Confirms a change by `actor`: their password, or the token they are acting with.
    pub(crate) async fn confirm(
        &self,
        actor: &Person,
        confirmation: Confirmation<'_>,
        what: ProofFor<'_>,
        ctx: &RequestContext,
    ) -> Result<()> {
        match confirmation {
            Confirmation::Password(password) => self.prove_password(actor, password, what, ctx).await,
            Confirmation::Token(caller) if caller.user.id == actor.id => Ok(()),
            Confirmation::Token(_) => Err(Error::Unauthenticated),
        }
    }

    /// Checks `password` as `prover`'s, through the sign-in's guessing budgets: a wrong one
    /// answers 401 `invalid_credentials` (audited as `what.refused_event`), a throttled
    /// one 429 before any hashing. Every change a thief could use calls it first.
    pub(crate) async fn prove_password(
        &self,
        prover: &Person,
        password: &str,
        what: ProofFor<'_>,
        ctx: &RequestContext,
    ) -> Result<()> {
        let guard = Guard::password_proof(prover, what.target, what.refused_event, ctx);
        self.attempt(guard, ctx, |armed| async {
            if !self.password_matches(prover, password).await? {
                return Ok(Verdict::Rejected(Rejection::WRONG_PASSWORD));
            }
            let mut conn = self.store().conn().await?;
            armed.succeeded(&mut conn).await?;
            Ok(Verdict::Accepted(()))
        })
        .await
    }
}
