//! Typed configuration, read once at start-up from the environment (and an optional `.env`),
//! straight into the sections the parts of the server take. Every default is written once, in
//! [`Config::from_lookup`]; [`Config::default`] is what an empty environment gives.
//!
//! Nothing else in the crate reads the environment: tests build a [`Config`] in code.

mod email;
mod env;
mod limits;

use std::net::IpAddr;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use crate::domain::PasswordPolicy;
use crate::limits::{CodeLimits, HashLimits, LoginLimits, RateLimit};
pub use email::{EmailTransport, MailSettings, OutboxSettings, SmtpSettings, SmtpTls};
use env::Env;

/// Where the server runs; production refuses unsafe settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AppEnv {
    Development,
    Production,
}

/// The whole configuration, one section per part of the server.
#[derive(Clone, Debug)]
pub struct Config {
    pub app_env: AppEnv,
    pub server: ServerSettings,
    pub http: HttpSettings,
    pub auth: AuthSettings,
    pub db: DbSettings,
    pub mail: MailSettings,
    pub store: StoreSettings,
    pub ops: OpsSettings,
}

/// What operators watch: the log format and the metrics listener.
#[derive(Clone, Debug)]
pub struct OpsSettings {
    pub log_format: LogFormat,
    /// Where `GET /metrics` is served (Prometheus text format); no listener when `None`.
    pub metrics_addr: Option<std::net::SocketAddr>,
}

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// For people: one readable line per event.
    Text,
    /// For log shippers: one JSON object per line.
    Json,
}

/// Where to listen, and how many connections to hold.
#[derive(Clone, Debug)]
pub struct ServerSettings {
    pub host: IpAddr,
    pub port: u16,
    /// Connections open at once; `None` derives it from the file-descriptor limit at start.
    pub max_connections: Option<usize>,
    /// After SIGTERM or Ctrl-C, how long requests in flight and deliveries under way get
    /// before the process exits.
    pub shutdown_timeout: Duration,
}

/// The HTTP layer's settings.
#[derive(Clone, Debug)]
pub struct HttpSettings {
    /// Browser origins allowed to call with credentials (and to write past the CSRF guard).
    pub cors_origins: Vec<String>,
    /// HTTPS deployment: `Secure` `__Host-` cookie, and HSTS.
    pub cookie_secure: bool,
    /// Take the client IP from X-Real-IP / X-Forwarded-For (only behind a proxy that sets them).
    pub trust_proxy: bool,
    pub max_body_bytes: usize,
    pub request_timeout: Duration,
    /// For the endpoints that take credentials or send email.
    pub credential_rate: RateLimit,
    /// For every request.
    pub general_rate: RateLimit,
    /// Clients the rate limiters may track at once.
    pub max_clients: usize,
}

/// The flows' lifetimes, limits and secrets.
#[derive(Clone, Debug)]
pub struct AuthSettings {
    /// A session's absolute lifetime: it ends this long after login, however active.
    pub session_lifetime: Duration,
    /// A session unused this long ends.
    pub session_idle_timeout: Duration,
    pub verify_code_ttl: Duration,
    pub reset_code_ttl: Duration,
    pub login_limits: LoginLimits,
    pub code_limits: CodeLimits,
    pub password_policy: PasswordPolicy,
    pub bcrypt_cost: u32,
    /// bcrypt work allowed to run and to wait at once; beyond, credential requests get 503.
    pub hash_limits: HashLimits,
    /// `None` in development means "generate one at start"; production requires it.
    pub jwt_secret: Option<SecretString>,
    /// The signing key being rotated out: tokens it signed are accepted until they expire.
    pub jwt_secret_previous: Option<SecretString>,
    /// How long a session's user may be served from memory (zero: never).
    pub session_cache_ttl: Duration,
    /// Sessions the cache may hold.
    pub session_cache_capacity: usize,
    /// 32 bytes, hex-encoded, that seal TOTP secrets at rest; `None` derives the key from
    /// `jwt_secret` (or, in development without one, keeps a generated key in a file).
    pub mfa_encryption_key: Option<SecretString>,
    /// How long security events are kept.
    pub audit_retention: Duration,
    /// Email a notice when a sign-in comes from a browser and network not seen for the user
    /// within the retention.
    pub login_notify: bool,
    /// The issuer authenticator apps show beside the account (`APP_NAME`).
    pub totp_issuer: String,
    pub breach: BreachSettings,
}

/// The breached-password check (a Pwned Passwords range API).
#[derive(Clone, Debug)]
pub struct BreachSettings {
    pub enabled: bool,
    /// The range endpoint; the first 5 hex characters of the password's SHA-1 are appended.
    pub api_url: String,
    /// The longest a request waits for the API.
    pub timeout: Duration,
    /// Refuse passwords (503) when the API cannot answer, instead of letting them through.
    pub fail_closed: bool,
}

