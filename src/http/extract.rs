//! `CurrentUser`: the signed-in user, from the `Authorization: Bearer` header or the cookie.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;

use super::AppState;
use super::error::{ApiError, NOT_AUTHENTICATED};
use crate::auth::types::User;

/// The user behind a valid token whose session is still open. A request without one is 401.
pub struct CurrentUser {
    pub user: User,
    pub session_id: String,
}

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer_token(parts)
            .or_else(|| state.cookie.read(&parts.headers))
            .ok_or(ApiError::Unauthorized(NOT_AUTHENTICATED))?;
        let (user, session_id) = state.auth.authenticate(token).await?;
        Ok(CurrentUser { user, session_id })
    }
}

/// The token of an `Authorization: Bearer <token>` header (the scheme is case-insensitive).
fn bearer_token(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}
