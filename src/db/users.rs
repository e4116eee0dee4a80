//! The `users` table.

use chrono::{DateTime, Utc};

use super::{Db, DbError, with_pool};
use crate::auth::otp::Registration;
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
}

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
    const SQL: &str = "SELECT id, name, email, password_hash, is_verified, created_at \
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
    const SQL: &str = "INSERT INTO users (name, email, password_hash, is_verified, created_at, updated_at) \
                       VALUES (?, ?, ?, ?, ?, ?)";
    with_pool!(db, pool => sqlx::query(SQL)
        .bind(name.as_str())
        .bind(email.as_str())
        .bind(password_hash)
        .bind(false)
        .bind(now)
        .bind(now)
        .execute(pool)
        .await
        .map(|_| ()))?;
    Ok(())
}

/// Marks the address verified and returns the user, or `None` if no such user exists. With a
/// registration, a still-unverified account takes that registration's name and password: the
/// one the verification code was sent for. A verified account is never changed here.
pub async fn mark_verified(
    db: &Db,
    email: &UserEmail,
    registration: Option<&Registration>,
    now: DateTime<Utc>,
) -> Result<Option<User>, DbError> {
    match registration {
        Some(r) => {
            const SQL: &str = "UPDATE users SET name = ?, password_hash = ?, is_verified = ?, updated_at = ? \
                               WHERE email = ? AND is_verified = ?";
            with_pool!(db, pool => sqlx::query(SQL)
                .bind(&r.name)
                .bind(&r.password_hash)
                .bind(true)
                .bind(now)
                .bind(email.as_str())
                .bind(false)
                .execute(pool)
                .await
                .map(|_| ()))?;
        }
        None => {
            const SQL: &str = "UPDATE users SET is_verified = ?, updated_at = ? WHERE email = ?";
            with_pool!(db, pool => sqlx::query(SQL)
                .bind(true)
                .bind(now)
                .bind(email.as_str())
                .execute(pool)
                .await
                .map(|_| ()))?;
        }
    }
    Ok(find_by_email(db, email).await?.map(UserRecord::into_user))
}
