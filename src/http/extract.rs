//! `CurrentUser`: the signed-in user, from the `Authorization: Bearer` header or the cookie;
//! `Caller`: who is calling.

use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::request::Parts;
use headers::HeaderMapExt;
use headers::authorization::{Authorization, Bearer};

use super::AppState;
use super::client_ip::{ClientAddress, ClientIp};
use super::error::{ApiError, NOT_AUTHENTICATED};
use crate::auth::{AuthError, Client, Session};
use crate::domain::{SessionId, UserAgent};

/// The user and session behind a valid token whose session is still open. A request without
/// one is 401.
pub struct CurrentUser(pub Session);

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let bearer = bearer(&parts.headers);
        let token = bearer
            .as_ref()
            .map(Authorization::token)
            .or_else(|| state.cookie.read(&parts.headers))
            .ok_or(ApiError::Unauthorized(NOT_AUTHENTICATED))?;
        Ok(CurrentUser(state.auth.authenticate(token).await?))
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
                Ok(session) => sessions.push(session.id),
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

/// Who is calling: the client address the edge determined, and the `User-Agent`.
pub struct Caller(pub Client);

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let ip = parts
            .extensions
            .get::<ClientIp>()
            .ok_or(ApiError::Internal)?
            .0;
        let address = parts
            .extensions
            .get::<ClientAddress>()
            .ok_or(ApiError::Internal)?
            .0;
        let user_agent = parts
            .headers
            .get(axum::http::header::USER_AGENT)
            .map(|v| UserAgent::from_header(v.as_bytes()))
            .unwrap_or_default();
        Ok(Caller(Client {
            ip,
            address,
            user_agent,
        }))
    }
}
