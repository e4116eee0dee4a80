//! Reading variables: each read names its variable, its default and what it accepts, once.

use std::str::FromStr;
use std::time::Duration;

use super::ConfigError;

/// The variables to read from: unset and empty values count as absent.
pub(super) struct Env<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
}

impl<'a> Env<'a> {
    pub(super) fn new(lookup: &'a dyn Fn(&str) -> Option<String>) -> Self {
        Self { lookup }
    }

    /// The trimmed value of `var`, if it is set and not empty.
    pub(super) fn get(&self, var: &str) -> Option<String> {
        (self.lookup)(var)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    /// `var` parsed, or `default`; `expects` says what it must be.
    pub(super) fn parse<T: FromStr>(
        &self,
        var: &'static str,
        default: T,
        expects: &str,
    ) -> Result<T, ConfigError> {
        match self.get(var) {
            None => Ok(default),
            Some(raw) => raw
                .parse()
                .map_err(|_| ConfigError::new(var, format!("must be {expects}, got {raw:?}"))),
        }
    }

    /// `true` or `false`.
    pub(super) fn flag(&self, var: &'static str, default: bool) -> Result<bool, ConfigError> {
        self.parse(var, default, "true or false")
    }

    /// A whole number within `range`.
    pub(super) fn number(
        &self,
        var: &'static str,
        default: u64,
        range: std::ops::RangeInclusive<u64>,
    ) -> Result<u64, ConfigError> {
        let expects = format!("a whole number from {} to {}", range.start(), range.end());
        let value = self.parse(var, default, &expects)?;
        if range.contains(&value) {
            Ok(value)
        } else {
            Err(ConfigError::new(
                var,
                format!("must be {expects}, got {value}"),
            ))
        }
    }

    /// A positive count that fits a `u32` limit.
    pub(super) fn count(&self, var: &'static str, default: u32) -> Result<u32, ConfigError> {
        Ok(self.number(var, default.into(), 1..=1_000_000)? as u32)
    }

    /// A duration given in whole seconds within `range`.
    pub(super) fn seconds(
        &self,
        var: &'static str,
        default: Duration,
        range: std::ops::RangeInclusive<u64>,
    ) -> Result<Duration, ConfigError> {
        Ok(Duration::from_secs(self.number(
            var,
            default.as_secs(),
            range,
        )?))
    }
}
