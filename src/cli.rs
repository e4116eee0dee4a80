//! The command line of the `authd` binary: `authd` (or `authd serve`) runs the server,
//! `authd migrate` applies the migrations, `authd users …` are the operator's commands.
//!
//! Exit codes: 0 success, 1 no user with that address, 2 bad usage (clap's own code too),
//! 3 the command could not run (configuration, database, Redis).

use std::process::ExitCode;
use std::sync::Arc;

use authd::admin::{Admin, AdminError};
use authd::auth::MailQueue;
use authd::clock::SystemClock;
use authd::db::Db;
use authd::db::admin::Account;
use authd::domain::UserEmail;
use authd::store::{NoOtherInstances, RedisStore, Revocations};
use authd::{Config, StartError};
use clap::{Parser, Subcommand};
use secrecy::ExposeSecret;

#[derive(Parser, Debug)]
#[command(
    name = "authd",
    version,
    about = "An authentication server, and its operator's commands"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Print the result as JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the server (what `authd` alone does).
    Serve,
    /// Apply the database migrations of DATABASE_URL and exit.
    Migrate,
    /// Print the key that seals TOTP secrets with this environment (to pin it in
    /// MFA_ENCRYPTION_KEY before rotating JWT_SECRET).
    MfaKey,
    /// Look after accounts, on the database of DATABASE_URL (running servers follow).
    #[command(subcommand)]
    Users(Users),
}

