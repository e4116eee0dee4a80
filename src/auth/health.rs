//! What the server can tell about its own health, and the periodic clean-up.

use std::time::Duration;

use super::{Auth, AuthError};
use crate::clock::delta;
use crate::db;
use crate::mail::DeliveryStatus;

/// How long the database check may take before the database counts as unavailable.
const DB_PING_TIMEOUT: Duration = Duration::from_secs(2);

/// The state of what the flows depend on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Health {
    /// Whether the database answers a query on our own tables.
    pub database: bool,
    /// Whether the shared store answers; `None` for the in-process one.
    pub store: Option<bool>,
    pub email: DeliveryStatus,
}

impl Auth {
    /// Checks the database and the shared store at once.
    pub async fn health(&self) -> Health {
        let (database, store) = tokio::join!(self.db.ping(DB_PING_TIMEOUT), self.codes.reachable());
        Health {
            database,
            store,
            email: self.delivery_status(),
        }
    }

    /// Drops expired codes and counters, and sessions that expired or idled out; run periodically.
    pub async fn sweep(&self) -> Result<(), AuthError> {
        let now = self.clock.now();
        self.codes.sweep(now).await?;
        self.counters.sweep(now).await?;
        let purged = db::sessions::purge_ended(&self.db, self.live(now)).await?;
        if purged > 0 {
            tracing::debug!(purged, "expired and idle sessions purged");
        }
        let cutoff = now - delta(self.settings.audit_retention);
        let events = db::audit::purge(&self.db, cutoff).await?;
        if events > 0 {
            tracing::debug!(events, "security events past the retention purged");
        }
        let mail = self.purge_mail(now).await?;
        if mail > 0 {
            tracing::debug!(rows = mail, "settled outbox rows past the retention purged");
        }
        Ok(())
    }
}
