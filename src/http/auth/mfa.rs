//! Two-factor login: TOTP setup from the account settings page, and the second step of login.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;

use super::message;
use super::schema::{
    FactorRequest, LoginBody, MessageBody, MfaVerifyRequest, PasswordRequest, RecoveryCodesBody,
    TotpCodeRequest, TotpSetupBody,
};
use super::session::signed_in;
use crate::domain::RecoveryCode;
use crate::http::AppState;
use crate::http::body::JsonBody;
use crate::http::docs::responses::{
    BodyErrors, CrossSite, MfaState, Unauthorized, WrongCode, WrongPassword,
};
use crate::http::error::ApiError;
use crate::http::extract::{Caller, CurrentUser};

/// TOTP setup: a new secret for the authenticator app, after checking the password.
///
/// Not active yet: `enable` turns it on with a code the app shows. `otpauth_url` names the
/// issuer (`APP_NAME`) and the address; `qr_svg` is a QR code of it to show as is. A newer
/// setup replaces a pending one. A wrong password is 400 and counts as a failed login.
#[utoipa::path(
    post,
    path = "/mfa/totp/setup",
    tag = "two-factor",
    request_body = PasswordRequest,
    security(("cookie" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "A new secret, pending until enabled", body = TotpSetupBody),
        (status = 400, response = WrongPassword),
        (status = 401, response = Unauthorized),
        (status = 403, response = CrossSite),
        (status = 409, response = MfaState),
        BodyErrors,
    )
)]
pub async fn totp_setup(
    State(state): State<AppState>,
    Caller(client): Caller,
    CurrentUser(session): CurrentUser,
    JsonBody(req): JsonBody<PasswordRequest>,
) -> Result<Json<TotpSetupBody>, ApiError> {
    let setup = state
        .auth
        .setup_totp(&session, &req.password, &client)
        .await?;
    Ok(Json(TotpSetupBody {
        secret: setup.secret.base32(),
        otpauth_url: setup.otpauth_url,
        qr_svg: setup.qr_svg,
    }))
}

/// TOTP enable: turns two-factor login on with a current code of the pending secret.
///
/// Answers the 10 recovery codes, shown this once: each signs in once without the device.
/// Every other session ends, and the address gets a notice. A wrong code is 400 and counts
/// towards the second-factor lockout.
#[utoipa::path(
    post,
    path = "/mfa/totp/enable",
    tag = "two-factor",
    request_body = TotpCodeRequest,
    security(("cookie" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "Two-factor login is on; the recovery codes, shown once", body = RecoveryCodesBody),
        (status = 400, response = WrongCode),
        (status = 401, response = Unauthorized),
        (status = 403, response = CrossSite),
        (status = 409, response = MfaState),
        BodyErrors,
    )
)]
pub async fn totp_enable(
    State(state): State<AppState>,
    Caller(client): Caller,
    CurrentUser(session): CurrentUser,
    JsonBody(req): JsonBody<TotpCodeRequest>,
) -> Result<Json<RecoveryCodesBody>, ApiError> {
    let codes = state.auth.enable_totp(&session, &req.code, &client).await?;
    Ok(recovery_codes_body(
        "Two-factor login is on. Keep these recovery codes somewhere safe: each works once, \
         and they are not shown again.",
        &codes,
    ))
}

/// MFA verify: the second step of a login that answered `mfa_required`.
///
/// Takes the `mfa_token` of the login answer and a `code` of the authenticator app (the
/// current step or one either side; never a step at or before the last one accepted) or a
/// `recovery_code` (works once; the address is told). Answers like login: the session cookie
/// and the token. A wrong factor is 400, leaves the token usable, and counts towards the
/// second-factor lockout (429 past it); an expired, used or forged token is 401.
#[utoipa::path(
    post,
    path = "/mfa/verify",
    tag = "two-factor",
    request_body = MfaVerifyRequest,
    responses(
        (status = 200, description = "Logged in; the session cookie is set", body = LoginBody,
            headers(("set-cookie" = String, description = "The HttpOnly, SameSite=Lax session cookie"))),
        (status = 400, response = WrongCode),
        (status = 401, response = Unauthorized),
        (status = 403, response = CrossSite),
        BodyErrors,
    )
)]
pub async fn verify(
    State(state): State<AppState>,
    Caller(client): Caller,
    JsonBody(req): JsonBody<MfaVerifyRequest>,
) -> Result<(HeaderMap, Json<LoginBody>), ApiError> {
    let login = state
        .auth
        .verify_mfa(&req.mfa_token, &req.factor, &client)
        .await?;
    signed_in(&state, login, "Login successful")
}

/// TOTP disable: turns two-factor login off, after the password and a second factor.
///
/// The secret and the recovery codes are deleted, every other session ends, and the address
/// gets a notice.
#[utoipa::path(
    post,
    path = "/mfa/totp/disable",
    tag = "two-factor",
    request_body = FactorRequest,
    security(("cookie" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "Two-factor login is off", body = MessageBody),
        (status = 400, response = WrongPassword),
        (status = 401, response = Unauthorized),
        (status = 403, response = CrossSite),
        (status = 409, response = MfaState),
        BodyErrors,
    )
)]
pub async fn totp_disable(
    State(state): State<AppState>,
    Caller(client): Caller,
    CurrentUser(session): CurrentUser,
    JsonBody(req): JsonBody<FactorRequest>,
) -> Result<Json<MessageBody>, ApiError> {
    state
        .auth
        .disable_totp(&session, &req.password, &req.factor, &client)
        .await?;
    Ok(message(
        "Two-factor login is off. Every other session was signed out.",
    ))
}

/// Recovery codes: 10 new ones, after the password and a second factor; the old ones stop
/// working.
#[utoipa::path(
    post,
    path = "/mfa/recovery-codes",
    tag = "two-factor",
    request_body = FactorRequest,
    security(("cookie" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "New recovery codes, shown once; the old ones no longer work", body = RecoveryCodesBody),
        (status = 400, response = WrongPassword),
        (status = 401, response = Unauthorized),
        (status = 403, response = CrossSite),
        (status = 409, response = MfaState),
        BodyErrors,
    )
)]
pub async fn recovery_codes(
    State(state): State<AppState>,
    Caller(client): Caller,
    CurrentUser(session): CurrentUser,
    JsonBody(req): JsonBody<FactorRequest>,
) -> Result<Json<RecoveryCodesBody>, ApiError> {
    let codes = state
        .auth
        .new_recovery_codes(&session, &req.password, &req.factor, &client)
        .await?;
    Ok(recovery_codes_body(
        "New recovery codes. The old ones no longer work; these are not shown again.",
        &codes,
    ))
}

fn recovery_codes_body(text: &str, codes: &[RecoveryCode]) -> Json<RecoveryCodesBody> {
    Json(RecoveryCodesBody {
        message: text.to_owned(),
        recovery_codes: codes.iter().map(RecoveryCode::display).collect(),
    })
}
