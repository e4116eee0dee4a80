//! The `mail_outbox` table: email written with the change that causes it, delivered later by
//! the worker (`auth::outbox`). Rows are claimed with a lease, so several instances share the
//! table without sending a message twice; a lease left by a crashed instance runs out and the
//! row is tried again (at least once, never silently lost).

use chrono::{DateTime, Utc};
use sqlx::QueryBuilder;

use super::{Db, DbError, with_pool};

/// The kind of the rows that stand in for an email not sent (see [`insert_void`]).
const VOID_KIND: &str = "none";

/// An email to queue: its kind (for logs and metrics), its sealed body, when it was queued and
/// after when it is no longer worth sending.
#[derive(Clone, Debug)]
pub struct NewMail {
    pub kind: &'static str,
    pub body: String,
    pub created_at: DateTime<Utc>,
    pub not_after: DateTime<Utc>,
}

/// A row this worker holds the lease of.
#[derive(Debug, sqlx::FromRow)]
pub struct Claimed {
    pub id: i64,
    pub kind: String,
    pub body: Option<String>,
    pub not_after: DateTime<Utc>,
    /// Tries so far, this one included.
    pub attempts: i64,
}

/// How a row ended. A settled row keeps no body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Settled {
    Sent,
    /// Not worth sending any more: its code was used, replaced or lost, or it expired.
    Dropped,
    /// Refused by the mail server, or still failing at its give-up time.
    Failed,
}

impl Settled {
    pub fn as_str(self) -> &'static str {
        match self {
            Settled::Sent => "sent",
            Settled::Dropped => "dropped",
            Settled::Failed => "failed",
        }
    }
}

/// Appends an `INSERT` of `mail`, due at once (for use inside a transaction or alone).
pub(super) fn push_insert<DB>(q: &mut QueryBuilder<DB>, mail: &NewMail)
where
    DB: sqlx::Database,
    for<'t> &'t str: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
    for<'t> DateTime<Utc>: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
{
    q.push(
        "INSERT INTO mail_outbox (kind, state, body, created_at, not_after, next_attempt_at) \
         VALUES (",
    )
    .push_bind(mail.kind)
    .push(", 'pending', ")
    .push_bind(mail.body.as_str())
    .push(", ")
    .push_bind(mail.created_at)
    .push(", ")
    .push_bind(mail.not_after)
    .push(", ")
    .push_bind(mail.created_at)
    .push(")");
}

/// Queues `mail` on its own (for messages that go with no change of their own).
pub async fn insert(db: &Db, mail: &NewMail) -> Result<(), DbError> {
    with_pool!(db, pool => {
        let mut q = QueryBuilder::new("");
        push_insert(&mut q, mail);
        q.build().execute(pool).await.map(|_| ())
    })?;
    Ok(())
}

