//! Registration and email verification.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use super::message;
use super::schema::{
    CodeRequest, EmailRequest, MessageBody, RegisterBody, RegisterRequest, VerifiedBody,
};
use crate::http::AppState;
use crate::http::body::JsonBody;
use crate::http::docs::responses::{BodyErrors, CrossSite, InvalidCode};
use crate::http::error::ApiError;

/// Register: stores an unverified account and emails a 6-digit verification code.
///
/// Answers 201 the same way whether the address is new, waiting for verification or already
/// verified, so nobody can learn which addresses have accounts. A taken address is never
/// changed: its owner gets a fresh code, or a notice if the account is verified.
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
    JsonBody(req): JsonBody<RegisterRequest>,
) -> Result<(StatusCode, Json<RegisterBody>), ApiError> {
    state
        .auth
        .register(&req.name, &req.email, &req.password)
        .await?;
    let body = RegisterBody {
        message: "Registration received. Check your email for a 6-digit verification code.".into(),
        email: req.email.as_str().to_owned(),
    };
    Ok((StatusCode::CREATED, Json(body)))
}

/// Verify email: checks the code from the verification email and activates the account.
///
/// A code works once, dies after `OTP_VERIFY_TTL_SECONDS` and after `OTP_MAX_ATTEMPTS` wrong
/// tries. The account gets the name and password of the registration the code was sent for.
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
    JsonBody(req): JsonBody<CodeRequest>,
) -> Result<Json<VerifiedBody>, ApiError> {
    let user = state.auth.verify_email(&req.email, &req.otp).await?;
    Ok(Json(VerifiedBody {
        message: "Email verified successfully. You can now log in.".into(),
        user,
    }))
}

/// Resend the verification code: a fresh code replaces the old one.
///
/// Answers the same for unknown, unverified and verified addresses; only an unverified one
/// gets an email, and not within the email cooldown.
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
    JsonBody(req): JsonBody<EmailRequest>,
) -> Result<Json<MessageBody>, ApiError> {
    state.auth.resend_verification(&req.email).await?;
    Ok(message(
        "If this address has an account waiting for verification, a new code has been sent.",
    ))
}
