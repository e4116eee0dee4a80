//! authd: an authentication server (register, verify email, login with an optional second
//! factor, logout, password reset, account settings)
//! serving the JSON API of the FastAPI auth backend it replaces.
//!
//! # Where things are
//!
//! A request travels down this list and its answer comes back up; each module imports only
//! the ones below it (checked by `../shared/tools/module-cycles.py`):
//!
//! | module | holds | imports of ours |
//! |---|---|---|
//! | [`admin`] | the operator's commands (`authd users …`) on the database, telling running servers through the revocation channel, queuing email for them to deliver | `auth`, `db`, `store`, `mail`, `domain`, `clock` |
//! | [`app`] | start-up: builds the parts from a [`Config`], binds, serves, shuts down | everything, once |
//! | `serve` | the accept loop: hyper HTTP/1.1, header timeout, connection cap, graceful drain | nothing |
//! | [`http`] | router and layer order, one file per group of handlers, request/response schemas, extractors, error mapping, middleware, OpenAPI docs | `auth`, `domain`, `config`, `limits` |
//! | [`auth`] | the flows, one file per capability (registration, login, reset, sessions, account, two-factor), the bcrypt hasher, session tokens, the keys that seal TOTP secrets and queued email, the outbox worker that delivers email, the breached-password client | `store`, `db`, `mail`, `limits`, `config`, `domain`, `clock`, `telemetry` |
//! | [`store`] | short-lived state: one-time codes and counters, in process and in Redis side by side | `limits`, `domain`, `clock` |
//! | [`db`] | the SQL store (users, sessions, recovery codes, security events, the mail outbox) on SQLite, MySQL/MariaDB and PostgreSQL, one statement per query for all three; data migrations | `domain` |
//! | [`mail`] | messages and templates, the `Mailer` trait (one delivery), console, SMTP and in-memory mailers | `domain`, `config` |
//! | [`config`] | the typed configuration, parsed once into one section per part | `domain`, `limits` |
//! | [`limits`] | limit values and the decisions about them (lockouts, code budgets, the mail throttle): pure functions with their tests | `domain`, `clock` |
//! | [`telemetry`] | the Prometheus metrics: names, labels, the recorder | nothing |
//! | [`clock`] | the one place that reads the wall clock (clippy refuses it elsewhere) | nothing |
//! | [`domain`] | value types, valid by construction: `UserEmail`, `UserName`, `Password`, `Code`, ids, `User`, TOTP secrets and recovery codes | nothing |
//!
//! SQL differs per backend only in `migrations/{sqlite,mysql,postgres}` and in `db/mod.rs`
//! (creating a missing database, connection options, which errors mean "the schema is gone").
//!
//! `main.rs` reads the config and calls [`Application::build`]; tests build the same
//! application on port 0 with their own [`Parts`].

pub mod admin;
pub mod app;
pub mod auth;
pub mod clock;
pub mod config;
pub mod db;
pub mod domain;
pub mod http;
pub mod limits;
pub mod mail;
mod serve;
pub mod store;
pub mod telemetry;

pub use app::{Application, StartError, mfa_key};
pub use auth::Parts;
pub use config::Config;
