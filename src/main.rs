//! The `authd` binary: configuration, logging, and the server until SIGTERM or Ctrl-C; or one
//! of the operator's commands (`authd migrate`, `authd users …`, see `cli.rs`).

mod cli;

use std::io::IsTerminal;
use std::process::ExitCode;

use authd::config::LogFormat;
use authd::{Application, Config, Parts};
use clap::Parser;
use tracing_subscriber::EnvFilter;

use cli::{Cli, Command};

#[tokio::main]
async fn main() -> ExitCode {
    // Usage errors exit with 2 and --help with 0, before anything else happens.
    let cli = Cli::parse();
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("authd: {e}");
            return ExitCode::from(if cli.command.is_some() { 3 } else { 1 });
        }
    };
    match cli.command {
        None | Some(Command::Serve) => {
            init_logging(config.ops.log_format, false);
            serve(config).await
        }
        Some(Command::Migrate) => {
            init_logging(config.ops.log_format, true);
            cli::migrate(&config).await
        }
        Some(Command::MfaKey) => {
            init_logging(config.ops.log_format, true);
            cli::mfa_key(&config)
        }
        Some(Command::Users(command)) => {
            init_logging(config.ops.log_format, true);
            cli::users(&config, command, cli.json).await
        }
    }
}

/// Logs as `LOG_FORMAT` says, filtered by `RUST_LOG`; a command logs warnings only, to stderr,
/// so its output stays what it prints.
fn init_logging(format: LogFormat, command: bool) {
    let default = if command { "warn" } else { "info,sqlx=warn" };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match (format, command) {
        (LogFormat::Json, false) => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .init(),
        (LogFormat::Json, true) => builder
            .json()
            .flatten_event(true)
            .with_writer(std::io::stderr)
            .init(),
        (LogFormat::Text, false) => builder.with_ansi(std::io::stdout().is_terminal()).init(),
        (LogFormat::Text, true) => builder
            .with_ansi(std::io::stderr().is_terminal())
            .with_writer(std::io::stderr)
            .init(),
    }
}

async fn serve(config: Config) -> ExitCode {
    let parts = match Parts::for_config(&config) {
        Ok(parts) => parts,
        Err(e) => {
            tracing::error!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let app = match Application::build(config, parts).await {
        Ok(app) => app,
        Err(e) => {
            tracing::error!("{e}");
            return ExitCode::FAILURE;
        }
    };
    match app.local_addr() {
        Ok(addr) => tracing::info!("listening on http://{addr} (API under /api/auth)"),
        Err(e) => tracing::warn!("listening, address unknown: {e}"),
    }
    if let Some(metrics) = app.metrics_addr() {
        tracing::info!("metrics on http://{metrics}/metrics");
    }
    app.run_until(shutdown_signal()).await;
    tracing::info!("stopped");
    ExitCode::SUCCESS
}

/// Completes on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
