//! `UserEmail`: an address normalised so that one mailbox is one value.

use std::fmt;

use validator::ValidateEmail;

use super::Invalid;
use super::text::is_invisible;

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
    /// use authd::domain::UserEmail;
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
        // RFC 5321's dot-atom: no leading, trailing or doubled dot.
        if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
            return Err(invalid());
        }
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
        for bad in [
            "",
            "john",
            "john@",
            "@example.com",
            "a b@example.com",
            "dot.@example.com",
            ".dot@example.com",
            "d..ot@example.com",
        ] {
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
}
