//! Account settings: change the password, change the address, delete the account. Each asks
//! for the password first (a wrong one is 400 and counts as a failed login).

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};

use super::message;
use super::schema::{
    ChangeEmailRequest, ChangePasswordRequest, ConfirmRequest, EmailChangedBody, LoginBody,
    MessageBody, OtpRequest,
};
use super::session::{cleared_cookie, signed_in};
use crate::auth::AuthError;
use crate::http::AppState;
use crate::http::body::JsonBody;
use crate::http::docs::responses::{
    BodyErrors, CrossSite, EmailTaken, InvalidCode, Unauthorized, WrongPassword,
};
use crate::http::error::ApiError;
use crate::http::extract::{Caller, CurrentUser};

/// Change password: checks the current password, then sets the new one.
///
/// The current password is checked first, under the login lockouts: a wrong one is 400 and
/// counts as a failed login (past a lockout, 429 even with the right one). Only then must the
/// new password pass the rules of registration and differ from the current one (422 on
/// `new_password`). The session asking is replaced by a new one, returned as at login (cookie
/// and body); the old token answers 401. Every other session ends, pending reset codes stop
/// working, and the address gets a "your password was changed" email.
#[utoipa::path(
    post,
    path = "/change-password",
    tag = "account",
    request_body = ChangePasswordRequest,
    security(("cookie" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "Password changed; a new session replaces this one and every other session ended", body = LoginBody,
            headers(("set-cookie" = String, description = "The new session's cookie"))),
        (status = 400, response = WrongPassword),
        (status = 401, response = Unauthorized),
        (status = 403, response = CrossSite),
        BodyErrors,
    )
)]
pub async fn change_password(
    State(state): State<AppState>,
    Caller(client): Caller,
    CurrentUser(session): CurrentUser,
    JsonBody(req): JsonBody<ChangePasswordRequest>,
) -> Result<(HeaderMap, Json<LoginBody>), ApiError> {
    let new_session = state
        .auth
        .change_password(
            &session,
            &req.current_password,
            &req.new_password,
            req.step_up.factor().as_ref(),
            &client,
        )
        .await
        .map_err(|e| match e {
            AuthError::WeakPassword(invalid) => ApiError::weak_password("new_password", invalid),
            other => other.into(),
        })?;
    signed_in(
        &state,
        new_session,
        "Password changed. Every other session was signed out.",
    )
}

/// Change email: asks to move the account to another address, after checking the password.
///
/// Answers 202 the same way whether or not the new address already has an account: a free one
/// gets a 6-digit code (the lifetime, attempt and throttle rules of verification codes), a
/// taken one a notice and no code. Past the mail throttle of the new address, 429 for both
/// alike. The current address is told of the request. Nothing changes until
/// `confirm-email-change`; a newer request replaces this one.
#[utoipa::path(
    post,
    path = "/change-email",
    tag = "account",
    request_body = ChangeEmailRequest,
    security(("cookie" = []), ("bearer" = [])),
    responses(
        (status = 202, description = "If the address is free, a code was sent to it", body = MessageBody),
        (status = 400, response = WrongPassword),
        (status = 401, response = Unauthorized),
        (status = 403, response = CrossSite),
        BodyErrors,
    )
)]
pub async fn change_email(
    State(state): State<AppState>,
    Caller(client): Caller,
    CurrentUser(session): CurrentUser,
    JsonBody(req): JsonBody<ChangeEmailRequest>,
) -> Result<(StatusCode, Json<MessageBody>), ApiError> {
    state
        .auth
        .change_email(
            &session,
            &req.new_email,
            &req.password,
            req.step_up.factor().as_ref(),
            &client,
        )
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        message(
            "If the new address can be used, a confirmation code has been sent to it. Enter it \
             to finish the change.",
        ),
    ))
}

/// Confirm email change: finishes the change with the code sent to the new address.
///
/// The code works only for the signed-in user and the address it was sent to. Afterwards /me
/// shows the new address, the old one no longer logs in, every other session ends, and the
/// old address gets a notice. 409 if the new address got an account meanwhile.
#[utoipa::path(
    post,
    path = "/confirm-email-change",
    tag = "account",
    request_body = OtpRequest,
    security(("cookie" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "The account now uses the new address; every other session ended", body = EmailChangedBody),
        (status = 400, response = InvalidCode),
        (status = 401, response = Unauthorized),
        (status = 403, response = CrossSite),
        (status = 409, response = EmailTaken),
        BodyErrors,
    )
)]
pub async fn confirm_email_change(
    State(state): State<AppState>,
    Caller(client): Caller,
    CurrentUser(session): CurrentUser,
    JsonBody(req): JsonBody<OtpRequest>,
) -> Result<Json<EmailChangedBody>, ApiError> {
    let user = state
        .auth
        .confirm_email_change(&session, &req.otp, &client)
        .await?;
    Ok(Json(EmailChangedBody {
        message: "Email address changed. Every other session was signed out.".into(),
        user,
    }))
}

/// Delete account: deletes the user after checking the password.
///
/// The user, every session and every pending code are gone, the cookie is cleared, and a
/// goodbye email goes out. The address is then like one that never had an account: it can
/// register again.
#[utoipa::path(
    post,
    path = "/delete-account",
    tag = "account",
    request_body = ConfirmRequest,
    security(("cookie" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "The account is deleted; the cookie is cleared", body = MessageBody),
        (status = 400, response = WrongPassword),
        (status = 401, response = Unauthorized),
        (status = 403, response = CrossSite),
        BodyErrors,
    )
)]
pub async fn delete_account(
    State(state): State<AppState>,
    Caller(client): Caller,
    CurrentUser(session): CurrentUser,
    JsonBody(req): JsonBody<ConfirmRequest>,
) -> Result<(HeaderMap, Json<MessageBody>), ApiError> {
    state
        .auth
        .delete_account(
            &session,
            &req.password,
            req.step_up.factor().as_ref(),
            &client,
        )
        .await?;
    Ok((
        cleared_cookie(&state)?,
        message("Account deleted. Goodbye."),
    ))
}
