//! `CurrentUser`: the signed-in user, from the `Authorization: Bearer` header or the cookie.

use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::request::Parts;
use headers::HeaderMapExt;
use headers::authorization::{Authorization, Bearer};

use super::AppState;
use super::error::{ApiError, NOT_AUTHENTICATED};
use crate::auth::AuthError;
use crate::domain::{SessionId, User};

/// The user behind a valid token whose session is still open. A request without one is 401.
pub struct CurrentUser {
    pub user: User,
}

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let bearer = bearer(&parts.headers);
        let token = bearer
            .as_ref()
            .map(Authorization::token)
            .or_else(|| state.cookie.read(&parts.headers))
            .ok_or(ApiError::Unauthorized(NOT_AUTHENTICATED))?;
        let (user, _session_id) = state.auth.authenticate(token).await?;
        Ok(CurrentUser { user })
    }
}

/// Every live session the request presents, through the Bearer header and every session
/// cookie alike: logout ends them all, so a stale header or a duplicate cookie cannot leave a
/// session open that `/me` would accept from the same request.
pub struct PresentedSessions(pub Vec<SessionId>);

impl FromRequestParts<AppState> for PresentedSessions {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let bearer = bearer(&parts.headers);
        let tokens = bearer
            .as_ref()
            .map(Authorization::token)
            .into_iter()
            .chain(state.cookie.tokens(&parts.headers));
        let mut sessions = Vec::new();
        for token in tokens {
            match state.auth.authenticate(token).await {
                Ok((_, session_id)) => sessions.push(session_id),
                Err(AuthError::NotAuthenticated) => {}
                Err(other) => return Err(other.into()),
            }
        }
        Ok(Self(sessions))
    }
}

/// The `Authorization: Bearer <token>` header, if there is one (the scheme is case-insensitive).
pub(super) fn bearer(headers: &HeaderMap) -> Option<Authorization<Bearer>> {
    headers.typed_get()
}
