//! The one place the crate reads the wall clock: everything time-based takes a [`Clock`].

use chrono::{DateTime, SubsecRound, Utc};

/// A source of "now", so expiry and lockout are testable without sleeping.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
}

/// The real clock, truncated to whole seconds so both database backends store the same value.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now().trunc_subsecs(0)
    }
}
