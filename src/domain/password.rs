//! `Password`: a password as typed, which never prints itself, and the policy new ones must pass.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};

use super::Invalid;

/// A password as the user typed it. It never prints itself, and its memory is wiped when it
/// is dropped.
#[derive(Clone)]
pub struct Password(SecretString);

pub const MIN_PASSWORD_CHARS: usize = 8;
/// bcrypt reads at most 72 bytes; anything longer would be silently cut.
pub const MAX_PASSWORD_BYTES: usize = 72;

impl Password {
    /// A password for a new secret (register, reset): length rules apply.
    pub fn new_secret(raw: String) -> Result<Self, Invalid> {
        let password = Self(raw.into());
        password.check_length()?;
        Ok(password)
    }

    /// The length rules of a new password: at least [`MIN_PASSWORD_CHARS`] characters, at most
    /// [`MAX_PASSWORD_BYTES`] bytes.
    pub fn check_length(&self) -> Result<(), Invalid> {
        let raw = self.expose();
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
        Ok(())
    }

    /// A password offered at login: checked against the hash, whatever its length.
    pub fn attempt(raw: String) -> Self {
        Self(raw.into())
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

/// NIST SP 800-63B 5.1.1.2: no composition rules, but no commonly used, expected or
/// context-specific passwords. zxcvbn estimates guesses from dictionaries of common passwords,
/// names and words, keyboard patterns, dates and repeats.
#[derive(Clone, Copy, Debug)]
pub struct PasswordPolicy {
    /// Lowest acceptable zxcvbn score, 0-4. 3 means "more than 10^8 guesses" (2 means 10^6),
    /// which with bcrypt and the login limits puts online guessing out of reach.
    pub min_score: u8,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self { min_score: 3 }
    }
}

/// Pieces of a name or address shorter than this are too common to ban inside a password
/// ("Lee" would refuse "sleepy"); zxcvbn still weighs them as user inputs.
const MIN_PERSONAL_PART: usize = 4;

impl PasswordPolicy {
    /// Refuses a password that contains the user's name or email, or that is easy to guess.
    pub fn check(
        &self,
        password: &Password,
        email: &str,
        name: Option<&str>,
    ) -> Result<(), Invalid> {
        let lowered = password.expose().to_lowercase();
        let (local, domain) = email.split_once('@').unwrap_or((email, ""));
        let domain_label = domain.split('.').next().unwrap_or_default();
        let name_parts = name.into_iter().flat_map(str::split_whitespace);
        let personal = [local, domain_label]
            .into_iter()
            .chain(name_parts)
            .map(str::to_lowercase)
            .filter(|part| part.chars().count() >= MIN_PERSONAL_PART);
        for part in personal {
            if lowered.contains(&part) {
                return Err(Invalid::new(
                    "password_personal",
                    "Password must not contain your name or email address",
                ));
            }
        }
        if self.min_score == 0 {
            return Ok(());
        }
        let mut inputs = vec![email, local];
        inputs.extend(name.into_iter().flat_map(str::split_whitespace));
        let estimate = zxcvbn::zxcvbn(password.expose(), &inputs);
        if u8::from(estimate.score()) >= self.min_score {
            return Ok(());
        }
        let mut parts = vec![String::from("Password is too easy to guess.")];
        if let Some(feedback) = estimate.feedback() {
            parts.extend(feedback.warning().map(|w| w.to_string()));
            parts.extend(feedback.suggestions().first().map(|s| s.to_string()));
        }
        parts.push("Try a longer passphrase of several unrelated words.".into());
        let message = parts
            .iter()
            .map(|p| p.trim_end_matches('.'))
            .collect::<Vec<_>>()
            .join(". ")
            + ".";
        Err(Invalid::new("password_too_weak", message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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

    fn check(password: &str, email: &str, name: Option<&str>) -> Result<(), Invalid> {
        let email = super::super::UserEmail::parse(email).unwrap();
        PasswordPolicy::default().check(&Password::attempt(password.into()), email.as_str(), name)
    }

    #[test]
    fn common_passwords_are_refused() {
        for weak in [
            "password",
            "password123",
            "12345678",
            "qwertyuiop",
            "iloveyou1",
        ] {
            let err = check(weak, "ann@example.com", Some("Ann Lee")).unwrap_err();
            assert_eq!(err.kind, "password_too_weak", "{weak}");
        }
    }

    #[test]
    fn a_long_passphrase_is_accepted() {
        assert!(check("correct horse battery", "ann@example.com", Some("Ann Lee")).is_ok());
    }

    #[test]
    fn passwords_built_from_the_name_or_email_are_refused() {
        let from_email = check("annabelle-rocks-2026!", "annabelle@example.com", None);
        assert_eq!(from_email.unwrap_err().kind, "password_personal");
        let from_name = check("Zebulon-Quartz-Ferry", "z@example.com", Some("Zebulon"));
        assert_eq!(from_name.unwrap_err().kind, "password_personal");
    }
}
