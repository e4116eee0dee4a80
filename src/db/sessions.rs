//! The `sessions` table: one row per login, the authority behind every token.

use chrono::{DateTime, Utc};

use super::{Db, DbError, with_pool};
use crate::auth::types::User;

/// Opens a session for `user_id`, but only while its password hash is still `password_hash`:
/// a login that checked the old password cannot open a session after a reset has ended them
/// all. Returns whether the session was created.
pub async fn create(
    db: &Db,
    session_id: &str,
    user_id: i64,
    password_hash: &str,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<bool, DbError> {
    const SQL: &str = "INSERT INTO sessions (id, user_id, created_at, expires_at) \
                       SELECT ?, id, ?, ? FROM users WHERE id = ? AND password_hash = ?";
    let created = with_pool!(db, pool => sqlx::query(SQL)
        .bind(session_id)
        .bind(now)
        .bind(expires_at)
        .bind(user_id)
        .bind(password_hash)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(created == 1)
}

/// The user behind a live session: one indexed lookup, joined with the user.
pub async fn find_user(
    db: &Db,
    session_id: &str,
    user_id: i64,
    now: DateTime<Utc>,
) -> Result<Option<User>, DbError> {
    const SQL: &str = "SELECT u.id, u.name, u.email, u.password_hash, u.is_verified, u.created_at, \
                       u.registered_at FROM sessions s JOIN users u ON u.id = s.user_id \
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

/// Sets a new password hash (verifying the address: a reset code proves control of it) and ends
/// every session of the user, in one transaction. Returns how many sessions ended.
pub async fn replace_password(
    db: &Db,
    user_id: i64,
    password_hash: &str,
    now: DateTime<Utc>,
) -> Result<u64, DbError> {
    const SET: &str =
        "UPDATE users SET password_hash = ?, is_verified = ?, updated_at = ? WHERE id = ?";
    const END: &str = "DELETE FROM sessions WHERE user_id = ?";
    let ended = with_pool!(db, pool => async {
        let mut tx = pool.begin().await?;
        sqlx::query(SET)
            .bind(password_hash)
            .bind(true)
            .bind(now)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        let ended = sqlx::query(END).bind(user_id).execute(&mut *tx).await?.rows_affected();
        tx.commit().await?;
        Ok::<u64, sqlx::Error>(ended)
    }
    .await)?;
    Ok(ended)
}

/// Deletes sessions that have expired; returns how many.
pub async fn purge_expired(db: &Db, now: DateTime<Utc>) -> Result<u64, DbError> {
    const SQL: &str = "DELETE FROM sessions WHERE expires_at <= ?";
    Ok(
        with_pool!(db, pool => sqlx::query(SQL).bind(now).execute(pool).await.map(|r| r.rows_affected()))?,
    )
}
