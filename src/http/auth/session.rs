//! Login, logout and the current user.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};

use super::message;
use super::schema::{LoginAnswer, LoginBody, LoginRequest, MessageBody, MfaChallengeBody};
use crate::auth::{LoginOutcome, SignedIn};
use crate::domain::User;
use crate::http::AppState;
use crate::http::body::JsonBody;
use crate::http::docs::responses::{
    BodyErrors, CrossSite, NotVerified, TooMany, Unauthorized, Unavailable,
};
use crate::http::error::ApiError;
use crate::http::extract::{Caller, CurrentUser, PresentedSessions};

/// Log in: checks the password and opens a session.
///
/// Sets the HttpOnly session cookie (`access_token`, or `__Host-access_token` with
/// `COOKIE_SECURE=true`) and returns the same token for `Authorization: Bearer`. Failed logins
/// are counted per account and IP, per IP and per account; past a limit even the right password
/// gets 429 until the lockout ends. For an account with two-factor login on, the right password
/// answers `{mfa_required: true, mfa_token}` instead, with no cookie: the session opens at
/// `/mfa/verify`.
#[utoipa::path(
    post,
    path = "/login",
    tag = "session",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in, the session cookie set; or, for an account with two-factor login on, `mfa_required` with an `mfa_token` and no cookie (finish at /mfa/verify)", body = LoginAnswer,
            headers(("set-cookie" = String, description = "The HttpOnly, SameSite=Lax session cookie (not with mfa_required)"))),
        (status = 401, response = Unauthorized),
        (status = 403, response = NotVerified),
        BodyErrors,
    )
)]
pub async fn login(
    State(state): State<AppState>,
    Caller(client): Caller,
    JsonBody(req): JsonBody<LoginRequest>,
) -> Result<(HeaderMap, Json<LoginAnswer>), ApiError> {
    match state.auth.login(&req.email, &req.password, &client).await? {
        LoginOutcome::SignedIn(login) => {
            let (headers, Json(body)) = signed_in(&state, login, "Login successful")?;
            Ok((headers, Json(LoginAnswer::SignedIn(body))))
        }
        LoginOutcome::MfaRequired { mfa_token } => {
            let body = MfaChallengeBody {
                message: "Password accepted. Enter the code from your authenticator app (or a \
                          recovery code) to finish logging in."
                    .into(),
                mfa_required: true,
                mfa_token,
            };
            Ok((HeaderMap::new(), Json(LoginAnswer::MfaRequired(body))))
        }
        LoginOutcome::Unverified => Err(ApiError::Status(
            StatusCode::FORBIDDEN,
            "Email not verified. Please verify your email before logging in.",
        )),
    }
}

/// The answer that hands a new session over: the cookie, and the token in the body.
pub(super) fn signed_in(
    state: &AppState,
    signed_in: SignedIn,
    message: &str,
) -> Result<(HeaderMap, Json<LoginBody>), ApiError> {
    let mut headers = HeaderMap::new();
    let cookie = state
        .cookie
        .set(&signed_in.token, signed_in.expires_in)
        .ok_or(ApiError::Internal)?;
    headers.insert(header::SET_COOKIE, cookie);
    let body = LoginBody {
        message: message.into(),
        user: signed_in.user,
        access_token: signed_in.token,
        token_type: "bearer".into(),
        expires_in: signed_in.expires_in.as_secs(),
    };
    Ok((headers, Json(body)))
}

/// The `Set-Cookie` header that makes the browser drop the session cookie.
pub(super) fn cleared_cookie(state: &AppState) -> Result<HeaderMap, ApiError> {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::SET_COOKIE,
        state.cookie.clear().ok_or(ApiError::Internal)?,
    );
    Ok(headers)
}

/// Log out: ends the session and clears the cookie.
///
/// Ends every session the request presents (Bearer header and cookie) and always clears the
/// cookie, so logging out twice, or with a stale token, still leaves the browser signed out.
/// A copied token stops working too.
#[utoipa::path(
    post,
    path = "/logout",
    tag = "session",
    security((), ("cookie" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "Signed out; the cookie is cleared", body = MessageBody),
        (status = 403, response = CrossSite),
        (status = 429, response = TooMany),
        (status = 503, response = Unavailable),
    )
)]
pub async fn logout(
    State(state): State<AppState>,
    Caller(client): Caller,
    PresentedSessions(sessions): PresentedSessions,
) -> Result<(HeaderMap, Json<MessageBody>), ApiError> {
    for session_id in &sessions {
        state.auth.logout(session_id, &client).await?;
    }
    Ok((cleared_cookie(&state)?, message("Logged out successfully")))
}

/// Me: the signed-in user.
///
/// Takes the session cookie or an `Authorization: Bearer` token. Answers 401 once the session
/// has ended (logout, password reset or change, expiry, idle timeout, and the account settings'
/// ways of ending sessions), even for a token that is still well-formed.
#[utoipa::path(
    get,
    path = "/me",
    tag = "session",
    security(("cookie" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "The user behind the session", body = User),
        (status = 401, response = Unauthorized),
        (status = 429, response = TooMany),
        (status = 503, response = Unavailable),
    )
)]
pub async fn me(CurrentUser(session): CurrentUser) -> Json<User> {
    Json(session.user)
}
