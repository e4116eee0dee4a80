//! Typed configuration, read once at start-up from the environment (and an optional `.env`).
//!
//! Nothing else in the crate reads the environment: tests build a [`Config`] in code.

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use crate::auth::password::HashLimits;
use crate::auth::policy::{CodeLimits, LoginLimits, PasswordPolicy};

mod email;
mod limits;

pub use email::{EmailTransport, SmtpSettings, SmtpTls};
use limits::{code_limits, count, login_limits};

/// Where the server runs; production refuses unsafe defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AppEnv {
    Development,
    Production,
}

/// A secret that never prints itself.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[derive(Clone, Debug)]
pub struct Config {
    pub host: IpAddr,
    pub port: u16,
    pub database_url: String,
    pub database_max_connections: u32,
    /// `None` in development means "generate one at start"; production requires it.
    pub jwt_secret: Option<Secret>,
    pub jwt_expire: Duration,
    pub bcrypt_cost: u32,
    /// bcrypt work allowed to run and to wait at once; beyond, credential requests get 503.
    pub hash_limits: HashLimits,
    pub cookie_secure: bool,
    pub cors_origins: Vec<String>,
    pub otp_verify_ttl: Duration,
    pub otp_reset_ttl: Duration,
    pub app_env: AppEnv,
    /// Take client IPs from X-Real-IP / X-Forwarded-For: only behind a proxy that sets them.
    pub trust_proxy: bool,
    pub max_body_bytes: usize,
    pub request_timeout: Duration,
    /// Per-IP budget of the endpoints that take credentials or send email.
    pub rate_limit_auth_per_minute: u32,
    pub rate_limit_auth_burst: u32,
    /// Per-IP budget of every request.
    pub rate_limit_general_per_second: u32,
    pub rate_limit_general_burst: u32,
    pub login_limits: LoginLimits,
    pub code_limits: CodeLimits,
    pub password_policy: PasswordPolicy,
    pub email: EmailTransport,
    /// The product name in email subjects and bodies.
    pub app_name: String,
    /// Codes and counters in this Redis, shared by every instance; in process when `None`.
    pub redis_url: Option<String>,
    /// Start of every Redis key, so several deployments (or tests) can share one Redis.
    pub redis_key_prefix: String,
    /// Connections open at once; `None` derives it from the file-descriptor limit at start.
    pub max_connections: Option<usize>,
    /// Entries each in-process store (codes, counters, rate-limited clients) may hold.
    pub memory_max_entries: usize,
    /// Lets `APP_ENV=production` run with the console mailer (codes in the log, no email).
    pub allow_console_email_in_production: bool,
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
    /// The development defaults a fresh clone runs with.
    fn default() -> Self {
        Self {
            host: IpAddr::from([127, 0, 0, 1]),
            port: 4000,
            database_url: "sqlite://auth.db".into(),
            database_max_connections: 10,
            jwt_secret: None,
            jwt_expire: Duration::from_secs(60 * 60),
            bcrypt_cost: 12,
            hash_limits: HashLimits::default(),
            cookie_secure: false,
            cors_origins: vec![
                "http://localhost:3000".into(),
                "http://localhost:5173".into(),
            ],
            otp_verify_ttl: Duration::from_secs(300),
            otp_reset_ttl: Duration::from_secs(600),
            app_env: AppEnv::Development,
            trust_proxy: false,
            max_body_bytes: 16 * 1024,
            request_timeout: Duration::from_secs(30),
            rate_limit_auth_per_minute: 10,
            rate_limit_auth_burst: 10,
            rate_limit_general_per_second: 50,
            rate_limit_general_burst: 100,
            login_limits: LoginLimits::default(),
            code_limits: CodeLimits::default(),
            password_policy: PasswordPolicy::default(),
            email: EmailTransport::Console,
            app_name: "authd".into(),
            redis_url: None,
            redis_key_prefix: "authd:".into(),
            max_connections: None,
            memory_max_entries: 100_000,
            allow_console_email_in_production: false,
        }
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
        let get = |key: &str| {
            lookup(key)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let d = Self::default();

        let app_env = match get("APP_ENV").as_deref() {
            None | Some("development") => AppEnv::Development,
            Some("production") => AppEnv::Production,
            Some(other) => {
                return Err(ConfigError::new(
                    "APP_ENV",
                    format!("must be development or production, got {other:?}"),
                ));
            }
        };
        let jwt_secret = get("JWT_SECRET").map(Secret::new);
        match &jwt_secret {
            Some(s) if s.expose().len() < MIN_JWT_SECRET_BYTES => {
                return Err(ConfigError::new(
                    "JWT_SECRET",
                    format!(
                        "must be at least {MIN_JWT_SECRET_BYTES} bytes (for example: openssl rand -hex 32), got {}",
                        s.expose().len()
                    ),
                ));
            }
            None if app_env == AppEnv::Production => {
                return Err(ConfigError::new(
                    "JWT_SECRET",
                    format!(
                        "must be set to at least {MIN_JWT_SECRET_BYTES} bytes when APP_ENV=production"
                    ),
                ));
            }
            _ => {}
        }

        let config = Self {
            host: parse(
                &get,
                "HOST",
                d.host,
                "an IP address such as 127.0.0.1 or 0.0.0.0",
            )?,
            port: parse(&get, "PORT", d.port, "a port number (0-65535)")?,
            database_url: get("DATABASE_URL").unwrap_or(d.database_url),
            database_max_connections: bounded(&get, "DATABASE_MAX_CONNECTIONS", 10, 1..=1000)?
                as u32,
            jwt_secret,
            jwt_expire: Duration::from_secs(
                60 * bounded(&get, "JWT_EXPIRE_MINUTES", 60, 1..=43_200)?,
            ),
            bcrypt_cost: bounded(&get, "BCRYPT_COST", 12, 4..=31)? as u32,
            hash_limits: HashLimits {
                concurrent: bounded(
                    &get,
                    "BCRYPT_MAX_CONCURRENT",
                    d.hash_limits.concurrent as u64,
                    1..=1024,
                )? as usize,
                queued: bounded(
                    &get,
                    "BCRYPT_MAX_QUEUE",
                    d.hash_limits.queued as u64,
                    0..=100_000,
                )? as usize,
            },
            cookie_secure: parse(&get, "COOKIE_SECURE", d.cookie_secure, "true or false")?,
            cors_origins: match get("CORS_ORIGINS") {
                None => d.cors_origins,
                Some(list) => parse_origins(&list)?,
            },
            otp_verify_ttl: Duration::from_secs(bounded(
                &get,
                "OTP_VERIFY_TTL_SECONDS",
                300,
                10..=86_400,
            )?),
            otp_reset_ttl: Duration::from_secs(bounded(
                &get,
                "OTP_RESET_TTL_SECONDS",
                600,
                10..=86_400,
            )?),
            app_env,
            trust_proxy: parse(&get, "TRUST_PROXY", d.trust_proxy, "true or false")?,
            max_body_bytes: bounded(&get, "MAX_BODY_BYTES", 16 * 1024, 1024..=1024 * 1024)?
                as usize,
            request_timeout: Duration::from_secs(bounded(
                &get,
                "REQUEST_TIMEOUT_SECONDS",
                30,
                1..=300,
            )?),
            rate_limit_auth_per_minute: count(&get, "RATE_LIMIT_AUTH_PER_MINUTE", 10)?,
            rate_limit_auth_burst: count(&get, "RATE_LIMIT_AUTH_BURST", 10)?,
            rate_limit_general_per_second: count(&get, "RATE_LIMIT_GENERAL_PER_SECOND", 50)?,
            rate_limit_general_burst: count(&get, "RATE_LIMIT_GENERAL_BURST", 100)?,
            login_limits: login_limits(&get)?,
            code_limits: code_limits(&get)?,
            password_policy: PasswordPolicy {
                min_score: bounded(&get, "PASSWORD_MIN_SCORE", 3, 0..=4)? as u8,
            },
            email: email::email_transport(&get)?,
            app_name: get("APP_NAME").unwrap_or(d.app_name),
            redis_url: get("REDIS_URL"),
            redis_key_prefix: get("REDIS_KEY_PREFIX").unwrap_or(d.redis_key_prefix),
            max_connections: match get("MAX_CONNECTIONS") {
                None => None,
                Some(_) => Some(bounded(&get, "MAX_CONNECTIONS", 0, 16..=1_000_000)? as usize),
            },
            memory_max_entries: bounded(
                &get,
                "MEMORY_MAX_ENTRIES",
                d.memory_max_entries as u64,
                100..=100_000_000,
            )? as usize,
            allow_console_email_in_production: parse(
                &get,
                "ALLOW_CONSOLE_EMAIL_IN_PRODUCTION",
                false,
                "true or false",
            )?,
        };
        if config.app_env == AppEnv::Production
            && matches!(config.email, EmailTransport::Console)
            && !config.allow_console_email_in_production
        {
            return Err(ConfigError::new(
                "EMAIL_TRANSPORT",
                "is console (codes written to the log, no email sent) with APP_ENV=production: \
                 set EMAIL_TRANSPORT=smtp, or ALLOW_CONSOLE_EMAIL_IN_PRODUCTION=true if that is really meant",
            ));
        }
        if let Some(url) = &config.redis_url {
            if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
                return Err(ConfigError::new(
                    "REDIS_URL",
                    "must start with redis:// or rediss://",
                ));
            }
            if config.jwt_secret.is_none() {
                return Err(ConfigError::new(
                    "JWT_SECRET",
                    "must be set when REDIS_URL is: every instance must share it",
                ));
            }
        }
        if !(config.database_url.starts_with("sqlite:")
            || config.database_url.starts_with("mysql:"))
        {
            return Err(ConfigError::new(
                "DATABASE_URL",
                "must start with sqlite:// or mysql://",
            ));
        }
        Ok(config)
    }
}