/// The database.
#[derive(Clone, Debug)]
pub struct DbSettings {
    /// `sqlite://FILE`, `mysql://...` or `postgres://...`.
    pub url: String,
    pub max_connections: u32,
}

/// Where codes and counters live.
#[derive(Clone, Debug)]
pub struct StoreSettings {
    /// Shared by every instance through this Redis; in process when `None`.
    pub redis: Option<RedisSettings>,
    /// Entries each in-process store (codes, counters) may hold.
    pub memory_max_entries: usize,
}

#[derive(Clone, Debug)]
pub struct RedisSettings {
    pub url: String,
    /// Start of every key, so several deployments (or tests) can share one Redis.
    pub key_prefix: String,
}

/// A configuration value that cannot be used; the message names the variable.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {var} {problem}")]
pub struct ConfigError {
    pub var: &'static str,
    pub problem: String,
}

impl ConfigError {
    pub(crate) fn new(var: &'static str, problem: impl Into<String>) -> Self {
        Self {
            var,
            problem: problem.into(),
        }
    }
}

/// Shortest JWT secret accepted: 256 bits, the HS256 key size.
pub const MIN_JWT_SECRET_BYTES: usize = 32;

impl Default for Config {
    /// The development defaults a fresh clone runs with: what an empty environment gives.
    fn default() -> Self {
        #[allow(clippy::expect_used)]
        Self::from_lookup(|_| None).expect("the defaults are a valid configuration")
    }
}

impl Config {
    /// Reads the process environment, after loading `.env` if one exists.
    pub fn from_env() -> Result<Self, ConfigError> {
        // A missing .env is the normal case; a malformed one must not be ignored.
        match dotenvy::dotenv() {
            Ok(_) => {}
            Err(e) if e.not_found() => {}
            Err(e) => return Err(ConfigError::new(".env", format!("could not be read: {e}"))),
        }
        Self::from_lookup(|key| std::env::var(key).ok())
    }

