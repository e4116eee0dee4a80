//! The `users` table.

use chrono::{DateTime, Utc};
use sqlx::QueryBuilder;

use super::outbox::{NewMail, push_insert};
use super::{Db, DbError, with_pool};
use super::{Effects, record_in};
use crate::domain::{SessionId, User, UserEmail, UserId, UserName};

/// A user with the stored password hash, for the flows only; never serialized.
#[derive(sqlx::FromRow)]
pub struct UserRecord {
    pub id: i64,
    pub name: String,
    pub email: String,
    pub password_hash: String,
    pub is_verified: bool,
    /// Whether login asks for a second factor.
    pub mfa_enabled: bool,
    /// When an operator disabled the account: no password matches it then.
    pub disabled_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// When the latest registration of a still-unverified address was made.
    pub registered_at: DateTime<Utc>,
}

/// The stored hash of an account that has no usable password (a contested registration that
/// was verified): no password matches it.
pub const NO_PASSWORD: &str = "";

/// The columns a [`UserRecord`] is read from.
const RECORD: &str = "SELECT id, name, email, password_hash, is_verified, mfa_enabled, \
                      disabled_at, created_at, registered_at FROM users";

impl UserRecord {
    pub fn user_id(&self) -> UserId {
        UserId::new(self.id)
    }

    pub fn into_user(self) -> User {
        User {
            id: UserId::new(self.id),
            name: self.name,
            email: self.email,
            is_verified: self.is_verified,
            mfa_enabled: self.mfa_enabled,
            created_at: self.created_at,
        }
    }
}

pub async fn find_by_email(db: &Db, email: &UserEmail) -> Result<Option<UserRecord>, DbError> {
    Ok(with_pool!(db, pool => {
        let mut q = QueryBuilder::new(RECORD);
        q.push(" WHERE email = ").push_bind(email.as_str());
        q.build_query_as().fetch_optional(pool).await
    })?)
}

/// Inserts an unverified user; [`DbError::Duplicate`] when the email is taken.
pub async fn insert(
    db: &Db,
    name: &UserName,
    email: &UserEmail,
    password_hash: &str,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    with_pool!(db, pool => {
        let mut q = QueryBuilder::new(
            "INSERT INTO users (name, email, password_hash, is_verified, created_at, updated_at, \
             registered_at) VALUES (",
        );
        q.push_bind(name.as_str())
            .push(", ")
            .push_bind(email.as_str())
            .push(", ")
            .push_bind(password_hash)
            .push(", ")
            .push_bind(false)
            .push(", ")
            .push_bind(now)
            .push(", ")
            .push_bind(now)
            .push(", ")
            .push_bind(now)
            .push(")");
        q.build().execute(pool).await.map(|_| ())
    })?;
    Ok(())
}

/// Records a further registration of a still-unverified address. A `contested` one (another
/// password) marks the address so that verifying it sets no password; the name stays only if
/// the registrations agree on it, else it becomes the address's local part. Returns whether
/// the address was still unverified (a verification may have won a race).
pub async fn record_registration(
    db: &Db,
    email: &UserEmail,
    name: &UserName,
    contested: bool,
    now: DateTime<Utc>,
) -> Result<bool, DbError> {
    let local_part = email.as_str().split('@').next().unwrap_or_default();
    with_pool!(db, pool => {
        let mut q = QueryBuilder::new("UPDATE users SET registered_at = ");
        q.push_bind(now).push(", updated_at = ").push_bind(now);
        if contested {
            q.push(", registration_contested = ")
                .push_bind(true)
                .push(", name = CASE WHEN name = ")
                .push_bind(name.as_str())
                .push(" THEN name ELSE ")
                .push_bind(local_part)
                .push(" END");
        }
        q.push(" WHERE email = ")
            .push_bind(email.as_str())
            .push(" AND is_verified = ")
            .push_bind(false);
        q.build().execute(pool).await.map(|r| r.rows_affected())
    })
    .map(|updated| updated == 1)
    .map_err(DbError::from)
}

