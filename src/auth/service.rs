//! The flows: register, verify, resend, login, authenticate, logout, forgot and reset.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::counters::CounterStore;
use super::otp::{Code, CodeStore, NewCode, Purpose, Registration};
use super::password::{PasswordError, Passwords};
use super::policy::{CodeLimits, LoginLimits, PasswordPolicy};
use super::token::{TokenError, Tokens};
use super::types::{Invalid, Password, User, UserEmail, UserName};
use super::{StoreError, delta};
use crate::clock::Clock;
use crate::db::{self, Db, DbError};
use crate::mail::{Email, Mailer, Message};

/// How long a registration is remembered for a resend after its code has expired.
const REGISTRATION_MEMORY: Duration = Duration::from_secs(24 * 3600);

/// Lifetimes and limits the flows need.
#[derive(Clone, Debug)]
pub struct AuthSettings {
    pub session_ttl: Duration,
    pub verify_code_ttl: Duration,
    pub reset_code_ttl: Duration,
    pub max_code_attempts: u32,
    pub login_limits: LoginLimits,
    pub code_limits: CodeLimits,
    pub password_policy: PasswordPolicy,
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
    #[error("too many attempts; retry in {retry_after:?}")]
    TooManyAttempts { retry_after: Duration },
    #[error("the password is not acceptable: {}", .0.message)]
    WeakPassword(Invalid),
    #[error("too many password checks at once")]
    Busy,
    #[error(transparent)]
    Unavailable(DbError),
    #[error(transparent)]
    StoreUnavailable(StoreError),
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

impl From<StoreError> for AuthError {
    fn from(e: StoreError) -> Self {
        AuthError::StoreUnavailable(e)
    }
}

impl From<PasswordError> for AuthError {
    fn from(e: PasswordError) -> Self {
        match e {
            PasswordError::Busy => AuthError::Busy,
            other => AuthError::Internal(other.to_string()),
        }
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
    pub counters: Arc<dyn CounterStore>,
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
        self.settings
            .password_policy
            .check(password, email, Some(name.as_str()))
            .map_err(AuthError::WeakPassword)?;
        // Hash first, always, so a known address answers as slowly as a new one.
        let hash = self.passwords.hash(password).await?;
        let now = self.clock.now();
        let registration = Registration {
            name: name.as_str().to_owned(),
            password_hash: hash,
        };
        match db::users::insert(&self.db, name, email, &registration.password_hash, now).await {
            Ok(()) => {}
            Err(DbError::Duplicate) => {
                let existing = db::users::find_by_email(&self.db, email).await?;
                if existing.is_some_and(|u| u.is_verified) {
                    if self.may_mail("registration_attempt", email).await? {
                        self.send(email, Message::RegistrationAttempt).await;
                    }
                    return Ok(());
                }
            }
            Err(e) => return Err(e.into()),
        }
        // The code carries this registration: only verifying with it applies this password.
        self.send_code(Purpose::VerifyEmail, email, Some(registration))
            .await
    }

    /// Checks a verification code and marks the address verified, with the name and password
    /// of the registration the code was sent for.
    pub async fn verify_email(&self, email: &UserEmail, code: &Code) -> Result<User, AuthError> {
        let registration = self.use_code(Purpose::VerifyEmail, email, code).await?;
        db::users::mark_verified(&self.db, email, registration.as_ref(), self.clock.now())
            .await?
            .ok_or(AuthError::InvalidCode)
    }

    /// Sends a fresh verification code if the address has an unverified account. The code is
    /// for the latest registration of the address (remembered for a day), else the stored one.
    pub async fn resend_verification(&self, email: &UserEmail) -> Result<(), AuthError> {
        let Some(user) = db::users::find_by_email(&self.db, email).await? else {
            return Ok(());
        };
        if user.is_verified {
            return Ok(());
        }
        let now = self.clock.now();
        let remembered = self
            .codes
            .registration(Purpose::VerifyEmail, email, now)
            .await?;
        let registration = remembered.unwrap_or(Registration {
            name: user.name,
            password_hash: user.password_hash,
        });
        self.send_code(Purpose::VerifyEmail, email, Some(registration))
            .await
    }

    /// Checks the password and opens a session. Failures are counted per account and IP, per
    /// IP and per account; past a limit every attempt is refused until the lockout ends, even
    /// with the right password, and the same way whether or not the account exists.
    pub async fn login(
        &self,
        email: &UserEmail,
        password: &Password,
        client: IpAddr,
    ) -> Result<Login, AuthError> {
        let now = self.clock.now();
        let limits = self.settings.login_limits;
        let guards = [
            (
                format!("login:account-ip:{email}|{client}"),
                limits.per_account_ip,
            ),
            (format!("login:ip:{client}"), limits.per_ip),
            (format!("login:account:{email}"), limits.per_account),
        ];
        let tallies = self.count_attempts(&guards, now).await?;
        match self.check_login(email, password, now).await {
            Ok(login) => {
                // The right password: this attempt was no failure.
                self.counters.clear(&guards[0].0).await?;
                for (key, _) in &guards[1..] {
                    self.counters.unhit(key, now).await?;
                }
                login.ok_or(AuthError::EmailNotVerified)
            }
            Err(AuthError::InvalidCredentials) => {
                for ((key, limit), tally) in guards.iter().zip(&tallies) {
                    if tally.count >= limit.max {
                        self.counters
                            .reset_at(key, now + delta(limit.lockout))
                            .await?;
                    }
                }
                Err(AuthError::InvalidCredentials)
            }
            Err(other) => {
                // Busy or unavailable: no password was checked, so nothing may count.
                for (key, _) in &guards {
                    self.counters.unhit(key, now).await?;
                }
                Err(other)
            }
        }
    }