pub(super) fn parse<T: std::str::FromStr>(
    get: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    default: T,
    expects: &str,
) -> Result<T, ConfigError> {
    match get(var) {
        None => Ok(default),
        Some(raw) => raw
            .parse()
            .map_err(|_| ConfigError::new(var, format!("must be {expects}, got {raw:?}"))),
    }
}

pub(super) fn bounded(
    get: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    default: u64,
    range: std::ops::RangeInclusive<u64>,
) -> Result<u64, ConfigError> {
    let expects = format!("a whole number from {} to {}", range.start(), range.end());
    let value = parse(get, var, default, &expects)?;
    if range.contains(&value) {
        Ok(value)
    } else {
        Err(ConfigError::new(
            var,
            format!("must be {expects}, got {value}"),
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
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn from(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn an_empty_environment_gives_the_development_defaults() {
        let c = from(&[]).unwrap();
        assert_eq!(c.port, 4000);
        assert_eq!(c.database_url, "sqlite://auth.db");
        assert_eq!(c.bcrypt_cost, 12);
        assert_eq!(c.otp_verify_ttl, Duration::from_secs(300));
        assert!(c.jwt_secret.is_none());
    }

    #[test]
    fn a_bad_value_names_its_variable() {
        let err = from(&[("PORT", "eighty")]).unwrap_err();
        assert_eq!(err.var, "PORT");
        let err = from(&[("BCRYPT_COST", "3")]).unwrap_err();
        assert_eq!(err.var, "BCRYPT_COST");
        let err = from(&[("CORS_ORIGINS", "*")]).unwrap_err();
        assert_eq!(err.var, "CORS_ORIGINS");
        let err = from(&[("DATABASE_URL", "postgres://x")]).unwrap_err();
        assert_eq!(err.var, "DATABASE_URL");
        let err = from(&[("RATE_LIMIT_AUTH_BURST", "0")]).unwrap_err();
        assert_eq!(err.var, "RATE_LIMIT_AUTH_BURST");
        let err = from(&[("TRUST_PROXY", "yes please")]).unwrap_err();
        assert_eq!(err.var, "TRUST_PROXY");
    }

    #[test]
    fn login_limits_come_from_their_variables() {
        let c = from(&[
            ("LOGIN_MAX_FAILURES", "3"),
            ("LOGIN_ACCOUNT_LOCKOUT_SECONDS", "60"),
        ])
        .unwrap();
        assert_eq!(c.login_limits.per_account_ip.max, 3);
        assert_eq!(c.login_limits.per_account.lockout, Duration::from_secs(60));
        assert_eq!(c.login_limits.per_ip.max, 20);
    }

    #[test]
    fn an_incomplete_smtp_configuration_names_the_missing_variable() {
        let smtp = |extra: &[(&'static str, &'static str)]| {
            let mut pairs = vec![("EMAIL_TRANSPORT", "smtp")];
            pairs.extend_from_slice(extra);
            from(&pairs).map(|c| c.email)
        };
        assert_eq!(
            smtp(&[("SMTP_FROM", "a@b.example")]).unwrap_err().var,
            "SMTP_HOST"
        );
        assert_eq!(smtp(&[("SMTP_HOST", "mail")]).unwrap_err().var, "SMTP_FROM");
        let base = [
            ("SMTP_HOST", "mail"),
            ("SMTP_FROM", "Acme <no-reply@acme.example>"),
        ];
        let with = |extra: (&'static str, &'static str)| {
            let mut pairs = base.to_vec();
            pairs.push(extra);
            smtp(&pairs)
        };
        assert_eq!(with(("SMTP_TLS", "ssl")).unwrap_err().var, "SMTP_TLS");
        assert_eq!(with(("SMTP_PORT", "0")).unwrap_err().var, "SMTP_PORT");
        assert_eq!(
            with(("SMTP_USERNAME", "u")).unwrap_err().var,
            "SMTP_PASSWORD"
        );
        assert_eq!(
            smtp(&[("SMTP_HOST", "mail"), ("SMTP_FROM", "not an address")])
                .unwrap_err()
                .var,
            "SMTP_FROM"
        );
        let EmailTransport::Smtp(s) = smtp(&base).unwrap() else {
            panic!("smtp expected")
        };
        assert_eq!((s.port, s.tls), (587, SmtpTls::StartTls));
        assert_eq!(
            from(&[("EMAIL_TRANSPORT", "pigeon")]).unwrap_err().var,
            "EMAIL_TRANSPORT"
        );
    }

    #[test]
    fn redis_needs_a_shared_jwt_secret_and_a_redis_url() {
        assert_eq!(
            from(&[("REDIS_URL", "redis://127.0.0.1:6379")])
                .unwrap_err()
                .var,
            "JWT_SECRET"
        );
        let secret = "s".repeat(MIN_JWT_SECRET_BYTES);
        let bad = [("REDIS_URL", "http://x"), ("JWT_SECRET", secret.as_str())];
        assert_eq!(from(&bad).unwrap_err().var, "REDIS_URL");
        let good = [
            ("REDIS_URL", "redis://127.0.0.1:6379/0"),
            ("JWT_SECRET", secret.as_str()),
        ];
        assert_eq!(
            from(&good).unwrap().redis_url.as_deref(),
            Some("redis://127.0.0.1:6379/0")
        );
    }

    #[test]
    fn production_refuses_a_missing_or_short_jwt_secret() {
        let smtp = [
            ("EMAIL_TRANSPORT", "smtp"),
            ("SMTP_HOST", "mail"),
            ("SMTP_FROM", "a@b.example"),
        ];
        let with = |extra: &[(&'static str, &str)]| {
            let mut pairs: Vec<(&str, &str)> = smtp.to_vec();
            pairs.push(("APP_ENV", "production"));
            pairs.extend_from_slice(extra);
            from(&pairs)
        };
        assert_eq!(with(&[]).unwrap_err().var, "JWT_SECRET");
        assert_eq!(
            with(&[("JWT_SECRET", "too-short")]).unwrap_err().var,
            "JWT_SECRET"
        );
        let long = "x".repeat(MIN_JWT_SECRET_BYTES);
        assert!(with(&[("JWT_SECRET", &long)]).is_ok());
    }

    #[test]
    fn a_short_jwt_secret_is_refused_in_every_environment() {
        let short = "x".repeat(MIN_JWT_SECRET_BYTES - 1);
        assert_eq!(
            from(&[("JWT_SECRET", &short)]).unwrap_err().var,
            "JWT_SECRET"
        );
        assert_eq!(from(&[("JWT_SECRET", "x")]).unwrap_err().var, "JWT_SECRET");
        assert!(
            from(&[]).unwrap().jwt_secret.is_none(),
            "unset stays allowed in development"
        );
    }

    #[test]
    fn production_with_the_console_mailer_must_be_allowed_explicitly() {
        let long = "x".repeat(MIN_JWT_SECRET_BYTES);
        let base = [("APP_ENV", "production"), ("JWT_SECRET", long.as_str())];
        assert_eq!(from(&base).unwrap_err().var, "EMAIL_TRANSPORT");
        let mut allowed = base.to_vec();
        allowed.push(("ALLOW_CONSOLE_EMAIL_IN_PRODUCTION", "true"));
        assert!(from(&allowed).is_ok());
    }

    #[test]
    fn secrets_do_not_print() {
        let c = from(&[("JWT_SECRET", "hunter2-hunter2-hunter2-hunter2-hunter2")]).unwrap();
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
