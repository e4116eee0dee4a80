//! A clock the tests move by hand.

use std::sync::Mutex;
use std::time::Duration;

use authd::clock::Clock;
use chrono::{DateTime, TimeDelta, Utc};

/// A clock that moves only when told to.
pub struct ManualClock(Mutex<DateTime<Utc>>);

impl ManualClock {
    pub(super) fn new() -> Self {
        Self(Mutex::new(authd::clock::SystemClock.now()))
    }

    pub fn advance(&self, by: Duration) {
        let mut now = self.0.lock().expect("clock lock");
        *now += TimeDelta::from_std(by).expect("duration fits");
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().expect("clock lock")
    }
}