#[derive(Subcommand, Debug)]
pub enum Users {
    /// List accounts, oldest first.
    List {
        /// Only accounts whose address or name contains this (any case).
        #[arg(long)]
        search: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// One account, with its live sessions and two-factor state.
    Show { email: String },
    /// Mark the address verified.
    Verify { email: String },
    /// Delete the account, its sessions and codes.
    Delete { email: String },
    /// End every session of the account.
    RevokeSessions { email: String },
    /// Refuse the account's logins (answered as a wrong password) and end its sessions.
    Disable { email: String },
    /// Let a disabled account log in again.
    Enable { email: String },
    /// Turn two-factor login off, for a user who lost the device and the recovery codes.
    MfaReset { email: String },
}

const NOT_FOUND: u8 = 1;
const USAGE: u8 = 2;
const FAILED: u8 = 3;

/// Applies the migrations (connecting runs them) and the data migrations.
pub async fn migrate(config: &Config) -> ExitCode {
    match Db::connect(&config.db.url, config.db.max_connections).await {
        Ok(db) => {
            let now = authd::clock::Clock::now(&SystemClock);
            if let Err(e) = authd::db::data::run_pending(&db, now).await {
                eprintln!("authd: {e}");
                return ExitCode::from(FAILED);
            }
            db.close().await;
            println!(
                "migrations applied ({})",
                config.db.url.split(':').next().unwrap_or("?")
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("authd: {e}");
            ExitCode::from(FAILED)
        }
    }
}

/// Prints the TOTP sealing key in use (creating the development key file if that is the one).
pub fn mfa_key(config: &Config) -> ExitCode {
    match authd::mfa_key(config) {
        Ok(key) => {
            println!("{}", key.to_hex());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("authd: {e}");
            ExitCode::from(FAILED)
        }
    }
}

/// Runs one `authd users …` command.
pub async fn users(config: &Config, command: Users, json: bool) -> ExitCode {
    let admin = match admin(config).await {
        Ok(admin) => admin,
        Err(e) => {
            eprintln!("authd: {e}");
            return ExitCode::from(FAILED);
        }
    };
    let email = |raw: &str| UserEmail::parse(raw).map_err(|invalid| invalid.message);
    let out = match command {
        Users::List { search, limit } => admin
            .list(search.as_deref(), limit)
            .await
            .map(Output::Accounts),
        Users::Show { email: raw } => match email(&raw) {
            Ok(e) => admin.show(&e).await.map(Output::Detail),
            Err(m) => return usage(&m),
        },
        Users::Verify { email: raw } => match email(&raw) {
            Ok(e) => admin.verify(&e).await.map(|a| Output::Accounts(vec![a])),
            Err(m) => return usage(&m),
        },
        Users::Delete { email: raw } => match email(&raw) {
            Ok(e) => admin.delete(&e).await.map(|goodbye| {
                Output::Done(if goodbye {
                    "deleted; the goodbye email is queued for the server to send".into()
                } else {
                    "deleted; no goodbye email (the server key is not available here)".into()
                })
            }),
            Err(m) => return usage(&m),
        },
        Users::RevokeSessions { email: raw } => match email(&raw) {
            Ok(e) => admin
                .revoke_sessions(&e)
                .await
                .map(|n| Output::Done(format!("{n} sessions ended"))),
            Err(m) => return usage(&m),
        },
        Users::Disable { email: raw } => match email(&raw) {
            Ok(e) => admin
                .disable(&e)
                .await
                .map(|n| Output::Done(format!("disabled; {n} sessions ended"))),
            Err(m) => return usage(&m),
        },
        Users::Enable { email: raw } => match email(&raw) {
            Ok(e) => admin
                .enable(&e)
                .await
                .map(|()| Output::Done("enabled".into())),
            Err(m) => return usage(&m),
        },
        Users::MfaReset { email: raw } => match email(&raw) {
            Ok(e) => admin.mfa_reset(&e).await.map(|was_on| {
                Output::Done(if was_on {
                    "two-factor login turned off; sessions ended".into()
                } else {
                    "two-factor login was already off".into()
                })
            }),
            Err(m) => return usage(&m),
        },
    };
    match out {
        Ok(out) => {
            out.print(json);
            ExitCode::SUCCESS
        }
        Err(AdminError::NotFound) => {
            eprintln!("authd: no user with that address");
            ExitCode::from(NOT_FOUND)
        }
        Err(AdminError::Db(e)) => {
            eprintln!("authd: {e}");
            ExitCode::from(FAILED)
        }
    }
}

fn usage(message: &str) -> ExitCode {
    eprintln!("authd: {message}");
    ExitCode::from(USAGE)
}

/// The admin over the configured database, telling running servers through Redis if they
/// share one.
async fn admin(config: &Config) -> Result<Admin, StartError> {
    let db = Db::connect(&config.db.url, config.db.max_connections).await?;
    let revocations: Arc<dyn Revocations> = match (&config.store.redis, &config.auth.jwt_secret) {
        (Some(redis), Some(secret)) => Arc::new(RedisStore::new(
            &redis.url,
            &redis.key_prefix,
            secret.expose_secret().as_bytes(),
        )?),
        _ => Arc::new(NoOtherInstances),
    };
    // The key that seals queued email, as the server finds it (the same variables, or the
    // development key file beside the SQLite database): without it, no goodbye email.
    let mail = authd::mfa_key(config)
        .ok()
        .map(|key| MailQueue::new(&key, config.mail.outbox.give_up));
    Ok(Admin::new(
        db,
        revocations,
        Arc::new(SystemClock),
        config.auth.session_idle_timeout,
        mail,
    ))
}

/// What a command prints.
enum Output {
    Accounts(Vec<Account>),
    Detail(authd::admin::AccountDetail),
    Done(String),
}

impl Output {
    fn print(&self, json: bool) {
        if json {
            let value = match self {
                Output::Accounts(accounts) => serde_json::to_string_pretty(accounts),
                Output::Detail(detail) => serde_json::to_string_pretty(detail),
                Output::Done(message) => {
                    serde_json::to_string_pretty(&serde_json::json!({ "result": message }))
                }
            };
            println!("{}", value.unwrap_or_default());
            return;
        }
        match self {
            Output::Accounts(accounts) => print_accounts(accounts),
            Output::Detail(detail) => {
                print_accounts(std::slice::from_ref(&detail.account));
                println!();
                println!("recovery codes left: {}", detail.recovery_codes_left);
                println!("live sessions: {}", detail.sessions.len());
                for s in &detail.sessions {
                    println!(
                        "  {}  opened {}  last used {}  {}  {}",
                        s.id,
                        s.created_at.format("%Y-%m-%d %H:%M"),
                        s.last_used_at.format("%Y-%m-%d %H:%M"),
                        s.ip,
                        s.user_agent
                    );
                }
            }
            Output::Done(message) => println!("{message}"),
        }
    }
}

fn print_accounts(accounts: &[Account]) {
    println!(
        "{:>6}  {:<32}  {:<20}  {:<8}  {:<3}  {:<8}  created",
        "id", "email", "name", "verified", "mfa", "disabled"
    );
    for a in accounts {
        println!(
            "{:>6}  {:<32}  {:<20}  {:<8}  {:<3}  {:<8}  {}",
            a.id,
            a.email,
            a.name.chars().take(20).collect::<String>(),
            if a.is_verified { "yes" } else { "no" },
            if a.mfa_enabled { "on" } else { "off" },
            if a.disabled_at.is_some() { "yes" } else { "no" },
            a.created_at.format("%Y-%m-%d %H:%M"),
        );
    }
}
