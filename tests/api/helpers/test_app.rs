//! A running app and typed helpers to talk to it over HTTP.

use std::sync::Arc;
use std::time::{Duration, Instant};

use authd::clock::Clock;
use authd::db::Db;
use authd::domain::Code;
use authd::http::RateLimiters;
use authd::mail::{MemoryMailer, Message};
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};

use super::{ManualClock, PASSWORD, RedisScratch, Scratch};

/// A running app and a browser-like client (it keeps cookies).
pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub mailer: Arc<MemoryMailer>,
    pub clock: Arc<ManualClock>,
    pub db: Db,
    pub limiters: RateLimiters,
    pub database_url: String,
    pub(super) _stop: tokio::sync::oneshot::Sender<()>,
    pub(super) _scratch: Scratch,
    pub(super) _redis: Option<RedisScratch>,
}

pub fn client() -> reqwest::Client {
    // reqwest comes without a TLS provider of its own here (the server's build of it): use ring.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .expect("http client")
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// POST `body` as JSON; returns once the email the request queued has been delivered.
    pub async fn post(&self, path: &str, body: Value) -> Response {
        let response = self.post_now(path, body).await;
        self.mail_settled().await;
        response
    }

    /// POST `body` as JSON; returns as soon as the server answers, as a client sees it (for
    /// timing an answer: the mail it queued may still be on its way).
    pub async fn post_now(&self, path: &str, body: Value) -> Response {
        self.client
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .expect("request sent")
    }

    /// POST as the client `ip`, as a proxy would report it (needs `trust_proxy`); returns once
    /// the email the request queued has been delivered.
    pub async fn post_as(&self, ip: &str, path: &str, body: Value) -> Response {
        let response = self
            .client
            .post(self.url(path))
            .header("x-forwarded-for", ip)
            .json(&body)
            .send()
            .await
            .expect("request sent");
        self.mail_settled().await;
        response
    }

    /// Waits until the outbox worker has handed every email that is due to the mailer (or
    /// dropped it, or put it off for a retry), so a test reads its mail right after the
    /// request, as a user reads their inbox. A database that is down has nothing to wait for.
    pub async fn mail_settled(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while let Ok(due) = authd::db::outbox::due(&self.db, self.clock.now()).await {
            if due == 0 {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{due} queued emails not delivered within 10 s"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    /// A login attempt from the client `ip` (needs `trust_proxy`).
    pub async fn login_as(&self, ip: &str, email: &str, password: &str) -> Response {
        let body = json!({ "email": email, "password": password });
        self.post_as(ip, "/api/auth/login", body).await
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request sent")
    }

    pub async fn register(&self, email: &str) -> Response {
        let body = json!({ "name": "Test User", "email": email, "password": PASSWORD });
        self.post("/api/auth/register", body).await
    }

    /// Registers `email` with `password` from the client `ip` (needs `trust_proxy`).
    pub async fn register_as(&self, ip: &str, email: &str, password: &str) -> Response {
        let body = json!({ "name": "Test User", "email": email, "password": password });
        self.post_as(ip, "/api/auth/register", body).await
    }

    /// The code in the newest message to `email`; panics if none carries one.
    pub fn last_code(&self, email: &str) -> String {
        self.mailer
            .sent_to(email)
            .iter()
            .rev()
            .find_map(|e| e.message.code().map(Code::expose).map(str::to_owned))
            .unwrap_or_else(|| panic!("no code was mailed to {email}"))
    }

    /// How many messages of `kind` went to `email`.
    pub fn mail_count(&self, email: &str, kind: fn(&Message) -> bool) -> usize {
        self.mailer
            .sent_to(email)
            .iter()
            .filter(|e| kind(&e.message))
            .count()
    }

    pub async fn verify(&self, email: &str, otp: &str) -> Response {
        self.post(
            "/api/auth/verify-email",
            json!({ "email": email, "otp": otp }),
        )
        .await
    }

    pub async fn login(&self, email: &str, password: &str) -> Response {
        self.post(
            "/api/auth/login",
            json!({ "email": email, "password": password }),
        )
        .await
    }

    /// Registers and verifies `email` with [`PASSWORD`].
    pub async fn verified_user(&self, email: &str) {
        assert_eq!(self.register(email).await.status(), StatusCode::CREATED);
        let code = self.last_code(email);
        assert_eq!(self.verify(email, &code).await.status(), StatusCode::OK);
    }

    /// Registers, verifies and logs in `email`; returns the access token from the body.
    pub async fn logged_in_user(&self, email: &str) -> String {
        self.verified_user(email).await;
        let response = self.login(email, PASSWORD).await;
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.expect("json body");
        body["access_token"].as_str().expect("token").to_owned()
    }

    /// The prefix of this instance's Redis keys and channel, when it has a Redis of its own
    /// (the first of [`Backend::spawn_pair`](super::Backend::spawn_pair)).
    pub fn redis_prefix(&self) -> Option<&str> {
        self._redis.as_ref().map(|r| r.prefix.as_str())
    }

    /// GET /api/auth/me with `Authorization: Bearer <token>` and no cookies.
    pub async fn me_with_bearer(&self, token: &str) -> Response {
        reqwest::Client::new()
            .get(self.url("/api/auth/me"))
            .bearer_auth(token)
            .send()
            .await
            .expect("request sent")
    }
}
