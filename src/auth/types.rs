//! Values that are valid by construction: parse at the edge, trust inside.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::Serialize;
use validator::ValidateEmail;

/// Why a submitted value was refused, in the words the client sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// A short machine-readable kind, in the style of pydantic's error types.
    pub kind: &'static str,
    pub message: String,
}

impl Invalid {
    pub fn new(kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
}

/// An email address, trimmed and lower-cased, syntactically valid.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct UserEmail(String);

/// RFC 5321 caps a forward path at 254 characters.
const MAX_EMAIL_CHARS: usize = 254;

impl UserEmail {
    /// Trims, lower-cases and checks an address.
    ///
    /// ```
    /// use authd::auth::types::UserEmail;
    ///
    /// let email = UserEmail::parse("  Ann.Lee@Example.COM ").expect("valid");
    /// assert_eq!(email.as_str(), "ann.lee@example.com");
    /// assert!(UserEmail::parse("ann@").is_err());
    /// ```
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let email = raw.trim().to_lowercase();
        if email.chars().count() > MAX_EMAIL_CHARS {
            return Err(Invalid::new(
                "string_too_long",
                format!("Email must be at most {MAX_EMAIL_CHARS} characters"),
            ));
        }
        if !email.validate_email() {
            return Err(Invalid::new(
                "value_error",
                "value is not a valid email address",
            ));
        }
        Ok(Self(email))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for UserEmail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for UserEmail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A display name, trimmed, 1 to 100 characters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserName(String);

pub const MAX_NAME_CHARS: usize = 100;

impl UserName {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let name = raw.trim();
        let chars = name.chars().count();
        if chars == 0 {
            return Err(Invalid::new("string_too_short", "Name must not be empty"));
        }
        if chars > MAX_NAME_CHARS {
            return Err(Invalid::new(
                "string_too_long",
                format!("Name must be at most {MAX_NAME_CHARS} characters"),
            ));
        }
        if name.chars().any(char::is_control) {
            return Err(Invalid::new(
                "value_error",
                "Name must not contain control characters",
            ));
        }
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A password as the user typed it. It never prints itself.
#[derive(Clone)]
pub struct Password(String);

pub const MIN_PASSWORD_CHARS: usize = 8;
/// bcrypt reads at most 72 bytes; anything longer would be silently cut.
pub const MAX_PASSWORD_BYTES: usize = 72;

impl Password {
    /// A password for a new secret (register, reset): length rules apply.
    pub fn new_secret(raw: String) -> Result<Self, Invalid> {
        if raw.chars().count() < MIN_PASSWORD_CHARS {
            return Err(Invalid::new(
                "string_too_short",
                format!("Password must be at least {MIN_PASSWORD_CHARS} characters"),
            ));
        }
        if raw.len() > MAX_PASSWORD_BYTES {
            return Err(Invalid::new(
                "string_too_long",
                format!(
                    "Password must be at most {MAX_PASSWORD_BYTES} bytes (bcrypt ignores anything beyond that); non-ASCII characters count as 2 to 4 bytes"
                ),
            ));
        }
        Ok(Self(raw))
    }

    /// A password offered at login: checked against the hash, whatever its length.
    pub fn attempt(raw: String) -> Self {
        Self(raw)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

/// A user as the API shows it: never a hash or anything secret.
#[derive(Clone, Debug, Serialize, PartialEq, Eq, utoipa::ToSchema)]
#[schema(example = json!({"id": 1, "name": "Ann Lee", "email": "ann@example.com", "is_verified": true, "created_at": "2026-11-24T05:59:18Z"}))]
pub struct User {
    pub id: i64,
    pub name: String,
    pub email: String,
    pub is_verified: bool,
    pub created_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_trimmed_and_lower_cased() {
        let e = UserEmail::parse("  John.Doe@Example.COM ").unwrap();
        assert_eq!(e.as_str(), "john.doe@example.com");
    }

    #[test]
    fn malformed_emails_are_refused() {
        for bad in ["", "john", "john@", "@example.com", "a b@example.com"] {
            assert!(UserEmail::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(UserName::parse("  Ann ").unwrap().as_str(), "Ann");
        assert!(UserName::parse("   ").is_err());
        assert!(UserName::parse(&"n".repeat(101)).is_err());
        assert!(UserName::parse(&"n".repeat(100)).is_ok());
    }

    #[test]
    fn passwords_longer_than_bcrypt_can_read_are_refused() {
        assert!(Password::new_secret("a".repeat(72)).is_ok());
        assert_eq!(
            Password::new_secret("a".repeat(73)).unwrap_err().kind,
            "string_too_long"
        );
        // 24 three-byte characters are 72 bytes; one more is 75.
        assert!(Password::new_secret("€".repeat(24)).is_ok());
        assert!(Password::new_secret("€".repeat(25)).is_err());
        assert!(Password::new_secret("short".into()).is_err());
    }

    #[test]
    fn passwords_do_not_print() {
        let p = Password::attempt("hunter2hunter2".into());
        assert_eq!(format!("{p:?}"), "Password(***)");
    }
}
