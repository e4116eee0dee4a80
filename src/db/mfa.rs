//! The second factor's rows: the sealed TOTP secret and last accepted step on `users`, and
//! the digests of recovery codes in `recovery_codes`. Every use of a factor is one conditional
//! write, so two concurrent uses (on one instance or several) can never both succeed.

use chrono::{DateTime, Utc};
use sqlx::QueryBuilder;

use super::{Db, DbError, with_pool};
use super::{Effects, record_in};
use crate::domain::UserId;

/// The TOTP state of a user.
#[derive(Debug, sqlx::FromRow)]
pub struct TotpRow {
    pub mfa_enabled: bool,
    /// Sealed; a pending setup while `mfa_enabled` is false.
    pub totp_secret: Option<String>,
    pub totp_last_step: Option<i64>,
}

pub async fn totp(db: &Db, user_id: UserId) -> Result<Option<TotpRow>, DbError> {
    Ok(with_pool!(db, pool => {
        let mut q = QueryBuilder::new(
            "SELECT mfa_enabled, totp_secret, totp_last_step FROM users WHERE id = ",
        );
        q.push_bind(user_id.get());
        q.build_query_as().fetch_optional(pool).await
    })?)
}

/// Stores `sealed` as the user's pending secret, replacing an earlier pending one. Returns
/// false, changing nothing, if TOTP is already on.
pub async fn set_pending(
    db: &Db,
    user_id: UserId,
    sealed: &str,
    now: DateTime<Utc>,
) -> Result<bool, DbError> {
    let updated = with_pool!(db, pool => {
        let mut q = QueryBuilder::new("UPDATE users SET totp_secret = ");
        q.push_bind(sealed)
            .push(", totp_last_step = NULL, updated_at = ")
            .push_bind(now)
            .push(" WHERE id = ")
            .push_bind(user_id.get())
            .push(" AND mfa_enabled = ")
            .push_bind(false);
        q.build().execute(pool).await.map(|r| r.rows_affected())
    })?;
    Ok(updated == 1)
}

/// Turns TOTP on with the pending secret `sealed` (still the one stored), records `step` as
/// used, replaces the recovery codes with `digests` and stores `effects`, in one transaction. Returns false,
/// changing nothing, if TOTP is on already or the pending secret changed.
pub async fn enable(
    db: &Db,
    user_id: UserId,
    sealed: &str,
    step: i64,
    digests: &[String],
    effects: &Effects,
) -> Result<bool, DbError> {
    let now = effects.event.at;
    Ok(with_pool!(db, pool => async {
        let mut tx = pool.begin().await?;
        let mut on = QueryBuilder::new("UPDATE users SET mfa_enabled = ");
        on.push_bind(true)
            .push(", totp_last_step = ")
            .push_bind(step)
            .push(", updated_at = ")
            .push_bind(now)
            .push(" WHERE id = ")
            .push_bind(user_id.get())
            .push(" AND mfa_enabled = ")
            .push_bind(false)
            .push(" AND totp_secret = ")
            .push_bind(sealed);
        if on.build().execute(&mut *tx).await?.rows_affected() != 1 {
            return Ok::<bool, sqlx::Error>(false);
        }
        replace_codes(&mut tx, user_id, digests).await?;
        record_in(&mut tx, effects).await?;
        tx.commit().await?;
        Ok(true)
    }
    .await)?)
}

/// Turns TOTP off: the secret, the last step and the recovery codes go, and `effects` are stored
/// if it was on. Returns whether it was on.
pub async fn disable(db: &Db, user_id: UserId, effects: &Effects) -> Result<bool, DbError> {
    let now = effects.event.at;
    Ok(with_pool!(db, pool => async {
        let mut tx = pool.begin().await?;
        let mut off = QueryBuilder::new("UPDATE users SET mfa_enabled = ");
        off.push_bind(false)
            .push(", totp_secret = NULL, totp_last_step = NULL, updated_at = ")
            .push_bind(now)
            .push(" WHERE id = ")
            .push_bind(user_id.get())
            .push(" AND mfa_enabled = ")
            .push_bind(true);
        let was_on = off.build().execute(&mut *tx).await?.rows_affected() == 1;
        replace_codes(&mut tx, user_id, &[]).await?;
        if was_on {
            record_in(&mut tx, effects).await?;
        }
        tx.commit().await?;
        Ok::<bool, sqlx::Error>(was_on)
    }
    .await)?)
}

