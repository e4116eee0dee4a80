//! Spawns the real application on 127.0.0.1:0 with its own database (SQLite, MySQL/MariaDB or
//! PostgreSQL), an in-memory mailer and a hand-driven clock, and gives tests small typed
//! helpers to talk to it over HTTP.

mod clock;
mod devices;
mod private_servers;
mod range_server;
mod scratch;
mod test_app;
mod totp;

use std::sync::Arc;

use authd::config::{Config, SmtpSettings, SmtpTls};
use authd::mail::{Mailer, MemoryMailer, SmtpMailer};
use authd::store::{CodeStore, CounterStore, RedisStore};
use authd::{Application, Parts};
use reqwest::Response;
use secrecy::SecretString;
use serde_json::Value;

pub use clock::ManualClock;
pub use devices::{
    clears_the_cookie, long_session_cache, same_second, set_cookie, stable_headers, time, token_of,
};
pub use private_servers::{OwnMariaDb, OwnRedis};
pub use range_server::{RangeServer, closed_url, sha1_hex};
use scratch::{RedisScratch, Scratch};
pub use test_app::{TestApp, client};
pub use totp::{Totp, mfa_token_of};

pub const PASSWORD: &str = "correct horse battery";

/// Which database a test runs against: SQLite in a temporary directory, or a database of its
/// own (created, then dropped when the test ends) on the server a URL names.
#[derive(Clone, Debug)]
pub enum Backend {
    Sqlite,
    MySql(String),
    Postgres(String),
}

impl Backend {
    /// The MySQL server named by TEST_MYSQL_URL, if the variable is set.
    pub fn mysql() -> Option<Self> {
        test_url("TEST_MYSQL_URL").map(Backend::MySql)
    }

    /// The PostgreSQL server named by TEST_POSTGRES_URL, if the variable is set.
    pub fn postgres() -> Option<Self> {
        test_url("TEST_POSTGRES_URL").map(Backend::Postgres)
    }

    pub async fn spawn(&self) -> TestApp {
        self.spawn_with(|_| {}).await
    }

    /// Spawns the app after `tweak` has adjusted the test configuration.
    pub async fn spawn_with(&self, tweak: impl FnOnce(&mut Config)) -> TestApp {
        self.spawn_with_mailer(tweak, None).await
    }

    /// Spawns the app delivering email over SMTP to 127.0.0.1:`smtp_port`, as "Acme".
    pub async fn spawn_smtp(&self, smtp_port: u16, tweak: impl FnOnce(&mut Config)) -> TestApp {
        let mailer = SmtpMailer::new(&smtp_settings(smtp_port), "Acme").expect("smtp mailer");
        self.spawn_with_mailer(tweak, Some(Arc::new(mailer))).await
    }

    /// Spawns the app delivering email over SMTP to 127.0.0.1:`smtp_port`, sharing what
    /// `with` says with another instance.
    pub async fn spawn_smtp_sharing(&self, smtp_port: u16, with: Shared) -> TestApp {
        let mailer = SmtpMailer::new(&smtp_settings(smtp_port), "Acme").expect("smtp mailer");
        let with = Shared {
            mailer: Some(Arc::new(mailer)),
            ..with
        };
        self.spawn_sharing(|_| {}, with).await
    }

    /// Spawns the app with `mailer`, or the in-memory one that [`TestApp::mailer`] reads.
    async fn spawn_with_mailer(
        &self,
        tweak: impl FnOnce(&mut Config),
        mailer: Option<Arc<dyn Mailer>>,
    ) -> TestApp {
        let with = Shared {
            mailer,
            ..Shared::default()
        };
        self.spawn_sharing(tweak, with).await
    }

    /// Two instances on one database and one Redis (keys under a prefix of their own), with
    /// one clock: what a load balancer would have in front of it.
    pub async fn spawn_pair(
        &self,
        redis_url: &str,
        tweak: impl Fn(&mut Config),
    ) -> (TestApp, TestApp) {
        let prefix = format!("authd_test_{}:", random_suffix());
        let store = Arc::new(redis_store(redis_url, &prefix));
        let first = Shared {
            store: Some(store.clone()),
            redis: Some((redis_url.to_owned(), prefix)),
            ..Shared::default()
        };
        let a = self.spawn_sharing(&tweak, first).await;
        let second = Shared {
            store: Some(store),
            memory: Some(a.mailer.clone()),
            clock: Some(a.clock.clone()),
            database_url: Some(a.database_url.clone()),
            ..Shared::default()
        };
        let b = self.spawn_sharing(&tweak, second).await;
        (a, b)
    }

