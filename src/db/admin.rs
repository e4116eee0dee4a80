//! The queries of the operator's command line: listing and finding accounts, disabling them.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::QueryBuilder;

use super::{Db, DbError, with_pool};
use crate::domain::{UserEmail, UserId};

/// An account as the command line lists it.
#[derive(Debug, Serialize, sqlx::FromRow)]
pub struct Account {
    pub id: i64,
    pub email: String,
    pub name: String,
    pub is_verified: bool,
    pub mfa_enabled: bool,
    /// When an operator disabled the account; `None` while it may log in.
    pub disabled_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

const ACCOUNT: &str =
    "SELECT id, email, name, is_verified, mfa_enabled, disabled_at, created_at FROM users";

/// Accounts whose address or name contains `search` (any case), oldest first, at most `limit`.
pub async fn list(db: &Db, search: Option<&str>, limit: u32) -> Result<Vec<Account>, DbError> {
    Ok(with_pool!(db, pool => {
        let mut q = QueryBuilder::new(ACCOUNT);
        if let Some(search) = search {
            // LIKE with its wildcards escaped, so the text is matched as it is.
            let pattern = format!("%{}%", escape_like(&search.to_lowercase()));
            q.push(" WHERE lower(email) LIKE ")
                .push_bind(pattern.clone())
                .push(" ESCAPE '!' OR lower(name) LIKE ")
                .push_bind(pattern)
                .push(" ESCAPE '!'");
        }
        q.push(" ORDER BY id LIMIT ").push_bind(i64::from(limit));
        q.build_query_as().fetch_all(pool).await
    })?)
}

pub async fn find(db: &Db, email: &UserEmail) -> Result<Option<Account>, DbError> {
    Ok(with_pool!(db, pool => {
        let mut q = QueryBuilder::new(ACCOUNT);
        q.push(" WHERE email = ").push_bind(email.as_str());
        q.build_query_as().fetch_optional(pool).await
    })?)
}

/// Disables the account from `now`, or enables it again.
pub async fn set_disabled(
    db: &Db,
    user_id: UserId,
    disabled: bool,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    with_pool!(db, pool => {
        let mut q = QueryBuilder::new("UPDATE users SET disabled_at = ");
        q.push_bind(disabled.then_some(now))
            .push(", updated_at = ")
            .push_bind(now)
            .push(" WHERE id = ")
            .push_bind(user_id.get());
        q.build().execute(pool).await.map(|_| ())
    })?;
    Ok(())
}

fn escape_like(text: &str) -> String {
    text.chars().fold(String::new(), |mut out, c| {
        if matches!(c, '!' | '%' | '_') {
            out.push('!');
        }
        out.push(c);
        out
    })
}
