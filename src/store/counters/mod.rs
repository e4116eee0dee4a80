//! Counters over time windows: the memory behind lockouts, code budgets and the mail throttle,
//! in process or in Redis for several instances.

mod memory;
pub(super) mod redis;

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreError;
use crate::limits::{Limit, Tally};

pub use memory::MemoryCounters;

/// Keyed counters that reset when their window ends. Implementations must make [`hit`]
/// atomic: concurrent hits on one key never lose a count.
///
/// [`hit`]: CounterStore::hit
/// What counting one attempt decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Counted {
    /// Counted under every key: the new tallies, in the order of the keys.
    Allowed(Vec<Tally>),
    /// Some key is past its limit until `until`; the attempt counts nowhere.
    Refused { until: DateTime<Utc> },
}

#[async_trait]
pub trait CounterStore: Send + Sync + 'static {
    /// Counts one attempt under every `(key, limit)` at once, as one atomic step: each key is
    /// hit (a key with no live window starts one of its limit's window at `now`) and the
    /// attempt judged ([`judge_attempt`](crate::limits::judge_attempt)); a refused attempt is
    /// counted under none of them. So concurrent attempts, on this instance or others, never
    /// see the counts of attempts that were refused.
    async fn count(
        &self,
        guards: &[(String, Limit)],
        now: DateTime<Utc>,
    ) -> Result<Counted, StoreError>;

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
