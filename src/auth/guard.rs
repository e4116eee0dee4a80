//! The counting side of the flows: login lockouts, the code budgets and the mail throttle,
//! kept in the counter store. What the counts mean is decided in [`crate::limits`].

use std::net::IpAddr;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{Auth, AuthError};
use crate::domain::{Code, CodeKey, UserEmail};
use crate::limits::{Limit, Tally, lockout_after_failure, per_client_mail_share, retry_after};
use crate::store::{Attempt, CodeCheck, Counted};
use crate::telemetry;

/// The kinds of email a client can ask for; each has its own cooldown per address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum MailKind {
    /// Register and resend: a verification code (or, for a verified address, a notice).
    Verification,
    /// Forgot password: a reset code.
    Reset,
    /// Change of address: a code to the new address (or, for a taken one, a notice).
    EmailChange,
    /// Change of address: the notice to the old address.
    EmailChangeNotice,
}

impl MailKind {
    fn key(self) -> &'static str {
        match self {
            MailKind::Verification => "verification",
            MailKind::Reset => "reset",
            MailKind::EmailChange => "email-change",
            MailKind::EmailChangeNotice => "email-change-notice",
        }
    }
}

impl Auth {
    /// Counts one attempt under each key, atomically: past any limit the attempt is refused
    /// and counted under none (see [`CounterStore::count`](crate::store::CounterStore::count)).
    pub(super) async fn count_attempts(
        &self,
        guards: &[(String, Limit)],
        now: DateTime<Utc>,
    ) -> Result<Vec<Tally>, AuthError> {
        match self.counters.count(guards, now).await? {
            Counted::Allowed(tallies) => Ok(tallies),
            Counted::Refused { until } => Err(too_many(until, now)),
        }
    }

    /// Takes one count back from each key (best effort: the count ends with its window anyway).
    pub(super) async fn take_back<'a>(
        &self,
        guards: impl Iterator<Item = &'a (String, Limit)>,
        now: DateTime<Utc>,
    ) {
        for (key, _) in guards {
            if let Err(e) = self.counters.unhit(key, now).await {
                tracing::warn!(error = %e, "a count could not be taken back");
            }
        }
    }

    /// Checks a code tried by `client`. Each client has its own tries at each code and its own
    /// budget per address and purpose that survives new codes; all clients together can burn
    /// a code (see [`judge_code`](crate::limits::judge_code)).
    pub(super) async fn use_code(
        &self,
        code_key: &CodeKey,
        code: &Code,
        client: IpAddr,
    ) -> Result<(), AuthError> {
        let now = self.clock.now();
        let limits = self.settings.code_limits;
        let budget = limits.wrong_codes_per_client;
        let key = format!(
            "code:{:?}:{}|{client}",
            code_key.purpose(),
            code_key.budget_subject()
        );
        let tally = self.counters.hit(&key, budget.window, now).await?;
        if tally.count > budget.max {
            return Err(too_many(tally.resets_at, now));
        }
        let attempt = Attempt {
            code,
            client,
            limits: limits.attempts,
        };
        match self.codes.check(code_key, attempt, now).await? {
            CodeCheck::Accepted => {
                self.counters.clear(&key).await?;
                Ok(())
            }
            CodeCheck::Rejected { .. }
            | CodeCheck::Exhausted
            | CodeCheck::Burned
            | CodeCheck::Missing => {
                if let Some(until) = lockout_after_failure(tally, budget, now) {
                    self.counters.reset_at(&key, until).await?;
                }
                Err(AuthError::InvalidCode)
            }
        }
    }

    /// The mail throttle, counted for every request that could send an email, before anything
    /// depends on whether the address has an account: one request of a kind per address per
    /// cooldown, and per hour a cap per address of which one client gets half. Past it the
    /// request is refused (429), whatever the address's state.
    pub(super) async fn throttle_mail(
        &self,
        kind: MailKind,
        email: &UserEmail,
        client: IpAddr,
    ) -> Result<(), AuthError> {
        let now = self.clock.now();
        let limits = self.settings.code_limits;
        let hour = Duration::from_secs(3600);
        let guards = [
            (
                format!("mail:cooldown:{}:{email}", kind.key()),
                Limit {
                    max: 1,
                    window: limits.mail_cooldown,
                    lockout: limits.mail_cooldown,
                },
            ),
            (
                format!("mail:hour:{email}"),
                Limit {
                    max: limits.mails_per_hour,
                    window: hour,
                    lockout: hour,
                },
            ),
            (
                format!("mail:hour:{email}|{client}"),
                Limit {
                    max: per_client_mail_share(limits.mails_per_hour),
                    window: hour,
                    lockout: hour,
                },
            ),
        ];
        match self.count_attempts(&guards, now).await {
            Ok(_) => Ok(()),
            Err(AuthError::TooManyAttempts { retry_after }) => {
                tracing::info!(kind = kind.key(), "email request refused by the throttle");
                telemetry::email(kind.key(), "throttled");
                Err(AuthError::MailThrottled { retry_after })
            }
            Err(other) => Err(other),
        }
    }
}

/// The refusal for a counter that resets at `resets_at`.
pub(super) fn too_many(resets_at: DateTime<Utc>, now: DateTime<Utc>) -> AuthError {
    AuthError::TooManyAttempts {
        retry_after: retry_after(resets_at, now),
    }
}
