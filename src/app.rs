//! Start-up: build the state from a [`Config`], bind the listener, serve until told to stop.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use tokio::net::TcpListener;

use crate::auth::{Auth, MFA_KEY_BYTES, MfaKey, Parts};
use crate::clock::SystemClock;
use crate::config::{AppEnv, Config, EmailTransport};
use crate::db::{Db, DbError};
use crate::http::{self, App, AppState, RateLimiters};
use crate::mail::{ConsoleMailer, MailError, Mailer, SmtpMailer};
use crate::serve::ServeLimits;
use crate::store::{MemoryCodeStore, MemoryCounters, NoOtherInstances, RedisStore, StoreError};

/// Longest a client may take to send its request line and headers (shorter if the whole
/// request timeout is).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How often expired codes, counters, sessions and idle rate-limit keys are swept away.
const SWEEP_INTERVAL: Duration = Duration::from_secs(60);

impl Default for Parts {
    /// In-process codes, console email, the system clock, with the default store caps.
    fn default() -> Self {
        Self::in_process(&Config::default())
    }
}

impl Parts {
    /// In-process codes and counters (capped at `MEMORY_MAX_ENTRIES`), console email, the
    /// system clock.
    pub fn in_process(config: &Config) -> Self {
        let cap = config.store.memory_max_entries;
        Self {
            codes: Arc::new(MemoryCodeStore::with_capacity(cap)),
            counters: Arc::new(MemoryCounters::with_capacity(cap)),
            revocations: Arc::new(NoOtherInstances),
            mailer: Arc::new(ConsoleMailer),
            clock: Arc::new(SystemClock),
        }
    }

