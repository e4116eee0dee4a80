//! `UserAgent`: what a client said it is, kept to show in the session list.

use super::text::is_invisible;

/// Longest user agent kept, in characters; the rest is cut.
pub const MAX_USER_AGENT_CHARS: usize = 256;

/// A client's `User-Agent`, as shown in the session list: any bytes are accepted (not valid
/// UTF-8 becomes U+FFFD), invisible and control characters and every kind of white space
/// (tabs, line separators) become spaces, and it is cut to
/// [`MAX_USER_AGENT_CHARS`] characters. Empty when the client sent none.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserAgent(String);

impl UserAgent {
    pub fn from_header(raw: &[u8]) -> Self {
        let text = String::from_utf8_lossy(raw);
        let shown: String = text
            .chars()
            .map(|c| {
                // Line and paragraph separators too: shown as one line.
                if is_invisible(c) || c.is_whitespace() {
                    ' '
                } else {
                    c
                }
            })
            .take(MAX_USER_AGENT_CHARS)
            .collect();
        Self(shown.trim().to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_bytes_are_kept_readable_and_short() {
        let long = "x".repeat(1000);
        assert_eq!(UserAgent::from_header(long.as_bytes()).as_str().len(), 256);
        let odd = UserAgent::from_header(b"Mozilla\x00/5.0\t\xff\xfe (\xe2\x80\xaeevil)");
        assert_eq!(odd.as_str(), "Mozilla /5.0 \u{fffd}\u{fffd} ( evil)");
        assert_eq!(UserAgent::from_header(b"").as_str(), "");
    }
}
