//! One-time codes: 6 digits from a CSPRNG, kept in a [`CodeStore`] keyed by purpose and email.

use std::fmt;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dashmap::DashMap;
use rand::RngExt;
use subtle::ConstantTimeEq;

use super::StoreError;
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

/// The registration a verification code was sent for: verifying with that code gives the
/// account this name and password. So whoever registers an address first cannot own it
/// after its real owner registers too and verifies with the code sent for that registration.
#[derive(Clone, PartialEq, Eq)]
pub struct Registration {
    pub name: String,
    pub password_hash: String,
}

impl fmt::Debug for Registration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registration")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// A code to store, with when it dies and what it was sent for.
#[derive(Clone, Debug)]
pub struct NewCode {
    pub code: Code,
    pub expires_at: DateTime<Utc>,
    pub registration: Option<Registration>,
    /// How long the registration is remembered after the code dies, for a resend.
    pub registration_expires_at: DateTime<Utc>,
}

/// The result of checking a submitted code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeCheck {
    /// Right code, in time: it is now used up.
    Accepted(Option<Registration>),
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
    /// Stores a code, replacing any earlier code for the same purpose and address.
    async fn put(
        &self,
        purpose: Purpose,
        email: &UserEmail,
        code: NewCode,
    ) -> Result<(), StoreError>;

    /// Checks `code`, counting a wrong try; `max_attempts` wrong tries burn the stored code.
    async fn check(
        &self,
        purpose: Purpose,
        email: &UserEmail,
        code: &Code,
        max_attempts: u32,
        now: DateTime<Utc>,
    ) -> Result<CodeCheck, StoreError>;

    /// The registration the latest code for this address was sent for, while remembered
    /// (it outlives the code, so a resend after expiry keeps the same registration).
    async fn registration(
        &self,
        purpose: Purpose,
        email: &UserEmail,
        now: DateTime<Utc>,
    ) -> Result<Option<Registration>, StoreError>;

    /// Drops what has expired so memory stays bounded (stores with native expiry do nothing).
    async fn sweep(&self, now: DateTime<Utc>) -> Result<(), StoreError>;

    /// For a store behind the network, whether it answers now; `None` for an in-process one.
    async fn reachable(&self) -> Option<bool> {
        None
    }
}

struct Stored {
    /// `None` once the code was burned.
    code: Option<Code>,
    expires_at: DateTime<Utc>,
    failed: u32,
    registration: Option<Registration>,
    registration_expires_at: DateTime<Utc>,
}

impl Stored {
    fn gone(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.max(self.registration_expires_at) <= now
    }
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
        new: NewCode,
    ) -> Result<(), StoreError> {
        let stored = Stored {
            code: Some(new.code),
            expires_at: new.expires_at,
            failed: 0,
            registration: new.registration,
            registration_expires_at: new.registration_expires_at,
        };
        self.codes.insert((purpose, email.clone()), stored);
        Ok(())
    }

    async fn check(
        &self,
        purpose: Purpose,
        email: &UserEmail,
        code: &Code,
        max_attempts: u32,
        now: DateTime<Utc>,
    ) -> Result<CodeCheck, StoreError> {
        use dashmap::Entry;
        // The entry holds the shard's write lock, so check-and-burn is atomic.
        let Entry::Occupied(mut entry) = self.codes.entry((purpose, email.clone())) else {
            return Ok(CodeCheck::Missing);
        };
        let stored = entry.get_mut();
        let Some(live) = stored.code.as_ref().filter(|_| stored.expires_at > now) else {
            return Ok(CodeCheck::Missing);
        };
        if live.matches(code) {
            let used = entry.remove();
            return Ok(CodeCheck::Accepted(used.registration));
        }
        stored.failed += 1;
        if stored.failed >= max_attempts {
            stored.code = None;
            Ok(CodeCheck::Burned)
        } else {
            Ok(CodeCheck::Rejected {
                remaining: max_attempts - stored.failed,
            })
        }
    }

    async fn registration(
        &self,
        purpose: Purpose,
        email: &UserEmail,
        now: DateTime<Utc>,
    ) -> Result<Option<Registration>, StoreError> {
        let Some(stored) = self.codes.get(&(purpose, email.clone())) else {
            return Ok(None);
        };
        Ok(if stored.registration_expires_at > now {
            stored.registration.clone()
        } else {
            None
        })
    }

    async fn sweep(&self, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.codes.retain(|_, stored| !stored.gone(now));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;

    fn email() -> UserEmail {
        UserEmail::parse("a@example.com").unwrap()
    }

    fn new_code(code: &Code, now: DateTime<Utc>, minutes: i64) -> NewCode {
        NewCode {
            code: code.clone(),
            expires_at: now + TimeDelta::minutes(minutes),
            registration: None,
            registration_expires_at: now + TimeDelta::minutes(minutes),
        }
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
            .put(Purpose::VerifyEmail, &email(), new_code(&code, now, 5))
            .await
            .unwrap();
        let first = store
            .check(Purpose::VerifyEmail, &email(), &code, 5, now)
            .await
            .unwrap();
        assert_eq!(first, CodeCheck::Accepted(None));
        let again = store
            .check(Purpose::VerifyEmail, &email(), &code, 5, now)
            .await
            .unwrap();
        assert_eq!(again, CodeCheck::Missing);
    }

    #[tokio::test]
    async fn a_code_is_bound_to_its_purpose() {
        let store = MemoryCodeStore::default();
        let now = Utc::now();
        let code = Code::generate();
        store
            .put(Purpose::VerifyEmail, &email(), new_code(&code, now, 5))
            .await
            .unwrap();
        let reset = store
            .check(Purpose::ResetPassword, &email(), &code, 5, now)
            .await
            .unwrap();
        assert_eq!(reset, CodeCheck::Missing);
    }

    #[tokio::test]
    async fn the_registration_outlives_its_code() {
        let store = MemoryCodeStore::default();
        let now = Utc::now();
        let code = Code::generate();
        let registration = Registration {
            name: "Ann".into(),
            password_hash: "hash".into(),
        };
        let new = NewCode {
            registration: Some(registration.clone()),
            registration_expires_at: now + TimeDelta::hours(24),
            ..new_code(&code, now, 5)
        };
        store
            .put(Purpose::VerifyEmail, &email(), new)
            .await
            .unwrap();
        let later = now + TimeDelta::minutes(10);
        let check = store
            .check(Purpose::VerifyEmail, &email(), &code, 5, later)
            .await
            .unwrap();
        assert_eq!(check, CodeCheck::Missing);
        let kept = store
            .registration(Purpose::VerifyEmail, &email(), later)
            .await
            .unwrap();
        assert_eq!(kept, Some(registration));
        store.sweep(later).await.unwrap();
        assert_eq!(store.len(), 1);
        store.sweep(now + TimeDelta::hours(24)).await.unwrap();
        assert!(store.is_empty());
    }
}
