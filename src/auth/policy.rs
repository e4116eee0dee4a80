//! Policies: which passwords are acceptable, and how many tries and emails are allowed.

use std::time::Duration;

use super::decide::CodeAttemptLimits;
use super::types::{Invalid, Password, UserEmail};

/// At most `max` events per `window`; reaching it holds the counter for `lockout`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit {
    pub max: u32,
    pub window: Duration,
    pub lockout: Duration,
}

/// Failed-login limits, counted three ways (see AUTH_FLOW.md, "Security model").
#[derive(Clone, Copy, Debug)]
pub struct LoginLimits {
    /// One account from one IP: the guessing attack itself.
    pub per_account_ip: Limit,
    /// One IP over all accounts: password spraying and credential stuffing.
    pub per_ip: Limit,
    /// One account from all IPs: a distributed guesser. Short lockout, so it cannot keep the
    /// real owner out for long.
    pub per_account: Limit,
}

/// Limits on one-time codes and on the mail that carries them (see AUTH_FLOW.md, "Security
/// model"). Every budget that a stranger could use up is counted per client, so wrong guesses
/// or requests from elsewhere cannot stop the owner.
#[derive(Clone, Copy, Debug)]
pub struct CodeLimits {
    /// Wrong tries at one code, per client and from everyone.
    pub attempts: CodeAttemptLimits,
    /// Wrong codes per address, purpose and client, across every code issued (a fresh code
    /// does not refill the budget).
    pub wrong_codes_per_client: Limit,
    /// Minimum time between two requests for an email of one kind to one address.
    pub mail_cooldown: Duration,
    /// Requests for email per address per hour, all kinds together; one client gets half.
    pub mails_per_hour: u32,
}

impl Default for LoginLimits {
    fn default() -> Self {
        let minutes = |m: u64| Duration::from_secs(60 * m);
        Self {
            per_account_ip: Limit {
                max: 5,
                window: minutes(15),
                lockout: minutes(15),
            },
            per_ip: Limit {
                max: 20,
                window: minutes(15),
                lockout: minutes(15),
            },
            per_account: Limit {
                max: 20,
                window: minutes(15),
                lockout: minutes(5),
            },
        }
    }
}

impl Default for CodeLimits {
    fn default() -> Self {
        Self {
            attempts: CodeAttemptLimits {
                per_client: 5,
                total: 50,
            },
            wrong_codes_per_client: Limit {
                max: 10,
                window: Duration::from_secs(3600),
                lockout: Duration::from_secs(3600),
            },
            mail_cooldown: Duration::from_secs(60),
            mails_per_hour: 6,
        }
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
        email: &UserEmail,
        name: Option<&str>,
    ) -> Result<(), Invalid> {
        let lowered = password.expose().to_lowercase();
        let (local, domain) = email
            .as_str()
            .split_once('@')
            .unwrap_or((email.as_str(), ""));
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
        let mut inputs = vec![email.as_str(), local];
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

    fn check(password: &str, email: &str, name: Option<&str>) -> Result<(), Invalid> {
        let email = UserEmail::parse(email).unwrap();
        PasswordPolicy::default().check(&Password::attempt(password.into()), &email, name)
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