    /// Builds a config from any key lookup; unset and empty values take the defaults.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env::new(&lookup);
        let app_env = match env.get("APP_ENV").as_deref() {
            None | Some("development") => AppEnv::Development,
            Some("production") => AppEnv::Production,
            Some(other) => {
                return Err(ConfigError::new(
                    "APP_ENV",
                    format!("must be development or production, got {other:?}"),
                ));
            }
        };
        let memory_max_entries =
            env.number("MEMORY_MAX_ENTRIES", 100_000, 100..=100_000_000)? as usize;
        let request_timeout =
            env.seconds("REQUEST_TIMEOUT_SECONDS", Duration::from_secs(30), 1..=300)?;
        let config = Self {
            app_env,
            server: ServerSettings {
                host: env.parse(
                    "HOST",
                    IpAddr::from([127, 0, 0, 1]),
                    "an IP address such as 127.0.0.1 or 0.0.0.0",
                )?,
                port: env.parse("PORT", 4000, "a port number (0-65535)")?,
                max_connections: match env.get("MAX_CONNECTIONS") {
                    None => None,
                    Some(_) => Some(env.number("MAX_CONNECTIONS", 0, 16..=1_000_000)? as usize),
                },
                shutdown_timeout: env.seconds(
                    "SHUTDOWN_TIMEOUT_SECONDS",
                    Duration::from_secs(10),
                    1..=600,
                )?,
            },
            http: HttpSettings {
                cors_origins: match env.get("CORS_ORIGINS") {
                    None => vec![
                        "http://localhost:3000".into(),
                        "http://localhost:5173".into(),
                    ],
                    Some(list) => parse_origins(&list)?,
                },
                cookie_secure: env.flag("COOKIE_SECURE", false)?,
                trust_proxy: env.flag("TRUST_PROXY", false)?,
                max_body_bytes: env.number("MAX_BODY_BYTES", 16 * 1024, 1024..=1024 * 1024)?
                    as usize,
                request_timeout,
                credential_rate: RateLimit {
                    burst: env.count("RATE_LIMIT_AUTH_BURST", 10)?,
                    period: Duration::from_secs(60)
                        / env.count("RATE_LIMIT_AUTH_PER_MINUTE", 10)?,
                },
                general_rate: RateLimit {
                    burst: env.count("RATE_LIMIT_GENERAL_BURST", 100)?,
                    period: Duration::from_secs(1)
                        / env.count("RATE_LIMIT_GENERAL_PER_SECOND", 50)?,
                },
                max_clients: memory_max_entries,
            },
            auth: AuthSettings {
                session_lifetime: session_lifetime(&env)?,
                session_idle_timeout: env.seconds(
                    "SESSION_IDLE_TIMEOUT_SECONDS",
                    Duration::from_secs(3600),
                    10..=MAX_SESSION_SECONDS,
                )?,
                verify_code_ttl: env.seconds(
                    "OTP_VERIFY_TTL_SECONDS",
                    Duration::from_secs(300),
                    10..=86_400,
                )?,
                reset_code_ttl: env.seconds(
                    "OTP_RESET_TTL_SECONDS",
                    Duration::from_secs(600),
                    10..=86_400,
                )?,
                login_limits: limits::login_limits(&env)?,
                code_limits: limits::code_limits(&env)?,
                password_policy: PasswordPolicy {
                    min_score: env.number(
                        "PASSWORD_MIN_SCORE",
                        PasswordPolicy::default().min_score.into(),
                        0..=4,
                    )? as u8,
                },
                bcrypt_cost: env.number("BCRYPT_COST", 12, 4..=31)? as u32,
                hash_limits: limits::hash_limits(&env)?,
                jwt_secret: jwt_secret(&env, app_env)?,
                jwt_secret_previous: jwt_secret_previous(&env)?,
                session_cache_ttl: Duration::from_millis(env.number(
                    "SESSION_CACHE_TTL_MS",
                    1000,
                    0..=10_000,
                )?),
                session_cache_capacity: memory_max_entries,
                mfa_encryption_key: mfa_encryption_key(&env)?,
                audit_retention: Duration::from_secs(
                    86_400 * env.number("AUDIT_RETENTION_DAYS", 90, 1..=3650)?,
                ),
                login_notify: env.flag("LOGIN_NOTIFY", true)?,
                totp_issuer: email::app_name(&env),
                breach: BreachSettings {
                    enabled: env.flag("PASSWORD_BREACH_CHECK", true)?,
                    api_url: env
                        .get("PASSWORD_BREACH_API_URL")
                        .unwrap_or_else(|| "https://api.pwnedpasswords.com/range".into()),
                    timeout: Duration::from_millis(env.number(
                        "PASSWORD_BREACH_TIMEOUT_MS",
                        1500,
                        50..=30_000,
                    )?),
                    fail_closed: env.flag("PASSWORD_BREACH_FAIL_CLOSED", false)?,
                },
            },
            db: DbSettings {
                url: env
                    .get("DATABASE_URL")
                    .unwrap_or_else(|| "sqlite://auth.db".into()),
                max_connections: env.number("DATABASE_MAX_CONNECTIONS", 10, 1..=1000)? as u32,
            },
            mail: email::mail_settings(&env, app_env)?,
            store: StoreSettings {
                redis: env.get("REDIS_URL").map(|url| RedisSettings {
                    url,
                    key_prefix: env
                        .get("REDIS_KEY_PREFIX")
                        .unwrap_or_else(|| "authd:".into()),
                }),
                memory_max_entries,
            },
            ops: OpsSettings {
                log_format: match env.get("LOG_FORMAT").as_deref() {
                    None | Some("text") => LogFormat::Text,
                    Some("json") => LogFormat::Json,
                    Some(other) => {
                        return Err(ConfigError::new(
                            "LOG_FORMAT",
                            format!("must be text or json, got {other:?}"),
                        ));
                    }
                },
                metrics_addr: match env.get("METRICS_ADDR") {
                    None => None,
                    Some(_) => Some(env.parse(
                        "METRICS_ADDR",
                        std::net::SocketAddr::from(([127, 0, 0, 1], 9464)),
                        "an address and port such as 127.0.0.1:9464",
                    )?),
                },
            },
        };
        config.check()?;
        Ok(config)
    }

    /// The rules between variables.
    fn check(&self) -> Result<(), ConfigError> {
        if let Some(redis) = &self.store.redis {
            if !(redis.url.starts_with("redis://") || redis.url.starts_with("rediss://")) {
                return Err(ConfigError::new(
                    "REDIS_URL",
                    "must start with redis:// or rediss://",
                ));
            }
            if self.auth.jwt_secret.is_none() {
                return Err(ConfigError::new(
                    "JWT_SECRET",
                    "must be set when REDIS_URL is: every instance must share it",
                ));
            }
        }
        let breach = &self.auth.breach.api_url;
        if !(breach.starts_with("https://") || breach.starts_with("http://")) {
            return Err(ConfigError::new(
                "PASSWORD_BREACH_API_URL",
                "must start with https:// or http://",
            ));
        }
        let url = &self.db.url;
        let known = ["sqlite:", "mysql:", "postgres:", "postgresql:"];
        if !known.iter().any(|scheme| url.starts_with(scheme)) {
            return Err(ConfigError::new(
                "DATABASE_URL",
                "must start with sqlite://, mysql://, postgres:// or postgresql://",
            ));
        }
        Ok(())
    }
}

