//! Sliding sessions: a session unused for the idle timeout ends, one in use lives on until its
//! absolute end, and a use is written to the database at most once per interval (a minute, or
//! a quarter of the idle timeout where that is shorter), never on every request.

use std::time::Duration;

use authd::clock::Clock;
use authd::db::Db;
use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::binary::Binary;
use crate::helpers::{
    Backend, PASSWORD, TestApp, all_backends, long_session_cache, same_second, set_cookie, time,
    token_of,
};

/// `last_used_at` of every session in the database, oldest session first, read past the API.
pub async fn recorded_uses(app: &TestApp) -> Vec<DateTime<Utc>> {
    let sql = "SELECT last_used_at FROM sessions ORDER BY created_at";
    let rows: Vec<(DateTime<Utc>,)> = match &app.db {
        Db::Sqlite(pool) => sqlx::query_as(sql).fetch_all(pool).await,
        Db::MySql(pool) => sqlx::query_as(sql).fetch_all(pool).await,
        Db::Postgres(pool) => sqlx::query_as(sql).fetch_all(pool).await,
    }
    .unwrap();
    rows.into_iter().map(|(t,)| t).collect()
}

/// An idle timeout of `idle` seconds and an absolute lifetime of `lifetime` seconds.
fn sessions(idle: u64, lifetime: u64) -> impl Fn(&mut authd::Config) {
    move |c| {
        c.auth.session_idle_timeout = Duration::from_secs(idle);
        c.auth.session_lifetime = Duration::from_secs(lifetime);
    }
}

