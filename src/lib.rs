//! authd: an authentication server (register, verify email, login, logout, password reset)
//! serving the JSON API of the FastAPI auth backend it replaces.
//!
//! `main.rs` reads the config and calls [`Application::build`]; tests build the same
//! application on port 0 with their own [`Parts`].

pub mod app;
pub mod auth;
pub mod clock;
pub mod config;
pub mod db;
pub mod http;
pub mod mail;
mod serve;
pub mod shared_store;

pub use app::{Application, Parts, StartError};
pub use config::Config;
