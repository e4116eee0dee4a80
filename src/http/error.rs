//! The one error type of the HTTP layer and how each variant answers.
//!
//! Bodies are `{"detail": "..."}` (or FastAPI's list of field errors for 422); internal
//! details go to the log, tagged with the request's id by the surrounding span, never to the client.

use axum::Json;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::AuthError;
use crate::domain::Invalid;

/// One invalid field, in FastAPI's shape: `{"loc": ["body", "email"], "msg": "...", "type": "..."}`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, ToSchema)]
#[schema(example = json!({"loc": ["body", "email"], "msg": "value is not a valid email address", "type": "value_error"}))]
pub struct FieldError {
    /// Where the problem is: `["body"]` for the body as a whole, `["body", field]` for a field.
    pub loc: Vec<String>,
    /// What is wrong, for a person.
    pub msg: String,
    /// What is wrong, for a program (`missing`, `string_type`, `json_invalid`, ...).
    #[serde(rename = "type")]
    pub kind: String,
}

/// Every error but validation: `{"detail": "human readable message"}`.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"detail": "Not authenticated"}))]
pub struct ErrorBody {
    pub detail: String,
}

/// A 422: one entry per invalid field, as FastAPI answers.
#[derive(Debug, Serialize, ToSchema)]
pub struct ValidationErrorBody {
    pub detail: Vec<FieldError>,
}

impl FieldError {
    pub fn body(path: &[&str], kind: &str, msg: impl Into<String>) -> Self {
        Self::at("body", path, kind, msg)
    }

    /// A problem with the query parameter `name`.
    pub fn query(name: &str, kind: &str, msg: impl Into<String>) -> Self {
        Self::at("query", &[name], kind, msg)
    }

