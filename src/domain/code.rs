//! One-time codes: 6 digits from a CSPRNG, bound to a purpose and to whom they are for.

use std::fmt;

use rand::RngExt;
use subtle::ConstantTimeEq;

use super::{UserEmail, UserId};

/// What a code is for; a verification code cannot reset a password.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Purpose {
    VerifyEmail,
    ResetPassword,
    ChangeEmail,
}

/// What a code unlocks, and for whom: the key it is stored and tried under. A new code for
/// the same key replaces the old one.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum CodeKey {
    /// Proves the address of a registration.
    VerifyEmail(UserEmail),
    /// Lets the owner of the address choose a new password.
    ResetPassword(UserEmail),
    /// Moves the account `user` to the address `to`: the code proves `to`, and works for
    /// nobody else and for no other address.
    ChangeEmail { user: UserId, to: UserEmail },
}

impl CodeKey {
    pub fn purpose(&self) -> Purpose {
        match self {
            CodeKey::VerifyEmail(_) => Purpose::VerifyEmail,
            CodeKey::ResetPassword(_) => Purpose::ResetPassword,
            CodeKey::ChangeEmail { .. } => Purpose::ChangeEmail,
        }
    }

    /// Whom the code is for, as the stores key it: the address, or `<user id>>address`.
    pub fn subject(&self) -> String {
        match self {
            CodeKey::VerifyEmail(email) | CodeKey::ResetPassword(email) => email.to_string(),
            CodeKey::ChangeEmail { user, to } => format!("{user}>{to}"),
        }
    }

    /// Whom the wrong-code budget is counted for: the address, or the user for a change of
    /// address, so that asking for a code to another address does not refill it.
    pub fn budget_subject(&self) -> String {
        match self {
            CodeKey::VerifyEmail(email) | CodeKey::ResetPassword(email) => email.to_string(),
            CodeKey::ChangeEmail { user, .. } => user.to_string(),
        }
    }

    /// The address the code is mailed to.
    pub fn mailed_to(&self) -> &UserEmail {
        match self {
            CodeKey::VerifyEmail(email) | CodeKey::ResetPassword(email) => email,
            CodeKey::ChangeEmail { to, .. } => to,
        }
    }
}

/// A 6-digit code. It prints only as `***` in debug output.
#[derive(Clone, PartialEq, Eq)]
pub struct Code(String);

pub const CODE_DIGITS: usize = 6;

impl Code {
    /// A fresh code from the thread-local CSPRNG (ChaCha, seeded by the OS).
    pub fn generate() -> Self {
        let n: u32 = rand::rng().random_range(0..1_000_000);
        Self(format!("{n:06}"))
    }

    /// The code of a number below a million, zero-padded (a TOTP value).
    pub fn from_number(n: u32) -> Self {
        Self(format!("{:06}", n % 1_000_000))
    }

    /// A code as a client typed it: exactly six ASCII digits.
    pub fn parse(raw: &str) -> Option<Self> {
        let raw = raw.trim();
        (raw.len() == CODE_DIGITS && raw.bytes().all(|b| b.is_ascii_digit()))
            .then(|| Self(raw.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Constant-time comparison.
    pub fn matches(&self, other: &Code) -> bool {
        self.0.as_bytes().ct_eq(other.0.as_bytes()).into()
    }
}

impl fmt::Debug for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Code(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_codes_are_six_digits() {
        for _ in 0..1000 {
            let c = Code::generate();
            assert!(Code::parse(c.expose()).is_some(), "{}", c.expose());
        }
    }
}
