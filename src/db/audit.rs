//! The `security_events` table: each user's security activity (logins, password and address
//! changes, ended sessions, two-factor changes), newest first, purged after the retention.

use chrono::{DateTime, Utc};
use sqlx::QueryBuilder;

use super::{Db, DbError, with_pool};
use crate::domain::UserId;

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    AccountCreated,
    EmailVerified,
    LoginSucceeded,
    LoginFailed,
    LoginLocked,
    Logout,
    SessionRevoked,
    PasswordChanged,
    PasswordReset,
    EmailChanged,
    MfaEnabled,
    MfaDisabled,
    RecoveryCodeUsed,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::AccountCreated => "account_created",
            EventKind::EmailVerified => "email_verified",
            EventKind::LoginSucceeded => "login_succeeded",
            EventKind::LoginFailed => "login_failed",
            EventKind::LoginLocked => "login_locked",
            EventKind::Logout => "logout",
            EventKind::SessionRevoked => "session_revoked",
            EventKind::PasswordChanged => "password_changed",
            EventKind::PasswordReset => "password_reset",
            EventKind::EmailChanged => "email_changed",
            EventKind::MfaEnabled => "mfa_enabled",
            EventKind::MfaDisabled => "mfa_disabled",
            EventKind::RecoveryCodeUsed => "recovery_code_used",
        }
    }
}

/// An event to store: what, for whom, when, and from which client.
#[derive(Clone, Debug)]
pub struct NewEvent {
    pub user_id: UserId,
    pub kind: EventKind,
    pub at: DateTime<Utc>,
    pub ip: String,
    pub user_agent: String,
}

/// A stored event, as the activity list shows it.
#[derive(Debug, sqlx::FromRow)]
pub struct EventRow {
    pub id: i64,
    pub event: String,
    pub at: DateTime<Utc>,
    pub ip: String,
    pub user_agent: String,
}

/// Appends an `INSERT` of `event` (for use inside a transaction or alone).
pub(super) fn push_event<DB>(q: &mut QueryBuilder<DB>, event: &NewEvent)
where
    DB: sqlx::Database,
    for<'t> &'t str: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
    for<'t> i64: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
    for<'t> DateTime<Utc>: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
{
    q.push("INSERT INTO security_events (user_id, event, at, ip, user_agent) VALUES (")
        .push_bind(event.user_id.get())
        .push(", ")
        .push_bind(event.kind.as_str())
        .push(", ")
        .push_bind(event.at)
        .push(", ")
        .push_bind(event.ip.as_str())
        .push(", ")
        .push_bind(event.user_agent.as_str())
        .push(")");
}

/// Stores one event on its own (for changes that are one statement, or none).
pub async fn record(db: &Db, event: &NewEvent) -> Result<(), DbError> {
    with_pool!(db, pool => {
        let mut q = QueryBuilder::new("");
        push_event(&mut q, event);
        q.build().execute(pool).await.map(|_| ())
    })?;
    Ok(())
}

/// The user's events since `since` and older than the event `before` (all when `None`),
/// newest first, at most `limit`.
pub async fn list(
    db: &Db,
    user_id: UserId,
    since: DateTime<Utc>,
    before: Option<i64>,
    limit: u32,
) -> Result<Vec<EventRow>, DbError> {
    Ok(with_pool!(db, pool => {
        let mut q = QueryBuilder::new(
            "SELECT id, event, at, ip, user_agent FROM security_events WHERE user_id = ",
        );
        q.push_bind(user_id.get()).push(" AND at >= ").push_bind(since);
        if let Some(before) = before {
            q.push(" AND id < ").push_bind(before);
        }
        q.push(" ORDER BY id DESC LIMIT ").push_bind(i64::from(limit));
        q.build_query_as().fetch_all(pool).await
    })?)
}

/// Where the user's successful logins since `since` came from: `(ip, user_agent)`, newest
/// first, at most `limit`.
pub async fn recent_logins(
    db: &Db,
    user_id: UserId,
    since: DateTime<Utc>,
    limit: u32,
) -> Result<Vec<(String, String)>, DbError> {
    Ok(with_pool!(db, pool => {
        let mut q = QueryBuilder::new("SELECT ip, user_agent FROM security_events WHERE user_id = ");
        q.push_bind(user_id.get())
            .push(" AND event = ")
            .push_bind(EventKind::LoginSucceeded.as_str())
            .push(" AND at >= ")
            .push_bind(since)
            .push(" ORDER BY id DESC LIMIT ")
            .push_bind(i64::from(limit));
        q.build_query_as().fetch_all(pool).await
    })?)
}

/// Deletes events from before `cutoff`; returns how many.
pub async fn purge(db: &Db, cutoff: DateTime<Utc>) -> Result<u64, DbError> {
    Ok(with_pool!(db, pool => {
        let mut q = QueryBuilder::new("DELETE FROM security_events WHERE at < ");
        q.push_bind(cutoff);
        q.build().execute(pool).await.map(|r| r.rows_affected())
    })?)
}
