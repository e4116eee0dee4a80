//! Data migrations: changes to stored rows that need the server's own code, run once at start
//! after the schema migrations. Each is listed in the `data_migrations` table by the schema
//! migration that introduced it, and marked applied in the same transaction as its changes.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sqlx::QueryBuilder;

use super::{Db, DbError, with_pool};
use crate::domain::UserEmail;

/// Runs every data migration not yet applied.
pub async fn run_pending(db: &Db, now: DateTime<Utc>) -> Result<(), DbError> {
    const PENDING: &str = "SELECT name FROM data_migrations WHERE applied_at IS NULL";
    let pending: Vec<(String,)> =
        with_pool!(db, pool => sqlx::query_as(PENDING).fetch_all(pool).await)?;
    for (name,) in pending {
        match name.as_str() {
            "normalise_emails" => normalise_emails(db, now).await?,
            other => tracing::warn!(migration = other, "unknown data migration left pending"),
        }
    }
    Ok(())
}

/// One stored account, as the email normalisation sees it.
#[derive(sqlx::FromRow)]
struct Account {
    id: i64,
    email: String,
    is_verified: bool,
}

/// What to do with the accounts whose addresses name one mailbox: keep one (the verified one,
/// else the oldest), delete the others, and store the kept one's address normalised.
#[derive(Debug, PartialEq, Eq)]
struct Merge {
    keep: i64,
    email: String,
    rename: bool,
    drop: Vec<i64>,
}

/// Groups accounts (in id order, so by age) by their normalised address. Addresses that no
/// longer parse at all (a single-label or IP-literal domain) are returned apart, unchanged.
fn plan(accounts: Vec<Account>) -> (Vec<Merge>, Vec<i64>) {
    let mut groups: BTreeMap<String, Vec<Account>> = BTreeMap::new();
    let mut refused = Vec::new();
    for account in accounts {
        match UserEmail::parse(&account.email) {
            Ok(email) => groups
                .entry(email.as_str().to_owned())
                .or_default()
                .push(account),
            Err(_) => refused.push(account.id),
        }
    }
    let merges = groups
        .into_iter()
        .filter_map(|(email, mut group)| {
            group.sort_by_key(|a| (!a.is_verified, a.id));
            let keeper = group.remove(0);
            let rename = keeper.email != email;
            (rename || !group.is_empty()).then(|| Merge {
                keep: keeper.id,
                email,
                rename,
                drop: group.into_iter().map(|a| a.id).collect(),
            })
        })
        .collect();
    (merges, refused)
}

/// Stores every address in its normalised form (see [`UserEmail::parse`]), merging accounts
/// that turn out to name one mailbox.
async fn normalise_emails(db: &Db, now: DateTime<Utc>) -> Result<(), DbError> {
    const ALL: &str = "SELECT id, email, is_verified FROM users ORDER BY id";
    let (merges, refused) = with_pool!(db, pool => async {
        let mut tx = pool.begin().await?;
        let accounts: Vec<Account> = sqlx::query_as(ALL).fetch_all(&mut *tx).await?;
        let (merges, refused) = plan(accounts);
        for merge in &merges {
            for id in &merge.drop {
                let mut delete = QueryBuilder::new("DELETE FROM users WHERE id = ");
                delete.push_bind(*id);
                delete.build().execute(&mut *tx).await?;
            }
            if merge.rename {
                let mut rename = QueryBuilder::new("UPDATE users SET email = ");
                rename
                    .push_bind(merge.email.as_str())
                    .push(", updated_at = ")
                    .push_bind(now)
                    .push(" WHERE id = ")
                    .push_bind(merge.keep);
                rename.build().execute(&mut *tx).await?;
            }
        }
        let mut done = QueryBuilder::new("UPDATE data_migrations SET applied_at = ");
        done.push_bind(now).push(" WHERE name = 'normalise_emails'");
        done.build().execute(&mut *tx).await?;
        tx.commit().await?;
        Ok::<_, sqlx::Error>((merges, refused))
    }
    .await)?;
    for merge in merges.iter().filter(|m| !m.drop.is_empty()) {
        tracing::warn!(
            kept = merge.keep,
            dropped = ?merge.drop,
            "accounts whose addresses name one mailbox were merged into the verified (else oldest) one"
        );
    }
    let renamed = merges.iter().filter(|m| m.rename).count();
    if renamed > 0 {
        tracing::info!(renamed, "stored addresses normalised");
    }
    if !refused.is_empty() {
        tracing::warn!(
            ids = ?refused,
            "accounts whose addresses are no longer accepted (IP-literal or single-label domains, \
             invisible characters) were left unchanged; they cannot log in"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(id: i64, email: &str, is_verified: bool) -> Account {
        Account {
            id,
            email: email.to_owned(),
            is_verified,
        }
    }

    #[test]
    fn spellings_of_one_mailbox_merge_into_the_verified_account() {
        let (merges, refused) = plan(vec![
            account(1, "ann@example.com", false),
            account(2, "ann@\u{ff45}xample.com", true),
            account(3, "ann@example\u{3002}com", false),
            account(4, "bob@example.com", false),
            account(5, "eve@localhost", true),
        ]);
        assert_eq!(
            merges,
            [Merge {
                keep: 2,
                email: "ann@example.com".into(),
                rename: true,
                drop: vec![1, 3],
            }]
        );
        assert_eq!(refused, [5]);
    }

    #[test]
    fn without_a_verified_account_the_oldest_is_kept() {
        let (merges, _) = plan(vec![
            account(7, "ann@\u{ff45}xample.com", false),
            account(9, "ann@example.com", false),
        ]);
        assert_eq!(merges[0].keep, 7);
        assert_eq!(merges[0].drop, [9]);
        assert!(merges[0].rename);
    }
}
