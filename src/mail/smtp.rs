//! Delivery over SMTP through a pooled connection. Retries, backoff and giving up belong to
//! the outbox worker that calls it; each command of a conversation is bounded by
//! [`SMTP_TIMEOUT`]. There is no timeout around the whole conversation: cutting one off would
//! put a connection that is still mid-conversation back into the pool.

use std::time::Duration;

use async_trait::async_trait;
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use secrecy::ExposeSecret;

use super::template::render;
use super::{Email, MailError, Mailer};
use crate::config::{SmtpSettings, SmtpTls};

/// How long one SMTP command (connecting included) may take.
pub const SMTP_TIMEOUT: Duration = Duration::from_secs(10);

/// The SMTP mailer.
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    app_name: String,
}

impl SmtpMailer {
    /// A mailer for `settings`, naming the product `app_name`. Connects only when it delivers.
    pub fn new(settings: &SmtpSettings, app_name: &str) -> Result<Self, MailError> {
        Ok(Self {
            transport: transport(settings)?,
            from: settings.from.clone(),
            app_name: app_name.to_owned(),
        })
    }

    fn build(&self, email: &Email) -> Result<lettre::Message, MailError> {
        let to: Mailbox = email.to.to_ascii().parse().map_err(|e| {
            MailError::permanent(format!("recipient not accepted by the SMTP library: {e}"))
        })?;
        let rendered = render(&email.message, &self.app_name);
        lettre::Message::builder()
            .message_id(None)
            .from(self.from.clone())
            .to(to)
            .subject(rendered.subject)
            .multipart(MultiPart::alternative_plain_html(
                rendered.text,
                rendered.html,
            ))
            .map_err(|e| MailError::permanent(format!("message could not be built: {e}")))
    }
}

fn transport(settings: &SmtpSettings) -> Result<AsyncSmtpTransport<Tokio1Executor>, MailError> {
    let host = settings.host.as_str();
    let builder = match settings.tls {
        SmtpTls::StartTls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host),
        SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(host),
        SmtpTls::None => Ok(AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(
            host,
        )),
    }
    .map_err(|e| MailError::permanent(format!("SMTP_HOST {host:?} cannot be used: {e}")))?;
    let mut builder = builder.port(settings.port).timeout(Some(SMTP_TIMEOUT));
    if let (Some(user), Some(password)) = (&settings.username, &settings.password) {
        builder = builder.credentials(Credentials::new(
            user.clone(),
            password.expose_secret().to_owned(),
        ));
    }
    Ok(builder.build())
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn deliver(&self, email: &Email) -> Result<(), MailError> {
        let message = self.build(email)?;
        match self.transport.send(message).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_permanent() => Err(MailError::permanent(e.to_string())),
            Err(e) => Err(MailError::transient(e.to_string())),
        }
    }
}
