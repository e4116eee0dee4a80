//! `UserName`: a display name.

use super::Invalid;
use super::text::is_invisible;

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

#[cfg(test)]
mod tests {
    use super::*;
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
}
