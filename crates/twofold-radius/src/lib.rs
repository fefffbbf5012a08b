//! Twofold's RADIUS face (RFC 2865): a UDP authentication server inside `twofold serve`,
//! thin over the use cases of `twofold-app`. This crate checks packets and clients and
//! drops what must be dropped silently; what a request gets is decided by
//! `App::radius_access`, with the web sign-in's people, budgets and audit log.

mod server;

pub use server::{answer, serve};
