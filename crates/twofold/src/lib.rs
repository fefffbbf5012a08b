//! The `twofold` program: configuration, the command line, and the server's wiring.

mod backup;
pub mod cli;
pub mod config;
mod logging;
mod serve;

pub use config::Config;
