//! The limits' variables: login lockouts, code budgets and email throttles.

use std::time::Duration;

use super::{ConfigError, bounded};
use crate::auth::decide::CodeAttemptLimits;
use crate::auth::policy::{CodeLimits, Limit, LoginLimits};

/// A positive count that fits the rate limiter.
pub(super) fn count(
    get: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    default: u64,
) -> Result<u32, ConfigError> {
    Ok(bounded(get, var, default, 1..=1_000_000)? as u32)
}

fn seconds(
    get: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    default: Duration,
) -> Result<Duration, ConfigError> {
    Ok(Duration::from_secs(bounded(
        get,
        var,
        default.as_secs(),
        1..=7 * 86_400,
    )?))
}

pub(super) fn login_limits(
    get: &impl Fn(&str) -> Option<String>,
) -> Result<LoginLimits, ConfigError> {
    let d = LoginLimits::default();
    let lockout = seconds(get, "LOGIN_LOCKOUT_SECONDS", d.per_account_ip.lockout)?;
    let limit = |var, default: Limit, lockout| -> Result<Limit, ConfigError> {
        Ok(Limit {
            max: count(get, var, u64::from(default.max))?,
            window: lockout,
            lockout,
        })
    };
    Ok(LoginLimits {
        per_account_ip: limit("LOGIN_MAX_FAILURES", d.per_account_ip, lockout)?,
        per_ip: limit("LOGIN_MAX_FAILURES_PER_IP", d.per_ip, lockout)?,
        per_account: Limit {
            lockout: seconds(get, "LOGIN_ACCOUNT_LOCKOUT_SECONDS", d.per_account.lockout)?,
            ..limit("LOGIN_MAX_FAILURES_PER_ACCOUNT", d.per_account, lockout)?
        },
    })
}

pub(super) fn code_limits(
    get: &impl Fn(&str) -> Option<String>,
) -> Result<CodeLimits, ConfigError> {
    let d = CodeLimits::default();
    let max_wrong = d.wrong_codes_per_client.max;
    let per_client = bounded(
        get,
        "OTP_MAX_ATTEMPTS",
        d.attempts.per_client.into(),
        1..=20,
    )? as u32;
    let total = bounded(
        get,
        "OTP_MAX_ATTEMPTS_TOTAL",
        d.attempts.total.into(),
        1..=10_000,
    )? as u32;
    if total < per_client {
        return Err(ConfigError::new(
            "OTP_MAX_ATTEMPTS_TOTAL",
            format!("must be at least OTP_MAX_ATTEMPTS ({per_client}), got {total}"),
        ));
    }
    Ok(CodeLimits {
        attempts: CodeAttemptLimits { per_client, total },
        wrong_codes_per_client: Limit {
            max: count(get, "OTP_MAX_FAILURES_PER_EMAIL", u64::from(max_wrong))?,
            ..d.wrong_codes_per_client
        },
        mail_cooldown: seconds(get, "EMAIL_COOLDOWN_SECONDS", d.mail_cooldown)?,
        mails_per_hour: count(get, "EMAIL_MAX_PER_HOUR", u64::from(d.mails_per_hour))?,
    })
}
