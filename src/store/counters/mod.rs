//! Counters over time windows: the memory behind lockouts, code budgets and the mail throttle,
//! in process or in Redis for several instances.

mod memory;
pub(super) mod redis;

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreError;
use crate::limits::Tally;

pub use memory::MemoryCounters;

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
