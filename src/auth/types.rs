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

/// An email address, normalised so that every spelling of one mailbox is one value: trimmed,
/// the local part lower-cased (ASCII only, as RFC 5321's dot-atom, so Unicode normalisation
/// leaves it unchanged), the domain mapped by UTS-46 (fullwidth letters, ideographic full
/// stops and case folded; spaces and leading hyphens refused) and kept in its Unicode form.
/// Invisible and formatting characters (Unicode Cf), IP literals and single-label domains are
/// refused.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct UserEmail(String);

/// RFC 5321 caps a forward path at 254 characters.
const MAX_EMAIL_CHARS: usize = 254;

impl UserEmail {
    /// Normalises and checks an address.
    ///
    /// ```
    /// use authd::auth::types::UserEmail;
    ///
    /// let email = UserEmail::parse("  Ann.Lee@Example.COM ").expect("valid");
    /// assert_eq!(email.as_str(), "ann.lee@example.com");
    /// let wide = UserEmail::parse("ann.lee@\u{ff45}xample\u{3002}com").expect("valid");
    /// assert_eq!(wide, email);
    /// assert!(UserEmail::parse("ann@").is_err());
    /// assert!(UserEmail::parse("ann@localhost").is_err());
    /// ```
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        // The limit applies to what was sent, as the published schema says.
        if raw.chars().count() > MAX_EMAIL_CHARS {
            return Err(too_long_email());
        }
        let trimmed = raw.trim();
        if trimmed.chars().any(is_invisible) {
            return Err(Invalid::new(
                "value_error",
                "Email must not contain invisible or formatting characters",
            ));
        }
        let invalid = || Invalid::new("value_error", "value is not a valid email address");
        let (local, domain) = trimmed.rsplit_once('@').ok_or_else(invalid)?;
        if domain.starts_with('[') {
            return Err(Invalid::new(
                "value_error",
                "Email must use a domain name, not an IP address",
            ));
        }
        let local = local.to_lowercase();
        let mapped = idna::domain_to_ascii(domain).map_err(|_| invalid())?;
        // A fully qualified name's final dot (after mapping: an ideographic full stop counts)
        // names the same domain.
        let mapped = mapped.strip_suffix('.').unwrap_or(&mapped);
        let ascii_domain = idna::domain_to_ascii_strict(mapped).map_err(|_| invalid())?;
        let last_label = ascii_domain.rsplit('.').next().unwrap_or_default();
        if !ascii_domain.contains('.') || last_label.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Invalid::new(
                "value_error",
                "Email must use a full domain name such as example.com",
            ));
        }
        let ascii = format!("{local}@{ascii_domain}");
        if ascii.len() > MAX_EMAIL_CHARS {
            return Err(too_long_email());
        }
        if !ascii.validate_email() {
            return Err(invalid());
        }
        let (unicode_domain, decoded) = idna::domain_to_unicode(&ascii_domain);
        decoded.map_err(|_| invalid())?;
        Ok(Self(format!("{local}@{unicode_domain}")))
    }

    /// The address as stored and shown: the domain in Unicode.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The address with its domain as A-labels (`xn--...`), for mail servers without SMTPUTF8.
    pub fn to_ascii(&self) -> String {
        match self.0.rsplit_once('@') {
            Some((local, domain)) => match idna::domain_to_ascii(domain) {
                Ok(ascii) => format!("{local}@{ascii}"),
                Err(_) => self.0.clone(),
            },
            None => self.0.clone(),
        }
    }
}

fn too_long_email() -> Invalid {
    Invalid::new(
        "string_too_long",
        format!("Email must be at most {MAX_EMAIL_CHARS} characters"),
    )
}

/// Control characters and Unicode's format characters (Cf: zero-width space, soft hyphen,
/// bidi controls, BOM...): they print as nothing, so two different strings would look alike.
fn is_invisible(c: char) -> bool {
    c.is_control()
        || unicode_general_category::get_general_category(c)
            == unicode_general_category::GeneralCategory::Format
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
        if name.is_empty() {
            return Err(Invalid::new("string_too_short", "Name must not be empty"));
        }
        // The limit applies to what was sent, as the published schema says.
        if raw.chars().count() > MAX_NAME_CHARS {
            return Err(Invalid::new(
                "string_too_long",
                format!("Name must be at most {MAX_NAME_CHARS} characters"),
            ));
        }
        // ZWNJ and ZWJ are format characters that Persian and Indic names need.
        let allowed = |c: char| matches!(c, '\u{200c}' | '\u{200d}');
        if name.chars().any(|c| is_invisible(c) && !allowed(c)) {
            return Err(Invalid::new(
                "value_error",
                "Name must not contain control, invisible or text-direction characters",
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
    fn every_spelling_of_one_mailbox_is_one_address() {
        let plain = UserEmail::parse("ann@example.com").unwrap();
        for spelling in [
            "ann@\u{ff45}\u{ff58}\u{ff41}\u{ff4d}\u{ff50}\u{ff4c}\u{ff45}.com",
            "ann@example\u{3002}com",
            "ANN@EXAMPLE.COM",
            "ann@example.com.",
            "ann@example.com\u{3002}",
        ] {
            assert_eq!(UserEmail::parse(spelling).unwrap(), plain, "{spelling:?}");
        }
    }

    #[test]
    fn invisible_characters_ip_literals_and_single_labels_are_refused() {
        for bad in [
            "ann@exam\u{ad}ple.com",
            "ann@exam\u{200b}ple.com",
            "ann@example.com\u{200b}",
            "\u{feff}ann@example.com",
            "ann@exa mple.com",
            "ann@-example.com",
            "ann@localhost",
            "ann@[127.0.0.1]",
            "ann@[::1]",
            "ann@127.0.0.1",
        ] {
            assert!(UserEmail::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn an_internationalised_domain_is_kept_in_unicode_and_sent_as_a_labels() {
        let e = UserEmail::parse("Ann@Bücher.Example").unwrap();
        assert_eq!(e.as_str(), "ann@bücher.example");
        assert_eq!(e.to_ascii(), "ann@xn--bcher-kva.example");
        assert_eq!(UserEmail::parse("ann@xn--bcher-kva.example").unwrap(), e);
    }

    #[test]
    fn names_refuse_invisible_and_direction_characters_but_keep_zwnj_and_zwj() {
        for bad in [
            "Ann\u{202e}eeL",
            "Ann\u{200b}Lee",
            "\u{feff}Ann",
            "Ann\u{2066}x",
            "A\u{7}",
        ] {
            assert!(UserName::parse(bad).is_err(), "{bad:?} was accepted");
        }
        assert!(
            UserName::parse("\u{645}\u{6cc}\u{200c}\u{62e}\u{648}\u{627}\u{647}\u{645}").is_ok()
        );
        assert!(UserName::parse("\u{915}\u{94d}\u{200d}\u{937}").is_ok());
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(UserName::parse("  Ann ").unwrap().as_str(), "Ann");
        assert!(UserName::parse("   ").is_err());
        assert!(UserName::parse(&"n".repeat(101)).is_err());
        assert!(UserName::parse(&"n".repeat(100)).is_ok());
        assert!(UserName::parse(&format!(" {}", "n".repeat(100))).is_err());
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
