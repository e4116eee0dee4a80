//! The `sessions` table: one row per login, the authority behind every token.

use chrono::{DateTime, Utc};

use super::{Db, DbError, with_pool};
use crate::auth::types::User;

pub async fn create(
    db: &Db,
    session_id: &str,
    user_id: i64,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<(), DbError> {
    const SQL: &str =
        "INSERT INTO sessions (id, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)";
    with_pool!(db, pool => sqlx::query(SQL)
        .bind(session_id)
        .bind(user_id)
        .bind(now)
        .bind(expires_at)
        .execute(pool)
        .await
        .map(|_| ()))?;
    Ok(())
}

/// The user behind a live session: one indexed lookup, joined with the user.
pub async fn find_user(
    db: &Db,
    session_id: &str,
    user_id: i64,
    now: DateTime<Utc>,
) -> Result<Option<User>, DbError> {
    const SQL: &str = "SELECT u.id, u.name, u.email, u.password_hash, u.is_verified, u.created_at \
                       FROM sessions s JOIN users u ON u.id = s.user_id \
                       WHERE s.id = ? AND s.user_id = ? AND s.expires_at > ?";
    let record: Option<super::users::UserRecord> = with_pool!(db, pool => sqlx::query_as(SQL)
        .bind(session_id)
        .bind(user_id)
        .bind(now)
        .fetch_optional(pool)
        .await)?;
    Ok(record.map(super::users::UserRecord::into_user))
}

pub async fn delete(db: &Db, session_id: &str) -> Result<(), DbError> {
    const SQL: &str = "DELETE FROM sessions WHERE id = ?";
    with_pool!(db, pool => sqlx::query(SQL).bind(session_id).execute(pool).await.map(|_| ()))?;
    Ok(())
}

/// Ends every session of a user (after a password reset).
pub async fn delete_for_user(db: &Db, user_id: i64) -> Result<u64, DbError> {
    const SQL: &str = "DELETE FROM sessions WHERE user_id = ?";
    Ok(
        with_pool!(db, pool => sqlx::query(SQL).bind(user_id).execute(pool).await.map(|r| r.rows_affected()))?,
    )
}

/// Deletes sessions that have expired; returns how many.
pub async fn purge_expired(db: &Db, now: DateTime<Utc>) -> Result<u64, DbError> {
    const SQL: &str = "DELETE FROM sessions WHERE expires_at <= ?";
    Ok(
        with_pool!(db, pool => sqlx::query(SQL).bind(now).execute(pool).await.map(|r| r.rows_affected()))?,
    )
}
