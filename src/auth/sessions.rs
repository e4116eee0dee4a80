//! Sessions: the user behind a token, and ending a session.

use super::tokens::TokenError;
use super::{Auth, AuthError};
use crate::db;
use crate::domain::{SessionId, User};

impl Auth {
    /// The user and session behind a token: the signature and expiry first, then the session row.
    pub async fn authenticate(&self, token: &str) -> Result<(User, SessionId), AuthError> {
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
    pub async fn logout(&self, session_id: &SessionId) -> Result<(), AuthError> {
        Ok(db::sessions::delete(&self.db, session_id).await?)
    }
}
