//! loadgen: the repository's benchmark. BENCHMARKS.md quotes its reports.
//!
//! The whole run, servers started by the load generator itself (see `harness.rs`):
//!
//!     cargo build --release
//!     target/release/loadgen --spawn target/release/authd [--before OLD_BINARY] \
//!         [--database-url mysql://root@127.0.0.1:3306/x] [--database-url postgres://root@127.0.0.1:5432/x] \
//!         [--duration 10] [--rss-requests 1000000] [--bcrypt-cost 12] \
//!         [--only ceiling,paths,idle,backends,login,memory,mfa,metrics,startup]
//!
//! Against a server started by hand (it must run with the raised limits of BENCHMARKS.md and
//! the console mailer, whose log the load generator reads codes from):
//!
//!     target/release/loadgen --url http://127.0.0.1:4000 --server-log server.log \
//!         [--duration 10] [--bcrypt-cost 12] [--server-pid PID] [--only me,login,mixed,flow,bcrypt]

mod bare;
mod client;
mod harness;
mod scenarios;
mod stats;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use scenarios::{
    Codes, Until, flow_step, get_step, hammer, login_step, prepare_user, resident_mb,
    seconds_per_hash,
};

/// What the command line asked for.
enum Mode {
    /// Serve the bare handler (a child of `--spawn`).
    Bare,
    /// The whole run, servers started here.
    Spawn(harness::Plan),
    /// Scenarios against a server started by hand.
    External(External),
}

struct External {
    host: String,
    server_log: String,
    duration: Duration,
    bcrypt_cost: u32,
    server_pid: Option<u32>,
    only: Vec<String>,
}

fn mode() -> Result<Mode, String> {
    let mut args = std::env::args().skip(1).peekable();
    if args.peek().map(String::as_str) == Some("--bare") {
        return Ok(Mode::Bare);
    }
    let mut spawn: Option<PathBuf> = None;
    let mut before = None;
    let mut database_urls = Vec::new();
    let mut rss_requests = 1_000_000;
    let mut e = External {
        host: "127.0.0.1:4000".into(),
        server_log: String::new(),
        duration: Duration::from_secs(10),
        bcrypt_cost: 12,
        server_pid: None,
        only: Vec::new(),
    };
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        let number = |v: &str| {
            v.parse::<u64>()
                .map_err(|_| format!("{flag}: not a number"))
        };
        match flag.as_str() {
            "--spawn" => spawn = Some(value.into()),
            "--before" => before = Some(value.into()),
            "--database-url" => database_urls.push(value),
            "--rss-requests" => rss_requests = number(&value)?,
            "--url" => {
                e.host = value
                    .trim_start_matches("http://")
                    .trim_end_matches('/')
                    .into()
            }
            "--server-log" => e.server_log = value,
            "--duration" => e.duration = Duration::from_secs(number(&value)?),
            "--bcrypt-cost" => e.bcrypt_cost = number(&value)? as u32,
            "--server-pid" => e.server_pid = Some(number(&value)? as u32),
            "--only" => e.only = value.split(',').map(str::to_owned).collect(),
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    if let Some(server) = spawn {
        return Ok(Mode::Spawn(harness::Plan {
            server,
            before,
            database_urls,
            duration: e.duration,
            rss_requests,
            bcrypt_cost: e.bcrypt_cost,
            only: e.only,
        }));
    }
    if e.server_log.is_empty() {
        return Err(
            "give --spawn BINARY, or --url and --server-log FILE (codes are read from the console mailer's log)"
                .into(),
        );
    }
    Ok(Mode::External(e))
}

#[tokio::main]
async fn main() -> ExitCode {
    let result = match mode() {
        Ok(Mode::Bare) => bare::serve(bare_port()).await,
        Ok(Mode::Spawn(plan)) => harness::run(plan).await,
        Ok(Mode::External(e)) => external(e).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("loadgen: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The bare server's port: the harness passes it as PORT, like authd's.
fn bare_port() -> u16 {
    std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(4001)
}

/// The scenarios against a server started by hand.
async fn external(o: External) -> Result<(), String> {
    let wants = |s: &str| o.only.is_empty() || o.only.iter().any(|x| x == s);
    let codes = Arc::new(Codes::new(&o.server_log));
    let run = format!("{:x}", rand::random::<u32>());
    let email = Arc::new(format!("bench-{run}@example.com"));
    let token = Arc::new(
        prepare_user(&o.host, &codes, &email)
            .await
            .map_err(|e| format!("could not prepare a user: {e}"))?,
    );
    let me = || get_step(o.host.clone(), "/api/auth/me", Some(token.clone()));
    let d = Until::Elapsed(o.duration);
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    println!("| scenario | requests | req/s | p50 ms | p90 ms | p99 ms | max ms | non-2xx |");
    println!("|---|---|---|---|---|---|---|---|");
    if wants("me") {
        hammer(&o.host, 64, d, me())
            .await
            .print("GET /me, 64 connections");
    }
    let mut login_rate = None;
    if wants("login") {
        let workers = 4 * cores;
        let mut s = hammer(
            &o.host,
            workers,
            d,
            login_step(o.host.clone(), email.clone()),
        )
        .await;
        s.print(&format!("POST /login, {workers} connections"));
        let ok = s.by_status.get("200").copied().unwrap_or(0);
        login_rate = Some(ok as f64 / s.elapsed.as_secs_f64());
    }
    if wants("mixed") {
        let idle = Until::Elapsed(o.duration / 2);
        hammer(&o.host, 8, idle, me())
            .await
            .print("GET /me, 8 connections, idle server");
        let logins = tokio::spawn({
            let host = o.host.clone();
            let step = login_step(o.host.clone(), email.clone());
            async move { hammer(&host, 4 * cores, d, step).await }
        });
        hammer(&o.host, 8, d, me())
            .await
            .print("GET /me, 8 connections, during the login flood");
        if let Ok(mut l) = logins.await {
            l.print("POST /login (the flood)");
        }
    }
    if wants("flow") {
        hammer(
            &o.host,
            2 * cores,
            d,
            flow_step(o.host.clone(), codes.clone(), run),
        )
        .await
        .print(&format!(
            "register+verify+login flows, {} connections",
            2 * cores
        ));
    }
    if wants("bcrypt") {
        let per_hash = seconds_per_hash(o.bcrypt_cost).await;
        let limit = cores as f64 / per_hash;
        println!();
        println!(
            "bcrypt cost {}: {:.1} ms per hash; machine limit {cores} cores / {:.3} s = {limit:.1} logins/s",
            o.bcrypt_cost,
            per_hash * 1000.0,
            per_hash
        );
        if let Some(rate) = login_rate {
            println!(
                "login throughput: {rate:.1}/s = {:.0}% of the machine's bcrypt limit",
                100.0 * rate / limit
            );
        }
    }
    if let Some(pid) = o.server_pid
        && let Some(mb) = resident_mb(pid)
    {
        println!("server resident memory after the run: {mb:.1} MB");
    }
    Ok(())
}
