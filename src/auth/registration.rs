//! Registration: register, verify the address with the emailed code, resend the code.

use std::net::IpAddr;

use chrono::{DateTime, Utc};

use super::guard::MailKind;
use super::{Auth, AuthError, Client};
use crate::db::audit::EventKind;
use crate::db::{self, DbError};
use crate::domain::{Code, CodeKey, Password, User, UserEmail, UserName};
use crate::mail::Message;

/// A verified address: the user, and whether the password they registered with was set.
#[derive(Debug)]
pub struct Verified {
    pub user: User,
    /// False when several people registered the address with different passwords: none of
    /// them was set, and a reset code went to the address instead.
    pub password_set: bool,
}

impl Auth {
    /// Creates an unverified account and mails a verification code. An address that is already
    /// registered is never taken over: its verified owner gets a notice; a pending one gets a
    /// fresh code, and if this registration's password differs from the stored one, the
    /// registration is marked contested (see [`Auth::verify_email`]). The caller sees the same
    /// outcome, and waits for one bcrypt operation, either way.
    pub async fn register(
        &self,
        name: &UserName,
        email: &UserEmail,
        password: &Password,
        client: &Client,
    ) -> Result<(), AuthError> {
        self.acceptable_password(password, email.as_str(), Some(name.as_str()))
            .await?;
        self.throttle_mail(MailKind::Verification, email, client.ip)
            .await?;
        let now = self.clock.now();
        let pending = match db::users::find_by_email(&self.db, email).await? {
            None => {
                let hash = self.passwords.hash(password).await?;
                match db::users::insert(&self.db, name, email, &hash, now).await {
                    Ok(()) => {
                        self.record_later(email, EventKind::AccountCreated, client);
                        true
                    }
                    // Another registration of this address won the race: compete with it.
                    Err(DbError::Duplicate) => {
                        self.register_again(name, email, password, now).await?
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            Some(user) if user.is_verified => {
                // The same bcrypt work as a new registration, so the answer takes as long.
                self.passwords.hash(password).await?;
                false
            }
            Some(_) => self.register_again(name, email, password, now).await?,
        };
        if pending {
            self.send_code(&CodeKey::VerifyEmail(email.clone()), now)
                .await
        } else {
            self.queue(self.outgoing(email, Message::RegistrationAttempt, None))
                .await
        }
    }

    /// A further registration of a pending address: the same password (the same person, most
    /// likely) changes nothing; a different one marks the registration contested, in the
    /// database, so the rule holds across restarts and instances.
    /// Returns whether the address is still pending: if its owner verified it meanwhile, the
    /// registration is a registration attempt on a verified account (a notice, no code).
    async fn register_again(
        &self,
        name: &UserName,
        email: &UserEmail,
        password: &Password,
        now: DateTime<Utc>,
    ) -> Result<bool, AuthError> {
        let Some(pending) = db::users::find_by_email(&self.db, email).await? else {
            return Ok(false);
        };
        let same = self
            .passwords
            .verify(password, Some(&pending.password_hash))
            .await?;
        Ok(db::users::record_registration(&self.db, email, name, !same, now).await?)
    }

    /// Checks a verification code and marks the address verified. If only one person registered
    /// the address (or everyone who did gave the same password), that password is set. If
    /// registrations with different passwords competed, nobody's password is set, since the
    /// code cannot tell who is verifying: a reset code goes to the address at once, so its
    /// owner chooses the password.
    pub async fn verify_email(
        &self,
        email: &UserEmail,
        code: &Code,
        client: &Client,
    ) -> Result<Verified, AuthError> {
        self.use_code(&CodeKey::VerifyEmail(email.clone()), code, client.ip)
            .await?;
        let now = self.clock.now();
        let (user, password_set) = db::users::mark_verified(&self.db, email, now)
            .await?
            .ok_or(AuthError::InvalidCode)?;
        self.record(user.id, EventKind::EmailVerified, client).await;
        if !password_set {
            tracing::info!(
                user_id = %user.id,
                "contested registration verified; reset code sent"
            );
            self.send_code(&CodeKey::ResetPassword(email.clone()), now)
                .await?;
        }
        Ok(Verified { user, password_set })
    }

    /// Sends a fresh verification code if the address has an unverified account (otherwise
    /// makes the same write to the outbox, so the time tells nothing).
    pub async fn resend_verification(
        &self,
        email: &UserEmail,
        client: IpAddr,
    ) -> Result<(), AuthError> {
        self.throttle_mail(MailKind::Verification, email, client)
            .await?;
        match db::users::find_by_email(&self.db, email).await? {
            Some(user) if !user.is_verified => {
                self.send_code(&CodeKey::VerifyEmail(email.clone()), user.registered_at)
                    .await
            }
            _ => self.queue_nothing().await,
        }
    }
}
