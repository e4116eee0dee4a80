//! One-time codes: 6 digits from a CSPRNG, bound to a purpose.

use std::fmt;

use rand::RngExt;
use subtle::ConstantTimeEq;

/// What a code is for; a verification code cannot reset a password.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Purpose {
    VerifyEmail,
    ResetPassword,
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
