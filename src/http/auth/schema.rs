//! Request and response bodies of `/api/auth`, with their OpenAPI schemas. Requests are read
//! field by field ([`FromJson`]) into domain types, so every bad field is reported.

use serde::Serialize;
use utoipa::ToSchema;

use super::{code, new_password};
use crate::auth::SecondFactor;
use crate::domain::{Code, RecoveryCode};
use crate::domain::{Invalid, Password, User, UserEmail, UserName};
use crate::http::body::{Fields, FromJson};

/// Sign-up details.
#[derive(ToSchema)]
#[schema(example = json!({"name": "Ann Lee", "email": "ann@example.com", "password": "correct horse battery"}))]
pub struct RegisterRequest {
    /// Display name; trimmed, 1 to 100 characters.
    #[schema(value_type = String, min_length = 1, max_length = 100)]
    pub name: UserName,
    /// Normalised before use: trimmed, lower-cased, the domain mapped by UTS-46.
    #[schema(value_type = String, format = Email, max_length = 254)]
    pub email: UserEmail,
    /// At least 8 characters and at most 72 bytes; not a common password, and not built from
    /// the name or email.
    #[schema(value_type = String, format = Password, min_length = 8, max_length = 72)]
    pub password: Password,
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

/// An address and the 6-digit code mailed to it.
#[derive(ToSchema)]
#[schema(example = json!({"email": "ann@example.com", "otp": "123456"}))]
pub struct CodeRequest {
    #[schema(value_type = String, format = Email, max_length = 254)]
    pub email: UserEmail,
    /// The code from the email: exactly six digits.
    #[schema(value_type = String, pattern = "^[0-9]{6}$")]
    pub otp: Code,
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

/// Just an address.
#[derive(ToSchema)]
#[schema(example = json!({"email": "ann@example.com"}))]
pub struct EmailRequest {
    #[schema(value_type = String, format = Email, max_length = 254)]
    pub email: UserEmail,
}

impl FromJson for EmailRequest {
    fn from_json(f: &mut Fields<'_>) -> Option<Self> {
        Some(Self {
            email: f.parse("email", UserEmail::parse)?,
        })
    }
}

/// Credentials.
#[derive(ToSchema)]
#[schema(example = json!({"email": "ann@example.com", "password": "correct horse battery"}))]
pub struct LoginRequest {
    #[schema(value_type = String, format = Email, max_length = 254)]
    pub email: UserEmail,
    #[schema(value_type = String, format = Password, min_length = 1)]
    pub password: Password,
}

impl FromJson for LoginRequest {
    fn from_json(f: &mut Fields<'_>) -> Option<Self> {
        let email = f.parse("email", UserEmail::parse);
        let password = f.parse("password", password_attempt);
        Some(Self {
            email: email?,
            password: password?,
        })
    }
}

/// A password to check against the stored one: any non-empty string.
fn password_attempt(raw: &str) -> Result<Password, Invalid> {
    if raw.is_empty() {
        Err(Invalid::new(
            "string_too_short",
            "Password must not be empty",
        ))
    } else {
        Ok(Password::attempt(raw.to_owned()))
    }
}

/// The current password and the new one.
#[derive(ToSchema)]
#[schema(example = json!({"current_password": "correct horse battery", "new_password": "velvet orchard tempest"}))]
pub struct ChangePasswordRequest {
    /// Checked first, under the login lockouts.
    #[schema(value_type = String, format = Password, min_length = 1)]
    pub current_password: Password,
    /// Same rules as at registration, and not the current one; checked only once the current
    /// password was right.
    #[schema(value_type = String, format = Password, min_length = 8, max_length = 72)]
    pub new_password: Password,
    #[serde(flatten)]
    pub step_up: StepUp,
}

impl FromJson for ChangePasswordRequest {
    fn from_json(f: &mut Fields<'_>) -> Option<Self> {
        let current_password = f.parse("current_password", password_attempt);
        let new_password = f.parse("new_password", |raw| Ok(Password::attempt(raw.to_owned())));
        let step_up = StepUp::from_json(f);
        Some(Self {
            current_password: current_password?,
            new_password: new_password?,
            step_up: step_up?,
        })
    }
}

/// For an account with two-factor login on, the second factor an account change asks for
/// beside the password: `code` or `recovery_code` (ignored for an account without).
#[derive(ToSchema, Default)]
pub struct StepUp {
    /// The current 6-digit code of the authenticator app.
    #[schema(value_type = Option<String>, pattern = "^[0-9]{6}$")]
    pub code: Option<Code>,
    /// One of the recovery codes (`xxxx-xxxx-xxxx`; case, dashes and spaces do not matter).
    /// It works once.
    #[schema(value_type = Option<String>, example = "7k2m-q9xa-4fzt")]
    pub recovery_code: Option<RecoveryCode>,
}

impl StepUp {
    /// The factor given, if any.
    pub fn factor(&self) -> Option<SecondFactor> {
        match (&self.code, &self.recovery_code) {
            (Some(code), _) => Some(SecondFactor::Totp(code.clone())),
            (None, Some(code)) => Some(SecondFactor::Recovery(code.clone())),
            (None, None) => None,
        }
    }
}

impl FromJson for StepUp {
    /// At most one of the two.
    fn from_json(f: &mut Fields<'_>) -> Option<Self> {
        let code = f.optional("code", super::code);
        let recovery_code = f.optional("recovery_code", recovery_code);
        let step_up = Self {
            code: code?,
            recovery_code: recovery_code?,
        };
        if step_up.code.is_some() && step_up.recovery_code.is_some() {
            f.refuse(
                "recovery_code",
                Invalid::new(
                    "extra_forbidden",
                    "Send either code or recovery_code, not both",
                ),
            );
            return None;
        }
        Some(step_up)
    }
}

/// A second factor that must be given: the [`StepUp`] fields, one of them required.
fn required_factor(f: &mut Fields<'_>) -> Option<SecondFactor> {
    let factor = StepUp::from_json(f)?.factor();
    if factor.is_none() {
        f.refuse(
            "code",
            Invalid::new("missing", "Field required: code, or recovery_code"),
        );
    }
    factor
}

fn recovery_code(raw: &str) -> Result<RecoveryCode, Invalid> {
    RecoveryCode::parse(raw).ok_or_else(|| {
        Invalid::new(
            "string_pattern_mismatch",
            "A recovery code has 12 letters and digits, as xxxx-xxxx-xxxx",
        )
    })
}

/// The address to move the account to, and the password.
#[derive(ToSchema)]
#[schema(example = json!({"new_email": "ann.lee@example.org", "password": "correct horse battery"}))]
pub struct ChangeEmailRequest {
    /// Normalised like every address (trimmed, lower-cased, the domain mapped by UTS-46).
    #[schema(value_type = String, format = Email, max_length = 254)]
    pub new_email: UserEmail,
    /// Checked first, under the login lockouts.
    #[schema(value_type = String, format = Password, min_length = 1)]
    pub password: Password,
    #[serde(flatten)]
    pub step_up: StepUp,
}

impl FromJson for ChangeEmailRequest {
    fn from_json(f: &mut Fields<'_>) -> Option<Self> {
        let new_email = f.parse("new_email", UserEmail::parse);
        let password = f.parse("password", password_attempt);
        let step_up = StepUp::from_json(f);
        Some(Self {
            new_email: new_email?,
            password: password?,
            step_up: step_up?,
        })
    }
}

/// The 6-digit code mailed to the new address.
#[derive(ToSchema)]
#[schema(example = json!({"otp": "123456"}))]
pub struct OtpRequest {
    #[schema(value_type = String, pattern = "^[0-9]{6}$")]
    pub otp: Code,
}

impl FromJson for OtpRequest {
    fn from_json(f: &mut Fields<'_>) -> Option<Self> {
        Some(Self {
            otp: f.parse("otp", code)?,
        })
    }
}

/// The account's password, to confirm.
#[derive(ToSchema)]
#[schema(example = json!({"password": "correct horse battery"}))]
pub struct PasswordRequest {
    /// Checked first, under the login lockouts.
    #[schema(value_type = String, format = Password, min_length = 1)]
    pub password: Password,
}

impl FromJson for PasswordRequest {
    fn from_json(f: &mut Fields<'_>) -> Option<Self> {
        Some(Self {
            password: f.parse("password", password_attempt)?,
        })
    }
}

/// The password, and (for an account with two-factor login on) a second factor.
#[derive(ToSchema)]
#[schema(example = json!({"password": "correct horse battery", "code": "123456"}))]
pub struct ConfirmRequest {
    /// Checked first, under the login lockouts.
    #[schema(value_type = String, format = Password, min_length = 1)]
    pub password: Password,
    #[serde(flatten)]
    pub step_up: StepUp,
}

impl FromJson for ConfirmRequest {
    fn from_json(f: &mut Fields<'_>) -> Option<Self> {
        let password = f.parse("password", password_attempt);
        let step_up = StepUp::from_json(f);
        Some(Self {
            password: password?,
            step_up: step_up?,
        })
    }
}

/// The password and a second factor, both required.
#[derive(ToSchema)]
#[schema(example = json!({"password": "correct horse battery", "code": "123456"}))]
pub struct FactorRequest {
    /// Checked first, under the login lockouts.
    #[schema(value_type = String, format = Password, min_length = 1)]
    pub password: Password,
    /// `code` or `recovery_code`: one is required.
    #[serde(flatten)]
    #[schema(value_type = StepUp)]
    pub factor: SecondFactor,
}

impl FromJson for FactorRequest {
    fn from_json(f: &mut Fields<'_>) -> Option<Self> {
        let password = f.parse("password", password_attempt);
        let factor = required_factor(f);
        Some(Self {
            password: password?,
            factor: factor?,
        })
    }
}

/// A code of the authenticator app, to confirm the pending secret.
#[derive(ToSchema)]
#[schema(example = json!({"code": "123456"}))]
pub struct TotpCodeRequest {
    #[schema(value_type = String, pattern = "^[0-9]{6}$")]
    pub code: Code,
}

impl FromJson for TotpCodeRequest {
    fn from_json(f: &mut Fields<'_>) -> Option<Self> {
        Some(Self {
            code: f.parse("code", code)?,
        })
    }
}

/// The second step of a login: the token login gave, and a second factor.
#[derive(ToSchema)]
#[schema(example = json!({"mfa_token": "17.1796041600.9f2c...", "code": "123456"}))]
pub struct MfaVerifyRequest {
    /// From the login answer; lives 5 minutes, works once.
    #[schema(max_length = 512)]
    pub mfa_token: String,
    /// `code` or `recovery_code`: one is required.
    #[serde(flatten)]
    #[schema(value_type = StepUp)]
    pub factor: SecondFactor,
}

impl FromJson for MfaVerifyRequest {
    fn from_json(f: &mut Fields<'_>) -> Option<Self> {
        let mfa_token = f.parse("mfa_token", |raw| {
            if raw.is_empty() || raw.len() > 512 {
                Err(Invalid::new(
                    "string_too_long",
                    "mfa_token must be 1 to 512 characters",
                ))
            } else {
                Ok(raw.to_owned())
            }
        });
        let factor = required_factor(f);
        Some(Self {
            mfa_token: mfa_token?,
            factor: factor?,
        })
    }
}

/// A reset code and the new password.
#[derive(ToSchema)]
#[schema(example = json!({"email": "ann@example.com", "otp": "123456", "new_password": "velvet orchard tempest"}))]
pub struct ResetRequest {
    #[schema(value_type = String, format = Email, max_length = 254)]
    pub email: UserEmail,
    #[schema(value_type = String, pattern = "^[0-9]{6}$")]
    pub otp: Code,
    /// Same rules as at registration.
    #[schema(value_type = String, format = Password, min_length = 8, max_length = 72)]
    pub new_password: Password,
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

/// A plain confirmation.
#[derive(Serialize, ToSchema)]
pub struct MessageBody {
    pub message: String,
}

/// Registration received.
#[derive(Serialize, ToSchema)]
pub struct RegisterBody {
    pub message: String,
    /// The address, as it was stored (normalised).
    pub email: String,
}

/// The account is verified.
#[derive(Serialize, ToSchema)]
pub struct VerifiedBody {
    pub message: String,
    pub user: User,
    /// False when registrations with different passwords competed for the address: no password
    /// was set, and a reset code was emailed to choose one.
    pub password_set: bool,
}

/// A session was opened. The same token is also set as the HttpOnly session cookie.
#[derive(Serialize, ToSchema)]
pub struct LoginBody {
    pub message: String,
    pub user: User,
    /// For `Authorization: Bearer` (mobile apps, scripts); browsers can rely on the cookie.
    pub access_token: String,
    /// Always `bearer`.
    #[schema(example = "bearer")]
    pub token_type: String,
    /// Seconds until the session ends.
    pub expires_in: u64,
}

/// The right password for an account with two-factor login on: no session yet. Send the
/// token and a code to `/api/auth/mfa/verify`.
#[derive(Serialize, ToSchema)]
pub struct MfaChallengeBody {
    pub message: String,
    /// Always true.
    pub mfa_required: bool,
    /// Lives 5 minutes, works once; worth nothing without the second factor.
    pub mfa_token: String,
}

/// What login answers with the right password: a session, or (two-factor login on) the
/// challenge for the second factor.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum LoginAnswer {
    SignedIn(LoginBody),
    MfaRequired(MfaChallengeBody),
}

/// A new TOTP secret, not active until confirmed with a code.
#[derive(Serialize, ToSchema)]
pub struct TotpSetupBody {
    /// The secret in base32 (160 bits), for typing into an app by hand.
    pub secret: String,
    /// `otpauth://totp/...`, what authenticator apps scan.
    pub otpauth_url: String,
    /// A QR code of `otpauth_url` as an SVG document, to show as is.
    pub qr_svg: String,
}

/// Recovery codes: shown this once, each works once.
#[derive(Serialize, ToSchema)]
pub struct RecoveryCodesBody {
    pub message: String,
    #[schema(example = json!(["7k2m-q9xa-4fzt", "..."]))]
    pub recovery_codes: Vec<String>,
}

/// Sessions were ended.
#[derive(Serialize, ToSchema)]
pub struct SessionsEndedBody {
    pub message: String,
    /// How many sessions ended.
    pub ended: u64,
}

/// The account now uses the new address.
#[derive(Serialize, ToSchema)]
pub struct EmailChangedBody {
    pub message: String,
    pub user: User,
}
