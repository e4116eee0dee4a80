//! bcrypt hashing and verification, on threads of their own at the lowest scheduling priority
//! (nice 19, through the thread-priority crate), so the async workers stay free and requests
//! that need no bcrypt (`/me`) keep their latency while logins use every spare cycle. Bounded:
//! a few at a time, a short queue behind them, and a refusal beyond it, so a login flood costs
//! the CPU it is allowed and no memory or latency beyond.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::{OnceCell, OwnedSemaphorePermit, Semaphore, oneshot};

use crate::domain::{MAX_PASSWORD_BYTES, Password};
use crate::limits::HashLimits;
use crate::telemetry;

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("bcrypt failed: {0}")]
    Bcrypt(#[from] bcrypt::BcryptError),
    #[error("the bcrypt threads are gone")]
    PoolGone,
    #[error("too many password checks are running and waiting")]
    Busy,
}

/// Hashes and checks passwords at one bcrypt cost.
#[derive(Clone)]
pub struct Passwords {
    cost: u32,
    /// A real hash of a random password at the same cost: checking an unknown user's login
    /// against it takes as long as checking a real user's, so timing does not reveal accounts.
    /// Made in the background at start, so the port opens without waiting for it.
    dummy_hash: Arc<OnceCell<String>>,
    gate: Arc<Gate>,
    pool: HashPool,
}

impl Passwords {
    /// Builds the hasher: starts its threads and, in the background, the dummy hash. Needs a
    /// Tokio runtime.
    pub fn new(cost: u32, limits: HashLimits) -> Self {
        let passwords = Self {
            cost,
            dummy_hash: Arc::default(),
            gate: Arc::new(Gate::new(limits)),
            pool: HashPool::start(limits.concurrent.max(1)),
        };
        let early = passwords.clone();
        tokio::spawn(async move {
            if let Err(e) = early.dummy().await {
                tracing::warn!(error = %e, "the dummy hash could not be made yet");
            }
        });
        passwords
    }

    /// The dummy hash, made once.
    async fn dummy(&self) -> Result<&str, PasswordError> {
        let hash = self
            .dummy_hash
            .get_or_try_init(|| async {
                let dummy = Password::attempt(hex::encode(rand::random::<[u8; 32]>()));
                let cost = self.cost;
                self.pool
                    .run(move || bcrypt::hash(dummy.expose(), cost))
                    .await?
                    .map_err(PasswordError::from)
            })
            .await?;
        Ok(hash)
    }

    pub async fn hash(&self, password: &Password) -> Result<String, PasswordError> {
        let _slot = self.gate.enter().await?;
        let password = password.clone();
        let cost = self.cost;
        Ok(self
            .pool
            .run(move || bcrypt::hash(password.expose(), cost))
            .await??)
    }

    /// Checks `password` against `hash`, or against the dummy hash when there is no user or
    /// the account has no usable password, so every path costs one bcrypt verification.
    /// Returns false for the dummy.
    pub async fn verify(
        &self,
        password: &Password,
        hash: Option<&str>,
    ) -> Result<bool, PasswordError> {
        let hash = hash.filter(|h| h.starts_with("$2"));
        let known = hash.is_some();
        let target = match hash {
            Some(hash) => hash.to_owned(),
            None => self.dummy().await?.to_owned(),
        };
        // bcrypt would compare only the first 72 bytes, so a longer attempt could match a
        // password it is not; no stored password is that long, so it can only be wrong.
        let fits = password.expose().len() <= MAX_PASSWORD_BYTES;
        let password = password.clone();
        let _slot = self.gate.enter().await?;
        let matched = self
            .pool
            .run(move || {
                // A malformed stored hash is a failed check, not a server error for the client.
                bcrypt::verify(password.expose(), &target).unwrap_or(false)
            })
            .await?;
        Ok(known && fits && matched)
    }
}

type Job = Box<dyn FnOnce() + Send>;

/// The threads bcrypt runs on, at the lowest priority.
#[derive(Clone)]
struct HashPool {
    jobs: flume::Sender<Job>,
}

impl HashPool {
    fn start(threads: usize) -> Self {
        let (jobs, queue) = flume::unbounded::<Job>();
        for n in 0..threads {
            let queue = queue.clone();
            let started = std::thread::Builder::new()
                .name(format!("bcrypt-{n}"))
                .spawn(move || {
                    if let Err(e) = thread_priority::set_current_thread_priority(
                        thread_priority::ThreadPriority::Min,
                    ) {
                        tracing::warn!(error = ?e, "bcrypt thread runs at normal priority");
                    }
                    while let Ok(job) = queue.recv() {
                        job();
                    }
                });
            if let Err(e) = started {
                tracing::error!(error = %e, "a bcrypt thread could not start");
            }
        }
        Self { jobs }
    }

