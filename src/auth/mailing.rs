//! Making codes and queuing the email that carries them, and notices.

use chrono::{DateTime, Utc};

use super::{Auth, AuthError};
use crate::clock::delta;
use crate::domain::{Code, CodeKey, Purpose, UserEmail};
use crate::mail::Message;
use crate::store::NewCode;

impl Auth {
    /// Issues a code for `key`, replacing any earlier one, and queues the email that carries it. For a verification
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
        let (message, user) = match key {
            CodeKey::VerifyEmail(_) => (
                Message::VerificationCode {
                    code,
                    ttl_minutes,
                    registered_at,
                },
                None,
            ),
            CodeKey::ResetPassword(_) => (Message::PasswordResetCode { code, ttl_minutes }, None),
            CodeKey::ChangeEmail { user, .. } => {
                (Message::EmailChangeCode { code, ttl_minutes }, Some(*user))
            }
        };
        self.queue(self.outgoing(key.mailed_to(), message, user))
            .await
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

    /// Queues a notice about something already done. A failure (the database is down) is
    /// logged, not shown: the change stands, and the answer must say so.
    pub(super) async fn send(&self, to: &UserEmail, message: Message) {
        let kind = message.kind();
        if let Err(e) = self.queue(self.outgoing(to, message, None)).await {
            tracing::error!(kind, error = %e, "email not queued");
        }
    }
}
