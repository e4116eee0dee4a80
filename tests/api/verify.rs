//! POST /api/auth/verify-email and /api/auth/resend-verification-otp

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, PASSWORD, all_backends, detail, wrong_code};

all_backends! {
    async fn the_emailed_code_verifies_the_account(backend: Backend) {
        let app = backend.spawn().await;
        app.register("ann@example.com").await;
        let code = app.last_code("ann@example.com");
        let response = app.verify("ann@example.com", &code).await;
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.unwrap();
        assert!(body["message"].is_string());
        let user = body["user"].as_object().unwrap();
        assert_eq!(user["email"], "ann@example.com");
        assert_eq!(user["is_verified"], true);
        let mut keys: Vec<&str> = user.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["created_at", "email", "id", "is_verified", "mfa_enabled", "name"]);
    }

    async fn a_wrong_code_is_a_400_and_the_right_one_still_works(backend: Backend) {
        let app = backend.spawn().await;
        app.register("ann@example.com").await;
        let code = app.last_code("ann@example.com");
        let response = app.verify("ann@example.com", &wrong_code(&code)).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert!(!detail(response).await.is_empty());
        assert_eq!(app.login("ann@example.com", PASSWORD).await.status(), StatusCode::FORBIDDEN);
        assert_eq!(app.verify("ann@example.com", &code).await.status(), StatusCode::OK);
    }

    async fn a_code_that_is_not_six_digits_is_a_422(backend: Backend) {
        let app = backend.spawn().await;
        let response = app.verify("ann@example.com", "12ab").await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["detail"][0]["loc"], json!(["body", "otp"]));
    }

    async fn an_expired_code_is_refused(backend: Backend) {
        let app = backend.spawn_with(|c| c.auth.verify_code_ttl = Duration::from_secs(30)).await;
        app.register("ann@example.com").await;
        let code = app.last_code("ann@example.com");
        app.clock.advance(Duration::from_secs(30));
        assert_eq!(app.verify("ann@example.com", &code).await.status(), StatusCode::BAD_REQUEST);
    }

    async fn a_code_is_still_good_just_before_it_expires(backend: Backend) {
        let app = backend.spawn_with(|c| c.auth.verify_code_ttl = Duration::from_secs(30)).await;
        app.register("ann@example.com").await;
        let code = app.last_code("ann@example.com");
        app.clock.advance(Duration::from_secs(29));
        assert_eq!(app.verify("ann@example.com", &code).await.status(), StatusCode::OK);
    }

    async fn too_many_wrong_codes_burn_the_code(backend: Backend) {
        let app = backend.spawn_with(|c| c.auth.code_limits.attempts.per_client = 3).await;
        app.register("ann@example.com").await;
        let code = app.last_code("ann@example.com");
        for _ in 0..3 {
            let response = app.verify("ann@example.com", &wrong_code(&code)).await;
            assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        }
        assert_eq!(app.verify("ann@example.com", &code).await.status(), StatusCode::BAD_REQUEST);
    }

    async fn a_code_works_only_once(backend: Backend) {
        let app = backend.spawn().await;
        app.register("ann@example.com").await;
        let code = app.last_code("ann@example.com");
        assert_eq!(app.verify("ann@example.com", &code).await.status(), StatusCode::OK);
        assert_eq!(app.verify("ann@example.com", &code).await.status(), StatusCode::BAD_REQUEST);
    }

    async fn a_resent_code_replaces_the_old_one(backend: Backend) {
        let app = backend.spawn().await;
        app.register("ann@example.com").await;
        let first = app.last_code("ann@example.com");
        app.clock.advance(Duration::from_secs(61)); // past the email cooldown
        let response = app
            .post("/api/auth/resend-verification-otp", json!({ "email": "ann@example.com" }))
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.unwrap();
        assert!(body["message"].is_string());
        assert_eq!(app.mailer.sent_to("ann@example.com").len(), 2);
        let second = app.last_code("ann@example.com");
        if first != second {
            assert_eq!(app.verify("ann@example.com", &first).await.status(), StatusCode::BAD_REQUEST);
        }
        assert_eq!(app.verify("ann@example.com", &second).await.status(), StatusCode::OK);
    }

    async fn resend_answers_the_same_for_unknown_and_verified_addresses(backend: Backend) {
        let app = backend.spawn().await;
        app.verified_user("ann@example.com").await;
        app.clock.advance(Duration::from_secs(61)); // past the email cooldown
        let sent_before = app.mailer.sent().len();
        let mut bodies = Vec::new();
        for email in ["ann@example.com", "nobody@example.com"] {
            let response = app
                .post("/api/auth/resend-verification-otp", json!({ "email": email }))
                .await;
            assert_eq!(response.status(), StatusCode::OK);
            bodies.push(response.json::<Value>().await.unwrap());
        }
        assert_eq!(bodies[0], bodies[1]);
        assert_eq!(app.mailer.sent().len(), sent_before, "no code for verified or unknown addresses");
    }

    async fn a_verification_code_cannot_reset_a_password(backend: Backend) {
        let app = backend.spawn().await;
        app.register("ann@example.com").await;
        let code = app.last_code("ann@example.com");
        let body = json!({ "email": "ann@example.com", "otp": code, "new_password": "a-new-password" });
        let response = app.post("/api/auth/reset-password", body).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    }
}
