//! One-time codes: 6 digits from a CSPRNG, kept in a [`CodeStore`] keyed by purpose and email.

use std::fmt;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dashmap::DashMap;
use rand::RngExt;
use subtle::ConstantTimeEq;

use super::types::UserEmail;

/// What a code is for; a verification code cannot reset a password.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Purpose {
    VerifyEmail,
    ResetPassword,
}

/// A 6-digit code. It prints only as `***` in debug output.
#[derive(Clone, PartialEq, Eq)]
pub struct Code(String);

pub const CODE_DIGITS: usize = 6;

impl Code {
    /// A fresh code from the thread-local CSPRNG (ChaCha, seeded by the OS).
    pub fn generate() -> Self {
        let n: u32 = rand::rng().random_range(0..1_000_000);
        Self(format!("{n:06}"))
    }

    /// A code as a client typed it: exactly six ASCII digits.
    pub fn parse(raw: &str) -> Option<Self> {
        let raw = raw.trim();
        (raw.len() == CODE_DIGITS && raw.bytes().all(|b| b.is_ascii_digit()))
            .then(|| Self(raw.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    fn matches(&self, other: &Code) -> bool {
        self.0.as_bytes().ct_eq(other.0.as_bytes()).into()
    }
}

impl fmt::Debug for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Code(***)")
    }
}

/// The result of checking a submitted code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeCheck {
    /// Right code, in time: it is now used up.
    Accepted,
    /// Wrong code; the stored one survives for `remaining` more tries.
    Rejected { remaining: u32 },
    /// Wrong code and the last allowed try: the stored code is burned.
    Burned,
    /// No live code for this purpose and address (never issued, used, replaced or expired).
    Missing,
}

/// Where codes live between "sent" and "used". Implementations must make each check atomic:
/// two concurrent checks of one code can never both be accepted.
#[async_trait]
pub trait CodeStore: Send + Sync + 'static {
    /// Stores `code`, replacing any earlier code for the same purpose and address.
    async fn put(
        &self,
        purpose: Purpose,
        email: &UserEmail,
        code: &Code,
        expires_at: DateTime<Utc>,
    );

    /// Checks `code`, counting a wrong try; `max_attempts` wrong tries burn the stored code.
    async fn check(
        &self,
        purpose: Purpose,
        email: &UserEmail,
        code: &Code,
        max_attempts: u32,
        now: DateTime<Utc>,
    ) -> CodeCheck;

    /// Drops expired codes so memory stays bounded.
    async fn sweep(&self, now: DateTime<Utc>);
}

struct Stored {
    code: Code,
    expires_at: DateTime<Utc>,
    failed: u32,
}

/// The in-process store: codes live in this server's memory and die with it.
#[derive(Default)]
pub struct MemoryCodeStore {
    codes: DashMap<(Purpose, UserEmail), Stored>,
}

impl MemoryCodeStore {
    pub fn len(&self) -> usize {
        self.codes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.codes.is_empty()
    }
}

#[async_trait]
impl CodeStore for MemoryCodeStore {
    async fn put(
        &self,
        purpose: Purpose,
        email: &UserEmail,
        code: &Code,
        expires_at: DateTime<Utc>,
    ) {
        let stored = Stored {
            code: code.clone(),
            expires_at,
            failed: 0,
        };
        self.codes.insert((purpose, email.clone()), stored);
    }

    async fn check(
        &self,
        purpose: Purpose,
        email: &UserEmail,
        code: &Code,
        max_attempts: u32,
        now: DateTime<Utc>,
    ) -> CodeCheck {
        use dashmap::Entry;
        // The entry holds the shard's write lock, so check-and-burn is atomic.
        let Entry::Occupied(mut entry) = self.codes.entry((purpose, email.clone())) else {
            return CodeCheck::Missing;
        };
        let stored = entry.get_mut();
        if stored.expires_at <= now {
            entry.remove();
            return CodeCheck::Missing;
        }
        if stored.code.matches(code) {
            entry.remove();
            return CodeCheck::Accepted;
        }
        stored.failed += 1;
        if stored.failed >= max_attempts {
            entry.remove();
            CodeCheck::Burned
        } else {
            CodeCheck::Rejected {
                remaining: max_attempts - stored.failed,
            }
        }
    }

    async fn sweep(&self, now: DateTime<Utc>) {
        self.codes.retain(|_, stored| stored.expires_at > now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;

    fn email() -> UserEmail {
        UserEmail::parse("a@example.com").unwrap()
    }

    #[test]
    fn generated_codes_are_six_digits() {
        for _ in 0..1000 {
            let c = Code::generate();
            assert!(Code::parse(c.expose()).is_some(), "{}", c.expose());
        }
    }

    #[tokio::test]
    async fn a_code_works_once() {
        let store = MemoryCodeStore::default();
        let now = Utc::now();
        let code = Code::generate();
        store
            .put(
                Purpose::VerifyEmail,
                &email(),
                &code,
                now + TimeDelta::minutes(5),
            )
            .await;
        let first = store
            .check(Purpose::VerifyEmail, &email(), &code, 5, now)
            .await;
        assert_eq!(first, CodeCheck::Accepted);
        let again = store
            .check(Purpose::VerifyEmail, &email(), &code, 5, now)
            .await;
        assert_eq!(again, CodeCheck::Missing);
    }

    #[tokio::test]
    async fn a_code_is_bound_to_its_purpose() {
        let store = MemoryCodeStore::default();
        let now = Utc::now();
        let code = Code::generate();
        store
            .put(
                Purpose::VerifyEmail,
                &email(),
                &code,
                now + TimeDelta::minutes(5),
            )
            .await;
        let reset = store
            .check(Purpose::ResetPassword, &email(), &code, 5, now)
            .await;
        assert_eq!(reset, CodeCheck::Missing);
    }

    #[tokio::test]
    async fn the_sweeper_drops_expired_codes_only() {
        let store = MemoryCodeStore::default();
        let now = Utc::now();
        let other = UserEmail::parse("b@example.com").unwrap();
        store
            .put(Purpose::VerifyEmail, &email(), &Code::generate(), now)
            .await;
        store
            .put(
                Purpose::VerifyEmail,
                &other,
                &Code::generate(),
                now + TimeDelta::seconds(1),
            )
            .await;
        store.sweep(now).await;
        assert_eq!(store.len(), 1);
    }
}
