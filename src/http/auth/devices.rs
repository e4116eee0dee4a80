//! The session list of the account settings page: see every signed-in device, end one, all
//! others, or all.

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};

use super::schema::SessionsEndedBody;
use super::session::cleared_cookie;
use crate::auth::AuthError;
use crate::domain::{SessionHandle, SessionInfo};
use crate::http::AppState;
use crate::http::docs::responses::{
    CrossSite, SessionNotFound, TooMany, Unauthorized, Unavailable,
};
use crate::http::error::ApiError;
use crate::http::extract::{Caller, CurrentUser};

/// Sessions: the signed-in user's live sessions, newest first.
///
/// Each with a public `id` to end it with (not the token, and no use as one), when it was
/// opened and last used, when it ends unless used again, and the client address and user
/// agent it was opened from. The session asking has `current: true`.
#[utoipa::path(
    get,
    path = "/sessions",
    tag = "account",
    security(("cookie" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "The user's live sessions, newest first", body = Vec<SessionInfo>),
        (status = 401, response = Unauthorized),
        (status = 429, response = TooMany),
        (status = 503, response = Unavailable),
    )
)]
pub async fn list_sessions(
    State(state): State<AppState>,
    CurrentUser(session): CurrentUser,
) -> Result<Json<Vec<SessionInfo>>, ApiError> {
    Ok(Json(state.auth.list_sessions(&session).await?))
}

/// End session: ends one of the user's sessions by its `id` from the session list.
///
/// The session answers 401 at once. 404 if the id is not one of the caller's live sessions
/// (another user's session looks the same as one that never existed). Ending the current
/// session works like logout: the cookie is cleared.
#[utoipa::path(
    delete,
    path = "/sessions/{id}",
    tag = "account",
    params(("id" = String, Path, description = "The session's id from the session list", pattern = "^[0-9a-f]{32}$")),
    security(("cookie" = []), ("bearer" = [])),
    responses(
        (status = 204, description = "The session ended"),
        (status = 401, response = Unauthorized),
        (status = 403, response = CrossSite),
        (status = 404, response = SessionNotFound),
        (status = 429, response = TooMany),
        (status = 503, response = Unavailable),
    )
)]
pub async fn end_session(
    State(state): State<AppState>,
    Caller(client): Caller,
    CurrentUser(session): CurrentUser,
    id: Result<Path<String>, PathRejection>,
) -> Result<(StatusCode, HeaderMap), ApiError> {
    // An id that is not even text (percent-encoded bytes that are not UTF-8) names no session
    // either: 404 like any other, not the router's 400.
    let handle = id
        .ok()
        .and_then(|Path(id)| SessionHandle::parse(&id))
        .ok_or(AuthError::NotFound)?;
    let was_current = state.auth.end_session(&session, &handle, &client).await?;
    let headers = if was_current {
        cleared_cookie(&state)?
    } else {
        HeaderMap::new()
    };
    Ok((StatusCode::NO_CONTENT, headers))
}

/// Log out other sessions: ends every session of the user but this one.
#[utoipa::path(
    post,
    path = "/logout-others",
    tag = "account",
    security(("cookie" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "Every other session ended", body = SessionsEndedBody),
        (status = 401, response = Unauthorized),
        (status = 403, response = CrossSite),
        (status = 429, response = TooMany),
        (status = 503, response = Unavailable),
    )
)]
pub async fn logout_others(
    State(state): State<AppState>,
    Caller(client): Caller,
    CurrentUser(session): CurrentUser,
) -> Result<Json<SessionsEndedBody>, ApiError> {
    let ended = state.auth.logout_others(&session, &client).await?;
    Ok(Json(SessionsEndedBody {
        message: "Every other session was signed out.".into(),
        ended,
    }))
}

/// Log out everywhere: ends every session of the user, this one included, and clears the
/// cookie.
#[utoipa::path(
    post,
    path = "/logout-all",
    tag = "account",
    security(("cookie" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "Every session ended; the cookie is cleared", body = SessionsEndedBody),
        (status = 401, response = Unauthorized),
        (status = 403, response = CrossSite),
        (status = 429, response = TooMany),
        (status = 503, response = Unavailable),
    )
)]
pub async fn logout_all(
    State(state): State<AppState>,
    Caller(client): Caller,
    CurrentUser(session): CurrentUser,
) -> Result<(HeaderMap, Json<SessionsEndedBody>), ApiError> {
    let ended = state.auth.logout_all(&session, &client).await?;
    let body = SessionsEndedBody {
        message: "Every session was signed out.".into(),
        ended,
    };
    Ok((cleared_cookie(&state)?, Json(body)))
}
