//! The in-process counter store.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dashmap::DashMap;

use super::{Counted, CounterStore};
use crate::clock::delta;
use crate::limits::{AttemptVerdict, Limit, Tally, judge_attempt};
use crate::store::{DEFAULT_MAX_ENTRIES, StoreError};

/// The in-process counter store. It holds at most `max_entries` counters. When full, it drops
/// ended windows first, then, of the counters that hold no lockout, those with the fewest hits,
/// least recently hit first. A counter in lockout is never evicted before it ends, so flooding
/// the store cannot lift a lockout; evicting a counter of few hits gives back at most those few.
/// If every counter is a lockout, a new key is refused (503) rather than let through uncounted.
pub struct MemoryCounters {
    tallies: DashMap<String, Counter>,
    max_entries: usize,
    hits: AtomicU64,
    /// Held while an attempt is counted under several keys, so the step is atomic.
    counting: Mutex<()>,
}

struct Counter {
    tally: Tally,
    /// Set by [`CounterStore::reset_at`]: the window is a lockout.
    locked: bool,
    /// When it was last hit, in the order of all hits.
    last_hit: u64,
}

impl Default for MemoryCounters {
    fn default() -> Self {
        Self::with_capacity(DEFAULT_MAX_ENTRIES)
    }
}

impl MemoryCounters {
    pub fn with_capacity(max_entries: usize) -> Self {
        Self {
            tallies: DashMap::new(),
            max_entries: max_entries.max(1),
            hits: AtomicU64::new(0),
            counting: Mutex::new(()),
        }
    }

    pub fn len(&self) -> usize {
        self.tallies.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tallies.is_empty()
    }

    /// Frees room: ended windows, then the least valuable eighth of the unlocked counters.
    fn make_room(&self, now: DateTime<Utc>) {
        self.tallies.retain(|_, c| c.tally.resets_at > now);
        if self.tallies.len() < self.max_entries {
            return;
        }
        let mut candidates: Vec<(u32, u64)> = self
            .tallies
            .iter()
            .filter(|c| !c.locked)
            .map(|c| (c.tally.count, c.last_hit))
            .collect();
        if candidates.is_empty() {
            return;
        }
        let evict = (self.max_entries / 8).clamp(1, candidates.len());
        let (_, cutoff, _) = candidates.select_nth_unstable(evict - 1);
        let cutoff = *cutoff;
        self.tallies
            .retain(|_, c| c.locked || (c.tally.count, c.last_hit) > cutoff);
    }

    fn hit_now(
        &self,
        key: &str,
        window: Duration,
        now: DateTime<Utc>,
    ) -> Result<Tally, StoreError> {
        if self.tallies.len() >= self.max_entries && !self.tallies.contains_key(key) {
            self.make_room(now);
            if self.tallies.len() >= self.max_entries {
                return Err(StoreError("the counter store is full of lockouts".into()));
            }
        }
        let fresh = Tally {
            count: 0,
            resets_at: now + delta(window),
        };
        let mut counter = self.tallies.entry(key.to_owned()).or_insert(Counter {
            tally: fresh,
            locked: false,
            last_hit: 0,
        });
        if counter.tally.resets_at <= now {
            counter.tally = fresh;
            counter.locked = false;
        }
        counter.tally.count = counter.tally.count.saturating_add(1);
        counter.last_hit = self.hits.fetch_add(1, Ordering::Relaxed);
        Ok(counter.tally)
    }

    fn unhit_now(&self, key: &str, now: DateTime<Utc>) {
        if let Some(mut counter) = self.tallies.get_mut(key)
            && counter.tally.resets_at > now
        {
            counter.tally.count = counter.tally.count.saturating_sub(1);
        }
    }
}

#[async_trait]
impl CounterStore for MemoryCounters {
    async fn count(
        &self,
        guards: &[(String, Limit)],
        now: DateTime<Utc>,
    ) -> Result<Counted, StoreError> {
        let _atomic = self.counting.lock().unwrap_or_else(|e| e.into_inner());
        let mut counted = Vec::with_capacity(guards.len());
        for (key, limit) in guards {
            match self.hit_now(key, limit.window, now) {
                Ok(tally) => counted.push((tally, *limit)),
                Err(e) => {
                    for (key, _) in guards.iter().take(counted.len()) {
                        self.unhit_now(key, now);
                    }
                    return Err(e);
                }
            }
        }
        match judge_attempt(&counted) {
            AttemptVerdict::Allowed => Ok(Counted::Allowed(
                counted.into_iter().map(|(tally, _)| tally).collect(),
            )),
            AttemptVerdict::Refused { until } => {
                for (key, _) in guards {
                    self.unhit_now(key, now);
                }
                Ok(Counted::Refused { until })
            }
        }
    }

    async fn hit(
        &self,
        key: &str,
        window: Duration,
        now: DateTime<Utc>,
    ) -> Result<Tally, StoreError> {
        self.hit_now(key, window, now)
    }

    async fn unhit(&self, key: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.unhit_now(key, now);
        Ok(())
    }

    async fn reset_at(&self, key: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        if let Some(mut counter) = self.tallies.get_mut(key) {
            counter.tally.resets_at = at;
            counter.locked = true;
        }
        Ok(())
    }

    async fn clear(&self, key: &str) -> Result<(), StoreError> {
        self.tallies.remove(key);
        Ok(())
    }

    async fn sweep(&self, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.tallies.retain(|_, c| c.tally.resets_at > now);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default()
    }

    #[tokio::test]
    async fn hits_count_up_within_a_window_and_restart_after_it() {
        let c = MemoryCounters::default();
        let now = now();
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
        let now = now();
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
    async fn a_full_store_evicts_light_counters_but_never_a_lockout() {
        let c = MemoryCounters::with_capacity(16);
        let now = now();
        let w = Duration::from_secs(900);
        for _ in 0..5 {
            c.hit("locked", w, now).await.unwrap();
        }
        c.reset_at("locked", now + chrono::TimeDelta::seconds(900))
            .await
            .unwrap();
        for _ in 0..3 {
            c.hit("heavy", w, now).await.unwrap();
        }
        for n in 0..200 {
            c.hit(&format!("flood{n}"), w, now).await.unwrap();
            assert!(c.len() <= 16, "{} counters held", c.len());
        }
        assert_eq!(c.hit("locked", w, now).await.unwrap().count, 6);
        assert_eq!(c.hit("heavy", w, now).await.unwrap().count, 4);
    }

    #[tokio::test]
    async fn a_store_full_of_lockouts_refuses_new_keys_instead_of_forgetting() {
        let c = MemoryCounters::with_capacity(4);
        let now = now();
        let w = Duration::from_secs(900);
        for n in 0..4 {
            let key = format!("locked{n}");
            c.hit(&key, w, now).await.unwrap();
            c.reset_at(&key, now + chrono::TimeDelta::seconds(900))
                .await
                .unwrap();
        }
        assert!(c.hit("new", w, now).await.is_err());
        // Once the lockouts end, there is room again.
        let later = now + chrono::TimeDelta::seconds(900);
        assert_eq!(c.hit("new", w, later).await.unwrap().count, 1);
    }

    #[tokio::test]
    async fn the_sweep_keeps_only_live_windows() {
        let c = MemoryCounters::default();
        let now = now();
        c.hit("old", Duration::from_secs(1), now).await.unwrap();
        c.hit("new", Duration::from_secs(100), now).await.unwrap();
        c.sweep(now + chrono::TimeDelta::seconds(1)).await.unwrap();
        assert_eq!(c.len(), 1);
    }
}
