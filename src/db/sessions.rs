//! The `sessions` table: one row per login, the authority behind every token.
//!
//! A session is live while its absolute end (`expires_at`) is ahead and it was used within the
//! idle timeout (`last_used_at` after [`Live::idle_cutoff`]); every read here asks for live
//! sessions only, so an idle one is as ended as a deleted one.

use chrono::{DateTime, Utc};
use sqlx::QueryBuilder;

use super::{Db, DbError, with_pool};
use super::{Effects, record_in};
use crate::domain::{SessionHandle, SessionId, User, UserId};

/// A session to open.
#[derive(Debug)]
pub struct NewSession<'a> {
    pub id: &'a SessionId,
    pub handle: &'a SessionHandle,
    pub user_id: UserId,
    /// The client address and user agent it was opened from, for the session list.
    pub ip: &'a str,
    pub user_agent: &'a str,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// Which sessions count as live: unexpired at `now`, and used after `idle_cutoff`.
#[derive(Clone, Copy, Debug)]
pub struct Live {
    pub now: DateTime<Utc>,
    pub idle_cutoff: DateTime<Utc>,
}

/// When a live session ends for good, and when its use was last recorded.
#[derive(Clone, Copy, Debug)]
pub struct Lifetime {
    pub expires_at: DateTime<Utc>,
    pub last_used_at: DateTime<Utc>,
}

/// The user columns the session lookup reads.
#[derive(sqlx::FromRow)]
struct SessionUser {
    id: i64,
    name: String,
    email: String,
    is_verified: bool,
    mfa_enabled: bool,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    last_used_at: DateTime<Utc>,
}

/// A live session as the session list shows it.
#[derive(Debug, sqlx::FromRow)]
pub struct SessionRow {
    pub id: String,
    pub handle: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub ip: String,
    pub user_agent: String,
}

