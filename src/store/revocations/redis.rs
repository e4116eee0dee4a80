//! Revocations over Redis pub/sub. Each instance publishes what it ends and listens for what
//! the others end. While the subscription is down (or Redis stops answering its pings), the
//! instance is not listening, so its cache is not trusted; when it comes back, everything
//! cached is forgotten first, since messages may have been missed.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use async_trait::async_trait;
use futures_util::StreamExt;

use super::{Revocation, RevocationSink, Revocations};
use crate::store::StoreError;
use crate::store::redis::{RedisStore, store_error};

/// How often the subscription is pinged, and how long a ping may take.
const PING_EVERY: Duration = Duration::from_millis(250);
const PING_TIMEOUT: Duration = Duration::from_millis(500);
/// How long to wait before subscribing again after a failure.
const RETRY_AFTER: Duration = Duration::from_millis(250);

#[async_trait]
impl Revocations for RedisStore {
    async fn publish(&self, revocation: &Revocation) -> Result<(), StoreError> {
        let mut conn = self.connection.clone();
        redis::cmd("PUBLISH")
            .arg(self.revocation_channel())
            .arg(revocation.encode())
            .query_async::<i64>(&mut conn)
            .await
            .map(|_| ())
            .map_err(store_error)
    }

    fn listening(&self) -> bool {
        self.listening.load(Ordering::Acquire)
    }

    fn listen(&self, sink: Arc<dyn RevocationSink>) {
        let store = self.clone();
        tokio::spawn(async move {
            loop {
                if let Err(e) = store.listen_once(sink.as_ref()).await {
                    tracing::warn!(error = %e, "not hearing other instances' revocations; reading sessions from the database");
                }
                store.listening.store(false, Ordering::Release);
                tokio::time::sleep(RETRY_AFTER).await;
            }
        });
    }
}

impl RedisStore {
    /// Subscribes, then hands messages to `sink` until the subscription fails.
    async fn listen_once(&self, sink: &dyn RevocationSink) -> Result<(), StoreError> {
        let pubsub = tokio::time::timeout(PING_TIMEOUT, self.client.get_async_pubsub())
            .await
            .map_err(|_| StoreError("Redis did not answer in time".into()))?
            .map_err(store_error)?;
        let (mut sink_side, mut messages) = pubsub.split();
        sink_side
            .subscribe(self.revocation_channel())
            .await
            .map_err(store_error)?;
        // Whatever was cached while not listening may have been revoked meanwhile.
        sink.forget_all();
        self.listening.store(true, Ordering::Release);
        let mut pings = tokio::time::interval(PING_EVERY);
        loop {
            tokio::select! {
                message = messages.next() => {
                    let Some(message) = message else {
                        return Err(StoreError("the subscription was closed".into()));
                    };
                    let payload: String = message.get_payload().map_err(store_error)?;
                    match Revocation::decode(&payload) {
                        Some(revocation) => sink.revoke(&revocation),
                        None => tracing::warn!("unreadable revocation message ignored"),
                    }
                }
                _ = pings.tick() => {
                    // On a subscribed connection Redis answers a PING with `["pong", ""]`, not
                    // `PONG`: any answer will do.
                    let pong = tokio::time::timeout(PING_TIMEOUT, sink_side.ping::<redis::Value>()).await;
                    if !matches!(pong, Ok(Ok(_))) {
                        return Err(StoreError("Redis stopped answering pings".into()));
                    }
                }
            }
        }
    }
}
