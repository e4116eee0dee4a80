//! The `/api/auth` handlers: parse the body, call the domain, shape the answer. Each handler
//! carries its OpenAPI description, so the published schema is the code's own.

mod account;
mod activity;
mod devices;
mod mfa;
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

/// The endpoints that take credentials, codes or send email: they get the tight rate limit.
pub fn credential_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(signup::register))
        .routes(routes!(signup::verify_email))
        .routes(routes!(signup::resend_verification))
        .routes(routes!(session::login))
        .routes(routes!(reset::forgot_password))
        .routes(routes!(reset::reset_password))
        .routes(routes!(account::change_password))
        .routes(routes!(account::change_email))
        .routes(routes!(account::confirm_email_change))
        .routes(routes!(account::delete_account))
        .routes(routes!(mfa::totp_setup))
        .routes(routes!(mfa::totp_enable))
        .routes(routes!(mfa::verify))
        .routes(routes!(mfa::totp_disable))
        .routes(routes!(mfa::recovery_codes))
}

/// The session endpoints, the session list included.
pub fn session_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(session::logout))
        .routes(routes!(session::me))
        .routes(routes!(devices::list_sessions))
        .routes(routes!(devices::end_session))
        .routes(routes!(devices::logout_others))
        .routes(routes!(devices::logout_all))
        .routes(routes!(activity::activity))
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