/// Appends the columns and values of `session` to an `INSERT INTO sessions`.
fn push_session<DB>(q: &mut QueryBuilder<DB>, session: &NewSession<'_>)
where
    DB: sqlx::Database,
    for<'t> &'t str: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
    for<'t> i64: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
    for<'t> DateTime<Utc>: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
{
    q.push(
        "INSERT INTO sessions (id, handle, user_id, ip, user_agent, created_at, last_used_at, \
         expires_at) ",
    );
    q.push("SELECT ")
        .push_bind(session.id.as_str())
        .push(", ")
        .push_bind(session.handle.as_str())
        .push(", id, ")
        .push_bind(session.ip)
        .push(", ")
        .push_bind(session.user_agent)
        .push(", ")
        .push_bind(session.created_at)
        .push(", ")
        .push_bind(session.created_at)
        .push(", ")
        .push_bind(session.expires_at)
        .push(" FROM users WHERE id = ")
        .push_bind(session.user_id.get());
}

/// Opens a session, but only while the user's password hash is still the one the login
/// checked: a login that checked the old password cannot open a session after a reset has
/// ended them all; stores `effects` (the login event) with it. Returns whether the session was created.
pub async fn create(
    db: &Db,
    session: &NewSession<'_>,
    password_hash: &str,
    effects: &Effects,
) -> Result<bool, DbError> {
    Ok(with_pool!(db, pool => async {
        let mut tx = pool.begin().await?;
        let mut q = QueryBuilder::new("");
        push_session(&mut q, session);
        q.push(" AND password_hash = ").push_bind(password_hash);
        if q.build().execute(&mut *tx).await?.rows_affected() != 1 {
            return Ok::<bool, sqlx::Error>(false);
        }
        record_in(&mut tx, effects).await?;
        tx.commit().await?;
        Ok(true)
    }
    .await)?)
}

/// The user a session belongs to, if it exists.
pub async fn owner(db: &Db, session_id: &SessionId) -> Result<Option<UserId>, DbError> {
    let row: Option<(i64,)> = with_pool!(db, pool => {
        let mut q = QueryBuilder::new("SELECT user_id FROM sessions WHERE id = ");
        q.push_bind(session_id.as_str());
        q.build_query_as().fetch_optional(pool).await
    })?;
    Ok(row.map(|(id,)| UserId::new(id)))
}

/// Appends "the session is live" conditions on the alias `s`.
fn push_live<DB>(q: &mut QueryBuilder<DB>, live: Live)
where
    DB: sqlx::Database,
    for<'t> DateTime<Utc>: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
{
    q.push(" AND s.expires_at > ")
        .push_bind(live.now)
        .push(" AND s.last_used_at > ")
        .push_bind(live.idle_cutoff);
}

/// The user behind a live session, and the session's lifetime: one indexed lookup, joined
/// with the user.
pub async fn find_user(
    db: &Db,
    session_id: &SessionId,
    user_id: UserId,
    live: Live,
) -> Result<Option<(User, Lifetime)>, DbError> {
    let row: Option<SessionUser> = with_pool!(db, pool => {
        let mut q = QueryBuilder::new(
            "SELECT u.id, u.name, u.email, u.is_verified, u.mfa_enabled, u.created_at, s.expires_at, \
             s.last_used_at FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE u.disabled_at IS NULL AND s.id = ",
        );
        q.push_bind(session_id.as_str())
            .push(" AND s.user_id = ")
            .push_bind(user_id.get());
        push_live(&mut q, live);
        q.build_query_as().fetch_optional(pool).await
    })?;
    Ok(row.map(|r| {
        let user = User {
            id: UserId::new(r.id),
            name: r.name,
            email: r.email,
            is_verified: r.is_verified,
            mfa_enabled: r.mfa_enabled,
            created_at: r.created_at,
        };
        let lifetime = Lifetime {
            expires_at: r.expires_at,
            last_used_at: r.last_used_at,
        };
        (user, lifetime)
    }))
}

/// Records a use of the session at `now`, unless one was recorded after `recorded_since`
/// (another request or instance got there first): at most one write per interval.
pub async fn touch(
    db: &Db,
    session_id: &SessionId,
    now: DateTime<Utc>,
    recorded_since: DateTime<Utc>,
) -> Result<(), DbError> {
    with_pool!(db, pool => {
        let mut q = QueryBuilder::new("UPDATE sessions SET last_used_at = ");
        q.push_bind(now)
            .push(" WHERE id = ")
            .push_bind(session_id.as_str())
            .push(" AND last_used_at <= ")
            .push_bind(recorded_since);
        q.build().execute(pool).await.map(|_| ())
    })?;
    Ok(())
}

/// The user's live sessions, newest first.
pub async fn list(db: &Db, user_id: UserId, live: Live) -> Result<Vec<SessionRow>, DbError> {
    Ok(with_pool!(db, pool => {
        let mut q = QueryBuilder::new(
            "SELECT s.id, s.handle, s.created_at, s.last_used_at, s.expires_at, s.ip, \
             s.user_agent FROM sessions s WHERE s.user_id = ",
        );
        q.push_bind(user_id.get());
        push_live(&mut q, live);
        q.push(" ORDER BY s.created_at DESC, s.handle");
        q.build_query_as().fetch_all(pool).await
    })?)
}

/// The id of the user's live session with the public `handle`, if there is one.
pub async fn find_by_handle(
    db: &Db,
    user_id: UserId,
    handle: &SessionHandle,
    live: Live,
) -> Result<Option<SessionId>, DbError> {
    let row: Option<(String,)> = with_pool!(db, pool => {
        let mut q = QueryBuilder::new("SELECT s.id FROM sessions s WHERE s.handle = ");
        q.push_bind(handle.as_str())
            .push(" AND s.user_id = ")
            .push_bind(user_id.get());
        push_live(&mut q, live);
        q.build_query_as().fetch_optional(pool).await
    })?;
    Ok(row.map(|(id,)| SessionId::from_stored(id)))
}

/// Ends one session; returns whether it existed.
pub async fn delete(db: &Db, session_id: &SessionId) -> Result<bool, DbError> {
    let deleted = with_pool!(db, pool => {
        let mut q = QueryBuilder::new("DELETE FROM sessions WHERE id = ");
        q.push_bind(session_id.as_str());
        q.build().execute(pool).await.map(|r| r.rows_affected())
    })?;
    Ok(deleted == 1)
}

/// Ends every live session of the user but `keep` (all of them when `None`); returns how many.
/// Sessions that already ended (expired or idle) are left to [`purge_ended`], so the count is
/// of the sessions this ended, as the user saw them in the session list.
pub async fn delete_all(
    db: &Db,
    user_id: UserId,
    keep: Option<&SessionId>,
    live: Live,
) -> Result<u64, DbError> {
    Ok(with_pool!(db, pool => {
        let mut q = QueryBuilder::new("DELETE FROM sessions WHERE user_id = ");
        q.push_bind(user_id.get());
        if let Some(keep) = keep {
            q.push(" AND id <> ").push_bind(keep.as_str());
        }
        q.push(" AND expires_at > ")
            .push_bind(live.now)
            .push(" AND last_used_at > ")
            .push_bind(live.idle_cutoff);
        q.build().execute(pool).await.map(|r| r.rows_affected())
    })?)
}

/// Sets a new password hash (verifying the address: a reset code proves control of it) and ends
/// every session of the user, in one transaction; then opens `replacement`, if given, for the
/// session that changed the password, and stores `effects` (at the time of their event).
/// Returns how many sessions ended.
pub async fn replace_password(
    db: &Db,
    user_id: UserId,
    password_hash: &str,
    replacement: Option<&NewSession<'_>>,
    effects: &Effects,
) -> Result<u64, DbError> {
    let now = effects.event.at;
    let ended = with_pool!(db, pool => async {
        let mut tx = pool.begin().await?;
        let mut set = QueryBuilder::new("UPDATE users SET password_hash = ");
        set.push_bind(password_hash)
            .push(", is_verified = ")
            .push_bind(true)
            .push(", updated_at = ")
            .push_bind(now)
            .push(" WHERE id = ")
            .push_bind(user_id.get());
        set.build().execute(&mut *tx).await?;
        let mut end = QueryBuilder::new("DELETE FROM sessions WHERE user_id = ");
        end.push_bind(user_id.get());
        let ended = end.build().execute(&mut *tx).await?.rows_affected();
        if let Some(session) = replacement {
            let mut open = QueryBuilder::new("");
            push_session(&mut open, session);
            open.build().execute(&mut *tx).await?;
        }
        record_in(&mut tx, effects).await?;
        tx.commit().await?;
        Ok::<u64, sqlx::Error>(ended)
    }
    .await)?;
    Ok(ended)
}

/// Deletes sessions that have ended (expired or idle); returns how many.
pub async fn purge_ended(db: &Db, live: Live) -> Result<u64, DbError> {
    Ok(with_pool!(db, pool => {
        let mut q = QueryBuilder::new("DELETE FROM sessions WHERE expires_at <= ");
        q.push_bind(live.now)
            .push(" OR last_used_at <= ")
            .push_bind(live.idle_cutoff);
        q.build().execute(pool).await.map(|r| r.rows_affected())
    })?)
}
