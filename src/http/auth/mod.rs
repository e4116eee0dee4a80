//! The `/api/auth` handlers: parse the body, call the domain, shape the answer. Each handler
//! carries its OpenAPI description, so the published schema is the code's own.

mod reset;
mod schema;
mod session;
mod signup;

use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use crate::domain::Code;
use crate::domain::{Invalid, Password};
use schema::MessageBody;

/// The endpoints that take credentials or send email: they get the tight rate limit.
pub fn credential_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(signup::register))
        .routes(routes!(signup::verify_email))
        .routes(routes!(signup::resend_verification))
        .routes(routes!(session::login))
        .routes(routes!(reset::forgot_password))
        .routes(routes!(reset::reset_password))
}

/// The session endpoints.
pub fn session_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(session::logout))
        .routes(routes!(session::me))
}

fn new_password(raw: &str) -> Result<Password, Invalid> {
    Password::new_secret(raw.to_owned())
}

fn code(raw: &str) -> Result<Code, Invalid> {
    Code::parse(raw).ok_or_else(|| Invalid::new("string_pattern_mismatch", "Code must be 6 digits"))
}

fn message(text: &str) -> Json<MessageBody> {
    Json(MessageBody {
        message: text.to_owned(),
    })
}
