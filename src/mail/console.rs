//! The development mailer: writes each message, code included, to the log.

use async_trait::async_trait;

use super::{Email, MailError, Mailer};

/// Prints messages to the log instead of sending them ("check the console for codes").
#[derive(Clone, Copy, Debug, Default)]
pub struct ConsoleMailer;

#[async_trait]
impl Mailer for ConsoleMailer {
    async fn deliver(&self, email: &Email) -> Result<(), MailError> {
        let kind = email.message.kind();
        match email.message.code() {
            Some(code) => tracing::info!(
                target: "authd::mail",
                "console email to {}: {kind} {} (not delivered)",
                email.to,
                code.expose()
            ),
            None => tracing::info!(
                target: "authd::mail",
                "console email to {}: {kind} (not delivered)",
                email.to
            ),
        }
        Ok(())
    }
}
