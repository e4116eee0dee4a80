//! Password reset: a code by email, then a new password with it.

use std::net::IpAddr;

use super::guard::MailKind;
use super::{Auth, AuthError, Client};
use crate::db;
use crate::db::audit::EventKind;
use crate::domain::{Code, CodeKey, Password, UserEmail};
use crate::mail::Message;
use crate::store::Revocation;

impl Auth {
    /// Sends a reset code if the address has an account. The throttle is counted first, and
    /// an unknown address makes the same write to the outbox, so the answer, and its time, do
    /// not depend on whether it has.
    pub async fn forgot_password(
        &self,
        email: &UserEmail,
        client: IpAddr,
    ) -> Result<(), AuthError> {
        self.throttle_mail(MailKind::Reset, email, client).await?;
        if db::users::find_by_email(&self.db, email).await?.is_some() {
            self.send_code(&CodeKey::ResetPassword(email.clone()), self.clock.now())
                .await
        } else {
            self.queue_nothing().await
        }
    }

    /// Checks a reset code, sets the new password and ends every session of the user. The
    /// password policy is checked first, so a refused password does not use up a try.
    pub async fn reset_password(
        &self,
        email: &UserEmail,
        code: &Code,
        new_password: &Password,
        client: &Client,
    ) -> Result<(), AuthError> {
        // Only what the client sent goes into the check: using the stored name would let a
        // 422 tell anyone which addresses have accounts.
        self.acceptable_password(new_password, email.as_str(), None)
            .await?;
        // Hash first: if the server is too busy to hash, the code is still unused for a retry.
        let hash = self.passwords.hash(new_password).await?;
        self.use_code(&CodeKey::ResetPassword(email.clone()), code, client.ip)
            .await?;
        let user = db::users::find_by_email(&self.db, email)
            .await?
            .ok_or(AuthError::InvalidCode)?;
        let event = self.event(user.user_id(), EventKind::PasswordReset, client);
        let effects = self.with_notice(event, email.as_str(), Message::PasswordChanged);
        let ended =
            db::sessions::replace_password(&self.db, user.user_id(), &hash, None, &effects).await?;
        self.committed(&effects.mail);
        self.sessions.revoke(Revocation::User(user.user_id())).await;
        tracing::info!(user_id = %user.id, sessions_ended = ended, "password reset");
        Ok(())
    }
}
