//! Login: the password check, the lockouts around it, and the session it opens.

use std::net::IpAddr;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{Auth, AuthError};
use crate::clock::delta;
use crate::db::{self, sessions::NewSession};
use crate::domain::{Password, SessionId, User, UserEmail};
use crate::limits::lockout_after_failure;

/// What a login with the right password leads to. A second factor will be one more outcome.
#[derive(Debug)]
pub enum LoginOutcome {
    /// A session is open.
    SignedIn(SignedIn),
    /// The right password, for an address that is not verified yet: no session.
    Unverified,
}

/// An open session: the user, the signed token naming it, and how long it lives.
#[derive(Debug)]
pub struct SignedIn {
    pub user: User,
    pub token: String,
    pub expires_in: Duration,
}

impl Auth {
    /// Checks the password and opens a session. Failures are counted per account and IP, per
    /// IP and per account; past a limit every attempt is refused until the lockout ends, even
    /// with the right password, and the same way whether or not the account exists.
    pub async fn login(
        &self,
        email: &UserEmail,
        password: &Password,
        client: IpAddr,
    ) -> Result<LoginOutcome, AuthError> {
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
            Ok(outcome) => {
                // The right password: this attempt was no failure.
                self.counters.clear(&guards[0].0).await?;
                self.take_back(guards[1..].iter(), now).await;
                Ok(outcome)
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
                self.take_back(guards.iter(), now).await;
                Err(other)
            }
        }
    }

    /// The password check, and the session for a verified address.
    async fn check_login(
        &self,
        email: &UserEmail,
        password: &Password,
        now: DateTime<Utc>,
    ) -> Result<LoginOutcome, AuthError> {
        let record = db::users::find_by_email(&self.db, email).await?;
        let hash = record.as_ref().map(|r| r.password_hash.as_str());
        let matched = self.passwords.verify(password, hash).await?;
        let Some(record) = record.filter(|_| matched) else {
            return Err(AuthError::InvalidCredentials);
        };
        if !record.is_verified {
            return Ok(LoginOutcome::Unverified);
        }
        let expires_at = now + delta(self.settings.session_ttl);
        let session_id = SessionId::generate();
        let session = NewSession {
            id: &session_id,
            user_id: record.user_id(),
            password_hash: &record.password_hash,
            created_at: now,
            expires_at,
        };
        if !db::sessions::create(&self.db, &session).await? {
            // The password changed while it was being checked (a reset): the old one is void.
            return Err(AuthError::InvalidCredentials);
        }
        let user = record.into_user();
        let token = self
            .tokens
            .issue(user.id, &session_id, now, expires_at)
            .map_err(|e| AuthError::Internal(e.to_string()))?;
        Ok(LoginOutcome::SignedIn(SignedIn {
            user,
            token,
            expires_in: self.settings.session_ttl,
        }))
    }
}
