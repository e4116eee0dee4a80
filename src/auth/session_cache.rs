//! The session cache: the user behind a session token, kept for a moment so `/me` and friends
//! need no database read, and no signature check, on every request. It is keyed by the whole
//! token: a token byte for byte equal to one that was verified is that token, so its signature
//! need not be checked again; its expiry still is (the session's end is cached with it).
//!
//! Correctness rules (AUTH_FLOW.md, "Session cache"):
//! - An ending session or user change made here is dropped from this cache before the answer
//!   goes out, and published to the other instances (Redis pub/sub), which drop it as soon as
//!   they hear it.
//! - An entry lives at most `ttl`, so what nobody announced (a change by another process, a
//!   message lost while Redis was away) is seen within `ttl`.
//! - While this instance does not hear the others (Redis down), the cache is not used at all.
//! - A database read that started before a revocation is never cached (the epoch check).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use moka::sync::Cache;

use crate::domain::{SessionId, User};
use crate::store::{Revocation, RevocationSink, Revocations};

/// What is cached about a live session.
#[derive(Debug)]
pub(super) struct Cached {
    pub user: User,
    pub session_id: SessionId,
    pub expires_at: DateTime<Utc>,
    /// The session's last recorded use, when this entry was made.
    pub last_used_at: DateTime<Utc>,
}

pub(super) struct SessionCache {
    /// By token; `None` when the cache is switched off (a lifetime of zero).
    entries: Option<Cache<String, Arc<Cached>>>,
    /// Bumped by every revocation made or heard.
    epoch: AtomicU64,
    revocations: Arc<dyn Revocations>,
}

impl SessionCache {
    pub fn new(ttl: Duration, capacity: usize, revocations: Arc<dyn Revocations>) -> Self {
        let entries = (!ttl.is_zero()).then(|| {
            Cache::builder()
                .max_capacity(capacity as u64)
                .time_to_live(ttl)
                .support_invalidation_closures()
                .build()
        });
        Self {
            entries,
            epoch: AtomicU64::new(0),
            revocations,
        }
    }

    /// The live, cached session `token` names, if this instance may trust its cache.
    pub fn get(&self, token: &str, now: DateTime<Utc>) -> Option<Arc<Cached>> {
        let entries = self.entries.as_ref()?;
        if !self.revocations.listening() {
            return None;
        }
        entries.get(token).filter(|c| c.expires_at > now)
    }

    /// The epoch to pass to [`put`](Self::put) for a database read that starts now.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// Caches what a database read that started at `epoch` found, unless something was revoked
    /// since: then what was read may already be stale.
    pub fn put(&self, token: &str, cached: Cached, epoch: u64) {
        let Some(entries) = &self.entries else {
            return;
        };
        if self.epoch() != epoch || !self.revocations.listening() {
            return;
        }
        entries.insert(token.to_owned(), Arc::new(cached));
        // A revocation between the check and the insert bumped the epoch before invalidating;
        // if it ran before the insert, the entry is dropped here.
        if self.epoch() != epoch {
            entries.invalidate(token);
        }
    }

    /// Drops what `revocation` ended, here at once, and tells the other instances.
    pub async fn revoke(&self, revocation: Revocation) {
        RevocationSink::revoke(self, &revocation);
        if let Err(e) = self.revocations.publish(&revocation).await {
            tracing::warn!(error = %e, "other instances were not told of an ended session; they follow within the cache lifetime");
        }
    }
}

impl RevocationSink for SessionCache {
    fn revoke(&self, revocation: &Revocation) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        let Some(entries) = &self.entries else {
            return;
        };
        let dropped = match revocation {
            Revocation::Session(id) => {
                let id = id.clone();
                entries.invalidate_entries_if(move |_, c| c.session_id == id)
            }
            Revocation::User(user_id) => {
                let user_id = *user_id;
                entries.invalidate_entries_if(move |_, c| c.user.id == user_id)
            }
        };
        if dropped.is_err() {
            entries.invalidate_all();
        }
    }

    fn forget_all(&self) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        if let Some(entries) = &self.entries {
            entries.invalidate_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::UserId;
    use crate::store::NoOtherInstances;

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default()
    }

    fn cache() -> SessionCache {
        SessionCache::new(Duration::from_secs(60), 100, Arc::new(NoOtherInstances))
    }

    fn cached(user: i64, session: &SessionId) -> Cached {
        Cached {
            user: User {
                id: UserId::new(user),
                name: "Ann".into(),
                email: "ann@example.com".into(),
                is_verified: true,
                mfa_enabled: false,
                created_at: now(),
            },
            session_id: session.clone(),
            expires_at: now() + chrono::TimeDelta::minutes(5),
            last_used_at: now(),
        }
    }

    #[test]
    fn a_cached_session_is_found_by_its_token_until_it_expires() {
        let c = cache();
        let sid = SessionId::generate();
        c.put("token-a", cached(1, &sid), c.epoch());
        assert_eq!(
            c.get("token-a", now()).map(|s| s.user.id),
            Some(UserId::new(1))
        );
        assert!(c.get("token-b", now()).is_none(), "another token");
        let later = now() + chrono::TimeDelta::minutes(5);
        assert!(c.get("token-a", later).is_none(), "expired");
    }

    #[test]
    fn revoking_a_session_or_its_user_drops_it() {
        let c = cache();
        let (a, b) = (SessionId::generate(), SessionId::generate());
        c.put("token-a", cached(1, &a), c.epoch());
        c.put("token-b", cached(1, &b), c.epoch());
        RevocationSink::revoke(&c, &Revocation::Session(a));
        assert!(c.get("token-a", now()).is_none());
        assert!(c.get("token-b", now()).is_some());
        RevocationSink::revoke(&c, &Revocation::User(UserId::new(1)));
        assert!(c.get("token-b", now()).is_none());
    }

    #[test]
    fn a_read_that_started_before_a_revocation_is_not_cached() {
        let c = cache();
        let sid = SessionId::generate();
        let epoch = c.epoch();
        RevocationSink::revoke(&c, &Revocation::User(UserId::new(1)));
        c.put("token-a", cached(1, &sid), epoch);
        assert!(c.get("token-a", now()).is_none());
    }

    #[test]
    fn a_zero_lifetime_switches_the_cache_off() {
        let c = SessionCache::new(Duration::ZERO, 100, Arc::new(NoOtherInstances));
        let sid = SessionId::generate();
        c.put("token-a", cached(1, &sid), c.epoch());
        assert!(c.get("token-a", now()).is_none());
    }
}
