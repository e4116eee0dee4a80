//! `--spawn`: the whole benchmark in one run. Starts the servers itself (authd, and the bare
//! axum handler that is the ceiling), one after the other on this machine, and prints the
//! report BENCHMARKS.md quotes: the ceiling, the 404 path, `/health`, `/me` at `warn` and at
//! `info`, login against the bcrypt limit, `/me` p99 under a login flood, resident memory after
//! a million requests, start-up time, `/me` per database backend, and `/me` with a short idle
//! timeout with the session writes it causes, login with and without a second factor; with
//! `--before`, the paths and the login without a second factor on an older build, alternating
//! with this one.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::scenarios::{
    Codes, Until, get_step, hammer, login_step, mfa_login_step, prepare_mfa_user, prepare_user,
    resident_mb, seconds_per_hash,
};
use crate::stats::Summary;

/// What the run measures and how long.
pub struct Plan {
    pub server: PathBuf,
    pub before: Option<PathBuf>,
    pub database_urls: Vec<String>,
    pub duration: Duration,
    pub rss_requests: u64,
    pub bcrypt_cost: u32,
    /// Parts of the run to do (`ceiling`, `paths`, `idle`, `backends`, `login`, `memory`,
    /// `mfa`, `metrics`, `startup`); all when empty.
    pub only: Vec<String>,
}

impl Plan {
    fn wants(&self, part: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|p| p == part)
    }
}

/// The per-IP limits and lockouts, raised through their variables: one client IP sends
/// everything here. Every check still runs.
const RAISED: [(&str, &str); 10] = [
    ("RATE_LIMIT_AUTH_BURST", "1000000"),
    ("RATE_LIMIT_AUTH_PER_MINUTE", "1000000"),
    ("RATE_LIMIT_GENERAL_BURST", "1000000"),
    ("RATE_LIMIT_GENERAL_PER_SECOND", "1000000"),
    ("LOGIN_MAX_FAILURES", "1000000"),
    ("LOGIN_MAX_FAILURES_PER_IP", "1000000"),
    ("LOGIN_MAX_FAILURES_PER_ACCOUNT", "1000000"),
    ("EMAIL_MAX_PER_HOUR", "1000000"),
    ("EMAIL_COOLDOWN_SECONDS", "1"),
    ("JWT_SECRET", "benchmark-secret-benchmark-secret-0123456789"),
];

