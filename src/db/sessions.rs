//! The `sessions` table: one row per login, the authority behind every token.

use chrono::{DateTime, Utc};
use sqlx::QueryBuilder;

use super::{Db, DbError, with_pool};
use crate::domain::{SessionId, User, UserId};

/// A session to open.
#[derive(Debug)]
pub struct NewSession<'a> {
    pub id: &'a SessionId,
    pub user_id: UserId,
    /// The password hash the login checked: the session opens only while it is still stored.
    pub password_hash: &'a str,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// The user columns the session lookup reads.
#[derive(sqlx::FromRow)]
struct SessionUser {
    id: i64,
    name: String,
    email: String,
    is_verified: bool,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
}

/// Opens a session, but only while the user's password hash is still the one the login
/// checked: a login that checked the old password cannot open a session after a reset has
/// ended them all. Returns whether the session was created.
pub async fn create(db: &Db, session: &NewSession<'_>) -> Result<bool, DbError> {
    let created = with_pool!(db, pool => {
        let mut q = QueryBuilder::new("INSERT INTO sessions (id, user_id, created_at, expires_at) SELECT ");
        q.push_bind(session.id.as_str())
            .push(", id, ")
            .push_bind(session.created_at)
            .push(", ")
            .push_bind(session.expires_at)
            .push(" FROM users WHERE id = ")
            .push_bind(session.user_id.get())
            .push(" AND password_hash = ")
            .push_bind(session.password_hash);
        q.build().execute(pool).await.map(|r| r.rows_affected())
    })?;
    Ok(created == 1)
}

/// The user behind a live session, and when the session ends: one indexed lookup, joined
/// with the user.
pub async fn find_user(
    db: &Db,
    session_id: &SessionId,
    user_id: UserId,
    now: DateTime<Utc>,
) -> Result<Option<(User, DateTime<Utc>)>, DbError> {
    let row: Option<SessionUser> = with_pool!(db, pool => {
        let mut q = QueryBuilder::new(
            "SELECT u.id, u.name, u.email, u.is_verified, u.created_at, s.expires_at \
             FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id = ",
        );
        q.push_bind(session_id.as_str())
            .push(" AND s.user_id = ")
            .push_bind(user_id.get())
            .push(" AND s.expires_at > ")
            .push_bind(now);
        q.build_query_as().fetch_optional(pool).await
    })?;
    Ok(row.map(|r| {
        let user = User {
            id: UserId::new(r.id),
            name: r.name,
            email: r.email,
            is_verified: r.is_verified,
            created_at: r.created_at,
        };
        (user, r.expires_at)
    }))
}

pub async fn delete(db: &Db, session_id: &SessionId) -> Result<(), DbError> {
    with_pool!(db, pool => {
        let mut q = QueryBuilder::new("DELETE FROM sessions WHERE id = ");
        q.push_bind(session_id.as_str());
        q.build().execute(pool).await.map(|_| ())
    })?;
    Ok(())
}

/// Sets a new password hash (verifying the address: a reset code proves control of it) and ends
/// every session of the user, in one transaction. Returns how many sessions ended.
pub async fn replace_password(
    db: &Db,
    user_id: UserId,
    password_hash: &str,
    now: DateTime<Utc>,
) -> Result<u64, DbError> {
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
        tx.commit().await?;
        Ok::<u64, sqlx::Error>(ended)
    }
    .await)?;
    Ok(ended)
}

/// Deletes sessions that have expired; returns how many.
pub async fn purge_expired(db: &Db, now: DateTime<Utc>) -> Result<u64, DbError> {
    Ok(with_pool!(db, pool => {
        let mut q = QueryBuilder::new("DELETE FROM sessions WHERE expires_at <= ");
        q.push_bind(now);
        q.build().execute(pool).await.map(|r| r.rows_affected())
    })?)
}
