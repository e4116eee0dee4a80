//! The account settings on two instances sharing the database and Redis: a session ended on one
//! instance is refused by the other within the session cache's bound although that instance
//! had it cached, and codes, lockouts and throttles are shared. Needs TEST_REDIS_URL.
//!
//! The instances here cache sessions for a minute: a session that the other instance still
//! accepted after a second would have been kept alive by the cache, not by the database.

use std::time::Duration;

use authd::clock::Clock;
use authd::db::Db;
use authd::mail::Message;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{
    Backend, PASSWORD, TestApp, all_backends, long_session_cache, stable_headers, test_redis_url,
    token_of,
};
use crate::revocation::refused_within;

const NEW_PASSWORD: &str = "velvet orchard tempest";
const WRONG: &str = "definitely not it";

/// The Redis to share, or `None` (with the reason printed) when TEST_REDIS_URL is unset.
fn redis() -> Option<String> {
    let url = test_redis_url();
    if url.is_none() {
        eprintln!("skipped: TEST_REDIS_URL is not set");
    }
    url
}

/// Two instances with long-lived session caches, and Ann signed in twice through A: her own
/// session and a stolen one, the stolen token served from B's cache.
async fn stolen_session_cached_on_b(
    backend: &Backend,
    url: &str,
) -> (TestApp, TestApp, String, String) {
    let (a, b) = backend.spawn_pair(url, long_session_cache).await;
    // Let both instances subscribe to the others' revocations.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let this = a.logged_in_user("ann@example.com").await;
    let stolen = a.another_device("ann@example.com").await;
    b.cache(&stolen).await;
    b.cache(&this).await;
    (a, b, this, stolen)
}

/// Whether B refuses `token` within a second (the Redis message; far below the cache's minute).
async fn b_refuses(b: &TestApp, token: &str) -> bool {
    refused_within(b, token, Duration::from_secs(1)).await
}

