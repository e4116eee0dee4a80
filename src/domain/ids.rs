//! Identifiers: of a user (the database's number), of a session (256 random bits) and the
//! public handle of a session (128 other random bits).

use std::fmt;

use serde::Serialize;

/// A user's id, as the database numbers users.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct UserId(i64);

impl UserId {
    pub fn new(id: i64) -> Self {
        Self(id)
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A session's id: 32 bytes from the CSPRNG, hex-encoded. It is named inside a signed token,
/// never on its own, so knowing it is not enough to act as the session; still, it prints
/// shortened.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SessionId(String);

impl SessionId {
    /// A fresh, unguessable id.
    pub fn generate() -> Self {
        let bytes: [u8; 32] = rand::random();
        Self(hex::encode(bytes))
    }

    /// An id read back from a token or the database.
    pub fn from_stored(id: String) -> Self {
        Self(id)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown: String = self.0.chars().take(8).collect();
        write!(f, "SessionId({shown}…)")
    }
}

/// The public handle of a session, as the session list shows it: 128 random bits, hex-encoded,
/// drawn apart from the [`SessionId`]. It names a session to end, never one to act as: it is not
/// in the token, and nothing accepts it as a credential.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct SessionHandle(String);

/// Hex digits in a [`SessionHandle`].
const HANDLE_CHARS: usize = 32;

impl SessionHandle {
    pub fn generate() -> Self {
        let bytes: [u8; HANDLE_CHARS / 2] = rand::random();
        Self(hex::encode(bytes))
    }

    /// A handle as a client sent it: `None` unless it has the shape of one.
    pub fn parse(raw: &str) -> Option<Self> {
        (raw.len() == HANDLE_CHARS && raw.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
            .then(|| Self(raw.to_owned()))
    }

    /// A handle read back from the database.
    pub fn from_stored(handle: String) -> Self {
        Self(handle)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_ids_are_64_hex_characters_and_differ() {
        let a = SessionId::generate();
        let b = SessionId::generate();
        assert_eq!(a.as_str().len(), 64);
        assert!(a.as_str().bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
        assert!(!format!("{a:?}").contains(a.as_str()));
    }

    #[test]
    fn handles_are_32_lower_hex_characters_and_parse_only_in_that_shape() {
        let h = SessionHandle::generate();
        assert_eq!(SessionHandle::parse(h.as_str()), Some(h.clone()));
        assert_ne!(h, SessionHandle::generate());
        for bad in [
            "",
            "abc",
            &h.as_str().to_uppercase(),
            &format!("{}0", h.as_str()),
            "../../etc/passwd",
        ] {
            assert_eq!(SessionHandle::parse(bad), None, "{bad}");
        }
    }
}
