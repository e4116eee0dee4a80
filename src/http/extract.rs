//! `CurrentUser`: the signed-in user, from the `Authorization: Bearer` header or the cookie.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;

use super::AppState;
use super::error::{ApiError, NOT_AUTHENTICATED};
use crate::auth::AuthError;
use crate::auth::types::User;

/// The user behind a valid token whose session is still open. A request without one is 401.
pub struct CurrentUser {
    pub user: User,
}

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer_token(parts)
            .or_else(|| state.cookie.read(&parts.headers))
            .ok_or(ApiError::Unauthorized(NOT_AUTHENTICATED))?;
        let (user, _session_id) = state.auth.authenticate(token).await?;
        Ok(CurrentUser { user })
    }
}

/// Every live session the request presents, through the Bearer header and every session
/// cookie alike: logout ends them all, so a stale header or a duplicate cookie cannot leave a
/// session open that `/me` would accept from the same request.
pub struct PresentedSessions(pub Vec<String>);

impl FromRequestParts<AppState> for PresentedSessions {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let tokens = bearer_token(parts)
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

/// The token of an `Authorization: Bearer <token>` header (the scheme is case-insensitive).
fn bearer_token(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}
