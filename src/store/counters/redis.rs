//! Counters in Redis.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use redis::AsyncCommands;

use super::CounterStore;
use crate::clock::delta;
use crate::limits::Tally;
use crate::store::StoreError;
use crate::store::redis::{RedisStore, millis, store_error};

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
