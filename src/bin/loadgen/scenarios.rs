//! The traffic: workers on keep-alive connections, each repeating one step, and the steps
//! (a session's `/me`, a login, a whole sign-up, any GET).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use authd::domain::{TotpSecret, totp_step};

use axum::body::Bytes;
use dashmap::DashMap;
use http_body_util::Full;
use hyper::Request;

use crate::client::{Conn, request};
use crate::stats::Stats;

pub const PASSWORD: &str = "correct horse battery";

/// One step of a worker: it gets the connection back with the status (or the I/O error).
pub type Step = Pin<Box<dyn Future<Output = (Conn, Result<u16, String>)> + Send>>;

/// Codes the server's console mailer wrote to its log, by address.
pub struct Codes {
    pub path: String,
    pub seen: DashMap<String, String>,
}

impl Codes {
    pub fn new(path: &str) -> Self {
        Self {
            path: path.to_owned(),
            seen: DashMap::new(),
        }
    }

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
pub async fn sign_up(
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

/// Signs `email` up over a connection of its own; returns the session token.
pub async fn prepare_user(host: &str, codes: &Codes, email: &str) -> Result<String, String> {
    let mut c = Conn::open(host).await?;
    let (status, bytes) = sign_up(&mut c, host, codes, email).await?;
    let json: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
    json["access_token"]
        .as_str()
        .map(str::to_owned)
        .ok_or(format!("login answered {status}"))
}

/// A user with two-factor login on, and the last time step whose code it used (the server
/// refuses a code of that step or an earlier one).
pub struct MfaUser {
    email: String,
    secret: TotpSecret,
    last_step: Mutex<i64>,
}

/// The time step of the wall clock: the load generator stands for the authenticator app.
#[allow(clippy::disallowed_methods)]
fn now_step() -> i64 {
    let unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    totp_step(unix as i64)
}

/// Signs `email` up and turns two-factor login on for it, with the code of the step before
/// now, so that the codes of now and the next step are still unused.
pub async fn prepare_mfa_user(host: &str, codes: &Codes, email: &str) -> Result<MfaUser, String> {
    let token = prepare_user(host, codes, email).await?;
    let mut c = Conn::open(host).await?;
    let setup = format!(r#"{{"password":"{PASSWORD}"}}"#);
    let (status, body) = c
        .send(request(
            host,
            "POST",
            "/api/auth/mfa/totp/setup",
            Some(setup),
            Some(&token),
        ))
        .await?;
    let json: serde_json::Value = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
    let secret = json["secret"]
        .as_str()
        .and_then(TotpSecret::from_base32)
        .ok_or(format!("mfa/totp/setup answered {status}"))?;
    let step = now_step() - 1;
    let enable = format!(r#"{{"code":"{}"}}"#, secret.code_at(step).expose());
    let (status, _) = c
        .send(request(
            host,
            "POST",
            "/api/auth/mfa/totp/enable",
            Some(enable),
            Some(&token),
        ))
        .await?;
    if status != 200 {
        return Err(format!("mfa/totp/enable answered {status}"));
    }
    Ok(MfaUser {
        email: email.to_owned(),
        secret,
        last_step: Mutex::new(step),
    })
}

/// A two-step login per step: POST /login, then POST /mfa/verify with the code of a step the
/// user has not used yet (users taken in turn). The step's status is the verify's, or the
/// login's if that failed.
pub fn mfa_login_step(
    host: String,
    users: Arc<Vec<MfaUser>>,
) -> impl Fn(Conn, usize) -> Step + Send + Sync + 'static {
    let next = Arc::new(AtomicUsize::new(0));
    move |mut c, _| {
        let host = host.clone();
        let users = users.clone();
        let next = next.clone();
        Box::pin(async move {
            let r = mfa_login(&mut c, &host, &users, &next).await;
            (c, r)
        })
    }
}

async fn mfa_login(
    c: &mut Conn,
    host: &str,
    users: &[MfaUser],
    next: &AtomicUsize,
) -> Result<u16, String> {
    let now = now_step();
    let (user, step) = (0..users.len())
        .find_map(|_| {
            let user = &users[next.fetch_add(1, Ordering::Relaxed) % users.len()];
            let mut last = user.last_step.lock().unwrap_or_else(|e| e.into_inner());
            let step = (*last + 1).max(now - 1);
            (step <= now + 1).then(|| {
                *last = step;
                (user, step)
            })
        })
        .ok_or("every user has used its codes of this time window: prepare more users")?;
    let (status, body) = c.send(login_request(host, &user.email)).await?;
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let Some(token) = json["mfa_token"].as_str() else {
        return Ok(if status == 200 { 500 } else { status });
    };
    let verify = format!(
        r#"{{"mfa_token":"{token}","code":"{}"}}"#,
        user.secret.code_at(step).expose()
    );
    c.send(post(host, "/api/auth/mfa/verify", verify))
        .await
        .map(|(status, _)| status)
}

/// How long a run of [`hammer`] lasts.
#[derive(Clone, Copy, Debug)]
pub enum Until {
    /// This long.
    Elapsed(Duration),
    /// Until this many requests were made, by all workers together.
    Requests(u64),
}

/// Runs `workers` loops of `step` against `host` until `until`.
pub async fn hammer<F>(host: &str, workers: usize, until: Until, step: F) -> Stats
where
    F: Fn(Conn, usize) -> Step + Send + Sync + 'static,
{
    let step = Arc::new(step);
    let started = Instant::now();
    let made = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut tasks = Vec::new();
    for w in 0..workers {
        let step = step.clone();
        let host = host.to_owned();
        let made = made.clone();
        tasks.push(tokio::spawn(async move {
            let mut stats = Stats::default();
            let mut conn = Conn::open(&host).await.ok();
            let mut i = 0;
            let go_on = || match until {
                Until::Elapsed(d) => started.elapsed() < d,
                Until::Requests(n) => made.load(std::sync::atomic::Ordering::Relaxed) < n,
            };
            while go_on() {
                let Some(c) = conn.take() else {
                    *stats.by_status.entry("connect error".into()).or_default() += 1;
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    conn = Conn::open(&host).await.ok();
                    continue;
                };
                let t = Instant::now();
                let (c, result) = step(c, w * 1_000_000 + i).await;
                i += 1;
                made.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
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

/// GET `path` with the session cookie `token`, if any.
pub fn get_step(
    host: String,
    path: &'static str,
    token: Option<Arc<String>>,
) -> impl Fn(Conn, usize) -> Step + Send + Sync + 'static {
    move |mut c, _| {
        let req = request(
            &host,
            "GET",
            path,
            None,
            token.as_deref().map(String::as_str),
        );
        Box::pin(async move {
            let r = c.send(req).await.map(|(s, _)| s);
            (c, r)
        })
    }
}

pub fn login_step(
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

/// A whole register → verify → login flow per step, each with a new address.
pub fn flow_step(
    host: String,
    codes: Arc<Codes>,
    run: String,
) -> impl Fn(Conn, usize) -> Step + Send + Sync + 'static {
    move |mut c, i| {
        let codes = codes.clone();
        let host = host.clone();
        let email = format!("flow-{run}-{i}@example.com");
        Box::pin(async move {
            let last = sign_up(&mut c, &host, &codes, &email)
                .await
                .map(|(status, _)| status);
            (c, last)
        })
    }
}

/// Seconds one bcrypt hash takes on this machine at `cost` (median of three).
pub async fn seconds_per_hash(cost: u32) -> f64 {
    let mut times = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        let _ = tokio::task::spawn_blocking(move || bcrypt::hash(PASSWORD, cost)).await;
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    times[1]
}

/// The resident memory of process `pid`, in MB.
pub fn resident_mb(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}
