//! Twofold's domain: the rules of who may do what, one-time codes, throttling and lifetimes.
//!
//! Nothing here does I/O: time comes in as `now` (Unix seconds) and randomness through
//! [`Entropy`], so every rule can be tested with a fake clock and fixed bytes.

pub mod api_token;
pub mod assurance;
pub mod clock;
pub mod credential;
pub mod email;
pub mod factors;
pub mod forward_auth;
pub mod group;
pub mod known_browser;
pub mod mail;
pub mod oidc;
pub mod otp;
pub mod overview;
pub mod password;
pub mod percent;
pub mod permissions;
pub mod person;
pub mod person_name;
pub mod phone;
pub mod policy;
pub mod radius;
pub mod recovery;
pub mod recovery_code;
pub mod role;
pub mod scim;
pub mod session;
pub mod sms;
pub mod throttle;
pub mod token;
pub mod webhook;

pub use clock::{Clock, Entropy, FixedClock};
pub use role::Role;