all_backends! {
    async fn an_unused_session_ends_after_the_idle_timeout(backend: Backend) {
        let app = backend.spawn_with(sessions(60, 3600)).await;
        let used = app.logged_in_user("ann@example.com").await;
        let unused = app.another_device("ann@example.com").await;
        let unused_id = app.own_session_id(&unused).await;
        app.clock.advance(Duration::from_secs(58));
        assert_eq!(app.me_with_bearer(&used).await.status(), StatusCode::OK);
        app.clock.advance(Duration::from_secs(2));
        // Sixty seconds without a use: over. The other, used two seconds ago, goes on.
        assert_eq!(app.me_with_bearer(&unused).await.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(app.me_with_bearer(&used).await.status(), StatusCode::OK);
        let listed = app.sessions(&used).await;
        assert_eq!(listed.len(), 1, "{listed:?}");
        assert_eq!(app.end_session(&used, &unused_id).await.status(), StatusCode::NOT_FOUND);
        // And that one ends in turn once left alone for the idle timeout.
        app.clock.advance(Duration::from_secs(40));
        assert_eq!(app.me_with_bearer(&used).await.status(), StatusCode::OK);
        app.clock.advance(Duration::from_secs(60));
        assert_eq!(app.me_with_bearer(&used).await.status(), StatusCode::UNAUTHORIZED);
        // Using it again does not bring it back.
        assert_eq!(app.me_with_bearer(&used).await.status(), StatusCode::UNAUTHORIZED);
    }

    async fn a_session_in_use_lives_until_its_absolute_end(backend: Backend) {
        let app = backend.spawn_with(sessions(60, 300)).await;
        app.verified_user("ann@example.com").await;
        let login = app.login("ann@example.com", PASSWORD).await;
        assert!(set_cookie(&login).contains("Max-Age=300"), "{}", set_cookie(&login));
        let body: Value = login.json().await.unwrap();
        assert_eq!(body["expires_in"], 300);
        let token = body["access_token"].as_str().unwrap().to_owned();
        // Used every forty seconds, far past the idle timeout...
        for step in 1..=7 {
            app.clock.advance(Duration::from_secs(40));
            assert_eq!(app.me_with_bearer(&token).await.status(), StatusCode::OK, "after {}s", 40 * step);
        }
        // ...until the absolute end, however active.
        app.clock.advance(Duration::from_secs(20));
        assert_eq!(app.me_with_bearer(&token).await.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(app.get("/api/auth/me").await.status(), StatusCode::UNAUTHORIZED);
    }

    async fn an_idle_session_ends_though_it_was_cached(backend: Backend) {
        let app = backend.spawn_with(|c| {
            sessions(20, 3600)(c);
            long_session_cache(c);
        }).await;
        let token = app.logged_in_user("ann@example.com").await;
        app.cache(&token).await;
        app.clock.advance(Duration::from_secs(20));
        assert_eq!(app.me_with_bearer(&token).await.status(), StatusCode::UNAUTHORIZED);
    }

    async fn uses_are_written_at_most_once_per_interval(backend: Backend) {
        // (idle timeout, the interval it gives, the step between uses), all in seconds: a minute
        // at most, a quarter of the idle timeout where that is shorter.
        for (idle, interval, step) in [(3600, 60, 7), (40, 10, 3)] {
            for cache in [Duration::ZERO, Duration::from_secs(1)] {
                let app = backend
                    .spawn_with(|c| {
                        sessions(idle, 86_400)(c);
                        c.auth.session_cache_ttl = cache;
                    })
                    .await;
                let token = app.logged_in_user("ann@example.com").await;
                let mut written = recorded_uses(&app).await;
                for _ in 0..(5 * interval / step) {
                    app.clock.advance(Duration::from_secs(step));
                    // A burst of uses within one second of the manual clock.
                    for _ in 0..5 {
                        assert_eq!(app.me_with_bearer(&token).await.status(), StatusCode::OK);
                    }
                    let now = app.clock.now();
                    let recorded = recorded_uses(&app).await[0];
                    // Never left unrecorded for longer than the interval...
                    let behind = (now - recorded).num_milliseconds();
                    assert!(behind < 1000 * interval as i64 + 1000, "idle {idle}: {behind} ms behind");
                    if Some(&recorded) != written.last() {
                        written.push(recorded);
                    }
                }
                // ...and never written twice within it.
                for pair in written.windows(2) {
                    let apart = (pair[1] - pair[0]).num_milliseconds();
                    assert!(apart >= 1000 * interval as i64 - 1000, "idle {idle}, cache {cache:?}: written {apart} ms apart: {written:?}");
                }
                assert!(written.len() >= 4, "idle {idle}: {written:?}");
            }
        }
    }

    async fn the_session_list_says_when_each_session_ends_unless_used(backend: Backend) {
        let app = backend.spawn_with(sessions(600, 900)).await;
        let opened = app.clock.now();
        let token = app.logged_in_user("ann@example.com").await;
        let listed = app.sessions(&token).await;
        // Unused, it ends after the idle timeout, before its absolute end.
        assert!(same_second(time(&listed[0]["expires_at"]), opened + Duration::from_secs(600)), "{listed:?}");
        app.clock.advance(Duration::from_secs(400));
        let listed = app.sessions(&token).await;
        // Used since (listing it is a use): the absolute end comes first now.
        assert!(same_second(time(&listed[0]["last_used_at"]), opened + Duration::from_secs(400)), "{listed:?}");
        assert!(same_second(time(&listed[0]["expires_at"]), opened + Duration::from_secs(900)), "{listed:?}");
        assert!(same_second(time(&listed[0]["created_at"]), opened), "{listed:?}");
    }

    async fn a_new_password_gives_a_session_of_the_full_lifetime(backend: Backend) {
        let app = backend.spawn_with(sessions(60, 600)).await;
        let token = app.logged_in_user("ann@example.com").await;
        app.clock.advance(Duration::from_secs(50));
        let body = json!({ "current_password": PASSWORD, "new_password": "velvet orchard tempest" });
        let response = app.post_as_device(&token, "/api/auth/change-password", body).await;
        assert_eq!(response.status(), StatusCode::OK);
        let new = token_of(response).await;
        // The new session counts its idle time and its lifetime from the change.
        app.clock.advance(Duration::from_secs(58));
        assert_eq!(app.me_with_bearer(&new).await.status(), StatusCode::OK);
        for _ in 0..10 {
            app.clock.advance(Duration::from_secs(50));
            assert_eq!(app.me_with_bearer(&new).await.status(), StatusCode::OK);
        }
        app.clock.advance(Duration::from_secs(50));
        assert_eq!(app.me_with_bearer(&new).await.status(), StatusCode::UNAUTHORIZED);
    }
}

/// The real binary reads the idle timeout and the absolute lifetime from its environment.
#[tokio::test]
async fn the_binary_takes_its_session_lifetimes_from_the_environment() {
    const SECRET: &str = "a-jwt-secret-of-at-least-thirty-two-bytes-0123";
    for refused in [
        vec![("SESSION_IDLE_TIMEOUT_SECONDS", "9")],
        vec![
            ("JWT_EXPIRE_MINUTES", "30"),
            ("SESSION_MAX_LIFETIME_SECONDS", "1800"),
        ],
    ] {
        let mut env = refused.clone();
        env.push(("JWT_SECRET", SECRET));
        let mut authd = Binary::start(&env);
        let status = authd
            .exit_within(Duration::from_secs(30))
            .expect("refused to start");
        assert!(!status.success());
        assert!(
            authd.output().contains(refused.last().unwrap().0),
            "{}",
            authd.output()
        );
    }
    let cases = [
        (
            vec![
                ("SESSION_IDLE_TIMEOUT_SECONDS", "10"),
                ("SESSION_MAX_LIFETIME_SECONDS", "7200"),
            ],
            7200,
            10,
        ),
        // Unused, a session ends at its absolute end if that comes before the idle timeout.
        (vec![("JWT_EXPIRE_MINUTES", "30")], 1800, 1800),
        (vec![], 86_400, 3600),
    ];
    for (mut env, lifetime, unused_for) in cases {
        env.push(("JWT_SECRET", SECRET));
        env.push(("RUST_LOG", "info"));
        let authd = Binary::start(&env);
        let base = authd.base_url(Duration::from_secs(30)).expect("listening");
        let client = reqwest::Client::new();
        let register = json!({ "name": "Ann", "email": "ann@example.com", "password": PASSWORD });
        let registered = client
            .post(format!("{base}/api/auth/register"))
            .json(&register)
            .send()
            .await
            .unwrap();
        assert_eq!(registered.status(), StatusCode::CREATED);
        // The console mailer writes the code to the log.
        let mut code = None;
        for _ in 0..100 {
            code = authd
                .output()
                .split("verification_code ")
                .nth(1)
                .map(|rest| rest[..6].to_owned());
            if code.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let code = code.expect("the code in the log");
        let verify = json!({ "email": "ann@example.com", "otp": code });
        let verified = client
            .post(format!("{base}/api/auth/verify-email"))
            .json(&verify)
            .send()
            .await
            .unwrap();
        assert_eq!(verified.status(), StatusCode::OK);
        let login = json!({ "email": "ann@example.com", "password": PASSWORD });
        let response = client
            .post(format!("{base}/api/auth/login"))
            .json(&login)
            .send()
            .await
            .unwrap();
        assert!(
            set_cookie(&response).contains(&format!("Max-Age={lifetime}")),
            "{}",
            set_cookie(&response)
        );
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["expires_in"], lifetime);
        let token = body["access_token"].as_str().unwrap();
        let listed: Value = client
            .get(format!("{base}/api/auth/sessions"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let session = &listed[0];
        let ends = time(&session["expires_at"]) - time(&session["last_used_at"]);
        assert_eq!(ends.num_seconds(), unused_for, "{session}");
    }
}
