//! Login: the password check, the lockouts around it, and the session it opens.

use std::future::Future;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{Auth, AuthError, Client};
use crate::clock::delta;
use crate::db::audit::EventKind;
use crate::db::users::UserRecord;
use crate::db::{self, DbError, sessions::NewSession};
use crate::domain::{Password, SessionHandle, SessionId, User, UserAgent, UserEmail, UserId};
use crate::limits::lockout_after_failure;
use crate::telemetry::{self, LoginOutcome as Outcome};

/// What a login with the right password leads to.
#[derive(Debug)]
pub enum LoginOutcome {
    /// A session is open.
    SignedIn(SignedIn),
    /// The right password, for an address that is not verified yet: no session.
    Unverified,
    /// The right password, for an account with TOTP on: no session yet. The token, short-lived
    /// and single-use, continues the login at [`Auth::verify_mfa`].
    MfaRequired { mfa_token: String },
}

/// An open session: the user, the signed token naming it, and how long it lives.
#[derive(Debug)]
pub struct SignedIn {
    pub user: User,
    pub token: String,
    /// Until the session's absolute end.
    pub expires_in: Duration,
}

/// A session about to be opened: its row, before the token that will name it.
pub(super) struct SessionDraft {
    id: SessionId,
    handle: SessionHandle,
    user_id: UserId,
    ip: String,
    user_agent: UserAgent,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
}

impl SessionDraft {
    pub fn row(&self) -> NewSession<'_> {
        NewSession {
            id: &self.id,
            handle: &self.handle,
            user_id: self.user_id,
            ip: &self.ip,
            user_agent: self.user_agent.as_str(),
            created_at: self.created_at,
            expires_at: self.expires_at,
        }
    }
}

impl Auth {
    /// Checks the password and opens a session. Failures are counted per account and IP, per
    /// IP and per account; past a limit every attempt is refused until the lockout ends, even
    /// with the right password, and the same way whether or not the account exists.
    pub async fn login(
        &self,
        email: &UserEmail,
        password: &Password,
        client: &Client,
    ) -> Result<LoginOutcome, AuthError> {
        let known = AtomicBool::new(false);
        let lookup = async {
            let found = db::users::find_by_email(&self.db, email).await;
            known.store(matches!(found, Ok(Some(_))), Ordering::Relaxed);
            found
        };
        let checked = self
            .checked_password(email.as_str(), lookup, password, client.ip)
            .await;
        let record = match checked {
            Ok(record) => record,
            Err(e) => {
                match e {
                    AuthError::InvalidCredentials if known.load(Ordering::Relaxed) => {
                        telemetry::login(Outcome::WrongPassword);
                        self.record_later(email, EventKind::LoginFailed, client);
                    }
                    AuthError::InvalidCredentials => telemetry::login(Outcome::UnknownUser),
                    AuthError::TooManyAttempts { .. } => {
                        telemetry::login(Outcome::Locked);
                        self.record_later(email, EventKind::LoginLocked, client);
                    }
                    _ => {}
                }
                return Err(e);
            }
        };
        if !record.is_verified {
            telemetry::login(Outcome::Unverified);
            return Ok(LoginOutcome::Unverified);
        }
        if record.mfa_enabled {
            let mfa_token = self.mfa_token(&record);
            tracing::info!(user_id = %record.id, "password right; second factor asked");
            telemetry::login(Outcome::MfaRequired);
            return Ok(LoginOutcome::MfaRequired { mfa_token });
        }
        let draft = self.draft_session(record.user_id(), client);
        let new_sign_in = self.new_sign_in(record.user_id(), client).await;
        let event = self.event(record.user_id(), EventKind::LoginSucceeded, client);
        let effects = self.login_effects(event, &record.email, client, new_sign_in);
        if !db::sessions::create(&self.db, &draft.row(), &record.password_hash, &effects).await? {
            // The password changed while it was being checked (a reset): the old one is void.
            return Err(AuthError::InvalidCredentials);
        }
        self.committed(&effects.mail);
        telemetry::login(Outcome::Success);
        Ok(LoginOutcome::SignedIn(
            self.sign_in(record.into_user(), &draft)?,
        ))
    }

    /// A new session for `user_id`, opened from `client` now, for the absolute lifetime.
    pub(super) fn draft_session(&self, user_id: UserId, client: &Client) -> SessionDraft {
        let now = self.clock.now();
        SessionDraft {
            id: SessionId::generate(),
            handle: SessionHandle::generate(),
            user_id,
            ip: client.address.to_string(),
            user_agent: client.user_agent.clone(),
            created_at: now,
            expires_at: now + delta(self.settings.session_lifetime),
        }
    }

    /// The token naming the session of `draft`, once its row is stored.
    pub(super) fn sign_in(&self, user: User, draft: &SessionDraft) -> Result<SignedIn, AuthError> {
        let token = self
            .tokens
            .issue(user.id, &draft.id, draft.created_at, draft.expires_at)
            .map_err(|e| AuthError::Internal(e.to_string()))?;
        telemetry::session_created();
        Ok(SignedIn {
            user,
            token,
            expires_in: self.settings.session_lifetime,
        })
    }

    /// Checks `password` against the account `lookup` finds, under the login lockouts of
    /// `email` (the same counters whether the check is a login or a signed-in user confirming
    /// a change): refused past a limit, a failure counted when wrong, nothing counted when the
    /// check could not run. Returns the account when the password is right.
    pub(super) async fn checked_password(
        &self,
        email: &str,
        lookup: impl Future<Output = Result<Option<UserRecord>, DbError>>,
        password: &Password,
        client: IpAddr,
    ) -> Result<UserRecord, AuthError> {
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
        let checked = async {
            let record = lookup.await?;
            let hash = record.as_ref().map(|r| r.password_hash.as_str());
            let matched = self.passwords.verify(password, hash).await?;
            // A disabled account answers as a wrong password: its state is not revealed.
            record
                .filter(|r| matched && r.disabled_at.is_none())
                .ok_or(AuthError::InvalidCredentials)
        }
        .await;
        match &checked {
            Ok(_) => {
                // The right password: this attempt was no failure.
                self.counters.clear(&guards[0].0).await?;
                self.take_back(guards[1..].iter(), now).await;
            }
            Err(AuthError::InvalidCredentials) => {
                for ((key, limit), tally) in guards.iter().zip(&tallies) {
                    if let Some(until) = lockout_after_failure(*tally, *limit, now) {
                        self.counters.reset_at(key, until).await?;
                    }
                }
            }
            Err(_) => {
                // Busy or unavailable: no password was checked, so nothing may count.
                self.take_back(guards.iter(), now).await;
            }
        }
        checked
    }
}
