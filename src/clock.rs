//! The one place the crate reads the wall clock: everything time-based takes a [`Clock`].

use std::time::Duration;

use chrono::{DateTime, SubsecRound, TimeDelta, Utc};

/// A source of "now", so expiry and lockout are testable without sleeping.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
}

/// The real clock, truncated to whole seconds so both database backends store the same value.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    // The one read of the wall clock that clippy.toml allows.
    #[allow(clippy::disallowed_methods)]
    fn now(&self) -> DateTime<Utc> {
        Utc::now().trunc_subsecs(0)
    }
}

/// A std duration as a chrono one, saturating instead of failing.
pub fn delta(d: Duration) -> TimeDelta {
    TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX)
}