    fn at(place: &str, path: &[&str], kind: &str, msg: impl Into<String>) -> Self {
        let mut loc = vec![place.to_owned()];
        loc.extend(path.iter().map(|p| (*p).to_owned()));
        Self {
            loc,
            msg: msg.into(),
            kind: kind.to_owned(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("request validation failed")]
    Validation(Vec<FieldError>),
    #[error("{1}")]
    Status(StatusCode, &'static str),
    #[error("{0}")]
    Unauthorized(&'static str),
    #[error("{detail}")]
    TooManyRequests {
        retry_after_secs: u64,
        detail: &'static str,
    },
    #[error("too busy")]
    Busy,
    #[error("too many clients at once")]
    Crowded,
    #[error("service unavailable")]
    Unavailable,
    #[error("internal error")]
    Internal,
}

pub const NOT_AUTHENTICATED: &str = "Not authenticated";
pub const WRONG_PASSWORD: &str = "The password is incorrect.";
pub const SECOND_FACTOR_REQUIRED: &str = "This account has two-factor login on: send a current code \
     from the authenticator app as `code`, or a recovery code as `recovery_code`.";
pub const WRONG_SECOND_FACTOR: &str = "The code is incorrect, or was used already.";
pub const MFA_ALREADY_ON: &str = "Two-factor login is already on.";
pub const MFA_OFF: &str = "Two-factor login is off for this account.";
pub const MFA_NOT_PENDING: &str =
    "No TOTP setup is waiting for a code: start one with /api/auth/mfa/totp/setup.";
pub const SESSION_NOT_FOUND: &str = "No such session: it has ended, or is not one of yours.";
pub const EMAIL_TAKEN: &str =
    "This address got an account of its own meanwhile. Ask for the change with another address.";

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::InvalidCredentials => ApiError::Unauthorized("Invalid email or password"),
            AuthError::NotAuthenticated => ApiError::Unauthorized(NOT_AUTHENTICATED),
            AuthError::WrongPassword => ApiError::Status(StatusCode::BAD_REQUEST, WRONG_PASSWORD),
            AuthError::NotFound => ApiError::Status(StatusCode::NOT_FOUND, SESSION_NOT_FOUND),
            AuthError::SameEmail => ApiError::Validation(vec![FieldError::body(
                &["new_email"],
                "email_unchanged",
                "The new address is the one the account already has",
            )]),
            AuthError::EmailTaken => ApiError::Status(StatusCode::CONFLICT, EMAIL_TAKEN),
            AuthError::SecondFactorRequired => {
                ApiError::Status(StatusCode::BAD_REQUEST, SECOND_FACTOR_REQUIRED)
            }
            AuthError::WrongSecondFactor => {
                ApiError::Status(StatusCode::BAD_REQUEST, WRONG_SECOND_FACTOR)
            }
            AuthError::MfaAlreadyOn => ApiError::Status(StatusCode::CONFLICT, MFA_ALREADY_ON),
            AuthError::MfaOff => ApiError::Status(StatusCode::CONFLICT, MFA_OFF),
            AuthError::MfaNotPending => ApiError::Status(StatusCode::BAD_REQUEST, MFA_NOT_PENDING),
            AuthError::BreachCheckUnavailable => {
                tracing::warn!("breached-password check unavailable; refusing (fail closed)");
                ApiError::Unavailable
            }
            AuthError::InvalidCode => ApiError::Status(
                StatusCode::BAD_REQUEST,
                "Invalid or expired code. Check the latest email or request a new code.",
            ),
            AuthError::TooManyAttempts { retry_after } => ApiError::TooManyRequests {
                retry_after_secs: retry_after.as_secs().max(1),
                detail: "Too many attempts. Please wait before trying again.",
            },
            AuthError::MailThrottled { retry_after } => ApiError::TooManyRequests {
                retry_after_secs: retry_after.as_secs().max(1),
                detail: "Too many emails were asked for this address. No email was sent; \
                         please wait before asking again.",
            },
            AuthError::WeakPassword(invalid) => ApiError::weak_password("password", invalid),
            AuthError::Busy => ApiError::Busy,
            AuthError::StoreUnavailable(e) => {
                tracing::warn!(error = %e, "code and counter store unavailable");
                ApiError::Unavailable
            }
            AuthError::Unavailable(e) => {
                tracing::warn!(error = %e, "database unavailable");
                ApiError::Unavailable
            }
            AuthError::Internal(msg) => {
                tracing::error!(error = %msg, "internal error");
                ApiError::Internal
            }
        }
    }
}

impl ApiError {
    /// The 422 for a password the policy refused, under the body field `field`.
    pub fn weak_password(field: &'static str, invalid: Invalid) -> Self {
        ApiError::Validation(vec![FieldError::body(
            &[field],
            invalid.kind,
            invalid.message,
        )])
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::Validation(detail) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                Json(ValidationErrorBody { detail }),
            )
                .into_response(),
            ApiError::Status(status, detail) => detail_response(status, detail),
            ApiError::Unauthorized(detail) => {
                let mut response = detail_response(StatusCode::UNAUTHORIZED, detail);
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    header::HeaderValue::from_static("Bearer"),
                );
                response
            }
            ApiError::TooManyRequests {
                retry_after_secs,
                detail,
            } => retry_later(StatusCode::TOO_MANY_REQUESTS, detail, retry_after_secs),
            ApiError::Busy => retry_later(
                StatusCode::SERVICE_UNAVAILABLE,
                "The server is busy checking other passwords. Please retry in a moment.",
                1,
            ),
            ApiError::Crowded => retry_later(
                StatusCode::SERVICE_UNAVAILABLE,
                "The server is serving too many clients at once. Please retry in a moment.",
                1,
            ),
            ApiError::Unavailable => retry_later(
                StatusCode::SERVICE_UNAVAILABLE,
                "Service temporarily unavailable. Please try again shortly.",
                5,
            ),
            ApiError::Internal => {
                detail_response(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error")
            }
        }
    }
}

/// `{"detail": detail}` with `status` and `Retry-After: secs`.
fn retry_later(status: StatusCode, detail: &str, secs: u64) -> Response {
    let mut response = detail_response(status, detail);
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, secs.into());
    response
}

/// `{"detail": detail}` with `status`.
pub fn detail_response(status: StatusCode, detail: &str) -> Response {
    let body = ErrorBody {
        detail: detail.to_owned(),
    };
    (status, Json(body)).into_response()
}
