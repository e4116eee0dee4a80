//! Making codes and handing messages to the mailer.

use chrono::{DateTime, Utc};

use super::{Auth, AuthError};
use crate::clock::delta;
use crate::domain::{Code, CodeKey, Purpose, UserEmail};
use crate::mail::{Email, Message};
use crate::store::NewCode;
use crate::telemetry;

impl Auth {
    /// Issues a code for `key`, replacing any earlier one, and mails it. For a verification
    /// code, `registered_at` is when the registration it confirms was made (the email says so).
    /// The mail throttle was counted by the caller.
    pub(super) async fn send_code(
        &self,
        key: &CodeKey,
        registered_at: DateTime<Utc>,
    ) -> Result<(), AuthError> {
        let ttl = match key.purpose() {
            Purpose::VerifyEmail | Purpose::ChangeEmail => self.settings.verify_code_ttl,
            Purpose::ResetPassword => self.settings.reset_code_ttl,
        };
        let code = Code::generate();
        let now = self.clock.now();
        let new = NewCode {
            code: code.clone(),
            issued_at: now,
            expires_at: now + delta(ttl),
        };
        self.codes.put(key, new).await?;
        let ttl_minutes = ttl.as_secs().div_ceil(60);
        let message = match key.purpose() {
            Purpose::VerifyEmail => Message::VerificationCode {
                code,
                ttl_minutes,
                registered_at,
            },
            Purpose::ResetPassword => Message::PasswordResetCode { code, ttl_minutes },
            Purpose::ChangeEmail => Message::EmailChangeCode { code, ttl_minutes },
        };
        self.send(key.mailed_to(), message).await;
        Ok(())
    }

    /// Drops the codes of `keys` (best effort: a code left behind dies with its lifetime, and
    /// the flows that use it check the account again).
    pub(super) async fn drop_codes(&self, keys: &[CodeKey]) {
        for key in keys {
            if let Err(e) = self.codes.remove(key).await {
                tracing::warn!(purpose = ?key.purpose(), error = %e, "a code could not be dropped; it lives out its lifetime");
            }
        }
    }

    /// Hands a message to the mailer. A failure is logged, never shown: the response must not
    /// depend on whether mail could be sent (it would reveal which addresses have accounts).
    pub(super) async fn send(&self, to: &UserEmail, message: Message) {
        let kind = message.kind();
        let email = Email {
            to: to.clone(),
            message,
        };
        match self.mailer.send(email).await {
            Ok(()) => telemetry::email(kind, "sent"),
            Err(e) => {
                telemetry::email(kind, "failed");
                tracing::error!(kind, error = %e, "email not sent");
            }
        }
    }
}
