//! Codes in Redis.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{Attempt, CodeCheck, CodeStore, NewCode};
use crate::domain::{Code, CodeKey};
use crate::store::StoreError;
use crate::store::redis::{RedisStore, millis, store_error};

/// The rule of [`judge_code`](crate::limits::judge_code), atomically in Redis.
/// ARGV: digest, now (ms), per-client tries, total tries, the client's field.
pub(in crate::store) const CHECK_CODE: &str = r"
local h = redis.call('HMGET', KEYS[1], 'h', 'exp', ARGV[5])
if not h[1] or tonumber(h[2]) <= tonumber(ARGV[2]) then return {'missing'} end
local per_client = tonumber(ARGV[3])
if (tonumber(h[3]) or 0) >= per_client then return {'exhausted'} end
if h[1] == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return {'accepted'}
end
local mine = redis.call('HINCRBY', KEYS[1], ARGV[5], 1)
local failed = redis.call('HINCRBY', KEYS[1], 'failed', 1)
if failed >= tonumber(ARGV[4]) then
  redis.call('HDEL', KEYS[1], 'h')
  return {'burned'}
end
if mine >= per_client then return {'exhausted'} end
return {'rejected', tostring(per_client - mine)}
";

#[async_trait]
impl CodeStore for RedisStore {
    async fn put(&self, code_key: &CodeKey, new: NewCode) -> Result<(), StoreError> {
        let key = self.code_key(code_key);
        let digest = self.digest(code_key, &new.code)?;
        let mut conn = self.connection.clone();
        redis::pipe()
            .atomic()
            .del(&key)
            .hset_multiple(
                &key,
                &[
                    ("h", digest),
                    ("exp", millis(new.expires_at).to_string()),
                    ("failed", "0".to_owned()),
                ],
            )
            .pexpire_at(&key, millis(new.expires_at))
            .query_async::<()>(&mut conn)
            .await
            .map_err(store_error)
    }

    async fn holds(
        &self,
        key: &CodeKey,
        code: &Code,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut conn = self.connection.clone();
        let (digest, expires): (Option<String>, Option<i64>) = redis::cmd("HMGET")
            .arg(self.code_key(key))
            .arg("h")
            .arg("exp")
            .query_async(&mut conn)
            .await
            .map_err(store_error)?;
        let live = expires.is_some_and(|exp| exp > millis(now));
        Ok(live && digest == Some(self.digest(key, code)?))
    }

    async fn check(
        &self,
        key: &CodeKey,
        attempt: Attempt<'_>,
        now: DateTime<Utc>,
    ) -> Result<CodeCheck, StoreError> {
        let mut conn = self.connection.clone();
        let answer: Vec<String> = self
            .check_code
            .key(self.code_key(key))
            .arg(self.digest(key, attempt.code)?)
            .arg(millis(now))
            .arg(attempt.limits.per_client)
            .arg(attempt.limits.total)
            .arg(format!("c:{}", attempt.client))
            .invoke_async(&mut conn)
            .await
            .map_err(store_error)?;
        Ok(match answer.first().map(String::as_str) {
            Some("accepted") => CodeCheck::Accepted,
            Some("rejected") => CodeCheck::Rejected {
                remaining: answer.get(1).and_then(|r| r.parse().ok()).unwrap_or(0),
            },
            Some("exhausted") => CodeCheck::Exhausted,
            Some("burned") => CodeCheck::Burned,
            _ => CodeCheck::Missing,
        })
    }

    async fn remove(&self, key: &CodeKey) -> Result<(), StoreError> {
        let mut conn = self.connection.clone();
        redis::cmd("DEL")
            .arg(self.code_key(key))
            .query_async::<()>(&mut conn)
            .await
            .map_err(store_error)
    }

    async fn sweep(&self, _now: DateTime<Utc>) -> Result<(), StoreError> {
        Ok(())
    }

    async fn reachable(&self) -> Option<bool> {
        Some(self.ping().await)
    }
}
