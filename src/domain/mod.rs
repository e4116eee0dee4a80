//! The domain's value types: valid by construction (parse at the edge, trust inside), and the
//! leaf of the crate: nothing here imports anything else of ours.

mod agent;
mod code;
mod email;
mod ids;
mod invalid;
mod name;
mod password;
mod session;
mod text;
mod totp;
mod user;

pub use agent::{MAX_USER_AGENT_CHARS, UserAgent};
pub use code::{CODE_DIGITS, Code, CodeKey, Purpose};
pub use email::UserEmail;
pub use ids::{SessionHandle, SessionId, UserId};
pub use invalid::Invalid;
pub use name::{MAX_NAME_CHARS, UserName};
pub use password::{MAX_PASSWORD_BYTES, MIN_PASSWORD_CHARS, Password, PasswordPolicy};
pub use session::SessionInfo;
pub use totp::{
    RECOVERY_CODES, RecoveryCode, TOTP_SECRET_BYTES, TOTP_STEP_SECONDS, TotpSecret, hotp, totp_step,
};
pub use user::User;
