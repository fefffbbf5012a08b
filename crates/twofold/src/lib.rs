//! The `twofold` program: configuration, the command line, and the server's wiring.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

pub mod cli;
pub mod config;
mod logging;
mod serve;

pub use config::Config;
