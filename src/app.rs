//! Start-up: build the state from a [`Config`], bind the listener, serve until told to stop.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;

use crate::auth::counters::{CounterStore, MemoryCounters};
use crate::auth::otp::{CodeStore, MemoryCodeStore};
use crate::auth::password::{PasswordError, Passwords};
use crate::auth::token::Tokens;
use crate::auth::{Auth, AuthSettings, StoreError};
use crate::clock::{Clock, SystemClock};
use crate::config::{AppEnv, Config, EmailTransport, Secret};
use crate::db::{Db, DbError};
use crate::http::cookie::SessionCookie;
use crate::http::{self, AppState, HttpSettings, RateLimit, RateLimiters};
use crate::mail::{ConsoleMailer, MailError, Mailer, RetryPolicy, SmtpMailer};
use crate::serve::ServeLimits;
use crate::shared_store::RedisStore;

/// Longest a client may take to send its request line and headers (shorter if the whole
/// request timeout is).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long queued email may take to go out at shutdown.
const MAIL_DRAIN: Duration = Duration::from_secs(5);
/// How often expired codes, counters, sessions and idle rate-limit keys are swept away.
const SWEEP_INTERVAL: Duration = Duration::from_secs(60);

/// The parts with more than one implementation, chosen once at start-up.
pub struct Parts {
    pub codes: Arc<dyn CodeStore>,
    pub counters: Arc<dyn CounterStore>,
    pub mailer: Arc<dyn Mailer>,
    pub clock: Arc<dyn Clock>,
}

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
        Self {
            codes: Arc::new(MemoryCodeStore::with_capacity(config.memory_max_entries)),
            counters: Arc::new(MemoryCounters::with_capacity(config.memory_max_entries)),
            mailer: Arc::new(ConsoleMailer),
            clock: Arc::new(SystemClock),
        }
    }

    /// The parts `config` asks for. Starts the SMTP delivery task when email goes over SMTP,
    /// so it needs a running Tokio runtime.
    pub fn for_config(config: &Config) -> Result<Self, StartError> {
        let mailer: Arc<dyn Mailer> = match &config.email {
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
            EmailTransport::Smtp(settings) => Arc::new(SmtpMailer::start(
                settings,
                &config.app_name,
                RetryPolicy::default(),
            )?),
        };
        let mut parts = Self {
            mailer,
            ..Self::in_process(config)
        };
        if let Some(url) = &config.redis_url {
            let secret = config.jwt_secret.as_ref().ok_or(StartError::RedisSecret)?;
            let store = Arc::new(RedisStore::new(
                url,
                &config.redis_key_prefix,
                secret.expose().as_bytes(),
            )?);
            parts.codes = store.clone();
            parts.counters = store;
        }
        Ok(parts)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("could not open the database: {0}")]
    Database(#[from] DbError),
    #[error("could not prepare password hashing: {0}")]
    Passwords(#[from] PasswordError),
    #[error("could not set up Redis: {0}")]
    Redis(#[from] StoreError),
    #[error("JWT_SECRET must be set when REDIS_URL is")]
    RedisSecret,
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
    router: Router,
    auth: Arc<Auth>,
    limiters: RateLimiters,
    serve_limits: ServeLimits,
}

impl Application {
    pub async fn build(config: Config, parts: Parts) -> Result<Self, StartError> {
        let db = Db::connect(&config.database_url, config.database_max_connections).await?;
        crate::db::data::run_pending(&db, parts.clock.now()).await?;
        tracing::info!(backend = db.backend(), "database ready");

        let secret = config.jwt_secret.clone().unwrap_or_else(|| {
            tracing::warn!(
                "JWT_SECRET is not set: using a random secret for this run only. \
                 Every token dies when the server restarts. Set JWT_SECRET (32+ bytes) to keep sessions."
            );
            Secret::new(crate::auth::random_hex::<32>())
        });
        let auth = Arc::new(Auth {
            db,
            codes: parts.codes,
            counters: parts.counters,
            mailer: parts.mailer,
            clock: parts.clock,
            passwords: Passwords::new(config.bcrypt_cost, config.hash_limits).await?,
            tokens: Tokens::new(&secret),
            settings: AuthSettings {
                session_ttl: config.jwt_expire,
                verify_code_ttl: config.otp_verify_ttl,
                reset_code_ttl: config.otp_reset_ttl,
                login_limits: config.login_limits,
                code_limits: config.code_limits,
                password_policy: config.password_policy,
            },
        });
        let state = AppState {
            auth: auth.clone(),
            cookie: SessionCookie::new(config.cookie_secure),
        };
        let settings = HttpSettings {
            cors_origins: config.cors_origins.clone(),
            cookie_secure: config.cookie_secure,
            trust_proxy: config.trust_proxy,
            max_body_bytes: config.max_body_bytes,
            request_timeout: config.request_timeout,
            credential_rate: RateLimit {
                burst: config.rate_limit_auth_burst,
                period: Duration::from_secs(60) / config.rate_limit_auth_per_minute.max(1),
            },
            max_clients: config.memory_max_entries,
            general_rate: RateLimit {
                burst: config.rate_limit_general_burst,
                period: Duration::from_secs(1) / config.rate_limit_general_per_second.max(1),
            },
        };
        let (router, limiters) = http::router(state, &settings).ok_or(StartError::RateLimit)?;

        let addr = SocketAddr::new(config.host, config.port);
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| StartError::Bind { addr, source })?;
        let serve_limits = ServeLimits {
            header_timeout: HEADER_READ_TIMEOUT.min(config.request_timeout),
            max_connections: config
                .max_connections
                .unwrap_or_else(crate::serve::default_max_connections),
        };
        tracing::debug!(?serve_limits, "serving");
        Ok(Self {
            listener,
            router,
            auth,
            limiters,
            serve_limits,
        })
    }

    /// The address actually bound (the real port when the config asked for port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The per-IP rate limiters, for tests that check how many clients they track.
    pub fn rate_limiters(&self) -> RateLimiters {
        self.limiters.clone()
    }

    /// The database handle, for operators and tests that need to reach past the API.
    pub fn db(&self) -> Db {
        self.auth.db.clone()
    }

    /// Serves until `shutdown` completes, lets in-flight requests finish, then closes the pool.
    pub async fn run_until(self, shutdown: impl Future<Output = ()>) {
        let sweeper = tokio::spawn(sweep_forever(self.auth.clone(), self.limiters.clone()));
        crate::serve::serve(self.listener, self.router, self.serve_limits, shutdown).await;
        sweeper.abort();
        self.auth.mailer.shutdown(MAIL_DRAIN).await;
        self.auth.db.close().await;
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