    /// The password check and the session: `Ok(None)` for the right password of an address
    /// that is not verified yet.
    async fn check_login(
        &self,
        email: &UserEmail,
        password: &Password,
        now: DateTime<Utc>,
    ) -> Result<Option<Login>, AuthError> {
        let record = db::users::find_by_email(&self.db, email).await?;
        let hash = record.as_ref().map(|r| r.password_hash.as_str());
        let matched = self.passwords.verify(password, hash).await?;
        let Some(record) = record.filter(|_| matched) else {
            return Err(AuthError::InvalidCredentials);
        };
        let password_hash = record.password_hash.clone();
        let user = record.into_user();
        if !user.is_verified {
            return Ok(None);
        }
        let expires_at = now + delta(self.settings.session_ttl);
        let session_id = super::random_hex::<32>();
        let created = db::sessions::create(
            &self.db,
            &session_id,
            user.id,
            &password_hash,
            now,
            expires_at,
        )
        .await?;
        if !created {
            // The password changed while it was being checked (a reset): the old one is void.
            return Err(AuthError::InvalidCredentials);
        }
        let token = self
            .tokens
            .issue(user.id, &session_id, now, expires_at)
            .map_err(|e| AuthError::Internal(e.to_string()))?;
        Ok(Some(Login {
            user,
            token,
            expires_in: self.settings.session_ttl,
        }))
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
            self.send_code(Purpose::ResetPassword, email, None).await?;
        }
        Ok(())
    }

    /// Checks a reset code, sets the new password and ends every session of the user. The
    /// password policy is checked first, so a refused password does not use up a try.
    pub async fn reset_password(
        &self,
        email: &UserEmail,
        code: &Code,
        new_password: &Password,
    ) -> Result<(), AuthError> {
        // Only what the client sent goes into the check: using the stored name would let a
        // 422 tell anyone which addresses have accounts.
        self.settings
            .password_policy
            .check(new_password, email, None)
            .map_err(AuthError::WeakPassword)?;
        // Hash first: if the server is too busy to hash, the code is still unused for a retry.
        let hash = self.passwords.hash(new_password).await?;
        self.use_code(Purpose::ResetPassword, email, code).await?;
        let user = db::users::find_by_email(&self.db, email)
            .await?
            .ok_or(AuthError::InvalidCode)?;
        let now = self.clock.now();
        let ended = db::sessions::replace_password(&self.db, user.id, &hash, now).await?;
        tracing::info!(user_id = user.id, sessions_ended = ended, "password reset");
        self.send(email, Message::PasswordChanged).await;
        Ok(())
    }

    /// Drops expired codes, counters and sessions; run periodically.
    pub async fn sweep(&self) -> Result<(), AuthError> {
        let now = self.clock.now();
        self.codes.sweep(now).await?;
        self.counters.sweep(now).await?;
        let purged = db::sessions::purge_expired(&self.db, now).await?;
        if purged > 0 {
            tracing::debug!(purged, "expired sessions purged");
        }
        Ok(())
    }

    /// Issues a code and mails it, unless the address was mailed too recently or too often:
    /// then nothing is sent and the previous code stays valid.
    async fn send_code(
        &self,
        purpose: Purpose,
        email: &UserEmail,
        registration: Option<Registration>,
    ) -> Result<(), AuthError> {
        let (kind, ttl) = match purpose {
            Purpose::VerifyEmail => ("verification_code", self.settings.verify_code_ttl),
            Purpose::ResetPassword => ("password_reset_code", self.settings.reset_code_ttl),
        };
        if !self.may_mail(kind, email).await? {
            return Ok(());
        }
        let code = Code::generate();
        let now = self.clock.now();
        let new = NewCode {
            code: code.clone(),
            expires_at: now + delta(ttl),
            registration,
            registration_expires_at: now + delta(ttl.max(REGISTRATION_MEMORY)),
        };
        self.codes.put(purpose, email, new).await?;
        let ttl_minutes = ttl.as_secs().div_ceil(60);
        let message = match purpose {
            Purpose::VerifyEmail => Message::VerificationCode { code, ttl_minutes },
            Purpose::ResetPassword => Message::PasswordResetCode { code, ttl_minutes },
        };
        self.send(email, message).await;
        Ok(())
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
}
