//! Telling the other instances that sessions ended, so their session caches drop them: nobody
//! to tell for a single instance, Redis pub/sub for several.

mod redis;

use std::sync::Arc;

use async_trait::async_trait;

use super::StoreError;
use crate::domain::{SessionId, UserId};

/// What ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Revocation {
    /// One session (logout, a session deleted).
    Session(SessionId),
    /// Every session of a user, or what is cached about the user (password reset, and every
    /// change a cached user must follow).
    User(UserId),
}

impl Revocation {
    /// The message on the wire: `s:<session id>` or `u:<user id>`.
    fn encode(&self) -> String {
        match self {
            Revocation::Session(id) => format!("s:{}", id.as_str()),
            Revocation::User(id) => format!("u:{id}"),
        }
    }

    fn decode(message: &str) -> Option<Self> {
        match message.split_once(':')? {
            ("s", id) => Some(Revocation::Session(SessionId::from_stored(id.to_owned()))),
            ("u", id) => id.parse().ok().map(|id| Revocation::User(UserId::new(id))),
            _ => None,
        }
    }
}

/// What a listener does with what it hears: drop one revocation's entries, or, after a gap in
/// listening (revocations may have been missed), drop everything.
pub trait RevocationSink: Send + Sync + 'static {
    fn revoke(&self, revocation: &Revocation);
    fn forget_all(&self);
}

/// The channel between instances.
#[async_trait]
pub trait Revocations: Send + Sync + 'static {
    /// Tells the other instances. Best effort: what is not heard is still bounded by the cache
    /// entries' lifetime.
    async fn publish(&self, revocation: &Revocation) -> Result<(), StoreError>;

    /// Whether this instance hears the others now: a cache may be trusted only while it does.
    fn listening(&self) -> bool;

    /// Starts hearing the others, handing what is heard to `sink`. Needs a Tokio runtime.
    fn listen(&self, sink: Arc<dyn RevocationSink>);
}

/// A single instance: nobody else ends sessions, so there is always everything to hear.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoOtherInstances;

#[async_trait]
impl Revocations for NoOtherInstances {
    async fn publish(&self, _revocation: &Revocation) -> Result<(), StoreError> {
        Ok(())
    }

    fn listening(&self) -> bool {
        true
    }

    fn listen(&self, _sink: Arc<dyn RevocationSink>) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revocations_survive_the_wire() {
        for r in [
            Revocation::Session(SessionId::generate()),
            Revocation::User(UserId::new(42)),
        ] {
            assert_eq!(Revocation::decode(&r.encode()), Some(r));
        }
        assert_eq!(Revocation::decode("x:1"), None);
        assert_eq!(Revocation::decode("u:not-a-number"), None);
    }
}