    /// Runs `work` on a bcrypt thread and waits for its result without blocking the caller's
    /// worker.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, PasswordError> {
        let (done, result) = oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = done.send(work());
        });
        self.jobs.send(job).map_err(|_| PasswordError::PoolGone)?;
        result.await.map_err(|_| PasswordError::PoolGone)
    }
}

/// A semaphore for running hashes, with a bounded count of those waiting for it.
struct Gate {
    slots: Arc<Semaphore>,
    waiting: AtomicUsize,
    max_waiting: usize,
    /// Hashes running or waiting, for the `authd_password_hash_in_flight` gauge.
    in_flight: AtomicUsize,
}

/// A running hash's slot: counted in flight until dropped.
struct Slot<'a> {
    _permit: OwnedSemaphorePermit,
    _counted: InFlight<'a>,
}

/// One hash in flight (running or waiting), for as long as it lives.
struct InFlight<'a>(&'a AtomicUsize);

impl<'a> InFlight<'a> {
    fn new(count: &'a AtomicUsize) -> Self {
        telemetry::hash_in_flight(count.fetch_add(1, Ordering::SeqCst) + 1);
        Self(count)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        telemetry::hash_in_flight(self.0.fetch_sub(1, Ordering::SeqCst) - 1);
    }
}

/// Counts one waiter for as long as it lives, even if the request is dropped while waiting.
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Gate {
    fn new(limits: HashLimits) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(limits.concurrent.max(1))),
            waiting: AtomicUsize::new(0),
            max_waiting: limits.queued,
            in_flight: AtomicUsize::new(0),
        }
    }

    async fn enter(&self) -> Result<Slot<'_>, PasswordError> {
        let counted = InFlight::new(&self.in_flight);
        if let Ok(permit) = self.slots.clone().try_acquire_owned() {
            return Ok(Slot {
                _permit: permit,
                _counted: counted,
            });
        }
        let place = self.waiting.fetch_add(1, Ordering::SeqCst);
        let _waiting = Waiting(&self.waiting);
        if place >= self.max_waiting {
            telemetry::hash_rejected();
            return Err(PasswordError::Busy);
        }
        let permit = self
            .slots
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| PasswordError::Busy)?;
        Ok(Slot {
            _permit: permit,
            _counted: counted,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_password_and_nothing_else() {
        let p = Passwords::new(4, HashLimits::default());
        let right = Password::attempt("correct horse".into());
        let hash = p.hash(&right).await.unwrap();
        assert!(p.verify(&right, Some(&hash)).await.unwrap());
        let wrong = Password::attempt("battery staple".into());
        assert!(!p.verify(&wrong, Some(&hash)).await.unwrap());
    }

    #[tokio::test]
    async fn beyond_the_running_and_queued_hashes_new_work_is_refused_at_once() {
        let limits = HashLimits {
            concurrent: 1,
            queued: 1,
        };
        let p = Passwords::new(4, limits);
        let pw = Password::attempt("correct horse".into());
        // Hold the only slot, and fill the queue with a waiter.
        let held = p.gate.enter().await.unwrap();
        let queued = tokio::spawn({
            let p = p.clone();
            let pw = pw.clone();
            async move { p.hash(&pw).await }
        });
        while p.gate.waiting.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        assert!(matches!(p.hash(&pw).await, Err(PasswordError::Busy)));
        drop(held);
        assert!(
            queued.await.unwrap().is_ok(),
            "the queued hash runs once a slot frees"
        );
        assert!(p.hash(&pw).await.is_ok());
        assert_eq!(p.gate.waiting.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn an_unknown_user_never_verifies() {
        let p = Passwords::new(4, HashLimits::default());
        let any = Password::attempt("whatever".into());
        assert!(!p.verify(&any, None).await.unwrap());
    }

    #[tokio::test]
    async fn an_account_without_a_usable_password_never_verifies() {
        let p = Passwords::new(4, HashLimits::default());
        let any = Password::attempt(String::new());
        assert!(!p.verify(&any, Some("")).await.unwrap());
    }

    #[tokio::test]
    async fn an_attempt_longer_than_72_bytes_does_not_match_its_prefix() {
        let p = Passwords::new(4, HashLimits::default());
        let stored = "a".repeat(72);
        let hash = p.hash(&Password::attempt(stored.clone())).await.unwrap();
        let longer = Password::attempt(format!("{stored}extra"));
        assert!(!p.verify(&longer, Some(&hash)).await.unwrap());
    }
}
