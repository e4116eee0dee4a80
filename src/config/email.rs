//! The email settings: which transport, and for SMTP where and how to connect.

use std::time::Duration;

use lettre::message::Mailbox;
use secrecy::SecretString;

use super::env::Env;
use super::{AppEnv, ConfigError};

/// How the SMTP connection is secured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain connection upgraded with STARTTLS (submission port 587); refuses to go on without it.
    StartTls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No encryption: only for a catcher on this machine (Mailpit, MailHog).
    None,
}

#[derive(Clone, Debug)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub username: Option<String>,
    pub password: Option<SecretString>,
    pub from: Mailbox,
    pub tls: SmtpTls,
}

/// Where email goes.
#[derive(Clone, Debug)]
pub enum EmailTransport {
    /// Written to the log, codes included: development only.
    Console,
    Smtp(SmtpSettings),
}

/// How email is sent, and the product name it carries.
#[derive(Clone, Debug)]
pub struct MailSettings {
    pub transport: EmailTransport,
    /// The product name in email subjects and bodies.
    pub app_name: String,
    pub outbox: OutboxSettings,
}

/// How long queued email is kept trying, and kept once settled.
#[derive(Clone, Copy, Debug)]
pub struct OutboxSettings {
    /// After this long since it was queued, an email still failing is given up (a code's own
    /// expiry comes first for messages that carry one).
    pub give_up: Duration,
    /// How long sent, dropped and failed rows (without their bodies) are kept.
    pub retention: Duration,
}

pub(super) fn mail_settings(env: &Env<'_>, app_env: AppEnv) -> Result<MailSettings, ConfigError> {
    let transport = match env.get("EMAIL_TRANSPORT").as_deref() {
        None | Some("console") => EmailTransport::Console,
        Some("smtp") => EmailTransport::Smtp(smtp_settings(env)?),
        Some(other) => {
            return Err(ConfigError::new(
                "EMAIL_TRANSPORT",
                format!("must be console or smtp, got {other:?}"),
            ));
        }
    };
    let allowed = env.flag("ALLOW_CONSOLE_EMAIL_IN_PRODUCTION", false)?;
    if app_env == AppEnv::Production && matches!(transport, EmailTransport::Console) && !allowed {
        return Err(ConfigError::new(
            "EMAIL_TRANSPORT",
            "is console (codes written to the log, no email sent) with APP_ENV=production: \
             set EMAIL_TRANSPORT=smtp, or ALLOW_CONSOLE_EMAIL_IN_PRODUCTION=true if that is really meant",
        ));
    }
    Ok(MailSettings {
        transport,
        app_name: app_name(env),
        outbox: OutboxSettings {
            give_up: Duration::from_secs(
                60 * env.number("MAIL_GIVE_UP_MINUTES", 1440, 1..=10_080)?,
            ),
            retention: Duration::from_secs(
                86_400 * env.number("MAIL_OUTBOX_RETENTION_DAYS", 7, 1..=365)?,
            ),
        },
    })
}

fn smtp_settings(env: &Env<'_>) -> Result<SmtpSettings, ConfigError> {
    let required = |var: &'static str| {
        env.get(var)
            .ok_or_else(|| ConfigError::new(var, "must be set when EMAIL_TRANSPORT=smtp"))
    };
    let tls = match env.get("SMTP_TLS").as_deref() {
        None | Some("starttls") => SmtpTls::StartTls,
        Some("tls") => SmtpTls::Tls,
        Some("none") => SmtpTls::None,
        Some(other) => {
            return Err(ConfigError::new(
                "SMTP_TLS",
                format!("must be starttls, tls or none, got {other:?}"),
            ));
        }
    };
    let default_port = match tls {
        SmtpTls::StartTls => 587,
        SmtpTls::Tls => 465,
        SmtpTls::None => 25,
    };
    let port = match env.get("SMTP_PORT") {
        None => default_port,
        Some(raw) => raw.parse().ok().filter(|p| *p != 0).ok_or_else(|| {
            ConfigError::new("SMTP_PORT", format!("must be a port number, got {raw:?}"))
        })?,
    };
    let from_raw = required("SMTP_FROM")?;
    let from = from_raw.parse::<Mailbox>().map_err(|_| {
        ConfigError::new(
            "SMTP_FROM",
            format!("must be an address like \"Acme <no-reply@acme.example>\", got {from_raw:?}"),
        )
    })?;
    let username = env.get("SMTP_USERNAME");
    let password = env.get("SMTP_PASSWORD").map(SecretString::from);
    match (&username, &password) {
        (Some(_), None) => {
            return Err(ConfigError::new(
                "SMTP_PASSWORD",
                "must be set when SMTP_USERNAME is",
            ));
        }
        (None, Some(_)) => {
            return Err(ConfigError::new(
                "SMTP_USERNAME",
                "must be set when SMTP_PASSWORD is",
            ));
        }
        _ => {}
    }
    Ok(SmtpSettings {
        host: required("SMTP_HOST")?,
        port,
        username,
        password,
        from,
        tls,
    })
}

/// `APP_NAME`: the product name in email and in authenticator apps.
pub(super) fn app_name(env: &Env<'_>) -> String {
    env.get("APP_NAME").unwrap_or_else(|| "authd".into())
}
