//! The flows: register, verify, resend, login, authenticate, logout, forgot and reset.

use std::sync::Arc;
use std::time::Duration;

use chrono::TimeDelta;

use super::otp::{Code, CodeCheck, CodeStore, Purpose};
use super::password::{PasswordError, Passwords};
use super::token::{TokenError, Tokens};
use super::types::{Password, User, UserEmail, UserName};
use crate::clock::Clock;
use crate::db::{self, Db, DbError};
use crate::mail::{Email, Mailer, Message};

/// Lifetimes and limits the flows need.
#[derive(Clone, Debug)]
pub struct AuthSettings {
    pub session_ttl: Duration,
    pub verify_code_ttl: Duration,
    pub reset_code_ttl: Duration,
    pub max_code_attempts: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("invalid email or password")]
    InvalidCredentials,
    #[error("the email address is not verified yet")]
    EmailNotVerified,
    #[error("invalid or expired code")]
    InvalidCode,
    #[error("no valid session")]
    NotAuthenticated,
    #[error(transparent)]
    Unavailable(DbError),
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<DbError> for AuthError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::Unavailable(_) => AuthError::Unavailable(e),
            other => AuthError::Internal(other.to_string()),
        }
    }
}

impl From<PasswordError> for AuthError {
    fn from(e: PasswordError) -> Self {
        AuthError::Internal(e.to_string())
    }
}

/// A successful login: the user, the signed token and how long it lives.
#[derive(Debug)]
pub struct Login {
    pub user: User,
    pub token: String,
    pub expires_in: Duration,
}

/// Everything the flows need, built once at start-up.
pub struct Auth {
    pub db: Db,
    pub codes: Arc<dyn CodeStore>,
    pub mailer: Arc<dyn Mailer>,
    pub clock: Arc<dyn Clock>,
    pub passwords: Passwords,
    pub tokens: Tokens,
    pub settings: AuthSettings,
}

impl Auth {
    /// Creates an unverified account and mails a verification code. An address that is already
    /// registered is never changed: its unverified owner gets a fresh code, its verified owner
    /// a notice. The caller sees the same outcome either way.
    pub async fn register(
        &self,
        name: &UserName,
        email: &UserEmail,
        password: &Password,
    ) -> Result<(), AuthError> {
        // Hash first, always, so a known address answers as slowly as a new one.
        let hash = self.passwords.hash(password).await?;
        let now = self.clock.now();
        match db::users::insert(&self.db, name, email, &hash, now).await {
            Ok(()) => self.send_code(Purpose::VerifyEmail, email).await,
            Err(DbError::Duplicate) => match db::users::find_by_email(&self.db, email).await? {
                Some(existing) if existing.is_verified => {
                    self.send(email, Message::RegistrationAttempt).await;
                }
                _ => self.send_code(Purpose::VerifyEmail, email).await,
            },
            Err(e) => return Err(e.into()),
        }
        Ok(())
    }

    /// Checks a verification code and marks the address verified.
    pub async fn verify_email(&self, email: &UserEmail, code: &Code) -> Result<User, AuthError> {
        self.use_code(Purpose::VerifyEmail, email, code).await?;
        db::users::mark_verified(&self.db, email, self.clock.now())
            .await?
            .ok_or(AuthError::InvalidCode)
    }

    /// Sends a fresh verification code if the address has an unverified account.
    pub async fn resend_verification(&self, email: &UserEmail) -> Result<(), AuthError> {
        if let Some(user) = db::users::find_by_email(&self.db, email).await?
            && !user.is_verified
        {
            self.send_code(Purpose::VerifyEmail, email).await;
        }
        Ok(())
    }

    /// Checks the password and opens a session.
    pub async fn login(&self, email: &UserEmail, password: &Password) -> Result<Login, AuthError> {
        let record = db::users::find_by_email(&self.db, email).await?;
        let hash = record.as_ref().map(|r| r.password_hash.as_str());
        if !self.passwords.verify(password, hash).await? {
            return Err(AuthError::InvalidCredentials);
        }
        let user = record.ok_or(AuthError::InvalidCredentials)?.into_user();
        if !user.is_verified {
            return Err(AuthError::EmailNotVerified);
        }
        let now = self.clock.now();
        let expires_at = now + self.session_ttl();
        let session_id = super::random_hex::<32>();
        db::sessions::create(&self.db, &session_id, user.id, now, expires_at).await?;
        let token = self
            .tokens
            .issue(user.id, &session_id, now, expires_at)
            .map_err(|e| AuthError::Internal(e.to_string()))?;
        Ok(Login {
            user,
            token,
            expires_in: self.settings.session_ttl,
        })
    }

