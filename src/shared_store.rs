//! Codes and counters in Redis, shared by every instance behind a load balancer.
//!
//! Each operation that must be atomic (check-and-burn a code, count-and-test) is one Lua script,
//! so two instances racing cannot both accept one code or slip past a limit. Codes are stored
//! as HMAC-SHA256 digests keyed by a secret every instance shares, so reading Redis does not
//! reveal live codes. Time comes from the caller's clock; Redis expiry only cleans up.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use hmac::{Hmac, Mac};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands, Script};
use sha2::Sha256;

use crate::auth::counters::{CounterStore, Tally};
use crate::auth::otp::{Attempt, Code, CodeCheck, CodeStore, NewCode, Purpose};
use crate::auth::types::UserEmail;
use crate::auth::{StoreError, delta, hex};

/// How long one Redis round trip may take before the request gets a 503.
const RESPONSE_TIMEOUT: Duration = Duration::from_millis(500);
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);

/// The rule of [`judge_code`](crate::auth::decide::judge_code), atomically in Redis.
/// ARGV: digest, now (ms), per-client tries, total tries, the client's field.
const CHECK_CODE: &str = r"
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

const HIT: &str = r"
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

const UNHIT: &str = r"
local r = redis.call('HMGET', KEYS[1], 'n', 'reset')
if r[1] and tonumber(r[2]) > tonumber(ARGV[1]) and tonumber(r[1]) > 0 then
  redis.call('HINCRBY', KEYS[1], 'n', -1)
end
return 1
";

const RESET_AT: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HSET', KEYS[1], 'reset', ARGV[1])
  redis.call('PEXPIREAT', KEYS[1], ARGV[1])
end
return 1
";

/// The Redis store: one connection manager (it reconnects by itself), scripts loaded once.
#[derive(Clone)]
pub struct RedisStore {
    connection: ConnectionManager,
    prefix: String,
    code_key: Vec<u8>,
    check_code: Script,
    hit: Script,
    unhit: Script,
    reset_at: Script,
}

impl RedisStore {
    /// Connects lazily (a Redis that is down at start is retried on use). `secret` keys the
    /// code digests; every instance must share it. `prefix` starts every key.
    pub fn new(url: &str, prefix: &str, secret: &[u8]) -> Result<Self, StoreError> {
        let client = redis::Client::open(url).map_err(store_error)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_number_of_retries(1);
        let connection =
            ConnectionManager::new_lazy_with_config(client, config).map_err(store_error)?;
        Ok(Self {
            connection,
            prefix: prefix.to_owned(),
            code_key: keyed_digest(secret, b"authd one-time code digest v1")?,
            check_code: Script::new(CHECK_CODE),
            hit: Script::new(HIT),
            unhit: Script::new(UNHIT),
            reset_at: Script::new(RESET_AT),
        })
    }

    /// Whether Redis answers a PING within the response timeout.
    async fn ping(&self) -> bool {
        let mut conn = self.connection.clone();
        let ping = redis::cmd("PING");
        let pong = ping.query_async::<String>(&mut conn);
        matches!(
            tokio::time::timeout(RESPONSE_TIMEOUT * 2, pong).await,
            Ok(Ok(_))
        )
    }

    fn code_key(&self, purpose: Purpose, email: &UserEmail) -> String {
        format!("{}code:{purpose:?}:{email}", self.prefix)
    }

    fn counter_key(&self, key: &str) -> String {
        format!("{}n:{key}", self.prefix)
    }

    /// The keyed digest of a code, bound to its purpose and address.
    fn digest(
        &self,
        purpose: Purpose,
        email: &UserEmail,
        code: &Code,
    ) -> Result<String, StoreError> {
        let message = format!("{purpose:?}\n{email}\n{}", code.expose());
        Ok(hex(&keyed_digest(&self.code_key, message.as_bytes())?))
    }
}

/// HMAC-SHA256 of `message` under `key`.
fn keyed_digest(key: &[u8], message: &[u8]) -> Result<Vec<u8>, StoreError> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
        .map_err(|e| StoreError(format!("HMAC key refused: {e}")))?;
    mac.update(message);
    Ok(mac.finalize().into_bytes().to_vec())
}

fn store_error(e: redis::RedisError) -> StoreError {
    StoreError(e.to_string())
}

fn millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

#[async_trait]
impl CodeStore for RedisStore {
    async fn put(
        &self,
        purpose: Purpose,
        email: &UserEmail,
        new: NewCode,
    ) -> Result<(), StoreError> {
        let key = self.code_key(purpose, email);
        let digest = self.digest(purpose, email, &new.code)?;
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

    async fn check(
        &self,
        purpose: Purpose,
        email: &UserEmail,
        attempt: Attempt<'_>,
        now: DateTime<Utc>,
    ) -> Result<CodeCheck, StoreError> {
        let mut conn = self.connection.clone();
        let answer: Vec<String> = self
            .check_code
            .key(self.code_key(purpose, email))
            .arg(self.digest(purpose, email, attempt.code)?)
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

    async fn sweep(&self, _now: DateTime<Utc>) -> Result<(), StoreError> {
        Ok(())
    }

    async fn reachable(&self) -> Option<bool> {
        Some(self.ping().await)
    }
}

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