all_backends! {
    async fn each_instance_serves_sessions_from_its_cache_while_it_hears_the_other(backend: Backend) {
        // What the tests below rely on: B really answers from its cache. A session deleted
        // behind the server's back (no instance hears of it) is still accepted from the cache.
        let Some(url) = redis() else { return };
        let (a, b, this, stolen) = stolen_session_cached_on_b(&backend, &url).await;
        a.cache(&this).await;
        let sql = "DELETE FROM sessions";
        match &a.db {
            Db::Sqlite(pool) => sqlx::query(sql).execute(pool).await.map(|_| ()),
            Db::MySql(pool) => sqlx::query(sql).execute(pool).await.map(|_| ()),
            Db::Postgres(pool) => sqlx::query(sql).execute(pool).await.map(|_| ()),
        }
        .unwrap();
        assert_eq!(b.me_with_bearer(&stolen).await.status(), StatusCode::OK, "B did not cache the session");
        assert_eq!(a.me_with_bearer(&this).await.status(), StatusCode::OK, "A did not cache the session");
    }

    async fn a_password_changed_on_one_instance_ends_the_stolen_session_on_the_other(backend: Backend) {
        let Some(url) = redis() else { return };
        let (a, b, this, stolen) = stolen_session_cached_on_b(&backend, &url).await;
        let body = json!({ "current_password": PASSWORD, "new_password": NEW_PASSWORD });
        let response = a.post_as_device(&this, "/api/auth/change-password", body).await;
        assert_eq!(response.status(), StatusCode::OK);
        let new = token_of(response).await;
        assert!(b_refuses(&b, &stolen).await, "B still accepts the stolen session");
        assert!(b_refuses(&b, &this).await, "B still accepts the replaced session");
        assert_eq!(b.me_with_bearer(&new).await.status(), StatusCode::OK);
    }

    async fn logout_others_on_one_instance_ends_the_stolen_session_on_the_other(backend: Backend) {
        let Some(url) = redis() else { return };
        let (a, b, this, stolen) = stolen_session_cached_on_b(&backend, &url).await;
        let response = a.post_empty_as_device(&this, "/api/auth/logout-others").await;
        assert_eq!(response.status(), StatusCode::OK);
        assert!(b_refuses(&b, &stolen).await, "B still accepts the stolen session");
        assert_eq!(b.me_with_bearer(&this).await.status(), StatusCode::OK);
    }

    async fn logout_all_on_one_instance_ends_every_session_on_the_other(backend: Backend) {
        let Some(url) = redis() else { return };
        let (a, b, this, stolen) = stolen_session_cached_on_b(&backend, &url).await;
        let response = a.post_empty_as_device(&this, "/api/auth/logout-all").await;
        assert_eq!(response.status(), StatusCode::OK);
        assert!(b_refuses(&b, &stolen).await, "B still accepts the stolen session");
        assert!(b_refuses(&b, &this).await, "B still accepts the session that logged out");
    }

    async fn a_session_deleted_on_one_instance_is_refused_by_the_other(backend: Backend) {
        let Some(url) = redis() else { return };
        let (a, b, this, stolen) = stolen_session_cached_on_b(&backend, &url).await;
        // Listed on B, ended on A.
        let listed = b.sessions(&this).await;
        let id = listed.iter().find(|s| s["current"] == false).unwrap()["id"].as_str().unwrap().to_owned();
        assert_eq!(a.end_session(&this, &id).await.status(), StatusCode::NO_CONTENT);
        assert!(b_refuses(&b, &stolen).await, "B still accepts the stolen session");
        assert_eq!(b.me_with_bearer(&this).await.status(), StatusCode::OK);
        assert_eq!(b.end_session(&this, &id).await.status(), StatusCode::NOT_FOUND);
    }

    async fn an_address_changed_on_one_instance_shows_and_ends_sessions_on_the_other(backend: Backend) {
        let Some(url) = redis() else { return };
        let (a, b, this, stolen) = stolen_session_cached_on_b(&backend, &url).await;
        let body = json!({ "new_email": "ann.lee@example.org", "password": PASSWORD });
        assert_eq!(a.post_as_device(&this, "/api/auth/change-email", body).await.status(), StatusCode::ACCEPTED);
        let code = a.last_code("ann.lee@example.org");
        // Asked on A, confirmed on B.
        let confirmed = b.post_as_device(&this, "/api/auth/confirm-email-change", json!({ "otp": code })).await;
        assert_eq!(confirmed.status(), StatusCode::OK);
        assert!(b_refuses(&b, &stolen).await, "B still accepts the stolen session");
        assert!(refused_within(&a, &stolen, Duration::from_secs(1)).await);
        // Both instances show the new address to the session that changed it.
        for app in [&a, &b] {
            let me: Value = app.me_with_bearer(&this).await.json().await.unwrap();
            assert_eq!(me["email"], "ann.lee@example.org");
        }
    }

    async fn an_account_deleted_on_one_instance_is_refused_by_the_other(backend: Backend) {
        let Some(url) = redis() else { return };
        let (a, b, this, stolen) = stolen_session_cached_on_b(&backend, &url).await;
        let response = a.post_as_device(&this, "/api/auth/delete-account", json!({ "password": PASSWORD })).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert!(b_refuses(&b, &stolen).await, "B still accepts the stolen session");
        assert!(b_refuses(&b, &this).await, "B still accepts the deleting session");
        assert_eq!(b.login("ann@example.com", PASSWORD).await.status(), StatusCode::UNAUTHORIZED);
    }

    async fn wrong_passwords_on_both_instances_add_up_to_the_lockout(backend: Backend) {
        let Some(url) = redis() else { return };
        let (a, b) = backend.spawn_pair(&url, |c| c.http.trust_proxy = true).await;
        a.verified_user("ann@example.com").await;
        let token = a.another_device("ann@example.com").await;
        let post = |app: &TestApp, path: &'static str, body: Value| {
            app.as_device(&token, Method::POST, path).header("x-forwarded-for", "10.0.0.1").json(&body).send()
        };
        let wrong_change = json!({ "current_password": WRONG, "new_password": NEW_PASSWORD });
        let wrong_delete = json!({ "password": WRONG });
        let wrong_email = json!({ "new_email": "ann.lee@example.org", "password": WRONG });
        let attempts = [
            post(&a, "/api/auth/change-password", wrong_change.clone()).await,
            post(&b, "/api/auth/delete-account", wrong_delete).await,
            post(&a, "/api/auth/change-email", wrong_email).await,
            post(&b, "/api/auth/change-password", wrong_change).await,
        ];
        for response in attempts {
            assert_eq!(response.unwrap().status(), StatusCode::BAD_REQUEST);
        }
        assert_eq!(b.login_as("10.0.0.1", "ann@example.com", WRONG).await.status(), StatusCode::UNAUTHORIZED);
        // Five failures, wherever they were made: locked on both, even with the right password.
        let right = json!({ "current_password": PASSWORD, "new_password": NEW_PASSWORD });
        assert_eq!(post(&a, "/api/auth/change-password", right.clone()).await.unwrap().status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(post(&b, "/api/auth/change-password", right).await.unwrap().status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(a.login_as("10.0.0.1", "ann@example.com", PASSWORD).await.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(b.me_with_bearer(&token).await.status(), StatusCode::OK);
    }

    async fn the_change_of_address_throttle_is_shared_and_the_same_for_taken_and_free(backend: Backend) {
        let Some(url) = redis() else { return };
        let (a, b) = backend.spawn_pair(&url, |_| {}).await;
        let ann = a.logged_in_user("ann@example.com").await;
        let carl = a.logged_in_user("carl@example.com").await;
        a.logged_in_user("bob@example.com").await;
        a.clock.advance(Duration::from_secs(61));
        let ask = |app: &TestApp, token: &str, new_email: &str| {
            let body = json!({ "new_email": new_email, "password": PASSWORD });
            app.as_device(token, Method::POST, "/api/auth/change-email").json(&body).send()
        };
        let taken = ask(&a, &ann, "bob@example.com").await.unwrap();
        let free = ask(&a, &carl, "free@example.com").await.unwrap();
        assert_eq!(taken.status(), StatusCode::ACCEPTED);
        assert_eq!((taken.status(), stable_headers(&taken)), (free.status(), stable_headers(&free)));
        assert_eq!(taken.text().await.unwrap(), free.text().await.unwrap());
        // Again, through the other instance, within the cooldown: refused alike.
        let taken = ask(&b, &ann, "bob@example.com").await.unwrap();
        let free = ask(&b, &carl, "free@example.com").await.unwrap();
        assert_eq!(taken.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!((taken.status(), stable_headers(&taken)), (free.status(), stable_headers(&free)));
        assert_eq!(taken.text().await.unwrap(), free.text().await.unwrap());
        // The code sent through A confirms through B.
        a.mail_settled().await;
        let code = a.last_code("free@example.com");
        let confirmed = b.post_as_device(&carl, "/api/auth/confirm-email-change", json!({ "otp": code })).await;
        assert_eq!(confirmed.status(), StatusCode::OK);
        // The pair shares one mailbox: either worker may deliver what either queued.
        let attempts = a.mail_count("bob@example.com", |m| matches!(m, Message::EmailChangeAttempt));
        assert_eq!(attempts, 1);
    }

    async fn reset_codes_in_the_shared_store_stop_working_on_both_instances(backend: Backend) {
        let Some(url) = redis() else { return };
        let (a, b) = backend.spawn_pair(&url, |c| c.http.trust_proxy = true).await;
        let ann = a.logged_in_user("ann@example.com").await;
        let bob = a.logged_in_user("bob@example.com").await;
        for email in ["ann@example.com", "bob@example.com"] {
            a.post("/api/auth/forgot-password", json!({ "email": email })).await;
        }
        let (anns_code, bobs_code) = (a.last_code("ann@example.com"), a.last_code("bob@example.com"));
        // Ann changes her password, Bob deletes his account, both through B.
        let change = json!({ "current_password": PASSWORD, "new_password": NEW_PASSWORD });
        assert_eq!(b.post_as_device(&ann, "/api/auth/change-password", change).await.status(), StatusCode::OK);
        assert_eq!(b.post_as_device(&bob, "/api/auth/delete-account", json!({ "password": PASSWORD })).await.status(), StatusCode::OK);
        // Someone registers Bob's address anew.
        a.clock.advance(Duration::from_secs(61));
        assert_eq!(a.register_as("10.9.9.9", "bob@example.com", NEW_PASSWORD).await.status(), StatusCode::CREATED);
        let code = a.last_code("bob@example.com");
        assert_eq!(b.verify("bob@example.com", &code).await.status(), StatusCode::OK);
        for (email, code) in [("ann@example.com", anns_code), ("bob@example.com", bobs_code)] {
            let reset = json!({ "email": email, "otp": code, "new_password": "a third pass phrase" });
            assert_eq!(a.post("/api/auth/reset-password", reset).await.status(), StatusCode::BAD_REQUEST, "{email}");
        }
        assert_eq!(a.login("ann@example.com", NEW_PASSWORD).await.status(), StatusCode::OK);
        assert_eq!(a.login("bob@example.com", NEW_PASSWORD).await.status(), StatusCode::OK);
    }

    async fn uses_through_both_instances_are_written_at_most_once_a_minute(backend: Backend) {
        let Some(url) = redis() else { return };
        let (a, b) = backend.spawn_pair(&url, |c| c.auth.session_cache_ttl = Duration::ZERO).await;
        let token = a.logged_in_user("ann@example.com").await;
        let mut written = crate::idle::recorded_uses(&a).await;
        for _ in 0..40 {
            a.clock.advance(Duration::from_secs(7));
            for app in [&a, &b, &a, &b] {
                assert_eq!(app.me_with_bearer(&token).await.status(), StatusCode::OK);
            }
            let recorded = crate::idle::recorded_uses(&a).await[0];
            let behind = (a.clock.now() - recorded).num_seconds();
            assert!(behind <= 60, "{behind} s behind");
            if Some(&recorded) != written.last() {
                written.push(recorded);
            }
        }
        for pair in written.windows(2) {
            assert!((pair[1] - pair[0]).num_milliseconds() >= 59_000, "{written:?}");
        }
        assert!(written.len() >= 4, "{written:?}");
    }
}
