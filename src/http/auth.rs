//! The `/api/auth` handlers: parse the body, call the domain, shape the answer.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde_json::{Value, json};

use super::AppState;
use super::body::{Fields, FromJson, JsonBody};
use super::client_ip::ClientIp;
use super::error::ApiError;
use super::extract::CurrentUser;
use crate::auth::AuthError;
use crate::auth::otp::Code;
use crate::auth::types::{Invalid, Password, User, UserEmail, UserName};

/// The endpoints that take credentials or send email: they get the tight rate limit.
pub fn credential_routes() -> Router<AppState> {
    Router::new()
        .route("/register", post(register))
        .route("/verify-email", post(verify_email))
        .route("/resend-verification-otp", post(resend_verification))
        .route("/login", post(login))
        .route("/forgot-password", post(forgot_password))
        .route("/reset-password", post(reset_password))
}

/// The session endpoints.
pub fn session_routes() -> Router<AppState> {
    Router::new()
        .route("/logout", post(logout))
        .route("/me", get(me))
}

pub struct RegisterRequest {
    name: UserName,
    email: UserEmail,
    password: Password,
}

impl FromJson for RegisterRequest {
    fn from_json(f: &mut Fields<'_>) -> Option<Self> {
        let name = f.parse("name", UserName::parse);
        let email = f.parse("email", UserEmail::parse);
        let password = f.parse("password", new_password);
        Some(Self {
            name: name?,
            email: email?,
            password: password?,
        })
    }
}

async fn register(
    State(state): State<AppState>,
    JsonBody(req): JsonBody<RegisterRequest>,
) -> Result<impl IntoResponse, ApiError> {
    state
        .auth
        .register(&req.name, &req.email, &req.password)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "message": "Registration received. Check your email for a 6-digit verification code.",
            "email": req.email.as_str(),
        })),
    ))
}

pub struct CodeRequest {
    email: UserEmail,
    otp: Code,
}

impl FromJson for CodeRequest {
    fn from_json(f: &mut Fields<'_>) -> Option<Self> {
        let email = f.parse("email", UserEmail::parse);
        let otp = f.parse("otp", code);
        Some(Self {
            email: email?,
            otp: otp?,
        })
    }
}

async fn verify_email(
    State(state): State<AppState>,
    JsonBody(req): JsonBody<CodeRequest>,
) -> Result<Json<Value>, ApiError> {
    let user = state.auth.verify_email(&req.email, &req.otp).await?;
    Ok(Json(json!({
        "message": "Email verified successfully. You can now log in.",
        "user": user,
    })))
}

pub struct EmailRequest {
    email: UserEmail,
}

impl FromJson for EmailRequest {
    fn from_json(f: &mut Fields<'_>) -> Option<Self> {
        Some(Self {
            email: f.parse("email", UserEmail::parse)?,
        })
    }
}

async fn resend_verification(
    State(state): State<AppState>,
    JsonBody(req): JsonBody<EmailRequest>,
) -> Result<Json<Value>, ApiError> {
    state.auth.resend_verification(&req.email).await?;
    Ok(message(
        "If this address has an account waiting for verification, a new code has been sent.",
    ))
}

pub struct LoginRequest {
    email: UserEmail,
    password: Password,
}

impl FromJson for LoginRequest {
    fn from_json(f: &mut Fields<'_>) -> Option<Self> {
        let email = f.parse("email", UserEmail::parse);
        let password = f.parse("password", |raw| {
            if raw.is_empty() {
                Err(Invalid::new(
                    "string_too_short",
                    "Password must not be empty",
                ))
            } else {
                Ok(Password::attempt(raw.to_owned()))
            }
        });
        Some(Self {
            email: email?,
            password: password?,
        })
    }
}

async fn login(
    State(state): State<AppState>,
    Extension(ClientIp(client)): Extension<ClientIp>,
    JsonBody(req): JsonBody<LoginRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let login = state.auth.login(&req.email, &req.password, client).await?;
    let mut headers = HeaderMap::new();
    let cookie = state
        .cookie
        .set(&login.token, login.expires_in)
        .ok_or(ApiError::Internal)?;
    headers.insert(header::SET_COOKIE, cookie);
    let body = json!({
        "message": "Login successful",
        "user": login.user,
        "access_token": login.token,
        "token_type": "bearer",
        "expires_in": login.expires_in.as_secs(),
    });
    Ok((headers, Json(body)))
}

/// Ends the session if there is one and always clears the cookie, so logging out twice, or
/// with a stale cookie, still leaves the browser signed out.
async fn logout(
    State(state): State<AppState>,
    current: Result<CurrentUser, ApiError>,
) -> Result<impl IntoResponse, ApiError> {
    match current {
        Ok(current) => state.auth.logout(&current.session_id).await?,
        Err(ApiError::Unauthorized(_)) => {}
        Err(other) => return Err(other),
    }
    let mut headers = HeaderMap::new();
    headers.insert(
        header::SET_COOKIE,
        state.cookie.clear().ok_or(ApiError::Internal)?,
    );
    Ok((headers, message("Logged out successfully")))
}

async fn me(current: CurrentUser) -> Json<User> {
    Json(current.user)
}

async fn forgot_password(
    State(state): State<AppState>,
    JsonBody(req): JsonBody<EmailRequest>,
) -> Result<Json<Value>, ApiError> {
    state.auth.forgot_password(&req.email).await?;
    Ok(message(
        "If an account exists for this address, a password reset code has been sent.",
    ))
}

pub struct ResetRequest {
    email: UserEmail,
    otp: Code,
    new_password: Password,
}

impl FromJson for ResetRequest {
    fn from_json(f: &mut Fields<'_>) -> Option<Self> {
        let email = f.parse("email", UserEmail::parse);
        let otp = f.parse("otp", code);
        let new_password = f.parse("new_password", new_password);
        Some(Self {
            email: email?,
            otp: otp?,
            new_password: new_password?,
        })
    }
}

async fn reset_password(
    State(state): State<AppState>,
    JsonBody(req): JsonBody<ResetRequest>,
) -> Result<Json<Value>, ApiError> {
    state
        .auth
        .reset_password(&req.email, &req.otp, &req.new_password)
        .await
        .map_err(|e| match e {
            AuthError::WeakPassword(invalid) => ApiError::weak_password("new_password", invalid),
            other => other.into(),
        })?;
    Ok(message(
        "Password reset successfully. All sessions were signed out; log in with the new password.",
    ))
}

fn new_password(raw: &str) -> Result<Password, Invalid> {
    Password::new_secret(raw.to_owned())
}

fn code(raw: &str) -> Result<Code, Invalid> {
    Code::parse(raw).ok_or_else(|| Invalid::new("string_pattern_mismatch", "Code must be 6 digits"))
}

fn message(text: &str) -> Json<Value> {
    Json(json!({ "message": text }))
}