    /// The user and session behind a token: the signature and expiry first, then the session row.
    pub async fn authenticate(&self, token: &str) -> Result<(User, String), AuthError> {
        let now = self.clock.now();
        let claims = self.tokens.check(token, now).map_err(|e| match e {
            TokenError::Invalid | TokenError::Expired => AuthError::NotAuthenticated,
            TokenError::Sign(e) => AuthError::Internal(e.to_string()),
        })?;
        let user = db::sessions::find_user(&self.db, &claims.session_id, claims.user_id, now)
            .await?
            .ok_or(AuthError::NotAuthenticated)?;
        Ok((user, claims.session_id))
    }

    /// Ends one session.
    pub async fn logout(&self, session_id: &str) -> Result<(), AuthError> {
        Ok(db::sessions::delete(&self.db, session_id).await?)
    }

    /// Sends a reset code if the address has an account.
    pub async fn forgot_password(&self, email: &UserEmail) -> Result<(), AuthError> {
        if db::users::find_by_email(&self.db, email).await?.is_some() {
            self.send_code(Purpose::ResetPassword, email).await;
        }
        Ok(())
    }

    /// Checks a reset code, sets the new password and ends every session of the user.
    pub async fn reset_password(
        &self,
        email: &UserEmail,
        code: &Code,
        new_password: &Password,
    ) -> Result<(), AuthError> {
        self.use_code(Purpose::ResetPassword, email, code).await?;
        let user = db::users::find_by_email(&self.db, email)
            .await?
            .ok_or(AuthError::InvalidCode)?;
        let hash = self.passwords.hash(new_password).await?;
        db::users::set_password(&self.db, user.id, &hash, self.clock.now()).await?;
        let ended = db::sessions::delete_for_user(&self.db, user.id).await?;
        tracing::info!(user_id = user.id, sessions_ended = ended, "password reset");
        self.send(email, Message::PasswordChanged).await;
        Ok(())
    }

    /// Drops expired codes and sessions; run periodically.
    pub async fn sweep(&self) -> Result<(), AuthError> {
        let now = self.clock.now();
        self.codes.sweep(now).await;
        let purged = db::sessions::purge_expired(&self.db, now).await?;
        if purged > 0 {
            tracing::debug!(purged, "expired sessions purged");
        }
        Ok(())
    }

    async fn use_code(
        &self,
        purpose: Purpose,
        email: &UserEmail,
        code: &Code,
    ) -> Result<(), AuthError> {
        let now = self.clock.now();
        let max = self.settings.max_code_attempts;
        match self.codes.check(purpose, email, code, max, now).await {
            CodeCheck::Accepted => Ok(()),
            CodeCheck::Rejected { .. } | CodeCheck::Burned | CodeCheck::Missing => {
                Err(AuthError::InvalidCode)
            }
        }
    }

    async fn send_code(&self, purpose: Purpose, email: &UserEmail) {
        let code = Code::generate();
        let ttl = match purpose {
            Purpose::VerifyEmail => self.settings.verify_code_ttl,
            Purpose::ResetPassword => self.settings.reset_code_ttl,
        };
        let expires_at = self.clock.now() + delta(ttl);
        self.codes.put(purpose, email, &code, expires_at).await;
        let ttl_minutes = ttl.as_secs().div_ceil(60);
        let message = match purpose {
            Purpose::VerifyEmail => Message::VerificationCode { code, ttl_minutes },
            Purpose::ResetPassword => Message::PasswordResetCode { code, ttl_minutes },
        };
        self.send(email, message).await;
    }

    /// Hands a message to the mailer. A failure is logged, never shown: the response must not
    /// depend on whether mail could be sent (it would reveal which addresses have accounts).
    async fn send(&self, to: &UserEmail, message: Message) {
        let kind = message.kind();
        let email = Email {
            to: to.clone(),
            message,
        };
        if let Err(e) = self.mailer.send(email).await {
            tracing::error!(kind, error = %e, "email not sent");
        }
    }

    fn session_ttl(&self) -> TimeDelta {
        delta(self.settings.session_ttl)
    }
}

fn delta(d: Duration) -> TimeDelta {
    TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX)
}
