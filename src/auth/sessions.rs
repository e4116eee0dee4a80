//! Sessions: the user behind a token, the idle timeout, the session list, and ending sessions
//! one, all but one, or all at a time.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::session_cache::Cached;
use super::tokens::TokenError;
use super::{Auth, AuthError, Client};
use crate::clock::delta;
use crate::db::audit::EventKind;
use crate::db::{self, sessions::Live};
use crate::domain::{SessionHandle, SessionId, SessionInfo, User};
use crate::store::Revocation;

/// The longest a session's use goes unrecorded (shorter with a short idle timeout).
const MAX_TOUCH_INTERVAL: Duration = Duration::from_secs(60);

/// A signed-in request: the user and the session the token names.
#[derive(Clone, Debug)]
pub struct Session {
    pub user: User,
    pub id: SessionId,
}

impl Auth {
    /// The user and session behind a token: from the session cache when it holds the token and
    /// no use is due to be recorded, else the signature and expiry first, then the session row
    /// (live: unexpired and used within the idle timeout), recording this use when due.
    pub async fn authenticate(&self, token: &str) -> Result<Session, AuthError> {
        let now = self.clock.now();
        if let Some(cached) = self.sessions.get(token, now)
            && !self.use_due(cached.last_used_at, now)
        {
            return Ok(Session {
                user: cached.user.clone(),
                id: cached.session_id.clone(),
            });
        }
        let claims = self.tokens.check(token, now).map_err(|e| match e {
            TokenError::Invalid | TokenError::Expired => AuthError::NotAuthenticated,
            TokenError::Sign(e) => AuthError::Internal(e.to_string()),
        })?;
        let epoch = self.sessions.epoch();
        let (user, lifetime) =
            db::sessions::find_user(&self.db, &claims.session_id, claims.user_id, self.live(now))
                .await?
                .ok_or(AuthError::NotAuthenticated)?;
        let mut last_used_at = lifetime.last_used_at;
        if self.use_due(last_used_at, now) {
            let recorded_since = now - delta(self.touch_interval());
            db::sessions::touch(&self.db, &claims.session_id, now, recorded_since).await?;
            last_used_at = now;
        }
        let cached = Cached {
            user: user.clone(),
            session_id: claims.session_id.clone(),
            expires_at: lifetime.expires_at,
            last_used_at,
        };
        self.sessions.put(token, cached, epoch);
        Ok(Session {
            user,
            id: claims.session_id,
        })
    }

    /// How often a session's use is written down: once a minute, or four times per idle
    /// timeout where that is shorter, so a session in use never idles out.
    fn touch_interval(&self) -> Duration {
        (self.settings.session_idle_timeout / 4).min(MAX_TOUCH_INTERVAL)
    }

    /// Whether a use at `now` is to be written down, the last one being at `last_used_at`.
    fn use_due(&self, last_used_at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
        now - last_used_at >= delta(self.touch_interval())
    }

    /// Which sessions are live at `now`.
    pub(super) fn live(&self, now: DateTime<Utc>) -> Live {
        Live {
            now,
            idle_cutoff: now - delta(self.settings.session_idle_timeout),
        }
    }

    /// Ends one session, here at once and on the other instances as soon as they hear of it.
    pub async fn logout(&self, session_id: &SessionId, client: &Client) -> Result<(), AuthError> {
        let owner = db::sessions::owner(&self.db, session_id).await?;
        let ended = db::sessions::delete(&self.db, session_id).await?;
        self.sessions
            .revoke(Revocation::Session(session_id.clone()))
            .await;
        if let Some(user_id) = owner.filter(|_| ended) {
            self.record(user_id, EventKind::Logout, client).await;
        }
        Ok(())
    }

    /// The user's live sessions, newest first, the one asking marked `current`.
    pub async fn list_sessions(&self, session: &Session) -> Result<Vec<SessionInfo>, AuthError> {
        let now = self.clock.now();
        let idle = delta(self.settings.session_idle_timeout);
        let rows = db::sessions::list(&self.db, session.user.id, self.live(now)).await?;
        Ok(rows
            .into_iter()
            .map(|row| SessionInfo {
                current: row.id == session.id.as_str(),
                id: SessionHandle::from_stored(row.handle),
                created_at: row.created_at,
                last_used_at: row.last_used_at,
                expires_at: row.expires_at.min(row.last_used_at + idle),
                ip: row.ip,
                user_agent: row.user_agent,
            })
            .collect())
    }

    /// Ends the caller's live session with the public `handle`. Returns whether it was the
    /// session asking; [`AuthError::NotFound`] if the handle names none of the caller's live
    /// sessions (another user's looks the same as one that never existed).
    pub async fn end_session(
        &self,
        session: &Session,
        handle: &SessionHandle,
        client: &Client,
    ) -> Result<bool, AuthError> {
        let live = self.live(self.clock.now());
        let id = db::sessions::find_by_handle(&self.db, session.user.id, handle, live)
            .await?
            .ok_or(AuthError::NotFound)?;
        if !db::sessions::delete(&self.db, &id).await? {
            return Err(AuthError::NotFound);
        }
        self.sessions.revoke(Revocation::Session(id.clone())).await;
        tracing::info!(user_id = %session.user.id, "session ended from the session list");
        let current = id == session.id;
        let kind = if current {
            EventKind::Logout
        } else {
            EventKind::SessionRevoked
        };
        self.record(session.user.id, kind, client).await;
        Ok(current)
    }

    /// Ends every session of the user but the one asking; returns how many ended.
    pub async fn logout_others(
        &self,
        session: &Session,
        client: &Client,
    ) -> Result<u64, AuthError> {
        let user_id = session.user.id;
        let live = self.live(self.clock.now());
        let ended = db::sessions::delete_all(&self.db, user_id, Some(&session.id), live).await?;
        self.sessions.revoke(Revocation::User(user_id)).await;
        if ended > 0 {
            self.record(user_id, EventKind::SessionRevoked, client)
                .await;
        }
        tracing::info!(%user_id, ended, "other sessions ended");
        Ok(ended)
    }

    /// Ends every session of the user, the one asking included; returns how many ended.
    pub async fn logout_all(&self, session: &Session, client: &Client) -> Result<u64, AuthError> {
        let user_id = session.user.id;
        let live = self.live(self.clock.now());
        let ended = db::sessions::delete_all(&self.db, user_id, None, live).await?;
        self.sessions.revoke(Revocation::User(user_id)).await;
        self.record(user_id, EventKind::SessionRevoked, client)
            .await;
        tracing::info!(%user_id, ended, "every session ended");
        Ok(ended)
    }
}