/// Writes a row that is settled from the start and carries nothing: what a request that sends
/// no email writes where another would queue one, so that both cost the same write and take
/// as long (an answer that came back faster would tell that the address has no account).
pub async fn insert_void(db: &Db, now: DateTime<Utc>) -> Result<(), DbError> {
    with_pool!(db, pool => {
        let mut q = QueryBuilder::new(
            "INSERT INTO mail_outbox \
             (kind, state, created_at, not_after, next_attempt_at, settled_at) VALUES (",
        );
        q.push_bind(VOID_KIND)
            .push(", 'dropped', ")
            .push_bind(now)
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

/// Takes the lease, until `until`, of at most `limit` pending rows that are due at `now` and
/// held by nobody (or by a worker whose lease ran out), and returns them. Each row is taken
/// with a conditional `UPDATE` that checks all of that again, so of two workers that pick the
/// same row only one gets it, and a row another worker just put off is not taken early.
pub async fn claim(
    db: &Db,
    owner: &str,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
    limit: u32,
) -> Result<Vec<Claimed>, DbError> {
    Ok(with_pool!(db, pool => async {
        let mut q = QueryBuilder::new(
            "SELECT id FROM mail_outbox WHERE state = 'pending' AND next_attempt_at <= ",
        );
        q.push_bind(now)
            .push(" AND (leased_until IS NULL OR leased_until <= ")
            .push_bind(now)
            .push(") ORDER BY next_attempt_at, id LIMIT ")
            .push_bind(i64::from(limit));
        let candidates: Vec<(i64,)> = q.build_query_as().fetch_all(pool).await?;
        let mut taken = Vec::new();
        for (id,) in candidates {
            let mut q = QueryBuilder::new("UPDATE mail_outbox SET lease_owner = ");
            q.push_bind(owner)
                .push(", leased_until = ")
                .push_bind(until)
                .push(", attempts = attempts + 1 WHERE id = ")
                .push_bind(id)
                .push(" AND state = 'pending' AND next_attempt_at <= ")
                .push_bind(now)
                .push(" AND (leased_until IS NULL OR leased_until <= ")
                .push_bind(now)
                .push(")");
            if q.build().execute(pool).await?.rows_affected() == 1 {
                taken.push(id);
            }
        }
        if taken.is_empty() {
            return Ok(Vec::new());
        }
        let mut q = QueryBuilder::new(
            "SELECT id, kind, body, not_after, attempts FROM mail_outbox WHERE lease_owner = ",
        );
        q.push_bind(owner).push(" AND id IN (");
        let mut ids = q.separated(", ");
        for id in taken {
            ids.push_bind(id);
        }
        q.push(") ORDER BY id");
        q.build_query_as().fetch_all(pool).await
    }.await)?)
}

/// Settles a row this worker holds: it keeps its kind and times, not its body. Returns false
/// if the lease was lost meanwhile (another worker has the row now).
pub async fn settle(
    db: &Db,
    id: i64,
    owner: &str,
    how: Settled,
    now: DateTime<Utc>,
) -> Result<bool, DbError> {
    Ok(with_pool!(db, pool => {
        let mut q = QueryBuilder::new("UPDATE mail_outbox SET state = ");
        q.push_bind(how.as_str())
            .push(", body = NULL, lease_owner = NULL, leased_until = NULL, settled_at = ")
            .push_bind(now)
            .push(" WHERE id = ")
            .push_bind(id)
            .push(" AND lease_owner = ")
            .push_bind(owner);
        q.build().execute(pool).await.map(|r| r.rows_affected() == 1)
    })?)
}

/// Gives a row this worker holds back, to be tried again at `at`.
pub async fn retry_at(db: &Db, id: i64, owner: &str, at: DateTime<Utc>) -> Result<(), DbError> {
    with_pool!(db, pool => {
        let mut q = QueryBuilder::new("UPDATE mail_outbox SET next_attempt_at = ");
        q.push_bind(at)
            .push(", lease_owner = NULL, leased_until = NULL WHERE id = ")
            .push_bind(id)
            .push(" AND lease_owner = ")
            .push_bind(owner);
        q.build().execute(pool).await.map(|_| ())
    })?;
    Ok(())
}

/// Makes every pending row waiting out a backoff due at `now`: the mail server answers again,
/// so what waits for it need not wait longer.
pub async fn hurry(db: &Db, now: DateTime<Utc>) -> Result<u64, DbError> {
    Ok(with_pool!(db, pool => {
        let mut q = QueryBuilder::new("UPDATE mail_outbox SET next_attempt_at = ");
        q.push_bind(now)
            .push(" WHERE state = 'pending' AND next_attempt_at > ")
            .push_bind(now);
        q.build().execute(pool).await.map(|r| r.rows_affected())
    })?)
}

/// Gives back every lease `owner` holds (at shutdown), so the next start takes the rows at once.
pub async fn release(db: &Db, owner: &str) -> Result<u64, DbError> {
    Ok(with_pool!(db, pool => {
        let mut q = QueryBuilder::new(
            "UPDATE mail_outbox SET lease_owner = NULL, leased_until = NULL \
             WHERE state = 'pending' AND lease_owner = ",
        );
        q.push_bind(owner);
        q.build().execute(pool).await.map(|r| r.rows_affected())
    })?)
}

/// Deletes the rows settled before `cutoff`, and the placeholders of [`insert_void`] written
/// before `now` (they served their purpose when written); returns how many. Run every minute,
/// each call deletes about a minute's worth.
pub async fn purge(db: &Db, cutoff: DateTime<Utc>, now: DateTime<Utc>) -> Result<u64, DbError> {
    Ok(with_pool!(db, pool => async {
        let mut q = QueryBuilder::new("DELETE FROM mail_outbox WHERE kind = ");
        q.push_bind(VOID_KIND).push(" AND settled_at < ").push_bind(now);
        let voids = q.build().execute(pool).await?.rows_affected();
        let mut q = QueryBuilder::new(
            "DELETE FROM mail_outbox WHERE state <> 'pending' AND settled_at < ",
        );
        q.push_bind(cutoff);
        Ok::<u64, sqlx::Error>(voids + q.build().execute(pool).await?.rows_affected())
    }.await)?)
}

/// How many rows are pending, and when the oldest of them was queued.
pub async fn backlog(db: &Db) -> Result<(i64, Option<DateTime<Utc>>), DbError> {
    Ok(with_pool!(db, pool => {
        sqlx::query_as(
            "SELECT COUNT(*), MIN(created_at) FROM mail_outbox WHERE state = 'pending'",
        )
        .fetch_one(pool)
        .await
    })?)
}

/// How many pending rows are due at `now` or being delivered: zero once every email queued
/// so far has been handed over, dropped or put off for a retry.
pub async fn due(db: &Db, now: DateTime<Utc>) -> Result<i64, DbError> {
    Ok(with_pool!(db, pool => {
        let mut q = QueryBuilder::new(
            "SELECT COUNT(*) FROM mail_outbox WHERE state = 'pending' AND next_attempt_at <= ",
        );
        q.push_bind(now);
        q.build_query_as::<(i64,)>().fetch_one(pool).await.map(|(n,)| n)
    })?)
}
