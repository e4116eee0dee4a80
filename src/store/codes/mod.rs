//! Where one-time codes live between "sent" and "used": in process, or in Redis for several
//! instances. Both apply [`judge_code`](crate::limits::judge_code) atomically.

mod memory;
pub(super) mod redis;

use std::net::IpAddr;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreError;
use crate::domain::{Code, CodeKey};
use crate::limits::{CodeAttemptLimits, CodeVerdict};

pub use memory::MemoryCodeStore;

/// A code to store, with when it was made and when it dies.
#[derive(Clone, Debug)]
pub struct NewCode {
    pub code: Code,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// The result of checking a submitted code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeCheck {
    /// Right code, in time: it is now used up.
    Accepted,
    /// Wrong code; this client may try `remaining` more times.
    Rejected { remaining: u32 },
    /// This client has used up its tries at the code; it stays good for others.
    Exhausted,
    /// Wrong code, and enough wrong tries from everyone: the stored code is burned.
    Burned,
    /// No live code for this key (never issued, used, replaced, removed or expired).
    Missing,
}

impl From<CodeVerdict> for CodeCheck {
    fn from(verdict: CodeVerdict) -> Self {
        match verdict {
            CodeVerdict::Accept => CodeCheck::Accepted,
            CodeVerdict::Reject { remaining } => CodeCheck::Rejected { remaining },
            CodeVerdict::Exhausted => CodeCheck::Exhausted,
            CodeVerdict::Burn => CodeCheck::Burned,
        }
    }
}

/// Where codes live between "sent" and "used". Implementations must make each check atomic:
/// two concurrent checks of one code can never both be accepted.
#[async_trait]
pub trait CodeStore: Send + Sync + 'static {
    /// Stores a code, replacing any earlier code for the same key.
    async fn put(&self, key: &CodeKey, code: NewCode) -> Result<(), StoreError>;

    /// Checks `code` as tried by `client`, counting a wrong try against the client and against
    /// the code ([`judge_code`] decides).
    async fn check(
        &self,
        key: &CodeKey,
        attempt: Attempt<'_>,
        now: DateTime<Utc>,
    ) -> Result<CodeCheck, StoreError>;

    /// Whether `code` is the live code of `key` at `now`, without counting a try: the outbox
    /// asks before it mails a code, so a code that was used, replaced, burned or lost is not
    /// sent late.
    async fn holds(
        &self,
        key: &CodeKey,
        code: &Code,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Drops the code of `key`, if there is one: it must stop working (its account was
    /// deleted, its password changed).
    async fn remove(&self, key: &CodeKey) -> Result<(), StoreError>;

    /// Drops what has expired so memory stays bounded (stores with native expiry do nothing).
    async fn sweep(&self, now: DateTime<Utc>) -> Result<(), StoreError>;

    /// For a store behind the network, whether it answers now; `None` for an in-process one.
    async fn reachable(&self) -> Option<bool> {
        None
    }
}

/// One try at a code: what was typed, by whom, under which limits.
#[derive(Clone, Copy, Debug)]
pub struct Attempt<'a> {
    pub code: &'a Code,
    pub client: IpAddr,
    pub limits: CodeAttemptLimits,
}