/// Records `step` as the last one accepted, if it is later than the last one: false when it
/// is not (the code was used already) or TOTP is off.
pub async fn use_step(db: &Db, user_id: UserId, step: i64) -> Result<bool, DbError> {
    let updated = with_pool!(db, pool => {
        let mut q = QueryBuilder::new("UPDATE users SET totp_last_step = ");
        q.push_bind(step)
            .push(" WHERE id = ")
            .push_bind(user_id.get())
            .push(" AND mfa_enabled = ")
            .push_bind(true)
            .push(" AND (totp_last_step IS NULL OR totp_last_step < ")
            .push_bind(step)
            .push(")");
        q.build().execute(pool).await.map(|r| r.rows_affected())
    })?;
    Ok(updated == 1)
}

/// Uses up the recovery code with `digest`: false if the user has no such code (never had, or
/// used it).
pub async fn use_recovery_code(db: &Db, user_id: UserId, digest: &str) -> Result<bool, DbError> {
    let deleted = with_pool!(db, pool => {
        let mut q = QueryBuilder::new("DELETE FROM recovery_codes WHERE user_id = ");
        q.push_bind(user_id.get())
            .push(" AND digest = ")
            .push_bind(digest);
        q.build().execute(pool).await.map(|r| r.rows_affected())
    })?;
    Ok(deleted == 1)
}

/// How many unused recovery codes the user has.
pub async fn recovery_codes_left(db: &Db, user_id: UserId) -> Result<i64, DbError> {
    let (left,): (i64,) = with_pool!(db, pool => {
        let mut q = QueryBuilder::new("SELECT COUNT(*) FROM recovery_codes WHERE user_id = ");
        q.push_bind(user_id.get());
        q.build_query_as().fetch_one(pool).await
    })?;
    Ok(left)
}

/// Replaces the user's recovery codes with `digests` (only while TOTP is on). Returns false,
/// changing nothing, if it is off.
pub async fn set_recovery_codes(
    db: &Db,
    user_id: UserId,
    digests: &[String],
) -> Result<bool, DbError> {
    Ok(with_pool!(db, pool => async {
        let mut tx = pool.begin().await?;
        // Locks the user's row (and checks TOTP is on) before the codes change.
        let mut on = QueryBuilder::new("UPDATE users SET mfa_enabled = mfa_enabled WHERE id = ");
        on.push_bind(user_id.get())
            .push(" AND mfa_enabled = ")
            .push_bind(true);
        if on.build().execute(&mut *tx).await?.rows_affected() != 1 {
            return Ok::<bool, sqlx::Error>(false);
        }
        replace_codes(&mut tx, user_id, digests).await?;
        tx.commit().await?;
        Ok(true)
    }
    .await)?)
}

/// Deletes the user's recovery codes and inserts `digests`, inside `tx`.
async fn replace_codes<DB>(
    tx: &mut sqlx::Transaction<'_, DB>,
    user_id: UserId,
    digests: &[String],
) -> Result<(), sqlx::Error>
where
    DB: sqlx::Database,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> DB::Arguments: sqlx::IntoArguments<DB>,
{
    let mut clear = QueryBuilder::<DB>::new("DELETE FROM recovery_codes WHERE user_id = ");
    clear.push_bind(user_id.get());
    clear.build().execute(&mut **tx).await?;
    if digests.is_empty() {
        return Ok(());
    }
    let mut insert = QueryBuilder::<DB>::new("INSERT INTO recovery_codes (user_id, digest) ");
    insert.push_values(digests, |mut row, digest| {
        row.push_bind(user_id.get()).push_bind(digest.clone());
    });
    insert.build().execute(&mut **tx).await?;
    Ok(())
}
