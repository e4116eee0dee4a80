//! loadgen: drives a running authd over HTTP and reports throughput and latency per scenario.
//! It starts nothing itself, so it measures SQLite and MySQL builds alike. See BENCHMARKS.md.
//!
//! cargo run --release --bin loadgen -- --url http://127.0.0.1:4000 --server-log server.log \
//!     [--duration 10] [--bcrypt-cost 12] [--server-pid PID] [--only me,login,mixed,flow,bcrypt]

mod client;
mod stats;

use std::future::Future;
use std::pin::Pin;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use dashmap::DashMap;
use http_body_util::Full;
use hyper::Request;

use client::{Conn, request};
use stats::Stats;

const PASSWORD: &str = "correct horse battery";

/// One step of a worker: it gets the connection back with the status (or the I/O error).
type Step = Pin<Box<dyn Future<Output = (Conn, Result<u16, String>)> + Send>>;

#[derive(Clone)]
struct Options {
    host: String,
    server_log: String,
    duration: Duration,
    bcrypt_cost: u32,
    server_pid: Option<u32>,
    only: Vec<String>,
}

fn options() -> Result<Options, String> {
    let mut args = std::env::args().skip(1);
    let mut o = Options {
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
            "--url" => {
                o.host = value
                    .trim_start_matches("http://")
                    .trim_end_matches('/')
                    .into()
            }
            "--server-log" => o.server_log = value,
            "--duration" => o.duration = Duration::from_secs(number(&value)?),
            "--bcrypt-cost" => o.bcrypt_cost = number(&value)? as u32,
            "--server-pid" => o.server_pid = Some(number(&value)? as u32),
            "--only" => o.only = value.split(',').map(str::to_owned).collect(),
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    if o.server_log.is_empty() {
        return Err(
            "--server-log FILE is required: codes are read from the console mailer's log".into(),
        );
    }
    Ok(o)
}

/// Codes the server's console mailer wrote to its log, by address.
struct Codes {
    path: String,
    seen: DashMap<String, String>,
}

impl Codes {
    async fn wait_for(&self, email: &str) -> Option<String> {
        for _ in 0..200 {
            if let Some(code) = self.seen.get(email) {
                return Some(code.clone());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
            let log = tokio::fs::read_to_string(&self.path)
                .await
                .unwrap_or_default();
            for line in log.lines().filter(|l| l.contains("verification_code")) {
                let Some(rest) = line.split("console email to ").nth(1) else {
                    continue;
                };
                let Some((to, after)) = rest.split_once(": verification_code ") else {
                    continue;
                };
                self.seen
                    .insert(to.to_owned(), after.chars().take(6).collect());
            }
        }
        None
    }
}

/// A JSON POST.
fn post(host: &str, path: &str, body: String) -> Request<Full<Bytes>> {
    request(host, "POST", path, Some(body), None)
}

fn login_request(host: &str, email: &str) -> Request<Full<Bytes>> {
    let body = format!(r#"{{"email":"{email}","password":"{PASSWORD}"}}"#);
    post(host, "/api/auth/login", body)
}

/// Registers `email`, verifies it with the code from the server's log and logs in, over `c`;
/// returns the login's status and body.
async fn sign_up(
    c: &mut Conn,
    host: &str,
    codes: &Codes,
    email: &str,
) -> Result<(u16, Bytes), String> {
    let body = format!(r#"{{"name":"Load Tester","email":"{email}","password":"{PASSWORD}"}}"#);
    let (status, _) = c.send(post(host, "/api/auth/register", body)).await?;
    if status != 201 {
        return Err(format!(
            "register answered {status} (are the rate limits raised?)"
        ));
    }
    let code = codes
        .wait_for(email)
        .await
        .ok_or("no code in the server log")?;
    let body = format!(r#"{{"email":"{email}","otp":"{code}"}}"#);
    let (status, _) = c.send(post(host, "/api/auth/verify-email", body)).await?;
    if status != 200 {
        return Err(format!("verify-email answered {status}"));
    }
    c.send(login_request(host, email)).await
}

/// Prepares the user the scenarios share; returns its session token.
async fn prepare_user(o: &Options, codes: &Codes, email: &str) -> Result<String, String> {
    let mut c = Conn::open(&o.host).await?;
    let (status, bytes) = sign_up(&mut c, &o.host, codes, email).await?;
    let json: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
    json["access_token"]
        .as_str()
        .map(str::to_owned)
        .ok_or(format!("login answered {status}"))
}

/// Runs `workers` loops of `step` until `duration` is over.
async fn hammer<F>(o: &Options, workers: usize, duration: Duration, step: F) -> Stats
where
    F: Fn(Conn, usize) -> Step + Send + Sync + 'static,
{
    let step = Arc::new(step);
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = Vec::new();
    for w in 0..workers {
        let step = step.clone();
        let host = o.host.clone();
        tasks.push(tokio::spawn(async move {
            let mut stats = Stats::default();
            let mut conn = Conn::open(&host).await.ok();
            let mut i = 0;
            while Instant::now() < deadline {
                let Some(c) = conn.take() else {
                    *stats.by_status.entry("connect error".into()).or_default() += 1;
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    conn = Conn::open(&host).await.ok();
                    continue;
                };
                let t = Instant::now();
                let (c, result) = step(c, w * 1_000_000 + i).await;
                i += 1;
                match result {
                    Ok(status) => {
                        stats.latencies.push(t.elapsed());
                        *stats.by_status.entry(status.to_string()).or_default() += 1;
                        conn = Some(c);
                    }
                    Err(_) => {
                        *stats.by_status.entry("io error".into()).or_default() += 1;
                        conn = Conn::open(&host).await.ok();
                    }
                }
            }
            stats
        }));
    }
    let mut total = Stats::default();
    for t in tasks {
        if let Ok(s) = t.await {
            total.merge(s);
        }
    }
    total.elapsed = started.elapsed();
    total
}

fn me_step(
    host: String,
    token: Arc<String>,
) -> impl Fn(Conn, usize) -> Step + Send + Sync + 'static {
    move |mut c, _| {
        let req = request(&host, "GET", "/api/auth/me", None, Some(&token));
        Box::pin(async move {
            let r = c.send(req).await.map(|(s, _)| s);
            (c, r)
        })
    }
}

fn login_step(
    host: String,
    email: Arc<String>,
) -> impl Fn(Conn, usize) -> Step + Send + Sync + 'static {
    move |mut c, _| {
        let req = login_request(&host, &email);
        Box::pin(async move {
            let r = c.send(req).await.map(|(s, _)| s);
            (c, r)
        })
    }
}

/// Seconds one bcrypt hash takes on this machine at `cost` (median of three).
async fn seconds_per_hash(cost: u32) -> f64 {
    let mut times = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        let _ = tokio::task::spawn_blocking(move || bcrypt::hash(PASSWORD, cost)).await;
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    times[1]
}

fn resident_mb(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

#[tokio::main]
async fn main() -> ExitCode {
    let o = match options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("loadgen: {e}");
            return ExitCode::FAILURE;
        }
    };
    let wants = |s: &str| o.only.is_empty() || o.only.iter().any(|x| x == s);
    let codes = Arc::new(Codes {
        path: o.server_log.clone(),
        seen: DashMap::new(),
    });
    let run = format!("{:x}", rand::random::<u32>());
    let email = Arc::new(format!("bench-{run}@example.com"));
    let token = match prepare_user(&o, &codes, &email).await {
        Ok(t) => Arc::new(t),
        Err(e) => {
            eprintln!("loadgen: could not prepare a user: {e}");
            return ExitCode::FAILURE;
        }
    };
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    println!("| scenario | requests | req/s | p50 ms | p90 ms | p99 ms | max ms | non-2xx |");
    println!("|---|---|---|---|---|---|---|---|");
    if wants("me") {
        hammer(&o, 64, o.duration, me_step(o.host.clone(), token.clone()))
            .await
            .print("GET /me, 64 connections");
    }
    let mut login_rate = None;
    if wants("login") {
        let workers = 4 * cores;
        let mut s = hammer(
            &o,
            workers,
            o.duration,
            login_step(o.host.clone(), email.clone()),
        )
        .await;
        s.print(&format!("POST /login, {workers} connections"));
        let ok = s.by_status.get("200").copied().unwrap_or(0);
        login_rate = Some(ok as f64 / s.elapsed.as_secs_f64());
    }
    if wants("mixed") {
        let idle = o.duration / 2;
        hammer(&o, 8, idle, me_step(o.host.clone(), token.clone()))
            .await
            .print("GET /me, 8 connections, idle server");
        let logins = tokio::spawn({
            let o = o.clone();
            let step = login_step(o.host.clone(), email.clone());
            async move { hammer(&o, 4 * cores, o.duration, step).await }
        });
        let mut me = hammer(&o, 8, o.duration, me_step(o.host.clone(), token.clone())).await;
        me.print("GET /me, 8 connections, during the login flood");
        if let Ok(mut l) = logins.await {
            l.print("POST /login (the flood)");
        }
    }
    if wants("flow") {
        let codes = codes.clone();
        let host = o.host.clone();
        let mut s = hammer(&o, 2 * cores, o.duration, move |mut c, i| {
            let codes = codes.clone();
            let host = host.clone();
            let email = format!("flow-{run}-{i}@example.com");
            Box::pin(async move {
                let last = sign_up(&mut c, &host, &codes, &email)
                    .await
                    .map(|(status, _)| status);
                (c, last)
            }) as Step
        })
        .await;
        s.print(&format!(
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
    ExitCode::SUCCESS
}
