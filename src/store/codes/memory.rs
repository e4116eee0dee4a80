//! The in-process code store.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dashmap::DashMap;

use super::{Attempt, CodeCheck, CodeStore, NewCode};
use crate::domain::{Code, CodeKey};
use crate::limits::{CodeVerdict, judge_code};
use crate::store::{DEFAULT_MAX_ENTRIES, StoreError};

struct Stored {
    /// `None` once the code was burned.
    code: Option<Code>,
    /// Order of issue, for evicting the oldest first.
    sequence: u64,
    expires_at: DateTime<Utc>,
    failed: u32,
    /// Wrong tries per client; at most `limits.total` entries, since each holds one.
    failed_by: Vec<(IpAddr, u32)>,
}

/// The in-process store: codes live in this server's memory and die with it. It holds at most
/// `max_entries` codes; when full, expired codes go first, then the oldest live ones (their
/// owners can ask for a new code). Evicting a code never resets a budget: wrong tries are also
/// counted per client and address in the counter store.
pub struct MemoryCodeStore {
    codes: DashMap<CodeKey, Stored>,
    max_entries: usize,
    issued: AtomicU64,
}

impl Default for MemoryCodeStore {
    fn default() -> Self {
        Self::with_capacity(DEFAULT_MAX_ENTRIES)
    }
}

impl MemoryCodeStore {
    pub fn with_capacity(max_entries: usize) -> Self {
        Self {
            codes: DashMap::new(),
            max_entries: max_entries.max(1),
            issued: AtomicU64::new(0),
        }
    }

    pub fn len(&self) -> usize {
        self.codes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.codes.is_empty()
    }

    /// Frees room for one more code: expired ones first, then the oldest eighth of the rest.
    fn make_room(&self, now: DateTime<Utc>) {
        self.codes.retain(|_, stored| stored.expires_at > now);
        if self.codes.len() < self.max_entries {
            return;
        }
        let mut ages: Vec<u64> = self.codes.iter().map(|e| e.sequence).collect();
        if ages.is_empty() {
            return;
        }
        let evict = (self.max_entries / 8).clamp(1, ages.len());
        let (_, cutoff, _) = ages.select_nth_unstable(evict - 1);
        let cutoff = *cutoff;
        self.codes.retain(|_, stored| stored.sequence > cutoff);
    }
}

#[async_trait]
impl CodeStore for MemoryCodeStore {
    async fn put(&self, key: &CodeKey, new: NewCode) -> Result<(), StoreError> {
        if self.codes.len() >= self.max_entries && !self.codes.contains_key(key) {
            self.make_room(new.issued_at);
        }
        let stored = Stored {
            code: Some(new.code),
            sequence: self.issued.fetch_add(1, Ordering::Relaxed),
            expires_at: new.expires_at,
            failed: 0,
            failed_by: Vec::new(),
        };
        self.codes.insert(key.clone(), stored);
        Ok(())
    }

    async fn holds(
        &self,
        key: &CodeKey,
        code: &Code,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        Ok(self.codes.get(key).is_some_and(|stored| {
            stored.expires_at > now && stored.code.as_ref().is_some_and(|c| c.matches(code))
        }))
    }

    async fn check(
        &self,
        key: &CodeKey,
        attempt: Attempt<'_>,
        now: DateTime<Utc>,
    ) -> Result<CodeCheck, StoreError> {
        use dashmap::Entry;
        // The entry holds the shard's write lock, so check-and-burn is atomic.
        let Entry::Occupied(mut entry) = self.codes.entry(key.clone()) else {
            return Ok(CodeCheck::Missing);
        };
        let stored = entry.get_mut();
        let Some(live) = stored.code.as_ref().filter(|_| stored.expires_at > now) else {
            return Ok(CodeCheck::Missing);
        };
        let matches = live.matches(attempt.code);
        let mine = stored
            .failed_by
            .iter()
            .find(|(ip, _)| *ip == attempt.client)
            .map_or(0, |(_, n)| *n);
        let verdict = judge_code(matches, mine, stored.failed, attempt.limits);
        match verdict {
            CodeVerdict::Accept => {
                entry.remove();
            }
            // Out of tries before this one: refused without counting.
            CodeVerdict::Exhausted if mine >= attempt.limits.per_client => {}
            CodeVerdict::Burn => stored.code = None,
            CodeVerdict::Reject { .. } | CodeVerdict::Exhausted => {
                stored.failed += 1;
                match stored
                    .failed_by
                    .iter_mut()
                    .find(|(ip, _)| *ip == attempt.client)
                {
                    Some((_, n)) => *n += 1,
                    None => stored.failed_by.push((attempt.client, 1)),
                }
            }
        }
        Ok(verdict.into())
    }

