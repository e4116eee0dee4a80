//! Outgoing email: the messages the server sends and the [`Mailer`] trait that delivers them.

mod console;
mod memory;
mod smtp;
pub mod template;

pub use console::ConsoleMailer;
pub use memory::MemoryMailer;
pub use smtp::SmtpMailer;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::domain::Code;
use crate::domain::UserEmail;

/// One message to one address.
#[derive(Clone, Debug)]
pub struct Email {
    pub to: UserEmail,
    pub message: Message,
}

/// What the server has to tell a user.
#[derive(Clone, Debug)]
pub enum Message {
    /// The code that proves the address belongs to the person registering. It says when the
    /// registration was made, never the name it gave (anyone can register anyone's address).
    VerificationCode {
        code: Code,
        ttl_minutes: u64,
        registered_at: DateTime<Utc>,
    },
    /// The code that lets the owner of the address choose a new password.
    PasswordResetCode { code: Code, ttl_minutes: u64 },
    /// Someone tried to register an address that already has a verified account.
    RegistrationAttempt,
    /// The account's password was just changed.
    PasswordChanged,
    /// The code that proves the new address of a change of address.
    EmailChangeCode { code: Code, ttl_minutes: u64 },
    /// Someone asked to move an account to this address, which already has one: no code.
    EmailChangeAttempt,
    /// To the old address: a move of the account to `new_email` was asked for.
    EmailChangeRequested { new_email: UserEmail },
    /// To the old address: the account now uses `new_email`.
    EmailChanged { new_email: UserEmail },
    /// The account was deleted.
    AccountDeleted,
    /// Two-factor login was turned on.
    TotpEnabled,
    /// Two-factor login was turned off.
    TotpDisabled,
    /// A recovery code was used; `left` remain.
    RecoveryCodeUsed { left: u64 },
    /// A sign-in from a browser and network not seen for the account lately.
    NewSignIn { ip: String, user_agent: String },
}

impl Message {
    /// A short name for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Message::VerificationCode { .. } => "verification_code",
            Message::PasswordResetCode { .. } => "password_reset_code",
            Message::RegistrationAttempt => "registration_attempt",
            Message::PasswordChanged => "password_changed",
            Message::EmailChangeCode { .. } => "email_change_code",
            Message::EmailChangeAttempt => "email_change_attempt",
            Message::EmailChangeRequested { .. } => "email_change_requested",
            Message::EmailChanged { .. } => "email_changed",
            Message::AccountDeleted => "account_deleted",
            Message::TotpEnabled => "totp_enabled",
            Message::TotpDisabled => "totp_disabled",
            Message::RecoveryCodeUsed { .. } => "recovery_code_used",
            Message::NewSignIn { .. } => "new_sign_in",
        }
    }

    /// The code the message carries, if any.
    pub fn code(&self) -> Option<&Code> {
        match self {
            Message::VerificationCode { code, .. }
            | Message::PasswordResetCode { code, .. }
            | Message::EmailChangeCode { code, .. } => Some(code),
            _ => None,
        }
    }

    /// The new address a change-of-address notice names, if any.
    pub fn new_email(&self) -> Option<&UserEmail> {
        match self {
            Message::EmailChangeRequested { new_email } | Message::EmailChanged { new_email } => {
                Some(new_email)
            }
            _ => None,
        }
    }

    /// The lifetime, in minutes, of the code the message carries, if any.
    pub fn ttl_minutes(&self) -> Option<u64> {
        match self {
            Message::VerificationCode { ttl_minutes, .. }
            | Message::PasswordResetCode { ttl_minutes, .. }
            | Message::EmailChangeCode { ttl_minutes, .. } => Some(*ttl_minutes),
            _ => None,
        }
    }
}

/// Why a delivery failed.
#[derive(Debug, thiserror::Error)]
#[error("email not delivered: {reason}")]
pub struct MailError {
    pub reason: String,
    /// The mail server refused this message for good (a mailbox that does not exist, say):
    /// trying again cannot help, and it says nothing about the mail server's health.
    pub permanent: bool,
}

impl MailError {
    /// A failure that may pass (the mail server is down or slow): worth another try.
    pub fn transient(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
            permanent: false,
        }
    }

    /// A refusal of this message that another try would meet again.
    pub fn permanent(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
            permanent: true,
        }
    }
}

/// Whether mail is getting through, for /health.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeliveryStatus {
    Ok,
    /// The latest delivery attempt failed.
    Degraded,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Ok => "ok",
            DeliveryStatus::Degraded => "degraded",
        }
    }
}

/// Hands one message to its transport. Called by the outbox worker, never on the request path
/// (requests queue mail in the database), so an implementation may wait on a mail server; it
/// must give up within a bounded time.
#[async_trait]
pub trait Mailer: Send + Sync + 'static {
    async fn deliver(&self, email: &Email) -> Result<(), MailError>;
}
