//! No user enumeration: the same status, body and (roughly) time whether or not an address
//! has an account.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, PASSWORD, TestApp, all_backends};

/// Status and body of a POST, for comparing answers.
async fn answer(app: &TestApp, path: &str, body: Value) -> (StatusCode, Value) {
    let response = app.post(path, body).await;
    (response.status(), response.json().await.unwrap())
}

/// The median time of `runs` calls of `request`.
async fn median<F, Fut>(runs: usize, mut request: F) -> Duration
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = StatusCode>,
{
    let mut times = Vec::with_capacity(runs);
    for i in 0..runs {
        let start = Instant::now();
        request(i).await;
        times.push(start.elapsed());
    }
    times.sort_unstable();
    times[runs / 2]
}

/// Medians within a factor of two of each other: generous, so a busy machine does not fail
/// the test, yet far tighter than the gap a skipped bcrypt would leave (tens of times).
fn assert_similar(a: Duration, b: Duration, what: &str) {
    let (lo, hi) = if a < b { (a, b) } else { (b, a) };
    assert!(
        hi < lo * 2,
        "{what}: medians {a:?} and {b:?} differ too much"
    );
}

/// Setting for the timing tests: a bcrypt cost that dominates a request, and no lockouts.
fn timing_config(c: &mut authd::Config) {
    c.auth.bcrypt_cost = 9;
    c.auth.login_limits.per_account_ip.max = 1_000;
    c.auth.login_limits.per_ip.max = 1_000;
    c.auth.login_limits.per_account.max = 1_000;
}

all_backends! {
    async fn register_answers_the_same_for_new_unverified_and_verified_addresses(backend: Backend) {
        let app = backend.spawn().await;
        app.verified_user("verified@example.com").await;
        app.register("pending@example.com").await;
        // Past the email cooldown of the registrations above.
        app.clock.advance(Duration::from_secs(61));
        let body = |email: &str| json!({ "name": "Eve", "email": email, "password": PASSWORD });
        let mut answers = Vec::new();
        for email in ["new@example.com", "pending@example.com", "verified@example.com"] {
            let (status, mut body) = answer(&app, "/api/auth/register", body(email)).await;
            assert_eq!(status, StatusCode::CREATED);
            body["email"] = Value::Null; // echoes the request, so naturally differs
            answers.push(body);
        }
        assert!(answers.windows(2).all(|w| w[0] == w[1]), "{answers:?}");
    }

    async fn resend_and_forgot_answer_the_same_for_every_kind_of_address(backend: Backend) {
        let app = backend.spawn().await;
        app.verified_user("verified@example.com").await;
        app.register("pending@example.com").await;
        // Past the email cooldown of the registrations above.
        app.clock.advance(Duration::from_secs(61));
        for path in ["/api/auth/resend-verification-otp", "/api/auth/forgot-password"] {
            let mut answers = Vec::new();
            for email in ["nobody@example.com", "pending@example.com", "verified@example.com"] {
                answers.push(answer(&app, path, json!({ "email": email })).await);
            }
            assert!(answers.windows(2).all(|w| w[0] == w[1]), "{path}: {answers:?}");
        }
    }

    async fn login_takes_as_long_for_an_unknown_address_as_for_a_wrong_password(backend: Backend) {
        let app = backend.spawn_with(timing_config).await;
        app.verified_user("ann@example.com").await;
        let known = median(9, |_| async {
            app.login("ann@example.com", "wrong password here").await.status()
        })
        .await;
        let unknown = median(9, |i| {
            let email = format!("ghost{i}@example.com");
            let app = &app;
            async move { app.login(&email, "wrong password here").await.status() }
        })
        .await;
        assert_similar(known, unknown, "login");
    }

    async fn register_takes_as_long_for_a_taken_address_as_for_a_new_one(backend: Backend) {
        let app = backend.spawn_with(timing_config).await;
        app.verified_user("ann@example.com").await;
        // Each registration an hour after the last, so the mail throttle lets every one through.
        let hour = Duration::from_secs(3601);
        let taken = median(7, |_| async {
            app.clock.advance(hour);
            app.register("ann@example.com").await.status()
        })
        .await;
        let fresh = median(7, |i| {
            let email = format!("new{i}@example.com");
            let app = &app;
            async move {
                app.clock.advance(hour);
                app.register(&email).await.status()
            }
        })
        .await;
        assert_similar(taken, fresh, "register");
    }
}
