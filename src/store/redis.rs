//! The Redis connection shared by the code and counter stores, for several instances behind a
//! load balancer.
//!
//! Each operation that must be atomic (check-and-burn a code, count-and-test) is one Lua script,
//! so two instances racing cannot both accept one code or slip past a limit. Codes are stored
//! as HMAC-SHA256 digests keyed by a secret every instance shares, so reading Redis does not
//! reveal live codes. Time comes from the caller's clock; Redis expiry only cleans up.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use redis::Script;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use sha2::Sha256;

use super::StoreError;
use super::codes::redis::CHECK_CODE;
use super::counters::redis::{COUNT, HIT, RESET_AT, UNHIT};
use crate::domain::{Code, CodeKey};

/// How long one Redis round trip may take before the request gets a 503.
const RESPONSE_TIMEOUT: Duration = Duration::from_millis(500);
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);

/// The Redis store: one connection manager (it reconnects by itself), scripts loaded once.
#[derive(Clone)]
pub struct RedisStore {
    pub(super) client: redis::Client,
    pub(super) connection: ConnectionManager,
    /// Whether the revocation subscription is up (see `revocations/redis.rs`).
    pub(super) listening: Arc<AtomicBool>,
    prefix: String,
    code_key: Vec<u8>,
    pub(super) check_code: Script,
    pub(super) count: Script,
    pub(super) hit: Script,
    pub(super) unhit: Script,
    pub(super) reset_at: Script,
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
            ConnectionManager::new_lazy_with_config(client.clone(), config).map_err(store_error)?;
        Ok(Self {
            client,
            connection,
            listening: Arc::default(),
            prefix: prefix.to_owned(),
            code_key: keyed_digest(secret, b"authd one-time code digest v1")?,
            check_code: Script::new(CHECK_CODE),
            count: Script::new(COUNT),
            hit: Script::new(HIT),
            unhit: Script::new(UNHIT),
            reset_at: Script::new(RESET_AT),
        })
    }

    /// Whether Redis answers a PING within the response timeout.
    pub(super) async fn ping(&self) -> bool {
        let mut conn = self.connection.clone();
        let ping = redis::cmd("PING");
        let pong = ping.query_async::<String>(&mut conn);
        matches!(
            tokio::time::timeout(RESPONSE_TIMEOUT * 2, pong).await,
            Ok(Ok(_))
        )
    }

    pub(super) fn code_key(&self, key: &CodeKey) -> String {
        format!("{}code:{:?}:{}", self.prefix, key.purpose(), key.subject())
    }

    pub(super) fn revocation_channel(&self) -> String {
        format!("{}revocations", self.prefix)
    }

    pub(super) fn counter_key(&self, key: &str) -> String {
        format!("{}n:{key}", self.prefix)
    }

    /// The keyed digest of a code, bound to its purpose and subject.
    pub(super) fn digest(&self, key: &CodeKey, code: &Code) -> Result<String, StoreError> {
        let message = format!("{:?}\n{}\n{}", key.purpose(), key.subject(), code.expose());
        Ok(hex::encode(keyed_digest(
            &self.code_key,
            message.as_bytes(),
        )?))
    }
}

/// HMAC-SHA256 of `message` under `key`.
fn keyed_digest(key: &[u8], message: &[u8]) -> Result<Vec<u8>, StoreError> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
        .map_err(|e| StoreError(format!("HMAC key refused: {e}")))?;
    mac.update(message);
    Ok(mac.finalize().into_bytes().to_vec())
}

pub(super) fn store_error(e: redis::RedisError) -> StoreError {
    StoreError(e.to_string())
}

pub(super) fn millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}
