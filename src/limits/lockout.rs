//! Lockouts: whether counted attempts are refused, and for how long.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{Limit, Tally};
use crate::clock::delta;

/// What one attempt, counted under several limits, may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttemptVerdict {
    /// Every counter is within its limit: go on.
    Allowed,
    /// Some counter is past its limit: refuse until `until` (the latest end among those
    /// counters). A refused attempt is taken back from every counter, so it counts nowhere:
    /// it locks nothing further, and concurrent attempts never see it (the stores count and
    /// judge in one atomic step).
    Refused { until: DateTime<Utc> },
}

/// Judges an attempt from the tallies its counters would reach.
pub fn judge_attempt(counted: &[(Tally, Limit)]) -> AttemptVerdict {
    counted
        .iter()
        .filter(|(tally, limit)| tally.count > limit.max)
        .map(|(tally, _)| tally.resets_at)
        .max()
        .map_or(AttemptVerdict::Allowed, |until| AttemptVerdict::Refused {
            until,
        })
}

/// After a failure that brought a counter to `tally`: the moment its lockout ends, if this
/// failure reached the limit.
pub fn lockout_after_failure(
    tally: Tally,
    limit: Limit,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    (tally.count >= limit.max).then(|| now + delta(limit.lockout))
}

/// The wait announced for something refused until `until`, in whole seconds, at least one.
pub fn retry_after(until: DateTime<Utc>, now: DateTime<Utc>) -> Duration {
    let secs = (until - now).num_seconds().max(1);
    Duration::from_secs(secs.unsigned_abs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(max: u32) -> Limit {
        Limit {
            max,
            window: Duration::from_secs(900),
            lockout: Duration::from_secs(600),
        }
    }

    fn tally(count: u32, resets_in: i64, now: DateTime<Utc>) -> Tally {
        Tally {
            count,
            resets_at: now + chrono::TimeDelta::seconds(resets_in),
        }
    }

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default()
    }
    #[test]
    fn nothing_is_refused_while_every_counter_is_within_its_limit() {
        let now = now();
        let counted = [(tally(5, 60, now), limit(5)), (tally(1, 60, now), limit(1))];
        assert_eq!(judge_attempt(&counted), AttemptVerdict::Allowed);
    }

    #[test]
    fn a_refusal_lasts_until_the_latest_counter_past_its_limit_resets() {
        let now = now();
        let counted = [
            (tally(6, 30, now), limit(5)),
            (tally(2, 90, now), limit(1)),
            (tally(3, 900, now), limit(20)),
        ];
        assert_eq!(
            judge_attempt(&counted),
            AttemptVerdict::Refused {
                until: now + chrono::TimeDelta::seconds(90),
            }
        );
    }

    #[test]
    fn the_failure_that_reaches_the_limit_starts_the_lockout() {
        let now = now();
        assert_eq!(
            lockout_after_failure(tally(4, 60, now), limit(5), now),
            None
        );
        assert_eq!(
            lockout_after_failure(tally(5, 60, now), limit(5), now),
            Some(now + chrono::TimeDelta::seconds(600))
        );
    }

    #[test]
    fn retry_after_rounds_to_whole_seconds_and_is_never_zero() {
        let now = now();
        assert_eq!(retry_after(now, now), Duration::from_secs(1));
        assert_eq!(
            retry_after(now + chrono::TimeDelta::seconds(42), now),
            Duration::from_secs(42)
        );
    }
}
