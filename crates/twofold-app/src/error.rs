//! The errors a use case answers, each meaning one thing to the person who caused it.

use thiserror::Error;
use twofold_domain::permissions::Denied;
use twofold_store::StoreError;

#[derive(Debug, Error)]
pub enum Error {
    /// Wrong email or password, told apart from nothing else (SEC-32).
    #[error("The email or password is incorrect.")]
    InvalidCredentials,
    #[error("Sign in first.")]
    Unauthenticated,
    /// The right password of a deactivated person: said only once the password is proven.
    #[error("This account has been deactivated. Ask your administrator if you need access again.")]
    AccountDeactivated,
    /// A wrong, replayed or mistimed one-time code; the offset when it matched a nearby time,
    /// and whether it was right but already used (the next one is the one to enter).
    #[error("{}", crate::two_factor::invalid_code_message(*clock_offset_seconds, *already_used))]
    InvalidCode { clock_offset_seconds: Option<i64>, already_used: bool },
    /// A recovery code that is wrong or already used.
    #[error("That recovery code is not valid or was already used. Each code works once.")]
    InvalidRecoveryCode,
    /// A security key or passkey answer that did not verify (signature, origin, challenge,
    /// counter, or a credential that is not this person's).
    #[error("That security key or passkey was not accepted. Try again, or use another way to sign in.")]
    InvalidSecurityKey,
    /// 100 consecutive failures: only an administrator or support can reset it.
    #[error("Two-factor authentication is locked after too many wrong codes. Ask your administrator to unlock it.")]
    SecondFactorLocked,
    #[error("Too many attempts. Try again in {retry_after} seconds.")]
    Throttled { retry_after: i64 },
    #[error("{0}")]
    Denied(#[from] Denied),
    #[error("{0}")]
    NotFound(&'static str),
    /// Signed in, but this is not available to this person now (403 with its own code).
    #[error("{message}")]
    Refused { code: &'static str, message: String },
    #[error("This link is invalid, expired or already used.")]
    LinkInvalid,
    /// A password-reset link that was used, expired, voided or never existed (410).
    #[error("This link has expired or was already used. Ask for a new one from the sign-in page.")]
    LinkExpired,
    /// The first-run setup link, once any account exists (410, SEC-54).
    #[error("This setup link has ended: the first account exists. Sign in instead.")]
    SetupLinkEnded,
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    #[error("{message}")]
    Invalid { code: &'static str, message: String },
    #[error("The service is temporarily unavailable. Try again shortly.")]
    Unavailable,
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    pub fn invalid(code: &'static str, message: impl std::fmt::Display) -> Self {
        Error::Invalid { code, message: message.to_string() }
    }

    pub fn conflict(code: &'static str, message: impl std::fmt::Display) -> Self {
        Error::Conflict { code, message: message.to_string() }
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(_) => Error::Unavailable,
            other => Error::Internal(other.to_string()),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