/// The longest session lifetime and idle timeout accepted: 30 days, NIST SP 800-63B's bound
/// for reauthentication at AAL1.
const MAX_SESSION_SECONDS: u64 = 30 * 24 * 3600;

/// `SESSION_MAX_LIFETIME_SECONDS` (default 24 hours), or the seed's `JWT_EXPIRE_MINUTES`, which
/// keeps meaning the absolute lifetime; setting both is refused, as one would silently lose.
fn session_lifetime(env: &Env<'_>) -> Result<Duration, ConfigError> {
    const VAR: &str = "SESSION_MAX_LIFETIME_SECONDS";
    match env.get("JWT_EXPIRE_MINUTES") {
        Some(_) if env.get(VAR).is_some() => Err(ConfigError::new(
            VAR,
            "and JWT_EXPIRE_MINUTES both set the absolute session lifetime: set only one",
        )),
        Some(_) => Ok(Duration::from_secs(
            60 * env.number("JWT_EXPIRE_MINUTES", 60, 1..=MAX_SESSION_SECONDS / 60)?,
        )),
        None => env.seconds(
            VAR,
            Duration::from_secs(24 * 3600),
            60..=MAX_SESSION_SECONDS,
        ),
    }
}

/// At least [`MIN_JWT_SECRET_BYTES`] in every environment; required in production.
fn jwt_secret(env: &Env<'_>, app_env: AppEnv) -> Result<Option<SecretString>, ConfigError> {
    let secret = env.get("JWT_SECRET").map(SecretString::from);
    match &secret {
        Some(s) if s.expose_secret().len() < MIN_JWT_SECRET_BYTES => Err(ConfigError::new(
            "JWT_SECRET",
            format!(
                "must be at least {MIN_JWT_SECRET_BYTES} bytes (for example: openssl rand -hex 32), got {}",
                s.expose_secret().len()
            ),
        )),
        None if app_env == AppEnv::Production => Err(ConfigError::new(
            "JWT_SECRET",
            format!("must be set to at least {MIN_JWT_SECRET_BYTES} bytes when APP_ENV=production"),
        )),
        _ => Ok(secret),
    }
}

/// The key being rotated out: as long as `JWT_SECRET` must be, and only beside one.
fn jwt_secret_previous(env: &Env<'_>) -> Result<Option<SecretString>, ConfigError> {
    const VAR: &str = "JWT_SECRET_PREVIOUS";
    let Some(previous) = env.get(VAR) else {
        return Ok(None);
    };
    if env.get("JWT_SECRET").is_none() {
        return Err(ConfigError::new(
            VAR,
            "needs JWT_SECRET: the key that replaces it",
        ));
    }
    if previous.len() < MIN_JWT_SECRET_BYTES {
        return Err(ConfigError::new(
            VAR,
            format!("must be at least {MIN_JWT_SECRET_BYTES} bytes, like JWT_SECRET"),
        ));
    }
    Ok(Some(SecretString::from(previous)))
}

/// Exactly 32 bytes as 64 hex characters, when set.
fn mfa_encryption_key(env: &Env<'_>) -> Result<Option<SecretString>, ConfigError> {
    let Some(key) = env.get("MFA_ENCRYPTION_KEY") else {
        return Ok(None);
    };
    if key.len() == 64 && key.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(Some(SecretString::from(key)))
    } else {
        Err(ConfigError::new(
            "MFA_ENCRYPTION_KEY",
            "must be 32 bytes as 64 hex characters (for example: openssl rand -hex 32)",
        ))
    }
}

/// Origins are compared byte for byte with the browser's `Origin` header, so they must be exact.
fn parse_origins(list: &str) -> Result<Vec<String>, ConfigError> {
    list.split(',')
        .map(str::trim)
        .filter(|o| !o.is_empty())
        .map(|origin| {
            let scheme_ok = origin.starts_with("http://") || origin.starts_with("https://");
            if origin == "*" || !scheme_ok || origin.ends_with('/') {
                Err(ConfigError::new(
                    "CORS_ORIGINS",
                    format!(
                        "must be a comma-separated list of origins like https://app.example.com (no wildcard, no trailing slash), got {origin:?}"
                    ),
                ))
            } else {
                Ok(origin.to_owned())
            }
        })
        .collect()
}

#[cfg(test)]
mod tests;
