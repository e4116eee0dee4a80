//! Black-box tests: the real server on a loopback port, driven over HTTP.
//! Every test runs against SQLite, and against MySQL/MariaDB when TEST_MYSQL_URL is set; the
//! multi-instance tests need TEST_REDIS_URL.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod helpers;

mod account;
mod account_instances;
mod activity;
mod addresses;
mod admin_cli;
mod binary;
mod breach;
mod browser;
mod bruteforce;
mod change_email;
mod connections;
mod delete_account;
mod docs;
mod e2e_browser;
mod email;
mod enumeration;
mod errors;
mod faults;
mod idle;
mod instances;
mod login;
mod logs;
mod memory;
mod metrics;
mod mfa;
mod mfa_instances;
mod outage;
mod outbox;
mod passwords;
mod ratelimit;
mod register;
mod reset;
mod revocation;
mod rotation;
mod session_list;
mod sessions;
mod shedding;
mod smtp_server;
mod takeover;
mod verify;
mod webdriver;