/// A server process of the run, with its scratch directory (database file, log).
struct Server {
    child: Child,
    host: String,
    log: PathBuf,
    dir: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Server {
    /// Starts `bin` with `args` and `env` on a free port; returns it with the time from spawn
    /// to the first answer of `ready_path`.
    async fn start(
        bin: &Path,
        args: &[String],
        env: &[(&str, String)],
        ready_path: &str,
    ) -> Result<(Self, Duration), String> {
        let dir = std::env::temp_dir().join(format!("authd-bench-{:08x}", rand::random::<u32>()));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let port = free_port()?;
        let log = dir.join("server.log");
        let out = std::fs::File::create(&log).map_err(|e| e.to_string())?;
        let err = out.try_clone().map_err(|e| e.to_string())?;
        let started = Instant::now();
        let child = Command::new(bin)
            .args(args)
            .current_dir(&dir)
            .env("PORT", port.to_string())
            .env(
                "DATABASE_URL",
                format!("sqlite://{}", dir.join("auth.db").display()),
            )
            // The benchmark measures the server, not the Pwned Passwords API.
            .env("PASSWORD_BREACH_CHECK", "false")
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .map_err(|e| format!("{}: {e}", bin.display()))?;
        let server = Self {
            child,
            host: format!("127.0.0.1:{port}"),
            log,
            dir,
        };
        let ready = server.first_answer(ready_path, started).await?;
        Ok((server, ready))
    }

    /// Polls `path` every millisecond until it answers 200.
    async fn first_answer(&self, path: &str, started: Instant) -> Result<Duration, String> {
        while started.elapsed() < Duration::from_secs(60) {
            if let Ok(mut c) = crate::client::Conn::open(&self.host).await {
                let req = crate::client::request(&self.host, "GET", path, None, None);
                if matches!(c.send(req).await, Ok((200, _))) {
                    return Ok(started.elapsed());
                }
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        Err(format!("no answer from {} within 60 s", self.host))
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

fn free_port() -> Result<u16, String> {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(probe.local_addr().map_err(|e| e.to_string())?.port())
}

/// authd with the raised limits and `extra` variables, at `log_level`, on `database_url` (a
/// fresh SQLite file when `None`; a fresh database on that server otherwise).
async fn authd(
    bin: &Path,
    log_level: &str,
    database_url: Option<&str>,
    extra: &[(&'static str, &str)],
) -> Result<(Server, Duration), String> {
    let mut env: Vec<(&str, String)> = RAISED.iter().map(|(k, v)| (*k, (*v).to_owned())).collect();
    env.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
    env.push(("RUST_LOG", format!("{log_level},authd::mail=info")));
    if let Some(url) = database_url {
        env.push(("DATABASE_URL", url.to_owned()));
    }
    Server::start(bin, &[], &env, "/health").await
}

/// `url` with a database name of its own, so every run starts empty.
fn fresh_database(url: &str) -> String {
    let (server, _) = url.rsplit_once('/').unwrap_or((url, ""));
    format!("{server}/authd_bench_{:08x}", rand::random::<u32>())
}

/// Drops the database `url` names, once its server has stopped.
async fn drop_database(url: &str) {
    use sqlx::migrate::MigrateDatabase;
    let dropped = if url.starts_with("mysql:") {
        sqlx::MySql::drop_database(url).await
    } else {
        sqlx::Postgres::force_drop_database(url).await
    };
    if let Err(e) = dropped {
        eprintln!("loadgen: could not drop {url}: {e}");
    }
}

/// A signed-up user on `server`; its session token.
async fn session(server: &Server) -> Result<Arc<String>, String> {
    let codes = Codes::new(&server.log.display().to_string());
    let email = format!("bench-{:08x}@example.com", rand::random::<u32>());
    prepare_user(&server.host, &codes, &email)
        .await
        .map(Arc::new)
}

/// `/me` of one signed-in session, 64 connections, on a server of its own started with these
/// settings; printed as the row `name`.
async fn me_row(
    bin: &Path,
    log_level: &str,
    database_url: Option<&str>,
    extra: &[(&'static str, &str)],
    name: &str,
    top: Option<f64>,
    d: Until,
) -> Result<(), String> {
    let (server, _) = authd(bin, log_level, database_url, extra).await?;
    let token = session(&server).await?;
    row(name, &me_summary(&server.host, token, d).await, top);
    Ok(())
}

/// `/me` of the session `token` on `host`, 64 connections.
async fn me_summary(host: &str, token: Arc<String>, d: Until) -> Summary {
    let me = get_step(host.to_owned(), "/api/auth/me", Some(token));
    hammer(host, 64, d, me).await.summary()
}

fn row(name: &str, s: &Summary, ceiling: Option<f64>) {
    let share = ceiling.map_or(String::new(), |c| {
        format!("{:.0} %", 100.0 * s.per_second / c)
    });
    println!(
        "| {name} | {} | {:.0} | {share} | {:.2} | {:.2} | {:.2} | {} |",
        s.requests, s.per_second, s.p50_ms, s.p99_ms, s.max_ms, s.non_2xx
    );
}

/// Runs the plan and prints the report.
pub async fn run(plan: Plan) -> Result<(), String> {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let d = Until::Elapsed(plan.duration);
    println!(
        "{} cores; {} s per scenario; 64 keep-alive connections unless said; the load generator on the same machine",
        cores,
        plan.duration.as_secs()
    );
    println!();
    println!(
        "| scenario | requests | req/s | of the ceiling | p50 ms | p99 ms | max ms | non-2xx |"
    );
    println!("|---|---|---|---|---|---|---|---|");

    let mut top = None;
    if plan.wants("ceiling") {
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let (bare, _) = Server::start(&exe, &["--bare".into()], &[], "/api/auth/me").await?;
        let me = get_step(bare.host.clone(), "/api/auth/me", None);
        let ceiling = hammer(&bare.host, 64, d, me).await.summary();
        row(
            "bare axum handler, same JSON as /me (the ceiling)",
            &ceiling,
            None,
        );
        top = Some(ceiling.per_second);
    }

    let builds = [("", Some(&plan.server)), ("before: ", plan.before.as_ref())];
    for (label, bin) in builds.into_iter().filter(|_| plan.wants("paths")) {
        let Some(bin) = bin else { continue };
        let (server, _) = authd(bin, "warn", None, &[]).await?;
        let token = session(&server).await?;
        let host = server.host.clone();
        let s404 = hammer(&host, 64, d, get_step(host.clone(), "/nope", None))
            .await
            .summary_expecting("404");
        row(
            &format!("{label}authd 404 fallback (every answer 404), warn"),
            &s404,
            top,
        );
        let health = hammer(&host, 64, d, get_step(host.clone(), "/health", None))
            .await
            .summary();
        row(&format!("{label}authd /health, warn"), &health, top);
        row(
            &format!("{label}authd GET /api/auth/me (cookie), warn"),
            &me_summary(&host, token, d).await,
            top,
        );
        drop(server);
        let name = format!("{label}authd GET /api/auth/me (cookie), info");
        me_row(bin, "info", None, &[], &name, top, d).await?;
    }

    if plan.wants("idle") {
        idle_writes(&plan, top, d).await?;
    }

    for url in plan.database_urls.iter().filter(|_| plan.wants("backends")) {
        let fresh = fresh_database(url);
        let backend = url.split(':').next().unwrap_or(url);
        let name = format!("authd GET /api/auth/me (cookie), warn, {backend}");
        me_row(&plan.server, "warn", Some(&fresh), &[], &name, top, d).await?;
        drop_database(&fresh).await;
    }

    if plan.wants("login") || plan.wants("memory") {
        login_and_memory(&plan, cores, d).await?;
    }
    if plan.wants("mfa") {
        mfa_logins(&plan, cores, d).await?;
    }
    if plan.wants("metrics") {
        metrics_on_and_off(&plan, top, d).await?;
    }
    if plan.wants("startup") {
        startup(&plan).await?;
    }
    Ok(())
}

/// `/me` with the Prometheus metrics off and on (`METRICS_ADDR`), alternating, two rounds each.
async fn metrics_on_and_off(plan: &Plan, top: Option<f64>, d: Until) -> Result<(), String> {
    for round in 1..=2 {
        for (label, extra) in [
            ("metrics off", &[][..]),
            ("metrics on", &[("METRICS_ADDR", "127.0.0.1:0")][..]),
        ] {
            let name = format!("authd GET /api/auth/me (cookie), warn, {label}, round {round}");
            me_row(&plan.server, "warn", None, extra, &name, top, d).await?;
        }
    }
    Ok(())
}

/// Users with two-factor login on for the two-step login: each can use the codes of two time
/// steps at once, then one more per 30 s, so the run needs more users than logins per 30 s.
const MFA_USERS: usize = 96;

/// Login of a user without a second factor, on this build and (with `--before`) the one
/// before, alternating; then the two-step login of users with TOTP on (POST /login, then
/// POST /mfa/verify with a code the load generator computes).
async fn mfa_logins(plan: &Plan, cores: usize, d: Until) -> Result<(), String> {
    let workers = 4 * cores;
    let builds = [("", Some(&plan.server)), ("before: ", plan.before.as_ref())];
    for (label, bin) in builds {
        let Some(bin) = bin else { continue };
        let (server, _) = authd(bin, "warn", None, &[]).await?;
        let host = server.host.clone();
        let email = Arc::new(prepared_email(&server).await?);
        let logins = hammer(&host, workers, d, login_step(host.clone(), email))
            .await
            .summary();
        row(
            &format!("{label}authd POST /login, no second factor, {workers} connections, warn"),
            &logins,
            None,
        );
    }
    let (server, _) = authd(&plan.server, "warn", None, &[]).await?;
    let host = server.host.clone();
    let codes = Codes::new(&server.log.display().to_string());
    let run = rand::random::<u32>();
    let mut users = Vec::with_capacity(MFA_USERS);
    for chunk in (0..MFA_USERS).collect::<Vec<_>>().chunks(workers) {
        let batch = chunk.iter().map(|i| {
            let email = format!("mfa-{run:08x}-{i}@example.com");
            let (host, codes) = (&host, &codes);
            async move { prepare_mfa_user(host, codes, &email).await }
        });
        users.extend(futures_util::future::try_join_all(batch).await?);
    }
    let step = mfa_login_step(host.clone(), Arc::new(users));
    let mfa = hammer(&host, workers, d, step).await.summary();
    row(
        &format!("authd POST /login + POST /mfa/verify (TOTP), {workers} connections, warn"),
        &mfa,
        None,
    );
    Ok(())
}

/// `/me` with a 10 s idle timeout, so that the session's use is due to be written every 2.5 s:
/// its throughput with those writes, and how many writes there were, counted by a trigger the
/// load generator adds to the server's SQLite file (it is not part of the product's schema).
async fn idle_writes(plan: &Plan, top: Option<f64>, d: Until) -> Result<(), String> {
    const IDLE_SECONDS: u64 = 10;
    let idle = IDLE_SECONDS.to_string();
    let extra = [("SESSION_IDLE_TIMEOUT_SECONDS", idle.as_str())];
    let (server, _) = authd(&plan.server, "warn", None, &extra).await?;
    let token = session(&server).await?;
    let url = format!("sqlite://{}", server.dir.join("auth.db").display());
    let db = sqlx::SqlitePool::connect(&url)
        .await
        .map_err(|e| e.to_string())?;
    for sql in [
        "CREATE TABLE bench_touches (at TEXT NOT NULL)",
        "CREATE TRIGGER bench_touch AFTER UPDATE OF last_used_at ON sessions \
         BEGIN INSERT INTO bench_touches VALUES (NEW.last_used_at); END",
    ] {
        sqlx::query(sql)
            .execute(&db)
            .await
            .map_err(|e| e.to_string())?;
    }
    let host = server.host.clone();
    let mut run = hammer(
        &host,
        64,
        d,
        get_step(host.clone(), "/api/auth/me", Some(token)),
    )
    .await;
    let me = run.summary();
    let (writes,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM bench_touches")
        .fetch_one(&db)
        .await
        .map_err(|e| e.to_string())?;
    let interval = IDLE_SECONDS as f64 / 4.0;
    let bound = (run.elapsed.as_secs_f64() / interval).floor() + 1.0;
    row(
        &format!(
            "authd GET /api/auth/me (cookie), warn, {IDLE_SECONDS} s idle timeout: {writes} session writes in {:.0} s (bound {bound:.0}: one per {interval} s)",
            run.elapsed.as_secs_f64()
        ),
        &me,
        top,
    );
    db.close().await;
    Ok(())
}

/// Login against the bcrypt limit, `/me` under a login flood, and resident memory after
/// `plan.rss_requests` requests.
async fn login_and_memory(plan: &Plan, cores: usize, d: Until) -> Result<(), String> {
    let (server, _) = authd(&plan.server, "warn", None, &[]).await?;
    let token = session(&server).await?;
    let host = server.host.clone();
    if plan.wants("login") {
        login(plan, &server, &token, cores, d).await?;
    }
    if plan.wants("memory") {
        // Resident memory after a million requests (/me, 404 and /health).
        let quarter = Until::Requests(plan.rss_requests / 4);
        let mut done = 0;
        for path in ["/api/auth/me", "/nope", "/health", "/api/auth/me"] {
            let t = (path == "/api/auth/me").then(|| token.clone());
            done += hammer(&host, 64, quarter, get_step(host.clone(), path, t))
                .await
                .summary()
                .requests;
        }
        let rss = resident_mb(server.pid()).unwrap_or(0.0);
        println!("- Resident memory after {done} more requests: **{rss:.1} MB**.");
    }
    Ok(())
}

async fn login(
    plan: &Plan,
    server: &Server,
    token: &Arc<String>,
    cores: usize,
    d: Until,
) -> Result<(), String> {
    let host = server.host.clone();
    let email = Arc::new(prepared_email(server).await?);
    let workers = 4 * cores;
    let mut logins = hammer(&host, workers, d, login_step(host.clone(), email.clone())).await;
    let login = logins.summary();
    row(
        &format!("authd POST /login, {workers} connections, warn"),
        &login,
        None,
    );
    let flood = tokio::spawn({
        let host = host.clone();
        let step = login_step(host.clone(), email.clone());
        async move { hammer(&host, workers, d, step).await }
    });
    let me = hammer(
        &host,
        4,
        d,
        get_step(host.clone(), "/api/auth/me", Some(token.clone())),
    )
    .await
    .summary();
    row(
        "authd GET /api/auth/me, 4 connections, during the login flood",
        &me,
        None,
    );
    if let Ok(mut flood) = flood.await {
        row("authd POST /login (the flood)", &flood.summary(), None);
    }
    let per_hash = seconds_per_hash(plan.bcrypt_cost).await;
    let limit = cores as f64 / per_hash;
    let ok =
        logins.by_status.get("200").copied().unwrap_or(0) as f64 / logins.elapsed.as_secs_f64();
    println!();
    println!(
        "- bcrypt cost {}: {:.1} ms per hash; the machine's limit is {cores} cores / {:.3} s = {limit:.1} logins/s; \
         login throughput {ok:.1}/s = **{:.0} %** of it.",
        plan.bcrypt_cost,
        per_hash * 1000.0,
        per_hash,
        100.0 * ok / limit
    );
    println!(
        "- `/me` p99 with 4 connections while logins saturate the CPU: **{:.2} ms**.",
        me.p99_ms
    );
    Ok(())
}

/// Start-up to the first answer: median of five.
async fn startup(plan: &Plan) -> Result<(), String> {
    let mut starts = Vec::new();
    for _ in 0..5 {
        let (_server, ready) = authd(&plan.server, "warn", None, &[]).await?;
        starts.push(ready);
    }
    starts.sort_unstable();
    println!(
        "- Start-up to the first answer (`/health`, fresh SQLite file, median of 5): **{:.0} ms** (fastest {:.0} ms, slowest {:.0} ms).",
        starts[2].as_secs_f64() * 1000.0,
        starts[0].as_secs_f64() * 1000.0,
        starts[4].as_secs_f64() * 1000.0
    );
    Ok(())
}

/// A signed-up address on `server`, for the login scenarios.
async fn prepared_email(server: &Server) -> Result<String, String> {
    let codes = Codes::new(&server.log.display().to_string());
    let email = format!("login-{:08x}@example.com", rand::random::<u32>());
    prepare_user(&server.host, &codes, &email).await?;
    Ok(email)
}
