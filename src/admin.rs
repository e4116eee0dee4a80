//! The operator's commands (`authd users …`): what the admin command line does to accounts,
//! straight on the database of `DATABASE_URL`, no HTTP. Whatever ends sessions or changes what
//! a server may have cached is also published on the revocation channel (Redis, when
//! `REDIS_URL` is set), so running servers drop it at once; without Redis they see it within
//! the session cache's lifetime (`SESSION_CACHE_TTL_MS`), as for any change.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::auth::MailQueue;
use crate::clock::{Clock, delta};
use crate::db::admin::Account;
use crate::db::audit::{EventKind, NewEvent};
use crate::db::sessions::Live;
use crate::db::{self, Db, DbError, Effects};
use crate::domain::{UserEmail, UserId};
use crate::mail::Message;
use crate::store::{Revocation, Revocations};

/// An account with its live sessions and second-factor state.
#[derive(Debug, Serialize)]
pub struct AccountDetail {
    #[serde(flatten)]
    pub account: Account,
    pub recovery_codes_left: i64,
    pub sessions: Vec<SessionSummary>,
}

/// A live session as the command line shows it.
#[derive(Debug, Serialize)]
pub struct SessionSummary {
    pub id: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: DateTime<Utc>,
    pub ip: String,
    pub user_agent: String,
}

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("no user with that address")]
    NotFound,
    #[error(transparent)]
    Db(#[from] DbError),
}

/// The operator's view of the accounts.
pub struct Admin {
    db: Db,
    revocations: Arc<dyn Revocations>,
    clock: Arc<dyn Clock>,
    idle_timeout: Duration,
    /// How the goodbye of a deleted account is queued (a running server delivers it); `None`
    /// when the server key is not available to this command.
    mail: Option<MailQueue>,
}

impl Admin {
    pub fn new(
        db: Db,
        revocations: Arc<dyn Revocations>,
        clock: Arc<dyn Clock>,
        idle_timeout: Duration,
        mail: Option<MailQueue>,
    ) -> Self {
        Self {
            db,
            revocations,
            clock,
            idle_timeout,
            mail,
        }
    }

    /// Accounts whose address or name contains `search` (all without), oldest first.
    pub async fn list(&self, search: Option<&str>, limit: u32) -> Result<Vec<Account>, AdminError> {
        Ok(db::admin::list(&self.db, search, limit).await?)
    }

    pub async fn show(&self, email: &UserEmail) -> Result<AccountDetail, AdminError> {
        let account = self.find(email).await?;
        let user_id = UserId::new(account.id);
        let sessions = db::sessions::list(&self.db, user_id, self.live())
            .await?
            .into_iter()
            .map(|row| SessionSummary {
                id: row.handle,
                created_at: row.created_at,
                last_used_at: row.last_used_at,
                ip: row.ip,
                user_agent: row.user_agent,
            })
            .collect();
        let recovery_codes_left = db::mfa::recovery_codes_left(&self.db, user_id).await?;
        Ok(AccountDetail {
            account,
            recovery_codes_left,
            sessions,
        })
    }

    /// Marks the address verified, as if the user had entered the code.
    pub async fn verify(&self, email: &UserEmail) -> Result<Account, AdminError> {
        self.find(email).await?;
        db::users::mark_verified(&self.db, email, self.clock.now()).await?;
        self.revoke_user(email).await?;
        self.find(email).await
    }

    /// Deletes the account, its sessions and its recovery codes, and queues the goodbye email
    /// in the same transaction (a running server's worker delivers it within a second or so).
    /// Returns whether a goodbye was queued.
    pub async fn delete(&self, email: &UserEmail) -> Result<bool, AdminError> {
        let user_id = self.user_id(email).await?;
        let goodbye: Vec<_> = self
            .mail
            .iter()
            .map(|mail| mail.seal(email, Message::AccountDeleted, None, self.clock.now()))
            .collect();
        db::users::delete(&self.db, user_id, &goodbye).await?;
        self.publish(Revocation::User(user_id)).await;
        Ok(!goodbye.is_empty())
    }

    /// Ends every session of the account; returns how many were live.
    pub async fn revoke_sessions(&self, email: &UserEmail) -> Result<u64, AdminError> {
        let user_id = self.user_id(email).await?;
        let ended = db::sessions::delete_all(&self.db, user_id, None, self.live()).await?;
        self.publish(Revocation::User(user_id)).await;
        Ok(ended)
    }

    /// Disables the account (login answers as for a wrong password) and ends its sessions;
    /// returns how many were live.
    pub async fn disable(&self, email: &UserEmail) -> Result<u64, AdminError> {
        let user_id = self.user_id(email).await?;
        db::admin::set_disabled(&self.db, user_id, true, self.clock.now()).await?;
        let ended = db::sessions::delete_all(&self.db, user_id, None, self.live()).await?;
        self.publish(Revocation::User(user_id)).await;
        Ok(ended)
    }

    pub async fn enable(&self, email: &UserEmail) -> Result<(), AdminError> {
        let user_id = self.user_id(email).await?;
        db::admin::set_disabled(&self.db, user_id, false, self.clock.now()).await?;
        Ok(())
    }

    /// Turns two-factor login off (secret and recovery codes deleted) for a user who lost both
    /// the device and the recovery codes, and ends the account's sessions. Returns whether it
    /// was on.
    pub async fn mfa_reset(&self, email: &UserEmail) -> Result<bool, AdminError> {
        let user_id = self.user_id(email).await?;
        let event = NewEvent {
            user_id,
            kind: EventKind::MfaDisabled,
            at: self.clock.now(),
            ip: String::new(),
            user_agent: "operator: authd users mfa-reset".into(),
        };
        let effects = Effects {
            event,
            mail: Vec::new(),
        };
        let was_on = db::mfa::disable(&self.db, user_id, &effects).await?;
        db::sessions::delete_all(&self.db, user_id, None, self.live()).await?;
        self.publish(Revocation::User(user_id)).await;
        Ok(was_on)
    }

    async fn find(&self, email: &UserEmail) -> Result<Account, AdminError> {
        db::admin::find(&self.db, email)
            .await?
            .ok_or(AdminError::NotFound)
    }

    async fn user_id(&self, email: &UserEmail) -> Result<UserId, AdminError> {
        Ok(UserId::new(self.find(email).await?.id))
    }

    async fn revoke_user(&self, email: &UserEmail) -> Result<(), AdminError> {
        let user_id = self.user_id(email).await?;
        self.publish(Revocation::User(user_id)).await;
        Ok(())
    }

    /// Tells running servers (best effort: without it they follow within the cache lifetime).
    async fn publish(&self, revocation: Revocation) {
        if let Err(e) = self.revocations.publish(&revocation).await {
            tracing::warn!(error = %e, "running servers could not be told; they follow within SESSION_CACHE_TTL_MS");
        }
    }

    fn live(&self) -> Live {
        let now = self.clock.now();
        Live {
            now,
            idle_cutoff: now - delta(self.idle_timeout),
        }
    }
}