    async fn remove(&self, key: &CodeKey) -> Result<(), StoreError> {
        self.codes.remove(key);
        Ok(())
    }

    async fn sweep(&self, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.codes.retain(|_, stored| stored.expires_at > now);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{UserEmail, UserId};
    use crate::limits::CodeAttemptLimits;
    use chrono::TimeDelta;

    fn email() -> UserEmail {
        UserEmail::parse("a@example.com").unwrap()
    }

    fn verify(email: &UserEmail) -> CodeKey {
        CodeKey::VerifyEmail(email.clone())
    }

    fn reset() -> CodeKey {
        CodeKey::ResetPassword(email())
    }

    fn new_code(code: &Code, now: DateTime<Utc>, minutes: i64) -> NewCode {
        NewCode {
            code: code.clone(),
            issued_at: now,
            expires_at: now + TimeDelta::minutes(minutes),
        }
    }

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default()
    }

    const LIMITS: CodeAttemptLimits = CodeAttemptLimits {
        per_client: 3,
        total: 7,
    };

    fn try_code<'a>(code: &'a Code, client: [u8; 4]) -> Attempt<'a> {
        Attempt {
            code,
            client: IpAddr::from(client),
            limits: LIMITS,
        }
    }

    #[tokio::test]
    async fn a_code_works_once() {
        let store = MemoryCodeStore::default();
        let now = now();
        let code = Code::generate();
        store
            .put(&verify(&email()), new_code(&code, now, 5))
            .await
            .unwrap();
        let ann = verify(&email());
        let check = |c| store.check(&ann, try_code(c, [1, 1, 1, 1]), now);
        assert_eq!(check(&code).await.unwrap(), CodeCheck::Accepted);
        assert_eq!(check(&code).await.unwrap(), CodeCheck::Missing);
    }

    #[tokio::test]
    async fn a_code_is_bound_to_its_purpose() {
        let store = MemoryCodeStore::default();
        let now = now();
        let code = Code::generate();
        store
            .put(&verify(&email()), new_code(&code, now, 5))
            .await
            .unwrap();
        let reset = store
            .check(&reset(), try_code(&code, [1, 1, 1, 1]), now)
            .await
            .unwrap();
        assert_eq!(reset, CodeCheck::Missing);
    }

    #[tokio::test]
    async fn one_clients_wrong_tries_do_not_spoil_the_code_for_another() {
        let store = MemoryCodeStore::default();
        let now = now();
        let code = Code::parse("123456").unwrap();
        let wrong = Code::parse("654321").unwrap();
        store.put(&reset(), new_code(&code, now, 5)).await.unwrap();
        let ann = reset();
        let check = |c, ip| store.check(&ann, try_code(c, ip), now);
        assert_eq!(
            check(&wrong, [6, 6, 6, 6]).await.unwrap(),
            CodeCheck::Rejected { remaining: 2 }
        );
        assert_eq!(
            check(&wrong, [6, 6, 6, 6]).await.unwrap(),
            CodeCheck::Rejected { remaining: 1 }
        );
        assert_eq!(
            check(&wrong, [6, 6, 6, 6]).await.unwrap(),
            CodeCheck::Exhausted
        );
        // Out of tries: even the right code is refused to that client...
        assert_eq!(
            check(&code, [6, 6, 6, 6]).await.unwrap(),
            CodeCheck::Exhausted
        );
        // ...and still good for the owner.
        assert_eq!(
            check(&code, [1, 2, 3, 4]).await.unwrap(),
            CodeCheck::Accepted
        );
    }

    #[tokio::test]
    async fn wrong_tries_from_many_clients_burn_the_code() {
        let store = MemoryCodeStore::default();
        let now = now();
        let code = Code::parse("123456").unwrap();
        let wrong = Code::parse("654321").unwrap();
        store.put(&reset(), new_code(&code, now, 5)).await.unwrap();
        let ann = reset();
        let check = |c, ip| store.check(&ann, try_code(c, ip), now);
        for n in 0..6 {
            assert_ne!(
                check(&wrong, [10, 0, 0, n]).await.unwrap(),
                CodeCheck::Burned
            );
        }
        assert_eq!(
            check(&wrong, [10, 0, 0, 99]).await.unwrap(),
            CodeCheck::Burned
        );
        assert_eq!(
            check(&code, [1, 2, 3, 4]).await.unwrap(),
            CodeCheck::Missing
        );
    }

    #[tokio::test]
    async fn a_full_store_evicts_expired_then_the_oldest_codes_and_stays_within_its_cap() {
        let store = MemoryCodeStore::with_capacity(16);
        let now = now();
        let first = Code::generate();
        let first_email = UserEmail::parse("first@example.com").unwrap();
        store
            .put(&verify(&first_email), new_code(&first, now, 5))
            .await
            .unwrap();
        for n in 0..100 {
            let e = UserEmail::parse(&format!("u{n}@example.com")).unwrap();
            store
                .put(&verify(&e), new_code(&Code::generate(), now, 5))
                .await
                .unwrap();
            assert!(store.len() <= 16, "{} codes held", store.len());
        }
        let newest = Code::generate();
        let newest_email = UserEmail::parse("newest@example.com").unwrap();
        store
            .put(&verify(&newest_email), new_code(&newest, now, 5))
            .await
            .unwrap();
        let (first_key, newest_key) = (verify(&first_email), verify(&newest_email));
        let check = |k, c| store.check(k, try_code(c, [1, 1, 1, 1]), now);
        assert_eq!(check(&first_key, &first).await.unwrap(), CodeCheck::Missing);
        assert_eq!(
            check(&newest_key, &newest).await.unwrap(),
            CodeCheck::Accepted
        );
    }

    #[tokio::test]
    async fn the_sweep_drops_expired_codes() {
        let store = MemoryCodeStore::default();
        let now = now();
        store
            .put(&verify(&email()), new_code(&Code::generate(), now, 5))
            .await
            .unwrap();
        store.sweep(now + TimeDelta::minutes(4)).await.unwrap();
        assert_eq!(store.len(), 1);
        store.sweep(now + TimeDelta::minutes(5)).await.unwrap();
        assert!(store.is_empty());
    }

    #[tokio::test]
    async fn a_change_of_address_code_works_only_for_its_user_and_address() {
        let store = MemoryCodeStore::default();
        let now = now();
        let code = Code::generate();
        let bob = UserEmail::parse("bob@example.com").unwrap();
        let eve = UserEmail::parse("eve@example.com").unwrap();
        let key = |user, to: &UserEmail| CodeKey::ChangeEmail {
            user: UserId::new(user),
            to: to.clone(),
        };
        store
            .put(&key(1, &bob), new_code(&code, now, 5))
            .await
            .unwrap();
        let (other_user, other_address, right) = (key(2, &bob), key(1, &eve), key(1, &bob));
        let check = |k| store.check(k, try_code(&code, [1, 1, 1, 1]), now);
        assert_eq!(check(&other_user).await.unwrap(), CodeCheck::Missing);
        assert_eq!(check(&other_address).await.unwrap(), CodeCheck::Missing);
        assert_eq!(check(&right).await.unwrap(), CodeCheck::Accepted);
    }

    #[tokio::test]
    async fn a_removed_code_no_longer_works() {
        let store = MemoryCodeStore::default();
        let now = now();
        let code = Code::generate();
        store.put(&reset(), new_code(&code, now, 5)).await.unwrap();
        store.remove(&reset()).await.unwrap();
        let check = store
            .check(&reset(), try_code(&code, [1, 1, 1, 1]), now)
            .await;
        assert_eq!(check.unwrap(), CodeCheck::Missing);
        assert!(store.is_empty());
    }
}
