//! Several instances behind a load balancer: codes and counters live in Redis and are shared.
//! Needs TEST_REDIS_URL (for example redis://127.0.0.1:6379/0); .ci/run sets it.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{
    Backend, OwnRedis, PASSWORD, Shared, TestApp, all_backends, redis_store, test_redis_url,
    wrong_code,
};
use crate::smtp_server::free_port;

/// The JSON body of a request for an address.
type BodyFor = fn(&str) -> Value;

/// The Redis to share, or `None` (with the reason printed) when TEST_REDIS_URL is unset.
fn redis() -> Option<String> {
    let url = test_redis_url();
    if url.is_none() {
        eprintln!("skipped: TEST_REDIS_URL is not set");
    }
    url
}

all_backends! {
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
        let (a, b) = backend.spawn_pair(&url, |c| c.auth.code_limits.attempts.per_client = 4).await;
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
        let (a, b) = backend.spawn_pair(&url, |c| c.http.trust_proxy = true).await;
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
        // The other instance drops its cached session when it hears of the logout (Redis
        // pub/sub: milliseconds), and at the latest when the entry's lifetime ends.
        assert!(
            crate::revocation::refused_within(&b, &token, Duration::from_secs(1)).await,
            "the other instance still accepts the session"
        );
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

    async fn an_owner_registering_through_another_instance_cannot_inherit_an_attackers_password(backend: Backend) {
        let Some(url) = redis() else { return };
        let (a, b) = backend.spawn_pair(&url, |c| c.http.trust_proxy = true).await;
        let attacker = a.register_as("6.6.6.6", "victim@example.com", "purple kettle drums at dawn").await;
        assert_eq!(attacker.status(), StatusCode::CREATED);
        // The cooldown is shared: the owner is told to wait, not answered as if mailed.
        let early = b.register_as("10.0.0.2", "victim@example.com", "velvet orchard tempest").await;
        assert_eq!(early.status(), StatusCode::TOO_MANY_REQUESTS);
        a.clock.advance(Duration::from_secs(61));
        let owner = b.register_as("10.0.0.2", "victim@example.com", "velvet orchard tempest").await;
        assert_eq!(owner.status(), StatusCode::CREATED);
        let code = b.last_code("victim@example.com");
        let verified = a.post_as("10.0.0.2", "/api/auth/verify-email", json!({ "email": "victim@example.com", "otp": code })).await;
        let body: Value = verified.json().await.unwrap();
        assert_eq!(body["password_set"], false, "{body}");
        for password in ["purple kettle drums at dawn", "velvet orchard tempest"] {
            assert_eq!(a.login_as("10.0.0.2", "victim@example.com", password).await.status(), StatusCode::UNAUTHORIZED);
        }
    }

    async fn guesses_spread_over_instances_and_ips_do_not_stop_the_owners_code(backend: Backend) {
        let Some(url) = redis() else { return };
        let (a, b) = backend.spawn_pair(&url, |c| c.http.trust_proxy = true).await;
        a.register_as("10.0.0.2", "ann@example.com", PASSWORD).await;
        let code = a.last_code("ann@example.com");
        for n in 0..3 {
            let ip = format!("6.6.6.{n}");
            for (i, app) in [&a, &b].into_iter().cycle().take(12).enumerate() {
                let body = json!({ "email": "ann@example.com", "otp": wrong_code(&code) });
                let response = app.post_as(&ip, "/api/auth/verify-email", body).await;
                let expected = if i < 10 { StatusCode::BAD_REQUEST } else { StatusCode::TOO_MANY_REQUESTS };
                assert_eq!(response.status(), expected, "guess {i} from {ip}");
            }
        }
        // One of those IPs is out of tries at this code, even with the right one...
        let right = json!({ "email": "ann@example.com", "otp": code });
        assert_ne!(b.post_as("6.6.6.0", "/api/auth/verify-email", right.clone()).await.status(), StatusCode::OK);
        // ...and the owner's own IP is not.
        assert_eq!(b.post_as("10.0.0.2", "/api/auth/verify-email", right).await.status(), StatusCode::OK);
    }

    async fn one_ip_cannot_use_up_an_addresss_email_budget_across_instances(backend: Backend) {
        let Some(url) = redis() else { return };
        let (a, b) = backend.spawn_pair(&url, |c| c.http.trust_proxy = true).await;
        a.verified_user("ann@example.com").await;
        let forgot = json!({ "email": "ann@example.com" });
        for (n, app) in [&a, &b].into_iter().cycle().take(6).enumerate() {
            a.clock.advance(Duration::from_secs(61));
            let response = app.post_as("6.6.6.6", "/api/auth/forgot-password", forgot.clone()).await;
            let expected = if n < 3 { StatusCode::OK } else { StatusCode::TOO_MANY_REQUESTS };
            assert_eq!(response.status(), expected, "request {n}");
        }
        a.clock.advance(Duration::from_secs(61));
        let owner = b.post_as("10.0.0.2", "/api/auth/forgot-password", forgot).await;
        assert_eq!(owner.status(), StatusCode::OK);
        let resets = |app: &TestApp| app.mail_count("ann@example.com", |m| matches!(m, authd::mail::Message::PasswordResetCode { .. }));
        // The pair shares one mailbox: either worker may deliver what either queued.
        assert_eq!(resets(&a), 4, "three for the attacker's requests, one for the owner's");
    }

    async fn with_redis_down_known_and_unknown_addresses_get_the_same_answer(backend: Backend) {
        let port = free_port();
        let Some(redis_server) = OwnRedis::start(port) else {
            eprintln!("skipped: redis-server is not installed");
            return;
        };
        let url = format!("redis://127.0.0.1:{port}/0");
        let store = std::sync::Arc::new(redis_store(&url, "authd_test_outage:"));
        let a = backend.spawn_sharing(|_| {}, Shared { store: Some(store.clone()), ..Shared::default() }).await;
        let b = backend
            .spawn_sharing(|_| {}, Shared {
                store: Some(store),
                memory: Some(a.mailer.clone()),
                clock: Some(a.clock.clone()),
                database_url: Some(a.database_url.clone()),
                ..Shared::default()
            })
            .await;
        a.verified_user("ann@example.com").await;
        a.register("pending@example.com").await;
        a.clock.advance(Duration::from_secs(3601));
        drop(redis_server);
        let requests: [(&str, BodyFor); 4] = [
            ("/api/auth/forgot-password", |e| json!({ "email": e })),
            ("/api/auth/resend-verification-otp", |e| json!({ "email": e })),
            ("/api/auth/register", |e| json!({ "name": "Eve", "email": e, "password": PASSWORD })),
            ("/api/auth/login", |e| json!({ "email": e, "password": PASSWORD })),
        ];
        for (path, body) in requests {
            let mut answers = Vec::new();
            for (app, email) in [(&a, "ann@example.com"), (&b, "pending@example.com"), (&a, "nobody@example.com"), (&b, "nobody@example.com")] {
                let response = app.post(path, body(email)).await;
                let status = response.status();
                let mut answer: Value = response.json().await.unwrap();
                answer["email"] = Value::Null;
                answers.push((status, answer));
            }
            assert!(answers.windows(2).all(|w| w[0] == w[1]), "{path}: {answers:?}");
            assert_eq!(answers[0].0, StatusCode::SERVICE_UNAVAILABLE, "{path}");
        }
    }

    async fn a_burst_of_refused_email_requests_from_one_ip_leaves_the_owners_budget_alone(backend: Backend) {
        let Some(url) = redis() else { return };
        let (a, b) = backend.spawn_pair(&url, |c| c.http.trust_proxy = true).await;
        a.register_as("10.0.0.2", "ann@example.com", PASSWORD).await;
        // Concurrent requests from one IP on both instances: all but the first are refused
        // (cooldown), and refused requests must count nowhere, however they interleave.
        for round in 0..3 {
            a.clock.advance(Duration::from_secs(61));
            let body = json!({ "email": "ann@example.com" });
            let burst = (0..20).map(|i| {
                let app = if i % 2 == 0 { &a } else { &b };
                app.post_as("6.6.6.6", "/api/auth/resend-verification-otp", body.clone())
            });
            let statuses: Vec<StatusCode> = futures_util::future::join_all(burst)
                .await
                .into_iter()
                .map(|r| r.status())
                .collect();
            let sent = statuses.iter().filter(|s| **s == StatusCode::OK).count();
            assert!(sent <= 1, "round {round}: {statuses:?}");
        }
        a.clock.advance(Duration::from_secs(61));
        let owner = b.post_as("10.0.0.2", "/api/auth/forgot-password", json!({ "email": "ann@example.com" })).await;
        assert_eq!(owner.status(), StatusCode::OK, "the owner's own budget was used up by refused requests");
    }

    async fn bursts_of_refused_logins_from_one_ip_do_not_lock_the_owner_out(backend: Backend) {
        let Some(url) = redis() else { return };
        let (a, b) = backend.spawn_pair(&url, |c| c.http.trust_proxy = true).await;
        a.verified_user("ann@example.com").await;
        for _ in 0..4 {
            let burst = (0..20).map(|i| {
                let app = if i % 2 == 0 { &a } else { &b };
                app.login_as("6.6.6.6", "ann@example.com", "not the password")
            });
            let statuses: Vec<StatusCode> = futures_util::future::join_all(burst)
                .await
                .into_iter()
                .map(|r| r.status())
                .collect();
            let tried = statuses.iter().filter(|s| **s == StatusCode::UNAUTHORIZED).count();
            assert!(tried <= 5, "one IP got {tried} guesses: {statuses:?}");
            a.clock.advance(Duration::from_secs(61));
        }
        // One IP made at most 5 real failures: far from the account-wide limit of 20.
        let owner = b.login_as("10.0.0.2", "ann@example.com", PASSWORD).await;
        assert_eq!(owner.status(), StatusCode::OK);
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
