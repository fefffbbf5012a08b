//! Twofold's integration tests: one test binary (one slow link on 2 cores), with modules.
//!
//! Tests that touch storage run on SQLite and, when `TWOFOLD_TEST_DATABASE_URL` is set, on
//! PostgreSQL too; browser tests need Debian's `chromium` and `chromium-driver`. Missing
//! either, those tests say loudly that they skipped — or fail, when
//! `TWOFOLD_REQUIRE_ALL_TESTS=1` (as CI sets it).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

#[macro_use]
mod support;

mod abuse;
mod admin;
mod api_people;
mod api_sign_in;
mod assurance;
mod audit;
mod backups;
mod browser;
mod cli;
mod connections;
mod customer_success;
mod delivery;
mod deploy_files;
mod email;
mod forward_auth;
mod groups;
mod lifecycle;
mod multi_instance;
mod oidc;
mod oidc_relying_parties;
mod openapi;
mod overview;
mod pages;
mod pipeline;
mod proxies;
mod radius;
mod recovery_codes;
mod review_holes;
mod scim;
mod security;
mod security_keys;
mod sms;
mod store;
mod tokens;
mod two_factor;
mod two_factor_pages;
mod webhooks;
