//! The `users` table.

use chrono::{DateTime, Utc};

use super::{Db, DbError, with_pool};
use crate::auth::types::{User, UserEmail, UserName};

/// A user with the stored password hash, for the domain only; never serialized.
#[derive(sqlx::FromRow)]
pub struct UserRecord {
    pub id: i64,
    pub name: String,
    pub email: String,
    pub password_hash: String,
    pub is_verified: bool,
    pub created_at: DateTime<Utc>,
    /// When the latest registration of a still-unverified address was made.
    pub registered_at: DateTime<Utc>,
}

/// The stored hash of an account that has no usable password (a contested registration that
/// was verified): no password matches it.
pub const NO_PASSWORD: &str = "";

impl UserRecord {
    pub fn into_user(self) -> User {
        User {
            id: self.id,
            name: self.name,
            email: self.email,
            is_verified: self.is_verified,
            created_at: self.created_at,
        }
    }
}

pub async fn find_by_email(db: &Db, email: &UserEmail) -> Result<Option<UserRecord>, DbError> {
    const SQL: &str = "SELECT id, name, email, password_hash, is_verified, created_at, registered_at \
                       FROM users WHERE email = ?";
    Ok(with_pool!(db, pool => sqlx::query_as(SQL).bind(email.as_str()).fetch_optional(pool).await)?)
}

/// Inserts an unverified user; [`DbError::Duplicate`] when the email is taken.
pub async fn insert(
    db: &Db,
    name: &UserName,
    email: &UserEmail,
    password_hash: &str,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    const SQL: &str = "INSERT INTO users (name, email, password_hash, is_verified, created_at, updated_at, registered_at) \
                       VALUES (?, ?, ?, ?, ?, ?, ?)";
    with_pool!(db, pool => sqlx::query(SQL)
        .bind(name.as_str())
        .bind(email.as_str())
        .bind(password_hash)
        .bind(false)
        .bind(now)
        .bind(now)
        .bind(now)
        .execute(pool)
        .await
        .map(|_| ()))?;
    Ok(())
}

/// Records a further registration of a still-unverified address. A `contested` one (another
/// password) marks the address so that verifying it sets no password; the name stays only if
/// the registrations agree on it, else it becomes the address's local part.
pub async fn record_registration(
    db: &Db,
    email: &UserEmail,
    name: &UserName,
    contested: bool,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    if contested {
        const SQL: &str = "UPDATE users SET registration_contested = ?, \
                           name = CASE WHEN name = ? THEN name ELSE ? END, \
                           registered_at = ?, updated_at = ? WHERE email = ? AND is_verified = ?";
        let local_part = email.as_str().split('@').next().unwrap_or_default();
        with_pool!(db, pool => sqlx::query(SQL)
            .bind(true)
            .bind(name.as_str())
            .bind(local_part)
            .bind(now)
            .bind(now)
            .bind(email.as_str())
            .bind(false)
            .execute(pool)
            .await
            .map(|_| ()))?;
    } else {
        const SQL: &str = "UPDATE users SET registered_at = ?, updated_at = ? \
                           WHERE email = ? AND is_verified = ?";
        with_pool!(db, pool => sqlx::query(SQL)
            .bind(now)
            .bind(now)
            .bind(email.as_str())
            .bind(false)
            .execute(pool)
            .await
            .map(|_| ()))?;
    }
    Ok(())
}

/// Marks the address verified and returns the user with whether it has a password, or `None`
/// if no such user exists. A contested registration is verified with no usable password.
pub async fn mark_verified(
    db: &Db,
    email: &UserEmail,
    now: DateTime<Utc>,
) -> Result<Option<(User, bool)>, DbError> {
    const SQL: &str = "UPDATE users SET is_verified = ?, \
                       password_hash = CASE WHEN registration_contested THEN ? ELSE password_hash END, \
                       updated_at = ? WHERE email = ? AND is_verified = ?";
    with_pool!(db, pool => sqlx::query(SQL)
        .bind(true)
        .bind(NO_PASSWORD)
        .bind(now)
        .bind(email.as_str())
        .bind(false)
        .execute(pool)
        .await
        .map(|_| ()))?;
    Ok(find_by_email(db, email).await?.map(|record| {
        let has_password = record.password_hash != NO_PASSWORD;
        (record.into_user(), has_password)
    }))
}
