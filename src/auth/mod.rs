//! The flows: what happens when someone registers, verifies, logs in, resets a password, manages
//! their account or ends a session, one file per capability, behind the small API of [`Auth`]. Nothing here knows
//! about HTTP; the stores, the database and the mailer are reached through their traits and
//! modules, and what the counts mean is decided in [`crate::limits`].

mod account;
mod audit;
mod breach;
mod error;
mod guard;
mod health;
mod login;
mod mailing;
mod mfa;
mod mfa_keys;
mod outbox;
mod passwords;
mod registration;
mod reset;
mod session_cache;
mod sessions;
mod tokens;

use std::net::IpAddr;
use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};

pub use error::AuthError;
pub use health::Health;
pub use login::{LoginOutcome, SignedIn};
pub use mfa::{MFA_TOKEN_TTL, SecondFactor, TotpSetup};
pub use mfa_keys::{MFA_KEY_BYTES, MfaKey};
pub use outbox::MailQueue;
pub use passwords::{PasswordError, Passwords};
pub use registration::Verified;
pub use sessions::Session;

use crate::clock::Clock;
use crate::config::{AuthSettings, OutboxSettings};
use crate::db::Db;
use crate::domain::UserAgent;
use crate::mail::Mailer;
use crate::store::{CodeStore, CounterStore, Revocations};
use breach::BreachCheck;
use mfa_keys::MfaKeys;
use outbox::Outbox;
use session_cache::SessionCache;
use tokens::Tokens;

/// Who is calling: the client as the counters key it, its whole address and what it says it
/// is (both for the session list).
#[derive(Clone, Debug)]
pub struct Client {
    /// The address the limits count by (IPv6 cut to its /64).
    pub ip: IpAddr,
    pub address: IpAddr,
    pub user_agent: UserAgent,
}

/// The parts of the flows that have more than one implementation, chosen once at start-up.
pub struct Parts {
    pub codes: Arc<dyn CodeStore>,
    pub counters: Arc<dyn CounterStore>,
    /// How ended sessions reach the other instances' session caches.
    pub revocations: Arc<dyn Revocations>,
    pub mailer: Arc<dyn Mailer>,
    pub clock: Arc<dyn Clock>,
}

/// Everything the flows need, built once at start-up.
pub struct Auth {
    db: Db,
    codes: Arc<dyn CodeStore>,
    counters: Arc<dyn CounterStore>,
    mailer: Arc<dyn Mailer>,
    clock: Arc<dyn Clock>,
    passwords: Passwords,
    tokens: Tokens,
    sessions: Arc<SessionCache>,
    mfa: MfaKeys,
    /// The breached-password check, when it is on.
    breach: Option<BreachCheck>,
    outbox: Outbox,
    settings: AuthSettings,
}

impl Auth {
    /// The flows over `db` and `parts`, signing session tokens with `signing_key`, sealing
    /// TOTP secrets and queued email with `mfa_key`, keeping queued email as `outbox` says. Starts the bcrypt threads (and, in the background, the
    /// timing equaliser's hash), and listening for the sessions other instances end, so it
    /// needs a Tokio runtime.
    pub fn new(
        db: Db,
        parts: Parts,
        settings: AuthSettings,
        signing_key: &SecretString,
        mfa_key: &MfaKey,
        outbox: OutboxSettings,
    ) -> Result<Self, reqwest::Error> {
        let sessions = Arc::new(SessionCache::new(
            settings.session_cache_ttl,
            settings.session_cache_capacity,
            parts.revocations.clone(),
        ));
        parts.revocations.listen(sessions.clone());
        let breach = if settings.breach.enabled {
            Some(BreachCheck::new(&settings.breach)?)
        } else {
            None
        };
        Ok(Self {
            passwords: Passwords::new(settings.bcrypt_cost, settings.hash_limits),
            tokens: Tokens::new(signing_key, settings.jwt_secret_previous.as_ref()),
            sessions,
            mfa: MfaKeys::new(mfa_key, signing_key.expose_secret().as_bytes()),
            breach,
            outbox: Outbox::new(outbox, mfa_key),
            db,
            codes: parts.codes,
            counters: parts.counters,
            mailer: parts.mailer,
            clock: parts.clock,
            settings,
        })
    }

    /// The database, for operators and tests that need to reach past the API.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Closes the database pool: the last step of a shutdown.
    pub async fn close(&self) {
        self.db.close().await;
    }
}
