//! Counters in Redis.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use redis::AsyncCommands;

use super::{Counted, CounterStore};
use crate::clock::delta;
use crate::limits::{Limit, Tally};
use crate::store::StoreError;
use crate::store::redis::{RedisStore, millis, store_error};

/// Counts one attempt under every key and judges it, atomically (the rule of
/// [`judge_attempt`](crate::limits::judge_attempt)): a refused attempt writes nothing.
/// ARGV: now (ms), then per key its window (ms) and its limit.
pub(in crate::store) const COUNT: &str = r"
local now = tonumber(ARGV[1])
local counts, resets, refused_until = {}, {}, nil
for i, key in ipairs(KEYS) do
  local r = redis.call('HMGET', key, 'n', 'reset')
  local n = tonumber(r[1]) or 0
  local reset = tonumber(r[2]) or 0
  if reset <= now then
    n = 0
    reset = now + tonumber(ARGV[2 * i])
  end
  n = n + 1
  counts[i], resets[i] = n, reset
  if n > tonumber(ARGV[2 * i + 1]) and (refused_until == nil or reset > refused_until) then
    refused_until = reset
  end
end
if refused_until then return {0, refused_until} end
local answer = {1}
for i, key in ipairs(KEYS) do
  redis.call('HSET', key, 'n', counts[i], 'reset', resets[i])
  redis.call('PEXPIREAT', key, resets[i])
  answer[2 * i], answer[2 * i + 1] = counts[i], resets[i]
end
return answer
";

pub(in crate::store) const HIT: &str = r"
local r = redis.call('HMGET', KEYS[1], 'n', 'reset')
local n = tonumber(r[1]) or 0
local reset = tonumber(r[2]) or 0
local now = tonumber(ARGV[1])
if reset <= now then
  n = 0
  reset = now + tonumber(ARGV[2])
end
n = n + 1
redis.call('HSET', KEYS[1], 'n', n, 'reset', reset)
redis.call('PEXPIREAT', KEYS[1], reset)
return {n, reset}
";

pub(in crate::store) const UNHIT: &str = r"
local r = redis.call('HMGET', KEYS[1], 'n', 'reset')
if r[1] and tonumber(r[2]) > tonumber(ARGV[1]) and tonumber(r[1]) > 0 then
  redis.call('HINCRBY', KEYS[1], 'n', -1)
end
return 1
";

pub(in crate::store) const RESET_AT: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HSET', KEYS[1], 'reset', ARGV[1])
  redis.call('PEXPIREAT', KEYS[1], ARGV[1])
end
return 1
";

#[async_trait]
impl CounterStore for RedisStore {
    async fn count(
        &self,
        guards: &[(String, Limit)],
        now: DateTime<Utc>,
    ) -> Result<Counted, StoreError> {
        let mut invocation = self.count.prepare_invoke();
        invocation.arg(millis(now));
        for (key, limit) in guards {
            invocation
                .key(self.counter_key(key))
                .arg(delta(limit.window).num_milliseconds())
                .arg(limit.max);
        }
        let mut conn = self.connection.clone();
        let answer: Vec<i64> = invocation
            .invoke_async(&mut conn)
            .await
            .map_err(store_error)?;
        let at = |ms: i64| Utc.timestamp_millis_opt(ms).single().unwrap_or(now);
        match answer.as_slice() {
            [0, until] => Ok(Counted::Refused { until: at(*until) }),
            [1, pairs @ ..] => Ok(Counted::Allowed(
                pairs
                    .chunks_exact(2)
                    .map(|p| Tally {
                        count: u32::try_from(p[0]).unwrap_or(u32::MAX),
                        resets_at: at(p[1]),
                    })
                    .collect(),
            )),
            _ => Err(StoreError(
                "unexpected answer from the counting script".into(),
            )),
        }
    }

    async fn hit(
        &self,
        key: &str,
        window: Duration,
        now: DateTime<Utc>,
    ) -> Result<Tally, StoreError> {
        let mut conn = self.connection.clone();
        let (count, reset): (u32, i64) = self
            .hit
            .key(self.counter_key(key))
            .arg(millis(now))
            .arg(delta(window).num_milliseconds())
            .invoke_async(&mut conn)
            .await
            .map_err(store_error)?;
        let resets_at = Utc.timestamp_millis_opt(reset).single().unwrap_or(now);
        Ok(Tally { count, resets_at })
    }

    async fn unhit(&self, key: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
        let mut conn = self.connection.clone();
        self.unhit
            .key(self.counter_key(key))
            .arg(millis(now))
            .invoke_async::<i64>(&mut conn)
            .await
            .map(|_| ())
            .map_err(store_error)
    }

    async fn reset_at(&self, key: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        let mut conn = self.connection.clone();
        self.reset_at
            .key(self.counter_key(key))
            .arg(millis(at))
            .invoke_async::<i64>(&mut conn)
            .await
            .map(|_| ())
            .map_err(store_error)
    }

    async fn clear(&self, key: &str) -> Result<(), StoreError> {
        let mut conn = self.connection.clone();
        conn.del::<_, ()>(self.counter_key(key))
            .await
            .map_err(store_error)
    }

    async fn sweep(&self, _now: DateTime<Utc>) -> Result<(), StoreError> {
        Ok(())
    }
}
