//! Several instances behind a load balancer: codes and counters live in Redis and are shared.
//! Needs TEST_REDIS_URL (for example redis://127.0.0.1:6379/0); .ci/run sets it.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{
    Backend, PASSWORD, Shared, both_backends, redis_store, test_redis_url, wrong_code,
};
use crate::smtp_server::free_port;

/// The Redis to share, or `None` (with the reason printed) when TEST_REDIS_URL is unset.
fn redis() -> Option<String> {
    let url = test_redis_url();
    if url.is_none() {
        eprintln!("skipped: TEST_REDIS_URL is not set");
    }
    url
}

both_backends! {
    async fn a_code_requested_through_one_instance_verifies_through_the_other(backend: Backend) {
        let Some(url) = redis() else { return };
        let (a, b) = backend.spawn_pair(&url, |_| {}).await;
        assert_eq!(a.register("ann@example.com").await.status(), StatusCode::CREATED);
        let code = a.last_code("ann@example.com");
        assert_eq!(b.verify("ann@example.com", &code).await.status(), StatusCode::OK);
        assert_eq!(a.login("ann@example.com", PASSWORD).await.status(), StatusCode::OK);
    }

    async fn wrong_codes_split_across_instances_burn_the_code(backend: Backend) {
        let Some(url) = redis() else { return };
        let (a, b) = backend.spawn_pair(&url, |c| c.otp_max_attempts = 4).await;
        a.register("ann@example.com").await;
        let code = a.last_code("ann@example.com");
        for app in [&a, &b, &a, &b] {
            let response = app.verify("ann@example.com", &wrong_code(&code)).await;
            assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        }
        assert_eq!(b.verify("ann@example.com", &code).await.status(), StatusCode::BAD_REQUEST);
    }

    async fn failed_logins_across_instances_lock_the_account(backend: Backend) {
        let Some(url) = redis() else { return };
        let (a, b) = backend.spawn_pair(&url, |c| c.trust_proxy = true).await;
        a.verified_user("ann@example.com").await;
        for app in [&a, &b, &a, &b, &a] {
            let response = app.login_as("10.0.0.1", "ann@example.com", "not the password").await;
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        }
        for app in [&a, &b] {
            let locked = app.login_as("10.0.0.1", "ann@example.com", PASSWORD).await;
            assert_eq!(locked.status(), StatusCode::TOO_MANY_REQUESTS);
        }
    }

    async fn logout_through_one_instance_ends_the_session_on_the_other(backend: Backend) {
        let Some(url) = redis() else { return };
        let (a, b) = backend.spawn_pair(&url, |_| {}).await;
        let token = a.logged_in_user("ann@example.com").await;
        assert_eq!(b.me_with_bearer(&token).await.status(), StatusCode::OK);
        let logout = reqwest::Client::new()
            .post(a.url("/api/auth/logout"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(logout.status(), StatusCode::OK);
        assert_eq!(b.me_with_bearer(&token).await.status(), StatusCode::UNAUTHORIZED);
    }

    async fn two_instances_racing_on_one_code_accept_it_exactly_once(backend: Backend) {
        let Some(url) = redis() else { return };
        let (a, b) = backend.spawn_pair(&url, |_| {}).await;
        for n in 0..5 {
            let email = format!("race{n}@example.com");
            a.register(&email).await;
            let code = a.last_code(&email);
            let (first, second) = tokio::join!(a.verify(&email, &code), b.verify(&email, &code));
            let mut statuses = [first.status(), second.status()];
            statuses.sort();
            assert_eq!(statuses, [StatusCode::OK, StatusCode::BAD_REQUEST], "{email}");
        }
    }

    async fn codes_in_redis_are_stored_as_keyed_digests(backend: Backend) {
        let Some(url) = redis() else { return };
        let (a, _b) = backend.spawn_pair(&url, |_| {}).await;
        a.register("ann@example.com").await;
        let code = a.last_code("ann@example.com");
        let mut conn = redis::Client::open(url.as_str()).unwrap().get_connection().unwrap();
        let keys: Vec<String> = redis::cmd("KEYS").arg("authd_test_*code:*ann@example.com").query(&mut conn).unwrap();
        assert!(!keys.is_empty(), "the code is in Redis");
        for key in keys {
            let fields: Vec<String> = redis::cmd("HGETALL").arg(&key).query(&mut conn).unwrap();
            assert!(fields.iter().all(|f| !f.contains(&code)), "{key} holds the code in clear");
        }
    }
}

#[tokio::test]
async fn an_unreachable_redis_gets_a_quick_503_and_health_says_so() {
    let store = redis_store(
        &format!("redis://127.0.0.1:{}/0", free_port()),
        "authd_test_down:",
    );
    let with = Shared {
        store: Some(std::sync::Arc::new(store)),
        ..Shared::default()
    };
    let app = Backend::Sqlite.spawn_sharing(|_| {}, with).await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let register = client
        .post(app.url("/api/auth/register"))
        .json(&json!({ "name": "Ann", "email": "ann@example.com", "password": PASSWORD }))
        .send()
        .await
        .expect("an answer, not a hang");
    assert_eq!(register.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = register.json().await.unwrap();
    assert!(body["detail"].is_string());
    let health: Value = client
        .get(app.url("/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["redis"], "unavailable");
    assert_eq!(health["status"], "degraded");
}

/// A redis-server of the test's own, to stop and start again.
struct OwnRedis(Child);

impl OwnRedis {
    fn start(port: u16) -> Option<Self> {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        std::thread::sleep(Duration::from_millis(300));
        Some(Self(child))
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn the_server_reconnects_by_itself_when_redis_returns() {
    let port = free_port();
    let Some(redis_server) = OwnRedis::start(port) else {
        eprintln!("skipped: redis-server is not installed");
        return;
    };
    let url = format!("redis://127.0.0.1:{port}/0");
    let with = Shared {
        store: Some(std::sync::Arc::new(redis_store(
            &url,
            "authd_test_reconnect:",
        ))),
        ..Shared::default()
    };
    let app = Backend::Sqlite.spawn_sharing(|_| {}, with).await;
    assert_eq!(
        app.register("one@example.com").await.status(),
        StatusCode::CREATED
    );
    drop(redis_server);
    assert_eq!(
        app.register("two@example.com").await.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    let _again = OwnRedis::start(port).expect("redis-server restarts");
    let mut status = StatusCode::SERVICE_UNAVAILABLE;
    for _ in 0..50 {
        status = app.register("three@example.com").await.status();
        if status == StatusCode::CREATED {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, StatusCode::CREATED);
    let health: Value = app.get("/health").await.json().await.unwrap();
    assert_eq!(health["redis"], "ok");
}
