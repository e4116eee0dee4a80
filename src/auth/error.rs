//! What a flow can answer besides success.

use std::time::Duration;

use super::passwords::PasswordError;
use crate::db::DbError;
use crate::domain::Invalid;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("invalid email or password")]
    InvalidCredentials,
    #[error("invalid or expired code")]
    InvalidCode,
    #[error("no valid session")]
    NotAuthenticated,
    #[error("the password of the signed-in user is wrong")]
    WrongPassword,
    #[error("no such session")]
    NotFound,
    #[error("the new address is the current one")]
    SameEmail,
    #[error("the new address already has an account")]
    EmailTaken,
    #[error("a second factor is required")]
    SecondFactorRequired,
    #[error("the second factor is wrong")]
    WrongSecondFactor,
    #[error("two-factor login is already on")]
    MfaAlreadyOn,
    #[error("two-factor login is off")]
    MfaOff,
    #[error("no TOTP setup is pending")]
    MfaNotPending,
    #[error("the breached-password check could not run")]
    BreachCheckUnavailable,
    #[error("too many attempts; retry in {retry_after:?}")]
    TooManyAttempts { retry_after: Duration },
    #[error("too many emails asked for this address; retry in {retry_after:?}")]
    MailThrottled { retry_after: Duration },
    #[error("the password is not acceptable: {}", .0.message)]
    WeakPassword(Invalid),
    #[error("too many password checks at once")]
    Busy,
    #[error(transparent)]
    Unavailable(DbError),
    #[error(transparent)]
    StoreUnavailable(StoreError),
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<DbError> for AuthError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::Unavailable(_) => AuthError::Unavailable(e),
            other => AuthError::Internal(other.to_string()),
        }
    }
}

impl From<StoreError> for AuthError {
    fn from(e: StoreError) -> Self {
        AuthError::StoreUnavailable(e)
    }
}

impl From<PasswordError> for AuthError {
    fn from(e: PasswordError) -> Self {
        match e {
            PasswordError::Busy => AuthError::Busy,
            other => AuthError::Internal(other.to_string()),
        }
    }
}
