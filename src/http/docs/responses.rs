//! The error responses the endpoints share, as named OpenAPI responses.

use utoipa::{IntoResponses, ToResponse};

use crate::http::error::{ErrorBody, ValidationErrorBody};

/// The code is wrong, expired, used, replaced or burned by too many wrong tries.
#[derive(ToResponse)]
#[response(
    description = "Wrong or expired code",
    example = json!({"detail": "Invalid or expired code. Check the latest email or request a new code."})
)]
pub struct InvalidCode(pub ErrorBody);

/// The signed-in user's password, asked for again, is wrong; it counts as a failed login. For
/// an account with two-factor login on, also: the second factor is missing or wrong.
#[derive(ToResponse)]
#[response(
    description = "Wrong password (it counts as a failed login towards the lockouts); with two-factor login on, also a missing or wrong `code` / `recovery_code` (a wrong one counts towards the second-factor lockout)",
    example = json!({"detail": "The password is incorrect."})
)]
pub struct WrongPassword(pub ErrorBody);

/// The second factor is wrong, or was used already; it counts towards the second-factor lockout.
#[derive(ToResponse)]
#[response(
    description = "Wrong, used or expired code (or no pending setup); a wrong one counts towards the second-factor lockout",
    example = json!({"detail": "The code is incorrect, or was used already."})
)]
pub struct WrongCode(pub ErrorBody);

/// Two-factor login is not in the state the operation needs.
#[derive(ToResponse)]
#[response(
    description = "Two-factor login is already on (setup, enable) or is off (disable, recovery codes)",
    example = json!({"detail": "Two-factor login is already on."})
)]
pub struct MfaState(pub ErrorBody);

/// The session handle names none of the caller's live sessions.
#[derive(ToResponse)]
#[response(
    description = "No live session of the caller has this id (another user's looks the same)",
    example = json!({"detail": "No such session: it has ended, or is not one of yours."})
)]
pub struct SessionNotFound(pub ErrorBody);

/// The new address got an account of its own after the change was asked for.
#[derive(ToResponse)]
#[response(
    description = "The new address got an account meanwhile; nothing was changed",
    example = json!({"detail": "This address got an account of its own meanwhile. Ask for the change with another address."})
)]
pub struct EmailTaken(pub ErrorBody);

/// No valid session, or wrong credentials. The same answer for an unknown address.
#[derive(ToResponse)]
#[response(
    description = "Wrong email or password, or no valid session",
    headers(("www-authenticate" = String, description = "Bearer")),
    example = json!({"detail": "Not authenticated"})
)]
pub struct Unauthorized(pub ErrorBody);

/// A browser write from an origin that is not allowed (CSRF guard).
#[derive(ToResponse)]
#[response(
    description = "Cross-site request from an origin not in CORS_ORIGINS",
    example = json!({"detail": "Cross-site request refused: this origin is not allowed to call the API"})
)]
pub struct CrossSite(pub ErrorBody);

/// The right password for an address that is not verified yet (or a refused cross-site request).
#[derive(ToResponse)]
#[response(
    description = "The email address is not verified yet (or a cross-site request from an origin not in CORS_ORIGINS)",
    example = json!({"detail": "Email not verified. Please verify your email before logging in."})
)]
pub struct NotVerified(pub ErrorBody);

#[derive(ToResponse)]
#[response(
    description = "Rate limit, login lockout or code budget reached",
    headers(("retry-after" = u64, description = "Seconds to wait before trying again")),
    example = json!({"detail": "Too many requests. Please slow down and try again shortly."})
)]
pub struct TooMany(pub ErrorBody);

#[derive(ToResponse)]
#[response(
    description = "The database is unavailable; try again shortly",
    headers(("retry-after" = u64, description = "Seconds to wait before trying again")),
    example = json!({"detail": "Service temporarily unavailable. Please try again shortly."})
)]
pub struct Unavailable(pub ErrorBody);

/// The failures of every endpoint that reads a JSON body, besides its own.
#[derive(IntoResponses)]
pub enum BodyErrors {
    #[response(
        status = 413,
        description = "The body is larger than MAX_BODY_BYTES",
        example = json!({"detail": "Request body is too large"})
    )]
    TooLarge(ErrorBody),
    #[response(
        status = 415,
        description = "The body is not sent as application/json",
        example = json!({"detail": "Content-Type must be application/json"})
    )]
    NotJson(ErrorBody),
    /// FastAPI's shape: one entry per invalid field.
    #[response(
        status = 422,
        description = "Malformed JSON or invalid fields, one entry per field",
        example = json!({"detail": [{"loc": ["body", "email"], "msg": "Field required", "type": "missing"}]})
    )]
    Invalid(ValidationErrorBody),
    #[response(
        status = 429,
        description = "Rate limit, login lockout or code budget reached",
        headers(("retry-after" = u64, description = "Seconds to wait before trying again")),
        example = json!({"detail": "Too many requests. Please slow down and try again shortly."})
    )]
    TooMany(ErrorBody),
    #[response(
        status = 503,
        description = "The database is unavailable; try again shortly",
        headers(("retry-after" = u64, description = "Seconds to wait before trying again")),
        example = json!({"detail": "Service temporarily unavailable. Please try again shortly."})
    )]
    Unavailable(ErrorBody),
}
