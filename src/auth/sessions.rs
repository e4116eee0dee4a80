//! Sessions: the user behind a token, and ending a session.

use super::session_cache::Cached;
use super::tokens::TokenError;
use super::{Auth, AuthError};
use crate::db;
use crate::domain::{SessionId, User};
use crate::store::Revocation;

impl Auth {
    /// The user and session behind a token: from the session cache when it holds the token,
    /// else the signature and expiry first, then the session row.
    pub async fn authenticate(&self, token: &str) -> Result<(User, SessionId), AuthError> {
        let now = self.clock.now();
        if let Some(cached) = self.sessions.get(token, now) {
            return Ok((cached.user.clone(), cached.session_id.clone()));
        }
        let claims = self.tokens.check(token, now).map_err(|e| match e {
            TokenError::Invalid | TokenError::Expired => AuthError::NotAuthenticated,
            TokenError::Sign(e) => AuthError::Internal(e.to_string()),
        })?;
        let epoch = self.sessions.epoch();
        let (user, expires_at) =
            db::sessions::find_user(&self.db, &claims.session_id, claims.user_id, now)
                .await?
                .ok_or(AuthError::NotAuthenticated)?;
        let cached = Cached {
            user: user.clone(),
            session_id: claims.session_id.clone(),
            expires_at,
        };
        self.sessions.put(token, cached, epoch);
        Ok((user, claims.session_id))
    }

    /// Ends one session, here at once and on the other instances as soon as they hear of it.
    pub async fn logout(&self, session_id: &SessionId) -> Result<(), AuthError> {
        db::sessions::delete(&self.db, session_id).await?;
        self.sessions
            .revoke(Revocation::Session(session_id.clone()))
            .await;
        Ok(())
    }
}
