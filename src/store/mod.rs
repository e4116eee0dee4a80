//! The short-lived state of the flows: one-time codes and counters (lockouts, code budgets,
//! the mail throttle), and the channel that tells other instances which sessions ended. Grouped by what they store, each with its in-process implementation (a
//! product feature: one instance needs nothing else) and its Redis one (shared by several
//! instances) side by side. They know the domain's value types and the limits, nothing else.

pub mod codes;
pub mod counters;
mod redis;
pub mod revocations;

pub use codes::{Attempt, CodeCheck, CodeStore, MemoryCodeStore, NewCode};
pub use counters::{Counted, CounterStore, MemoryCounters};
pub use redis::RedisStore;
pub use revocations::{NoOtherInstances, Revocation, RevocationSink, Revocations};

/// The default cap of each in-process store.
pub const DEFAULT_MAX_ENTRIES: usize = 100_000;

/// A shared store (codes, counters) could not be reached, or could not keep a new entry: the
/// request is refused with a 503 rather than let through unchecked.
#[derive(Debug, thiserror::Error)]
#[error("store unavailable: {0}")]
pub struct StoreError(pub String);
