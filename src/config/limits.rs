//! The limits' variables: login lockouts, code budgets, the mail throttle and bcrypt's queue.

use super::ConfigError;
use super::env::Env;
use crate::limits::{CodeAttemptLimits, CodeLimits, HashLimits, Limit, LoginLimits};

/// Windows and lockouts: one second to one week.
const SECONDS: std::ops::RangeInclusive<u64> = 1..=7 * 86_400;

pub(super) fn login_limits(env: &Env<'_>) -> Result<LoginLimits, ConfigError> {
    let d = LoginLimits::default();
    let lockout = env.seconds("LOGIN_LOCKOUT_SECONDS", d.per_account_ip.lockout, SECONDS)?;
    let limit = |var, default: Limit, lockout| -> Result<Limit, ConfigError> {
        Ok(Limit {
            max: env.count(var, default.max)?,
            window: lockout,
            lockout,
        })
    };
    Ok(LoginLimits {
        per_account_ip: limit("LOGIN_MAX_FAILURES", d.per_account_ip, lockout)?,
        per_ip: limit("LOGIN_MAX_FAILURES_PER_IP", d.per_ip, lockout)?,
        per_account: Limit {
            lockout: env.seconds(
                "LOGIN_ACCOUNT_LOCKOUT_SECONDS",
                d.per_account.lockout,
                SECONDS,
            )?,
            ..limit("LOGIN_MAX_FAILURES_PER_ACCOUNT", d.per_account, lockout)?
        },
    })
}

pub(super) fn code_limits(env: &Env<'_>) -> Result<CodeLimits, ConfigError> {
    let d = CodeLimits::default();
    let per_client = env.number("OTP_MAX_ATTEMPTS", d.attempts.per_client.into(), 1..=20)? as u32;
    let total = env.number(
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
            max: env.count("OTP_MAX_FAILURES_PER_EMAIL", d.wrong_codes_per_client.max)?,
            ..d.wrong_codes_per_client
        },
        mail_cooldown: env.seconds("EMAIL_COOLDOWN_SECONDS", d.mail_cooldown, SECONDS)?,
        mails_per_hour: env.count("EMAIL_MAX_PER_HOUR", d.mails_per_hour)?,
    })
}

pub(super) fn hash_limits(env: &Env<'_>) -> Result<HashLimits, ConfigError> {
    let d = HashLimits::default();
    Ok(HashLimits {
        concurrent: env.number("BCRYPT_MAX_CONCURRENT", d.concurrent as u64, 1..=1024)? as usize,
        queued: env.number("BCRYPT_MAX_QUEUE", d.queued as u64, 0..=100_000)? as usize,
    })
}
