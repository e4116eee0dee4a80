//! The email settings: which transport, and for SMTP where and how to connect.

use lettre::message::Mailbox;

use super::{ConfigError, Secret};

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
    pub password: Option<Secret>,
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

pub(super) fn email_transport(
    get: &impl Fn(&str) -> Option<String>,
) -> Result<EmailTransport, ConfigError> {
    match get("EMAIL_TRANSPORT").as_deref() {
        None | Some("console") => Ok(EmailTransport::Console),
        Some("smtp") => smtp_settings(get).map(EmailTransport::Smtp),
        Some(other) => Err(ConfigError::new(
            "EMAIL_TRANSPORT",
            format!("must be console or smtp, got {other:?}"),
        )),
    }
}

fn smtp_settings(get: &impl Fn(&str) -> Option<String>) -> Result<SmtpSettings, ConfigError> {
    let required = |var: &'static str| {
        get(var).ok_or_else(|| ConfigError::new(var, "must be set when EMAIL_TRANSPORT=smtp"))
    };
    let tls = match get("SMTP_TLS").as_deref() {
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
    let port = match get("SMTP_PORT") {
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
    let username = get("SMTP_USERNAME");
    let password = get("SMTP_PASSWORD").map(Secret::new);
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
