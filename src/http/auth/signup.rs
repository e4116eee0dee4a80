//! Registration and email verification.

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};

use super::message;
use super::schema::{
    CodeRequest, EmailRequest, MessageBody, RegisterBody, RegisterRequest, VerifiedBody,
};
use crate::http::AppState;
use crate::http::body::JsonBody;
use crate::http::client_ip::ClientIp;
use crate::http::docs::responses::{BodyErrors, CrossSite, InvalidCode};
use crate::http::error::ApiError;
use crate::http::extract::Caller;

/// Register: stores an unverified account and emails a 6-digit verification code.
///
/// Answers 201 the same way whether the address is new, waiting for verification or already
/// verified, so nobody can learn which addresses have accounts. A verified address is never
/// changed (its owner gets a notice); a pending one gets a fresh code. Past the mail throttle
/// (one request per address per `EMAIL_COOLDOWN_SECONDS`, `EMAIL_MAX_PER_HOUR` per address, half
/// of it per client) the answer is 429 with Retry-After, whatever the address's state.
#[utoipa::path(
    post,
    path = "/register",
    tag = "registration",
    request_body = RegisterRequest,
    responses(
        (status = 201, description = "Registration received; a code is on its way", body = RegisterBody),
        (status = 403, response = CrossSite),
        BodyErrors,
    )
)]
pub async fn register(
    State(state): State<AppState>,
    Caller(client): Caller,
    JsonBody(req): JsonBody<RegisterRequest>,
) -> Result<(StatusCode, Json<RegisterBody>), ApiError> {
    state
        .auth
        .register(&req.name, &req.email, &req.password, &client)
        .await?;
    let body = RegisterBody {
        message: "Registration received. Check your email for a 6-digit verification code.".into(),
        email: req.email.as_str().to_owned(),
    };
    Ok((StatusCode::CREATED, Json(body)))
}

/// Verify email: checks the code from the verification email and activates the account.
///
/// A code works once and dies after `OTP_VERIFY_TTL_SECONDS`. Each client has
/// `OTP_MAX_ATTEMPTS` tries at it; `OTP_MAX_ATTEMPTS_TOTAL` wrong tries from everyone burn it.
/// If several registrations with different passwords were made for the address, none of their
/// passwords is set: `password_set` is false and a reset code is emailed instead.
#[utoipa::path(
    post,
    path = "/verify-email",
    tag = "registration",
    request_body = CodeRequest,
    responses(
        (status = 200, description = "The address is verified; the user can log in", body = VerifiedBody),
        (status = 400, response = InvalidCode),
        (status = 403, response = CrossSite),
        BodyErrors,
    )
)]
pub async fn verify_email(
    State(state): State<AppState>,
    Caller(client): Caller,
    JsonBody(req): JsonBody<CodeRequest>,
) -> Result<Json<VerifiedBody>, ApiError> {
    let verified = state
        .auth
        .verify_email(&req.email, &req.otp, &client)
        .await?;
    let message = if verified.password_set {
        "Email verified successfully. You can now log in."
    } else {
        "Email verified, but no password was set: more than one registration was made for this \
         address with different passwords, so we cannot tell which one was yours. We have emailed \
         you a password reset code; choose your password with it (POST /api/auth/reset-password)."
    };
    Ok(Json(VerifiedBody {
        message: message.into(),
        password_set: verified.password_set,
        user: verified.user,
    }))
}

/// Resend the verification code: a fresh code replaces the old one.
///
/// Answers the same for unknown, unverified and verified addresses; only an unverified one
/// gets an email. The mail throttle is counted for every address alike (429 past it).
#[utoipa::path(
    post,
    path = "/resend-verification-otp",
    tag = "registration",
    request_body = EmailRequest,
    responses(
        (status = 200, description = "If the address waits for verification, a code was sent", body = MessageBody),
        (status = 403, response = CrossSite),
        BodyErrors,
    )
)]
pub async fn resend_verification(
    State(state): State<AppState>,
    Extension(ClientIp(client)): Extension<ClientIp>,
    JsonBody(req): JsonBody<EmailRequest>,
) -> Result<Json<MessageBody>, ApiError> {
    state.auth.resend_verification(&req.email, client).await?;
    Ok(message(
        "If this address has an account waiting for verification, a new code has been sent.",
    ))
}
