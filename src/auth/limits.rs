//! The counting side of the flows: login lockouts, the per-address code budget and the
//! mail throttle, all kept in the [`CounterStore`](super::counters::CounterStore).

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::counters::Tally;
use super::delta;
use super::otp::{Code, CodeCheck, Purpose, Registration};
use super::policy::Limit;
use super::service::{Auth, AuthError};
use super::types::UserEmail;

impl Auth {
    /// Counts one attempt under each key. If any key is past its limit the attempt is refused
    /// and taken back from the others, so refused attempts lock nothing further.
    pub(super) async fn count_attempts(
        &self,
        guards: &[(String, Limit)],
        now: DateTime<Utc>,
    ) -> Result<Vec<Tally>, AuthError> {
        let mut tallies = Vec::with_capacity(guards.len());
        for (key, limit) in guards {
            tallies.push(self.counters.hit(key, limit.window, now).await?);
        }
        let retry_at = guards
            .iter()
            .zip(&tallies)
            .filter(|((_, limit), tally)| tally.count > limit.max)
            .map(|(_, tally)| tally.resets_at)
            .max();
        let Some(retry_at) = retry_at else {
            return Ok(tallies);
        };
        for ((key, limit), tally) in guards.iter().zip(&tallies) {
            if tally.count <= limit.max {
                self.counters.unhit(key, now).await?;
            }
        }
        Err(too_many(retry_at, now))
    }

    /// Checks a code. Every try also counts against a budget per address and purpose that
    /// survives new codes, so asking for another code does not buy more guesses.
    pub(super) async fn use_code(
        &self,
        purpose: Purpose,
        email: &UserEmail,
        code: &Code,
    ) -> Result<Option<Registration>, AuthError> {
        let now = self.clock.now();
        let budget = self.settings.code_limits.wrong_codes_per_email;
        let key = format!("code:{purpose:?}:{email}");
        let tally = self.counters.hit(&key, budget.window, now).await?;
        if tally.count > budget.max {
            return Err(too_many(tally.resets_at, now));
        }
        let max = self.settings.max_code_attempts;
        match self.codes.check(purpose, email, code, max, now).await? {
            CodeCheck::Accepted(registration) => {
                self.counters.clear(&key).await?;
                Ok(registration)
            }
            CodeCheck::Rejected { .. } | CodeCheck::Burned | CodeCheck::Missing => {
                if tally.count >= budget.max {
                    self.counters
                        .reset_at(&key, now + delta(budget.lockout))
                        .await?;
                }
                Err(AuthError::InvalidCode)
            }
        }
    }

    /// The anti-bombing throttle: one email of a kind per address per cooldown, and a cap per
    /// address per hour over all kinds.
    pub(super) async fn may_mail(&self, kind: &str, email: &UserEmail) -> Result<bool, AuthError> {
        let now = self.clock.now();
        let limits = self.settings.code_limits;
        let cooldown_key = format!("mail:cooldown:{kind}:{email}");
        let cooldown = self.counters.hit(&cooldown_key, limits.mail_cooldown, now);
        if cooldown.await?.count > 1 {
            tracing::info!(kind, "email not sent: cooldown for the address");
            return Ok(false);
        }
        let hourly_key = format!("mail:hour:{email}");
        let hourly = self
            .counters
            .hit(&hourly_key, Duration::from_secs(3600), now);
        if hourly.await?.count > limits.mails_per_hour {
            tracing::info!(kind, "email not sent: hourly cap for the address");
            return Ok(false);
        }
        Ok(true)
    }
}

/// The refusal for a counter that resets at `resets_at`, rounded up to whole seconds.
fn too_many(resets_at: DateTime<Utc>, now: DateTime<Utc>) -> AuthError {
    let secs = (resets_at - now).num_seconds().max(1);
    AuthError::TooManyAttempts {
        retry_after: Duration::from_secs(secs.unsigned_abs()),
    }
}