    /// Spawns the app with whatever `with` says is shared with another instance.
    pub async fn spawn_sharing(&self, tweak: impl FnOnce(&mut Config), with: Shared) -> TestApp {
        let name = format!("authd_test_{}", random_suffix());
        let (database_url, scratch) = match (&with.database_url, self) {
            (Some(url), _) => (url.clone(), Scratch::Borrowed),
            (None, Backend::Sqlite) => {
                let dir = tempfile::tempdir().expect("temporary directory");
                let url = format!("sqlite://{}", dir.path().join("auth.db").display());
                (url, Scratch::Sqlite(dir))
            }
            (None, Backend::MySql(server) | Backend::Postgres(server)) => {
                let url = url_with_database(server, &name);
                (url.clone(), Scratch::Server(url))
            }
        };
        let mut config = Config::default();
        config.server.port = 0;
        config.db.url = database_url.clone();
        config.db.max_connections = 5;
        config.auth.jwt_secret = Some(SecretString::from(TEST_SECRET));
        config.auth.bcrypt_cost = 4;
        // No test reaches the internet: the breach tests point the check at a server of their own.
        config.auth.breach.enabled = false;
        // Most tests are not about rate limits; the ones that are lower these again.
        config.http.credential_rate.burst = 10_000;
        config.http.general_rate.burst = 10_000;
        tweak(&mut config);
        let memory = with.memory.unwrap_or_default();
        let clock = with.clock.unwrap_or_else(|| Arc::new(ManualClock::new()));
        let mut parts = Parts {
            mailer: with.mailer.unwrap_or_else(|| memory.clone()),
            clock: clock.clone(),
            ..Parts::in_process(&config)
        };
        if let Some(store) = with.store {
            parts.codes = store.clone();
            parts.counters = store.clone();
            parts.revocations = store;
        }
        if let Some(codes) = with.codes {
            parts.codes = codes;
        }
        if let Some(counters) = with.counters {
            parts.counters = counters;
        }
        let app = Application::build(config, parts).await.expect("app starts");
        let addr = app.local_addr().expect("bound address");
        let db = app.db();
        let limiters = app.rate_limiters();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(app.run_until(async {
            let _ = stopped.await;
        }));
        TestApp {
            base: format!("http://{addr}"),
            client: client(),
            mailer: memory,
            clock,
            db,
            limiters,
            database_url,
            _stop: stop,
            _scratch: scratch,
            _redis: with.redis.map(|(url, prefix)| RedisScratch { url, prefix }),
        }
    }
}

/// What a new instance shares with others (or with the test); by default, nothing.
#[derive(Default)]
pub struct Shared {
    pub mailer: Option<Arc<dyn Mailer>>,
    /// The mailbox [`TestApp::mailer`] reads: instances on one database share one, since
    /// either instance's worker may deliver what the other queued.
    pub memory: Option<Arc<MemoryMailer>>,
    pub store: Option<Arc<RedisStore>>,
    pub codes: Option<Arc<dyn CodeStore>>,
    pub counters: Option<Arc<dyn CounterStore>>,
    pub clock: Option<Arc<ManualClock>>,
    pub database_url: Option<String>,
    /// Redis keys this instance removes when it ends: (url, prefix).
    pub redis: Option<(String, String)>,
}

pub const TEST_SECRET: &str = "test-secret-that-is-long-enough-0123456789";

/// The Redis named by TEST_REDIS_URL, if the variable is set.
pub fn test_redis_url() -> Option<String> {
    test_url("TEST_REDIS_URL")
}

/// The value of `var`, if it is set and not empty.
fn test_url(var: &str) -> Option<String> {
    std::env::var(var).ok().filter(|u| !u.trim().is_empty())
}

pub fn redis_store(url: &str, prefix: &str) -> RedisStore {
    RedisStore::new(url, prefix, TEST_SECRET.as_bytes()).expect("redis store")
}

/// SMTP to a test server on this machine, without TLS, from "Acme <no-reply@acme.test>".
pub fn smtp_settings(port: u16) -> SmtpSettings {
    SmtpSettings {
        host: "127.0.0.1".into(),
        port,
        username: None,
        password: None,
        from: "Acme <no-reply@acme.test>".parse().expect("mailbox"),
        tls: SmtpTls::None,
    }
}

/// The seconds of a response's `Retry-After` header.
pub fn retry_after(response: &Response) -> u64 {
    let value = &response.headers()[reqwest::header::RETRY_AFTER];
    value.to_str().unwrap().parse().unwrap()
}

/// A six-digit code that is not `code`.
pub fn wrong_code(code: &str) -> String {
    let n: u32 = code.parse().unwrap();
    format!("{:06}", (n + 1) % 1_000_000)
}

/// The `detail` string of an error body.
pub async fn detail(response: Response) -> String {
    let body: Value = response.json().await.expect("json body");
    body["detail"].as_str().expect("detail string").to_owned()
}

fn random_suffix() -> String {
    format!("{:016x}", rand::random::<u64>())
}

/// The server of `server` (a MySQL or PostgreSQL URL) with the database `name`, keeping any
/// query options.
fn url_with_database(server: &str, name: &str) -> String {
    let (scheme, rest) = server.split_once("://").unwrap_or(("mysql", server));
    let authority = rest.split(['/', '?']).next().unwrap_or(rest);
    let query = rest
        .split_once('?')
        .map(|(_, q)| format!("?{q}"))
        .unwrap_or_default();
    format!("{scheme}://{authority}/{name}{query}")
}

/// Runs a test body against SQLite always, against MySQL when TEST_MYSQL_URL is set, and
/// against PostgreSQL when TEST_POSTGRES_URL is set (printing why it skips otherwise).
macro_rules! all_backends {
    ($(async fn $name:ident($backend:ident: Backend) $body:block)*) => {$(
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn run($backend: Backend) $body

            #[tokio::test]
            async fn sqlite() {
                run(Backend::Sqlite).await
            }

            #[tokio::test]
            async fn mysql() {
                match Backend::mysql() {
                    Some(backend) => run(backend).await,
                    None => eprintln!("skipped: TEST_MYSQL_URL is not set"),
                }
            }

            #[tokio::test]
            async fn postgres() {
                match Backend::postgres() {
                    Some(backend) => run(backend).await,
                    None => eprintln!("skipped: TEST_POSTGRES_URL is not set"),
                }
            }
        }
    )*};
}
pub(crate) use all_backends;
