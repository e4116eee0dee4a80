//! The configuration's rules, variable by variable.

use std::collections::HashMap;
use std::time::Duration;

use super::*;

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
    assert_eq!(c.server.port, 4000);
    assert_eq!(c.db.url, "sqlite://auth.db");
    assert_eq!(c.auth.bcrypt_cost, 12);
    assert_eq!(c.auth.verify_code_ttl, Duration::from_secs(300));
    assert!(c.auth.jwt_secret.is_none());
}

#[test]
fn a_bad_value_names_its_variable() {
    let err = from(&[("PORT", "eighty")]).unwrap_err();
    assert_eq!(err.var, "PORT");
    let err = from(&[("BCRYPT_COST", "3")]).unwrap_err();
    assert_eq!(err.var, "BCRYPT_COST");
    let err = from(&[("CORS_ORIGINS", "*")]).unwrap_err();
    assert_eq!(err.var, "CORS_ORIGINS");
    let err = from(&[("DATABASE_URL", "oracle://x")]).unwrap_err();
    assert_eq!(err.var, "DATABASE_URL");
    let err = from(&[("RATE_LIMIT_AUTH_BURST", "0")]).unwrap_err();
    assert_eq!(err.var, "RATE_LIMIT_AUTH_BURST");
    let err = from(&[("TRUST_PROXY", "yes please")]).unwrap_err();
    assert_eq!(err.var, "TRUST_PROXY");
}

#[test]
fn sessions_last_a_day_at_most_and_end_after_an_idle_hour_by_default() {
    let c = from(&[]).unwrap();
    assert_eq!(c.auth.session_lifetime, Duration::from_secs(24 * 3600));
    assert_eq!(c.auth.session_idle_timeout, Duration::from_secs(3600));
    let c = from(&[
        ("SESSION_MAX_LIFETIME_SECONDS", "7200"),
        ("SESSION_IDLE_TIMEOUT_SECONDS", "10"),
    ])
    .unwrap();
    assert_eq!(c.auth.session_lifetime, Duration::from_secs(7200));
    assert_eq!(c.auth.session_idle_timeout, Duration::from_secs(10));
    let err = from(&[("SESSION_IDLE_TIMEOUT_SECONDS", "9")]).unwrap_err();
    assert_eq!(err.var, "SESSION_IDLE_TIMEOUT_SECONDS");
}

#[test]
fn the_seeds_jwt_expire_minutes_still_sets_the_absolute_lifetime() {
    let c = from(&[("JWT_EXPIRE_MINUTES", "30")]).unwrap();
    assert_eq!(c.auth.session_lifetime, Duration::from_secs(1800));
    let both = [
        ("JWT_EXPIRE_MINUTES", "30"),
        ("SESSION_MAX_LIFETIME_SECONDS", "1800"),
    ];
    assert_eq!(from(&both).unwrap_err().var, "SESSION_MAX_LIFETIME_SECONDS");
}

#[test]
fn login_limits_come_from_their_variables() {
    let c = from(&[
        ("LOGIN_MAX_FAILURES", "3"),
        ("LOGIN_ACCOUNT_LOCKOUT_SECONDS", "60"),
    ])
    .unwrap();
    assert_eq!(c.auth.login_limits.per_account_ip.max, 3);
    assert_eq!(
        c.auth.login_limits.per_account.lockout,
        Duration::from_secs(60)
    );
    assert_eq!(c.auth.login_limits.per_ip.max, 20);
}

#[test]
fn an_incomplete_smtp_configuration_names_the_missing_variable() {
    let smtp = |extra: &[(&'static str, &'static str)]| {
        let mut pairs = vec![("EMAIL_TRANSPORT", "smtp")];
        pairs.extend_from_slice(extra);
        from(&pairs).map(|c| c.mail.transport)
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
        from(&good).unwrap().store.redis.map(|r| r.url).as_deref(),
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
        from(&[]).unwrap().auth.jwt_secret.is_none(),
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

#[test]
fn every_database_scheme_is_accepted() {
    for url in [
        "sqlite://auth.db",
        "mysql://u@h/db",
        "postgres://u@h/db",
        "postgresql://u@h/db",
    ] {
        assert_eq!(from(&[("DATABASE_URL", url)]).unwrap().db.url, url);
    }
}

#[test]
fn the_defaults_are_what_an_empty_environment_gives() {
    let d = Config::default();
    assert_eq!(d.server.port, 4000);
    assert_eq!(d.http.credential_rate.period, Duration::from_secs(6));
    assert_eq!(d.http.general_rate.period, Duration::from_millis(20));
    assert_eq!(d.store.memory_max_entries, 100_000);
    assert!(d.store.redis.is_none());
}

#[test]
fn the_outbox_and_shutdown_bounds_come_from_their_variables() {
    let c = from(&[]).unwrap();
    assert_eq!(c.mail.outbox.give_up, Duration::from_secs(86_400));
    assert_eq!(c.mail.outbox.retention, Duration::from_secs(7 * 86_400));
    assert_eq!(c.server.shutdown_timeout, Duration::from_secs(10));
    let c = from(&[
        ("MAIL_GIVE_UP_MINUTES", "30"),
        ("MAIL_OUTBOX_RETENTION_DAYS", "1"),
        ("SHUTDOWN_TIMEOUT_SECONDS", "3"),
    ])
    .unwrap();
    assert_eq!(c.mail.outbox.give_up, Duration::from_secs(1800));
    assert_eq!(c.mail.outbox.retention, Duration::from_secs(86_400));
    assert_eq!(c.server.shutdown_timeout, Duration::from_secs(3));
    for (var, bad) in [
        ("MAIL_GIVE_UP_MINUTES", "0"),
        ("MAIL_OUTBOX_RETENTION_DAYS", "366"),
        ("SHUTDOWN_TIMEOUT_SECONDS", "0"),
    ] {
        assert_eq!(from(&[(var, bad)]).unwrap_err().var, var);
    }
}
