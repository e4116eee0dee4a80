//! The decisions behind lockouts, code budgets and the mail throttle, as pure functions of
//! (tallies, limits, now): the flows do the counting I/O around them, these say what it means.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::counters::Tally;
use super::delta;
use super::policy::Limit;

/// When a refused attempt may be retried: the latest end among the counters past their limit,
/// or `None` when every counter is within its limit.
pub fn refused_until(counted: &[(Tally, Limit)]) -> Option<DateTime<Utc>> {
    counted
        .iter()
        .filter(|(tally, limit)| tally.count > limit.max)
        .map(|(tally, _)| tally.resets_at)
        .max()
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

/// How many wrong tries a code takes: per client, and in total from everyone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CodeAttemptLimits {
    /// Wrong tries one client may make against one code; then the code is dead for that
    /// client only, so a stranger's guesses cannot spoil the owner's code.
    pub per_client: u32,
    /// Wrong tries from all clients together that burn the code for everyone.
    pub total: u32,
}

/// What a code check decides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CodeVerdict {
    /// The right code: use it up.
    Accept,
    /// A wrong code; the client has `remaining` more tries at it.
    Reject { remaining: u32 },
    /// This client has no tries left at this code (it stays good for others).
    Exhausted,
    /// Enough wrong tries in total: the code is void for everyone.
    Burn,
}

/// Judges one try at a live code, given the wrong tries made so far by this client and by all.
/// A client out of tries is refused even with the right code, so it cannot keep guessing.
pub fn judge_code(
    matches: bool,
    client_failures: u32,
    total_failures: u32,
    limits: CodeAttemptLimits,
) -> CodeVerdict {
    if client_failures >= limits.per_client {
        return CodeVerdict::Exhausted;
    }
    if matches {
        return CodeVerdict::Accept;
    }
    let (client_failures, total_failures) = (client_failures + 1, total_failures + 1);
    if total_failures >= limits.total {
        CodeVerdict::Burn
    } else if client_failures >= limits.per_client {
        CodeVerdict::Exhausted
    } else {
        CodeVerdict::Reject {
            remaining: limits.per_client - client_failures,
        }
    }
}

/// One client's share of an address's hourly email budget: half, so no single client can use
/// it all up, but at least one.
pub fn per_client_mail_share(per_address: u32) -> u32 {
    (per_address / 2).max(1)
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

    const LIMITS: CodeAttemptLimits = CodeAttemptLimits {
        per_client: 5,
        total: 50,
    };

    #[test]
    fn nothing_is_refused_while_every_counter_is_within_its_limit() {
        let now = Utc::now();
        let counted = [(tally(5, 60, now), limit(5)), (tally(1, 60, now), limit(1))];
        assert_eq!(refused_until(&counted), None);
    }

    #[test]
    fn a_refusal_lasts_until_the_latest_counter_past_its_limit_resets() {
        let now = Utc::now();
        let counted = [
            (tally(6, 30, now), limit(5)),
            (tally(2, 90, now), limit(1)),
            (tally(3, 900, now), limit(20)),
        ];
        assert_eq!(
            refused_until(&counted),
            Some(now + chrono::TimeDelta::seconds(90))
        );
    }

    #[test]
    fn the_failure_that_reaches_the_limit_starts_the_lockout() {
        let now = Utc::now();
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
        let now = Utc::now();
        assert_eq!(retry_after(now, now), Duration::from_secs(1));
        assert_eq!(
            retry_after(now + chrono::TimeDelta::seconds(42), now),
            Duration::from_secs(42)
        );
    }

    #[test]
    fn the_right_code_is_accepted_until_the_client_runs_out_of_tries() {
        assert_eq!(judge_code(true, 0, 0, LIMITS), CodeVerdict::Accept);
        assert_eq!(judge_code(true, 4, 49, LIMITS), CodeVerdict::Accept);
        assert_eq!(judge_code(true, 5, 5, LIMITS), CodeVerdict::Exhausted);
    }

    #[test]
    fn a_clients_fifth_wrong_try_ends_its_tries_but_not_the_code() {
        assert_eq!(
            judge_code(false, 0, 0, LIMITS),
            CodeVerdict::Reject { remaining: 4 }
        );
        assert_eq!(judge_code(false, 4, 4, LIMITS), CodeVerdict::Exhausted);
        // Another client still has all its tries.
        assert_eq!(judge_code(true, 0, 5, LIMITS), CodeVerdict::Accept);
    }

    #[test]
    fn wrong_tries_from_everyone_together_burn_the_code() {
        assert_eq!(judge_code(false, 0, 49, LIMITS), CodeVerdict::Burn);
        assert_eq!(
            judge_code(false, 0, 48, LIMITS),
            CodeVerdict::Reject { remaining: 4 }
        );
    }

    #[test]
    fn one_client_gets_half_of_an_addresss_mail_budget_and_at_least_one() {
        assert_eq!(per_client_mail_share(5), 2);
        assert_eq!(per_client_mail_share(6), 3);
        assert_eq!(per_client_mail_share(1), 1);
    }
}
