//! Password reset by emailed code.

use axum::extract::State;
use axum::{Extension, Json};

use super::message;
use super::schema::{EmailRequest, MessageBody, ResetRequest};
use crate::auth::AuthError;
use crate::http::AppState;
use crate::http::body::JsonBody;
use crate::http::client_ip::ClientIp;
use crate::http::docs::responses::{BodyErrors, CrossSite, InvalidCode};
use crate::http::error::ApiError;
use crate::http::extract::Caller;

/// Forgot password: emails a reset code if the address has an account.
///
/// Answers the same whether or not the account exists; past the mail throttle, 429 with
/// Retry-After for every address alike.
#[utoipa::path(
    post,
    path = "/forgot-password",
    tag = "password reset",
    request_body = EmailRequest,
    responses(
        (status = 200, description = "If the account exists, a reset code was sent", body = MessageBody),
        (status = 403, response = CrossSite),
        BodyErrors,
    )
)]
pub async fn forgot_password(
    State(state): State<AppState>,
    Extension(ClientIp(client)): Extension<ClientIp>,
    JsonBody(req): JsonBody<EmailRequest>,
) -> Result<Json<MessageBody>, ApiError> {
    state.auth.forgot_password(&req.email, client).await?;
    Ok(message(
        "If an account exists for this address, a password reset code has been sent.",
    ))
}

/// Reset password: checks the reset code, sets the new password and ends every session.
///
/// The new password is checked before the code, so a refused password does not use up a try.
#[utoipa::path(
    post,
    path = "/reset-password",
    tag = "password reset",
    request_body = ResetRequest,
    responses(
        (status = 200, description = "Password changed; every session of the user ended", body = MessageBody),
        (status = 400, response = InvalidCode),
        (status = 403, response = CrossSite),
        BodyErrors,
    )
)]
pub async fn reset_password(
    State(state): State<AppState>,
    Caller(client): Caller,
    JsonBody(req): JsonBody<ResetRequest>,
) -> Result<Json<MessageBody>, ApiError> {
    state
        .auth
        .reset_password(&req.email, &req.otp, &req.new_password, &client)
        .await
        .map_err(|e| match e {
            AuthError::WeakPassword(invalid) => ApiError::weak_password("new_password", invalid),
            other => other.into(),
        })?;
    Ok(message(
        "Password reset successfully. All sessions were signed out; log in with the new password.",
    ))
}