/// Marks the address verified and returns the user with whether it has a password, or `None`
/// if no such user exists. A contested registration is verified with no usable password.
pub async fn mark_verified(
    db: &Db,
    email: &UserEmail,
    now: DateTime<Utc>,
) -> Result<Option<(User, bool)>, DbError> {
    with_pool!(db, pool => {
        let mut q = QueryBuilder::new("UPDATE users SET is_verified = ");
        q.push_bind(true)
            .push(", password_hash = CASE WHEN registration_contested THEN ")
            .push_bind(NO_PASSWORD)
            .push(" ELSE password_hash END, updated_at = ")
            .push_bind(now)
            .push(" WHERE email = ")
            .push_bind(email.as_str())
            .push(" AND is_verified = ")
            .push_bind(false);
        q.build().execute(pool).await.map(|_| ())
    })?;
    Ok(find_by_email(db, email).await?.map(|record| {
        let has_password = record.password_hash != NO_PASSWORD;
        (record.into_user(), has_password)
    }))
}

pub async fn find_by_id(db: &Db, user_id: UserId) -> Result<Option<UserRecord>, DbError> {
    Ok(with_pool!(db, pool => {
        let mut q = QueryBuilder::new(RECORD);
        q.push(" WHERE id = ").push_bind(user_id.get());
        q.build_query_as().fetch_optional(pool).await
    })?)
}

/// Deletes the user; their sessions go with them (the foreign key cascades). `goodbye` is
/// queued in the same transaction, if the user existed. Returns whether the user existed.
pub async fn delete(db: &Db, user_id: UserId, goodbye: &[NewMail]) -> Result<bool, DbError> {
    Ok(with_pool!(db, pool => async {
        let mut tx = pool.begin().await?;
        let mut q = QueryBuilder::new("DELETE FROM users WHERE id = ");
        q.push_bind(user_id.get());
        if q.build().execute(&mut *tx).await?.rows_affected() != 1 {
            return Ok::<bool, sqlx::Error>(false);
        }
        for mail in goodbye {
            let mut q = QueryBuilder::new("");
            push_insert(&mut q, mail);
            q.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(true)
    }
    .await)?)
}

/// Records `new_email` as the address the user asked to move to, replacing an earlier request.
pub async fn set_pending_email(
    db: &Db,
    user_id: UserId,
    new_email: &UserEmail,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    with_pool!(db, pool => {
        let mut q = QueryBuilder::new("UPDATE users SET pending_email = ");
        q.push_bind(new_email.as_str())
            .push(", updated_at = ")
            .push_bind(now)
            .push(" WHERE id = ")
            .push_bind(user_id.get());
        q.build().execute(pool).await.map(|_| ())
    })?;
    Ok(())
}

/// The address the user asked to move to, if a request is pending.
pub async fn pending_email(db: &Db, user_id: UserId) -> Result<Option<String>, DbError> {
    let row: Option<(Option<String>,)> = with_pool!(db, pool => {
        let mut q = QueryBuilder::new("SELECT pending_email FROM users WHERE id = ");
        q.push_bind(user_id.get());
        q.build_query_as().fetch_optional(pool).await
    })?;
    Ok(row.and_then(|(pending,)| pending))
}

/// Moves the user to `new_email` if that is still the pending request, and ends every other
/// session, in one transaction with `effects`. Returns the updated user and how many sessions ended, `None`
/// if the request is no longer pending, or [`DbError::Duplicate`] if the address got an
/// account meanwhile.
pub async fn confirm_email_change(
    db: &Db,
    user_id: UserId,
    new_email: &UserEmail,
    keep: &SessionId,
    effects: &Effects,
) -> Result<Option<(User, u64)>, DbError> {
    let now = effects.event.at;
    let changed = with_pool!(db, pool => async {
        let mut tx = pool.begin().await?;
        let mut set = QueryBuilder::new("UPDATE users SET email = ");
        set.push_bind(new_email.as_str())
            .push(", pending_email = NULL, updated_at = ")
            .push_bind(now)
            .push(" WHERE id = ")
            .push_bind(user_id.get())
            .push(" AND pending_email = ")
            .push_bind(new_email.as_str());
        if set.build().execute(&mut *tx).await?.rows_affected() != 1 {
            return Ok(None);
        }
        let mut end = QueryBuilder::new("DELETE FROM sessions WHERE user_id = ");
        end.push_bind(user_id.get())
            .push(" AND id <> ")
            .push_bind(keep.as_str());
        let ended = end.build().execute(&mut *tx).await?.rows_affected();
        let mut read = QueryBuilder::new(RECORD);
        read.push(" WHERE id = ").push_bind(user_id.get());
        let record: UserRecord = read.build_query_as().fetch_one(&mut *tx).await?;
        record_in(&mut tx, effects).await?;
        tx.commit().await?;
        Ok::<_, sqlx::Error>(Some((record.into_user(), ended)))
    }
    .await)?;
    Ok(changed)
}
