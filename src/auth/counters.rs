//! Counters over time windows: the memory behind lockouts, code budgets and mail throttles.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dashmap::DashMap;

use super::{StoreError, delta};

/// A counter's value and the moment it resets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    pub count: u32,
    pub resets_at: DateTime<Utc>,
}

/// Keyed counters that reset when their window ends. Implementations must make [`hit`]
/// atomic: concurrent hits on one key never lose a count.
///
/// [`hit`]: CounterStore::hit
#[async_trait]
pub trait CounterStore: Send + Sync + 'static {
    /// Adds one to `key` and returns the new tally. A key with no live window starts one of
    /// length `window` at `now`.
    async fn hit(
        &self,
        key: &str,
        window: Duration,
        now: DateTime<Utc>,
    ) -> Result<Tally, StoreError>;

    /// Takes one back (floor zero), leaving the window as it is.
    async fn unhit(&self, key: &str, now: DateTime<Utc>) -> Result<(), StoreError>;

    /// Makes the live window of `key` end exactly at `at`: how a lockout gets its length.
    async fn reset_at(&self, key: &str, at: DateTime<Utc>) -> Result<(), StoreError>;

    async fn clear(&self, key: &str) -> Result<(), StoreError>;

    /// Drops counters whose window has ended (stores with native expiry do nothing).
    async fn sweep(&self, now: DateTime<Utc>) -> Result<(), StoreError>;
}

/// The in-process counter store.
#[derive(Default)]
pub struct MemoryCounters {
    tallies: DashMap<String, Tally>,
}

impl MemoryCounters {
    pub fn len(&self) -> usize {
        self.tallies.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tallies.is_empty()
    }
}

#[async_trait]
impl CounterStore for MemoryCounters {
    async fn hit(
        &self,
        key: &str,
        window: Duration,
        now: DateTime<Utc>,
    ) -> Result<Tally, StoreError> {
        let mut tally = self.tallies.entry(key.to_owned()).or_insert(Tally {
            count: 0,
            resets_at: now + delta(window),
        });
        if tally.resets_at <= now {
            *tally = Tally {
                count: 0,
                resets_at: now + delta(window),
            };
        }
        tally.count = tally.count.saturating_add(1);
        Ok(*tally)
    }

    async fn unhit(&self, key: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
        if let Some(mut tally) = self.tallies.get_mut(key)
            && tally.resets_at > now
        {
            tally.count = tally.count.saturating_sub(1);
        }
        Ok(())
    }

    async fn reset_at(&self, key: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        if let Some(mut tally) = self.tallies.get_mut(key) {
            tally.resets_at = at;
        }
        Ok(())
    }

    async fn clear(&self, key: &str) -> Result<(), StoreError> {
        self.tallies.remove(key);
        Ok(())
    }

    async fn sweep(&self, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.tallies.retain(|_, tally| tally.resets_at > now);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hits_count_up_within_a_window_and_restart_after_it() {
        let c = MemoryCounters::default();
        let now = Utc::now();
        let w = Duration::from_secs(60);
        assert_eq!(c.hit("k", w, now).await.unwrap().count, 1);
        assert_eq!(c.hit("k", w, now).await.unwrap().count, 2);
        let later = now + chrono::TimeDelta::seconds(60);
        let t = c.hit("k", w, later).await.unwrap();
        assert_eq!(t.count, 1);
        assert_eq!(t.resets_at, later + chrono::TimeDelta::seconds(60));
    }

    #[tokio::test]
    async fn reset_at_shortens_or_lengthens_a_window() {
        let c = MemoryCounters::default();
        let now = Utc::now();
        c.hit("k", Duration::from_secs(900), now).await.unwrap();
        let soon = now + chrono::TimeDelta::seconds(5);
        c.reset_at("k", soon).await.unwrap();
        assert_eq!(
            c.hit("k", Duration::from_secs(900), soon)
                .await
                .unwrap()
                .count,
            1
        );
    }

    #[tokio::test]
    async fn the_sweep_keeps_only_live_windows() {
        let c = MemoryCounters::default();
        let now = Utc::now();
        c.hit("old", Duration::from_secs(1), now).await.unwrap();
        c.hit("new", Duration::from_secs(100), now).await.unwrap();
        c.sweep(now + chrono::TimeDelta::seconds(1)).await.unwrap();
        assert_eq!(c.len(), 1);
    }
}
