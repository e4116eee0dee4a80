//! The session cache never outlives an ended session: at once on the instance that ended it,
//! within a bound elsewhere (Redis pub/sub; the cache lifetime when a message cannot arrive),
//! and not at all while an instance cannot hear the others.

use std::time::{Duration, Instant};

use authd::db::Db;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, OwnRedis, PASSWORD, Shared, TestApp, all_backends, redis_store};
use crate::smtp_server::free_port;

/// Whether `/me` with `token` answers 401 within `within`, asking every 20 ms.
pub async fn refused_within(app: &TestApp, token: &str, within: Duration) -> bool {
    let started = Instant::now();
    loop {
        if app.me_with_bearer(token).await.status() == StatusCode::UNAUTHORIZED {
            return true;
        }
        if started.elapsed() > within {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Two sessions of `email` (two devices), each already served from the cache.
async fn two_cached_sessions(app: &TestApp, email: &str) -> (String, String) {
    let first = app.logged_in_user(email).await;
    let second: Value = app.login(email, PASSWORD).await.json().await.unwrap();
    let second = second["access_token"].as_str().unwrap().to_owned();
    for token in [&first, &second, &first, &second] {
        assert_eq!(app.me_with_bearer(token).await.status(), StatusCode::OK);
    }
    (first, second)
}

all_backends! {
    async fn an_ended_session_answers_401_at_once_though_it_was_cached(backend: Backend) {
        let app = backend.spawn().await;
        let (first, second) = two_cached_sessions(&app, "ann@example.com").await;
        let logout = reqwest::Client::new().post(app.url("/api/auth/logout")).bearer_auth(&first).send().await.unwrap();
        assert_eq!(logout.status(), StatusCode::OK);
        assert_eq!(app.me_with_bearer(&first).await.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(app.me_with_bearer(&second).await.status(), StatusCode::OK);
        // A reset ends every session of the user, cached or not.
        app.clock.advance(Duration::from_secs(61));
        app.post("/api/auth/forgot-password", json!({ "email": "ann@example.com" })).await;
        let code = app.last_code("ann@example.com");
        let reset = json!({ "email": "ann@example.com", "otp": code, "new_password": "velvet orchard tempest" });
        assert_eq!(app.post("/api/auth/reset-password", reset).await.status(), StatusCode::OK);
        assert_eq!(app.me_with_bearer(&second).await.status(), StatusCode::UNAUTHORIZED);
    }

    async fn a_cached_session_expires_on_time(backend: Backend) {
        let app = backend.spawn_with(|c| c.auth.session_lifetime = Duration::from_secs(120)).await;
        let (token, _) = two_cached_sessions(&app, "ann@example.com").await;
        app.clock.advance(Duration::from_secs(120));
        assert_eq!(app.me_with_bearer(&token).await.status(), StatusCode::UNAUTHORIZED);
    }

    async fn a_session_ended_by_another_process_is_refused_within_the_cache_lifetime(backend: Backend) {
        let app = backend.spawn_with(|c| c.auth.session_cache_ttl = Duration::from_millis(500)).await;
        let (token, _) = two_cached_sessions(&app, "ann@example.com").await;
        // Another process (an operator's command line, a script) deletes every session.
        let sql = "DELETE FROM sessions";
        match &app.db {
            Db::Sqlite(pool) => sqlx::query(sql).execute(pool).await.map(|_| ()),
            Db::MySql(pool) => sqlx::query(sql).execute(pool).await.map(|_| ()),
            Db::Postgres(pool) => sqlx::query(sql).execute(pool).await.map(|_| ()),
        }
        .unwrap();
        assert!(refused_within(&app, &token, Duration::from_secs(2)).await, "the cache outlived its lifetime");
    }

    async fn an_instance_that_cannot_hear_the_others_reads_the_database_instead(backend: Backend) {
        let port = free_port();
        let Some(redis_server) = OwnRedis::start(port) else {
            eprintln!("skipped: redis-server is not installed");
            return;
        };
        let url = format!("redis://127.0.0.1:{port}/0");
        let store = std::sync::Arc::new(redis_store(&url, "authd_test_revocation:"));
        // A cache lifetime far longer than the test: only not trusting it can end the session.
        let long = |c: &mut authd::Config| c.auth.session_cache_ttl = Duration::from_secs(10);
        let a = backend.spawn_sharing(long, Shared { store: Some(store.clone()), ..Shared::default() }).await;
        let b = backend
            .spawn_sharing(long, Shared {
                store: Some(store),
                clock: Some(a.clock.clone()),
                database_url: Some(a.database_url.clone()),
                ..Shared::default()
            })
            .await;
        // Let both instances subscribe, then cache the sessions on B.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let (ended, kept) = two_cached_sessions(&a, "ann@example.com").await;
        for token in [&ended, &kept] {
            assert_eq!(b.me_with_bearer(token).await.status(), StatusCode::OK);
        }
        // Redis goes away; A ends a session, and cannot tell B.
        drop(redis_server);
        let logout = reqwest::Client::new().post(a.url("/api/auth/logout")).bearer_auth(&ended).send().await.unwrap();
        assert_eq!(logout.status(), StatusCode::OK);
        assert!(refused_within(&b, &ended, Duration::from_secs(3)).await, "B trusted its cache without hearing A");
        // Meanwhile B answers from the database: the other session still works.
        assert_eq!(b.me_with_bearer(&kept).await.status(), StatusCode::OK);
    }
}
