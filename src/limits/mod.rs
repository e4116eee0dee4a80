//! Limits, and the decisions about them as pure functions of (tallies, limits, now): login
//! lockouts, code budgets, the mail throttle. The flows count in a store and ask here what the
//! counts mean; the stores apply [`judge_code`] atomically. Nothing here does I/O or reads a
//! clock, so every rule is unit-tested beside it.

mod codes;
mod lockout;
mod mail;

use std::time::Duration;

use chrono::{DateTime, Utc};

pub use codes::{CodeAttemptLimits, CodeVerdict, judge_code};
pub use lockout::{AttemptVerdict, judge_attempt, lockout_after_failure, retry_after};
pub use mail::per_client_mail_share;

/// A counter's value and the moment it resets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    pub count: u32,
    pub resets_at: DateTime<Utc>,
}

/// At most `max` events per `window`; reaching it holds the counter for `lockout`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit {
    pub max: u32,
    pub window: Duration,
    pub lockout: Duration,
}

/// Failed-login limits, counted three ways (see AUTH_FLOW.md, "Security model").
#[derive(Clone, Copy, Debug)]
pub struct LoginLimits {
    /// One account from one IP: the guessing attack itself.
    pub per_account_ip: Limit,
    /// One IP over all accounts: password spraying and credential stuffing.
    pub per_ip: Limit,
    /// One account from all IPs: a distributed guesser. Short lockout, so it cannot keep the
    /// real owner out for long.
    pub per_account: Limit,
}

/// Limits on one-time codes and on the mail that carries them (see AUTH_FLOW.md, "Security
/// model"). Every budget that a stranger could use up is counted per client, so wrong guesses
/// or requests from elsewhere cannot stop the owner.
#[derive(Clone, Copy, Debug)]
pub struct CodeLimits {
    /// Wrong tries at one code, per client and from everyone.
    pub attempts: CodeAttemptLimits,
    /// Wrong codes per address, purpose and client, across every code issued (a fresh code
    /// does not refill the budget).
    pub wrong_codes_per_client: Limit,
    /// Minimum time between two requests for an email of one kind to one address.
    pub mail_cooldown: Duration,
    /// Requests for email per address per hour, all kinds together; one client gets half.
    pub mails_per_hour: u32,
}

impl Default for LoginLimits {
    fn default() -> Self {
        let minutes = |m: u64| Duration::from_secs(60 * m);
        Self {
            per_account_ip: Limit {
                max: 5,
                window: minutes(15),
                lockout: minutes(15),
            },
            per_ip: Limit {
                max: 20,
                window: minutes(15),
                lockout: minutes(15),
            },
            per_account: Limit {
                max: 20,
                window: minutes(15),
                lockout: minutes(5),
            },
        }
    }
}

impl Default for CodeLimits {
    fn default() -> Self {
        Self {
            attempts: CodeAttemptLimits {
                per_client: 5,
                total: 50,
            },
            wrong_codes_per_client: Limit {
                max: 10,
                window: Duration::from_secs(3600),
                lockout: Duration::from_secs(3600),
            },
            mail_cooldown: Duration::from_secs(60),
            mails_per_hour: 6,
        }
    }
}

/// How much bcrypt work may run and wait at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HashLimits {
    /// Hashes running at the same time (default: the number of cores).
    pub concurrent: usize,
    /// Requests that may wait for a slot; beyond, they are refused at once.
    pub queued: usize,
}

impl Default for HashLimits {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self {
            concurrent: cores,
            queued: 4 * cores,
        }
    }
}

/// A token bucket per client IP: `burst` requests at once, then one every `period`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    pub burst: u32,
    pub period: Duration,
}
