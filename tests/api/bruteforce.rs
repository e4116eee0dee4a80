//! Guessing attacks: passwords per account and IP, per IP, per account; codes per address;
//! and mail bombing.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, PASSWORD, both_backends, detail, retry_after, wrong_code};

const WRONG: &str = "definitely not it";

both_backends! {
    async fn five_wrong_passwords_lock_the_account_for_that_ip_even_with_the_right_one(backend: Backend) {
        let app = backend.spawn_with(|c| c.trust_proxy = true).await;
        app.verified_user("ann@example.com").await;
        for _ in 0..5 {
            let response = app.login_as("10.0.0.1", "ann@example.com", WRONG).await;
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        }
        let locked = app.login_as("10.0.0.1", "ann@example.com", PASSWORD).await;
        assert_eq!(locked.status(), StatusCode::TOO_MANY_REQUESTS);
        let wait = retry_after(&locked);
        assert!((800..=900).contains(&wait), "Retry-After {wait}");
        // The owner, from their own address, is not locked out.
        let owner = app.login_as("10.0.0.2", "ann@example.com", PASSWORD).await;
        assert_eq!(owner.status(), StatusCode::OK);
        // When the lockout ends, the right password works again from the first address.
        app.clock.advance(Duration::from_secs(wait));
        let later = app.login_as("10.0.0.1", "ann@example.com", PASSWORD).await;
        assert_eq!(later.status(), StatusCode::OK);
    }

    async fn a_lockout_looks_the_same_for_an_unknown_account(backend: Backend) {
        let app = backend.spawn_with(|c| c.trust_proxy = true).await;
        app.verified_user("ann@example.com").await;
        let mut bodies = Vec::new();
        for email in ["ann@example.com", "nobody@example.com"] {
            for _ in 0..5 {
                app.login_as("10.0.0.1", email, WRONG).await;
            }
            let locked = app.login_as("10.0.0.1", email, PASSWORD).await;
            assert_eq!(locked.status(), StatusCode::TOO_MANY_REQUESTS);
            bodies.push(detail(locked).await);
        }
        assert_eq!(bodies[0], bodies[1]);
    }

    async fn a_distributed_guesser_locks_the_account_only_briefly(backend: Backend) {
        let app = backend.spawn_with(|c| c.trust_proxy = true).await;
        app.verified_user("ann@example.com").await;
        for ip in 1..=4 {
            for _ in 0..5 {
                let response = app.login_as(&format!("10.0.1.{ip}"), "ann@example.com", WRONG).await;
                assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
            }
        }
        let owner = app.login_as("10.0.2.1", "ann@example.com", PASSWORD).await;
        assert_eq!(owner.status(), StatusCode::TOO_MANY_REQUESTS);
        let wait = retry_after(&owner);
        assert!(wait <= 300, "the account-wide lockout lasts {wait}s");
        app.clock.advance(Duration::from_secs(wait));
        let owner = app.login_as("10.0.2.1", "ann@example.com", PASSWORD).await;
        assert_eq!(owner.status(), StatusCode::OK);
    }

    async fn one_ip_spraying_many_accounts_is_locked_out(backend: Backend) {
        let app = backend.spawn_with(|c| c.trust_proxy = true).await;
        app.verified_user("ann@example.com").await;
        for n in 0..20 {
            let response = app.login_as("10.0.0.9", &format!("user{n}@example.com"), PASSWORD).await;
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        }
        let refused = app.login_as("10.0.0.9", "ann@example.com", PASSWORD).await;
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
        let elsewhere = app.login_as("10.0.0.10", "ann@example.com", PASSWORD).await;
        assert_eq!(elsewhere.status(), StatusCode::OK);
    }

    async fn new_codes_do_not_buy_more_guesses(backend: Backend) {
        let app = backend.spawn().await;
        app.register("ann@example.com").await;
        // Four wrong tries per code (one short of burning it), then a fresh code, twice.
        for round in 0..3 {
            let code = app.last_code("ann@example.com");
            let tries = if round < 2 { 4 } else { 2 };
            for _ in 0..tries {
                let response = app.verify("ann@example.com", &wrong_code(&code)).await;
                assert_eq!(response.status(), StatusCode::BAD_REQUEST);
            }
            app.clock.advance(Duration::from_secs(61));
            app.post("/api/auth/resend-verification-otp", json!({ "email": "ann@example.com" }))
                .await;
        }
        // Ten wrong codes for this address within the hour: even the right code is refused.
        let code = app.last_code("ann@example.com");
        let refused = app.verify("ann@example.com", &code).await;
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(retry_after(&refused) > 0);
    }

    async fn resending_within_the_cooldown_answers_as_usual_but_sends_nothing(backend: Backend) {
        let app = backend.spawn().await;
        app.register("ann@example.com").await;
        let first = app.last_code("ann@example.com");
        let mut bodies = Vec::new();
        for _ in 0..3 {
            let response = app
                .post("/api/auth/resend-verification-otp", json!({ "email": "ann@example.com" }))
                .await;
            assert_eq!(response.status(), StatusCode::OK);
            bodies.push(response.json::<Value>().await.unwrap());
        }
        assert!(bodies.windows(2).all(|w| w[0] == w[1]));
        assert_eq!(app.mailer.sent_to("ann@example.com").len(), 1);
        // The code that was sent still works.
        assert_eq!(app.verify("ann@example.com", &first).await.status(), StatusCode::OK);
    }

    async fn an_address_gets_at_most_five_emails_an_hour(backend: Backend) {
        let app = backend.spawn().await;
        app.verified_user("ann@example.com").await;
        for _ in 0..8 {
            app.clock.advance(Duration::from_secs(61));
            let response = app
                .post("/api/auth/forgot-password", json!({ "email": "ann@example.com" }))
                .await;
            assert_eq!(response.status(), StatusCode::OK);
        }
        // One verification code and four reset codes; the other four requests sent nothing.
        assert_eq!(app.mailer.sent_to("ann@example.com").len(), 5);
        app.clock.advance(Duration::from_secs(3600));
        app.post("/api/auth/forgot-password", json!({ "email": "ann@example.com" })).await;
        assert_eq!(app.mailer.sent_to("ann@example.com").len(), 6);
    }
}
