//! The flows: register, verify, resend, login, authenticate, logout, forgot and reset.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::counters::CounterStore;
use super::decide::lockout_after_failure;
use super::limits::MailKind;
use super::otp::{Code, CodeStore, NewCode, Purpose};
use super::password::{PasswordError, Passwords};
use super::policy::{CodeLimits, LoginLimits, PasswordPolicy};
use super::token::{TokenError, Tokens};
use super::types::{Invalid, Password, User, UserEmail, UserName};
use super::{StoreError, delta};
use crate::clock::Clock;
use crate::db::{self, Db, DbError};
use crate::mail::{Email, Mailer, Message};

/// Lifetimes and limits the flows need.
#[derive(Clone, Debug)]
pub struct AuthSettings {
    pub session_ttl: Duration,
    pub verify_code_ttl: Duration,
    pub reset_code_ttl: Duration,
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
    #[error("too many emails asked for this address; retry in {retry_after:?}")]
    MailThrottled { retry_after: Duration },
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

/// A verified address: the user, and whether the password they registered with was set.
#[derive(Debug)]
pub struct Verified {
    pub user: User,
    /// False when several people registered the address with different passwords: none of
    /// them was set, and a reset code went to the address instead.
    pub password_set: bool,
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
    /// registered is never taken over: its verified owner gets a notice; a pending one gets a
    /// fresh code, and if this registration's password differs from the stored one, the
    /// registration is marked contested (see [`Auth::verify_email`]). The caller sees the same
    /// outcome, and waits for one bcrypt operation, either way.
    pub async fn register(
        &self,
        name: &UserName,
        email: &UserEmail,
        password: &Password,
        client: IpAddr,
    ) -> Result<(), AuthError> {
        self.settings
            .password_policy
            .check(password, email, Some(name.as_str()))
            .map_err(AuthError::WeakPassword)?;
        self.throttle_mail(MailKind::Verification, email, client)
            .await?;
        let now = self.clock.now();
        match db::users::find_by_email(&self.db, email).await? {
            None => {
                let hash = self.passwords.hash(password).await?;
                match db::users::insert(&self.db, name, email, &hash, now).await {
                    Ok(()) => {}
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
                self.send(email, Message::RegistrationAttempt).await;
                return Ok(());
            }
            Some(_) => self.register_again(name, email, password, now).await?,
        }
        self.send_code(Purpose::VerifyEmail, email, now).await
    }

    /// A further registration of a pending address: the same password (the same person, most
    /// likely) changes nothing; a different one marks the registration contested, in the
    /// database, so the rule holds across restarts and instances.
    async fn register_again(
        &self,
        name: &UserName,
        email: &UserEmail,
        password: &Password,
        now: DateTime<Utc>,
    ) -> Result<(), AuthError> {
        let Some(pending) = db::users::find_by_email(&self.db, email).await? else {
            return Ok(());
        };
        let same = self
            .passwords
            .verify(password, Some(&pending.password_hash))
            .await?;
        db::users::record_registration(&self.db, email, name, !same, now).await?;
        Ok(())
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
        client: IpAddr,
    ) -> Result<Verified, AuthError> {
        self.use_code(Purpose::VerifyEmail, email, code, client)
            .await?;
        let now = self.clock.now();
        let (user, password_set) = db::users::mark_verified(&self.db, email, now)
            .await?
            .ok_or(AuthError::InvalidCode)?;
        if !password_set {
            tracing::info!(
                user_id = user.id,
                "contested registration verified; reset code sent"
            );
            self.send_code(Purpose::ResetPassword, email, now).await?;
        }
        Ok(Verified { user, password_set })
    }

    /// Sends a fresh verification code if the address has an unverified account.
    pub async fn resend_verification(
        &self,
        email: &UserEmail,
        client: IpAddr,
    ) -> Result<(), AuthError> {
        self.throttle_mail(MailKind::Verification, email, client)
            .await?;
        let Some(user) = db::users::find_by_email(&self.db, email).await? else {
            return Ok(());
        };
        if user.is_verified {
            return Ok(());
        }
        self.send_code(Purpose::VerifyEmail, email, user.registered_at)
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
                    if let Some(until) = lockout_after_failure(*tally, *limit, now) {
                        self.counters.reset_at(key, until).await?;
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

    /// Sends a reset code if the address has an account. The throttle is counted first, so
    /// the answer does not depend on whether it has.
    pub async fn forgot_password(
        &self,
        email: &UserEmail,
        client: IpAddr,
    ) -> Result<(), AuthError> {
        self.throttle_mail(MailKind::Reset, email, client).await?;
        if db::users::find_by_email(&self.db, email).await?.is_some() {
            self.send_code(Purpose::ResetPassword, email, self.clock.now())
                .await?;
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
        client: IpAddr,
    ) -> Result<(), AuthError> {
        // Only what the client sent goes into the check: using the stored name would let a
        // 422 tell anyone which addresses have accounts.
        self.settings
            .password_policy
            .check(new_password, email, None)
            .map_err(AuthError::WeakPassword)?;
        // Hash first: if the server is too busy to hash, the code is still unused for a retry.
        let hash = self.passwords.hash(new_password).await?;
        self.use_code(Purpose::ResetPassword, email, code, client)
            .await?;
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

    /// Issues a code, replacing any earlier one of its purpose, and mails it. For a verification
    /// code, `registered_at` is when the registration it confirms was made (the email says so).
    /// The mail throttle was counted by the caller.
    async fn send_code(
        &self,
        purpose: Purpose,
        email: &UserEmail,
        registered_at: DateTime<Utc>,
    ) -> Result<(), AuthError> {
        let ttl = match purpose {
            Purpose::VerifyEmail => self.settings.verify_code_ttl,
            Purpose::ResetPassword => self.settings.reset_code_ttl,
        };
        let code = Code::generate();
        let now = self.clock.now();
        let new = NewCode {
            code: code.clone(),
            issued_at: now,
            expires_at: now + delta(ttl),
        };
        self.codes.put(purpose, email, new).await?;
        let ttl_minutes = ttl.as_secs().div_ceil(60);
        let message = match purpose {
            Purpose::VerifyEmail => Message::VerificationCode {
                code,
                ttl_minutes,
                registered_at,
            },
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