    /// The parts `config` asks for.
    pub fn for_config(config: &Config) -> Result<Self, StartError> {
        let mailer: Arc<dyn Mailer> = match &config.mail.transport {
            EmailTransport::Console => {
                if config.app_env == AppEnv::Production {
                    tracing::warn!(
                        "APP_ENV=production with EMAIL_TRANSPORT=console (allowed by \
                         ALLOW_CONSOLE_EMAIL_IN_PRODUCTION): verification and reset codes are \
                         written to the log and no email is sent."
                    );
                }
                Arc::new(ConsoleMailer)
            }
            EmailTransport::Smtp(settings) => {
                Arc::new(SmtpMailer::new(settings, &config.mail.app_name)?)
            }
        };
        let mut parts = Self {
            mailer,
            ..Self::in_process(config)
        };
        if let Some(redis) = &config.store.redis {
            let secret = config
                .auth
                .jwt_secret
                .as_ref()
                .ok_or(StartError::RedisSecret)?;
            let store = Arc::new(RedisStore::new(
                &redis.url,
                &redis.key_prefix,
                secret.expose_secret().as_bytes(),
            )?);
            parts.codes = store.clone();
            parts.counters = store.clone();
            parts.revocations = store;
        }
        Ok(parts)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("could not open the database: {0}")]
    Database(#[from] DbError),
    #[error("could not set up Redis: {0}")]
    Redis(#[from] StoreError),
    #[error("JWT_SECRET must be set when REDIS_URL is")]
    RedisSecret,
    #[error("could not keep the development MFA key in {path}: {problem}")]
    MfaKeyFile { path: String, problem: String },
    #[error(
        "MFA_ENCRYPTION_KEY must be set while JWT_SECRET_PREVIOUS is: the TOTP secrets are \
         sealed with a key derived from the old JWT_SECRET. Run `authd mfa-key` with the old \
         JWT_SECRET, put its output in MFA_ENCRYPTION_KEY, then rotate (README, \"Rotating the \
         signing key\")"
    )]
    MfaKeyDuringRotation,
    #[error("could not set up the breached-password check: {0}")]
    BreachCheck(#[from] reqwest::Error),
    #[error("could not set up email: {0}")]
    Mail(#[from] MailError),
    #[error("invalid configuration: a rate limit has a zero burst or period")]
    RateLimit,
    #[error("could not listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// A built server: database open, port bound, not yet serving.
pub struct Application {
    listener: TcpListener,
    /// `GET /metrics`, on an address of its own (`METRICS_ADDR`), when set.
    metrics: Option<TcpListener>,
    app: App,
    auth: Arc<Auth>,
    limiters: RateLimiters,
    serve_limits: ServeLimits,
}

impl Application {
    pub async fn build(config: Config, parts: Parts) -> Result<Self, StartError> {
        // reqwest is built without a TLS provider of its own (it would bring a second crypto
        // library): make ring, which sqlx and lettre already use, the process's default.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let db = Db::connect(&config.db.url, config.db.max_connections).await?;
        crate::db::data::run_pending(&db, parts.clock.now()).await?;
        tracing::info!(backend = db.backend(), "database ready");

        let signing_key = config.auth.jwt_secret.clone().unwrap_or_else(|| {
            tracing::warn!(
                "JWT_SECRET is not set: using a random secret for this run only. \
                 Every token dies when the server restarts. Set JWT_SECRET (32+ bytes) to keep sessions."
            );
            SecretString::from(hex::encode(rand::random::<[u8; 32]>()))
        });
        let mfa_key = mfa_key(&config)?;
        let auth = Arc::new(Auth::new(
            db,
            parts,
            config.auth,
            &signing_key,
            &mfa_key,
            config.mail.outbox,
        )?);
        let state = AppState::new(auth.clone(), config.http.cookie_secure);
        let (app, limiters) = http::router(state, &config.http).ok_or(StartError::RateLimit)?;

        let addr = SocketAddr::new(config.server.host, config.server.port);
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| StartError::Bind { addr, source })?;
        let metrics = match config.ops.metrics_addr {
            Some(addr) => {
                crate::telemetry::install();
                let listener = TcpListener::bind(addr)
                    .await
                    .map_err(|source| StartError::Bind { addr, source })?;
                Some(listener)
            }
            None => None,
        };
        let serve_limits = ServeLimits {
            header_timeout: HEADER_READ_TIMEOUT.min(config.http.request_timeout),
            max_connections: config
                .server
                .max_connections
                .unwrap_or_else(crate::serve::default_max_connections),
            drain_timeout: config.server.shutdown_timeout,
        };
        let open_files = crate::serve::open_file_limit();
        if serve_limits.max_connections >= open_files {
            tracing::warn!(
                max_connections = serve_limits.max_connections,
                open_files,
                "MAX_CONNECTIONS is not below the open-file limit: a flood of connections can \
                 use up the file descriptors the database and logs need; lower it or raise the limit"
            );
        }
        tracing::debug!(?serve_limits, "serving");
        Ok(Self {
            listener,
            metrics,
            app,
            auth,
            limiters,
            serve_limits,
        })
    }

    /// The address actually bound (the real port when the config asked for port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The address `GET /metrics` is served on, if metrics are on.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// The per-IP rate limiters, for tests that check how many clients they track.
    pub fn rate_limiters(&self) -> RateLimiters {
        self.limiters.clone()
    }

    /// The database handle, for operators and tests that need to reach past the API.
    pub fn db(&self) -> Db {
        self.auth.db().clone()
    }

    /// Serves, and delivers queued email, until `shutdown` completes. Then stops listening,
    /// lets requests in flight and deliveries under way finish within `SHUTDOWN_TIMEOUT_SECONDS`
    /// of the signal, gives back the outbox rows it still holds (what is not delivered stays
    /// queued for the next start) and closes the pool.
    pub async fn run_until(self, shutdown: impl Future<Output = ()>) {
        let sweeper = tokio::spawn(sweep_forever(self.auth.clone(), self.limiters.clone()));
        let metrics = self
            .metrics
            .map(|listener| tokio::spawn(serve_metrics(listener)));
        let (stop_mail, mail_stopped) = tokio::sync::watch::channel(false);
        let auth = self.auth.clone();
        let mut deliveries = tokio::spawn(async move { auth.deliver_mail(mail_stopped).await });
        let began = Arc::new(std::sync::OnceLock::new());
        let signal = {
            let began = began.clone();
            async move {
                shutdown.await;
                let _ = began.set(tokio::time::Instant::now());
                let _ = stop_mail.send(true);
            }
        };
        crate::serve::serve(self.listener, self.app, self.serve_limits, signal).await;
        sweeper.abort();
        if let Some(metrics) = metrics {
            metrics.abort();
        }
        let bound = self.serve_limits.drain_timeout;
        let left = began.get().map_or(bound, |began: &tokio::time::Instant| {
            bound.saturating_sub(began.elapsed())
        });
        if tokio::time::timeout(left, &mut deliveries).await.is_err() {
            tracing::warn!("deliveries still under way at the shutdown timeout; cut short");
            deliveries.abort();
        }
        // The database may not answer at all: a second at most for the leases and the pool.
        let last = async {
            self.auth.release_mail().await;
            self.auth.close().await;
        };
        if tokio::time::timeout(Duration::from_secs(1), last)
            .await
            .is_err()
        {
            tracing::warn!("the database did not answer at shutdown; leases run out by themselves");
        }
    }
}

/// `GET /metrics` in the Prometheus text format, and nothing else, on the internal listener.
async fn serve_metrics(listener: TcpListener) {
    let metrics = axum::Router::new().route(
        "/metrics",
        axum::routing::get(|| async {
            (
                [(
                    axum::http::header::CONTENT_TYPE,
                    "text/plain; version=0.0.4; charset=utf-8",
                )],
                crate::telemetry::render(),
            )
        }),
    );
    if let Err(e) = axum::serve(listener, metrics).await {
        tracing::error!(error = %e, "the metrics listener stopped");
    }
}

async fn sweep_forever(auth: Arc<Auth>, limiters: RateLimiters) {
    let mut every = tokio::time::interval(SWEEP_INTERVAL);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        limiters.purge_idle();
        if let Err(e) = auth.sweep().await {
            tracing::warn!(error = %e, "sweep of expired codes and sessions failed");
        }
    }
}

/// The key that seals TOTP secrets: `MFA_ENCRYPTION_KEY`; else derived from `JWT_SECRET`; else
/// (development with neither) a generated key kept in a file beside the SQLite database
/// (`<file>.mfa-key`, mode 0600), so a restart locks nobody out; for a database with no file
/// of its own (in memory, MySQL, PostgreSQL), a key for this run only, with a warning.
pub fn mfa_key(config: &Config) -> Result<MfaKey, StartError> {
    if let Some(key) = &config.auth.mfa_encryption_key {
        return parse_key(key.expose_secret()).ok_or_else(|| StartError::MfaKeyFile {
            path: "MFA_ENCRYPTION_KEY".into(),
            problem: "not 64 hex characters".into(),
        });
    }
    if config.auth.jwt_secret_previous.is_some() {
        return Err(StartError::MfaKeyDuringRotation);
    }
    if let Some(secret) = &config.auth.jwt_secret {
        return Ok(MfaKey::derived_from(secret.expose_secret().as_bytes()));
    }
    let Some(database) = sqlite_file(&config.db.url) else {
        tracing::warn!(
            "neither MFA_ENCRYPTION_KEY nor JWT_SECRET is set: TOTP secrets are sealed with a \
             key for this run only, and two-factor logins stop working when the server restarts"
        );
        return Ok(MfaKey::new(rand::random()));
    };
    let path = format!("{database}.mfa-key");
    let failed = |problem: String| StartError::MfaKeyFile {
        path: path.clone(),
        problem,
    };
    match std::fs::read_to_string(&path) {
        Ok(stored) => parse_key(stored.trim())
            .ok_or_else(|| failed("it does not hold 64 hex characters".into())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key: [u8; MFA_KEY_BYTES] = rand::random();
            write_private(&path, &hex::encode(key)).map_err(|e| failed(e.to_string()))?;
            tracing::info!(%path, "generated the development key that seals TOTP secrets");
            Ok(MfaKey::new(key))
        }
        Err(e) => Err(failed(e.to_string())),
    }
}

fn parse_key(hex_key: &str) -> Option<MfaKey> {
    let bytes: [u8; MFA_KEY_BYTES] = hex::decode(hex_key).ok()?.try_into().ok()?;
    Some(MfaKey::new(bytes))
}

/// The file of a SQLite database URL, if it has one.
fn sqlite_file(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let (file, options) = rest.split_once('?').unwrap_or((rest, ""));
    let in_memory = file.is_empty() || file == ":memory:" || options.contains("mode=memory");
    (!in_memory).then_some(file)
}

/// Writes a new file only its owner can read.
fn write_private(path: &str, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(contents.as_bytes())
}
