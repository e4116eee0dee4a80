//! Per-IP rate limits (tower_governor): tight for credentials and email, loose for the rest.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{Backend, PASSWORD, all_backends, detail, retry_after};

all_backends! {
    async fn credential_endpoints_answer_429_with_retry_after_past_their_budget(backend: Backend) {
        let app = backend
            .spawn_with(|c| {
                c.http.credential_rate.burst = 3;
                c.http.credential_rate.period = Duration::from_secs(60);
            })
            .await;
        // Different addresses, so only the rate limit (not the mail throttle) can refuse.
        for n in 0..3 {
            let body = json!({ "email": format!("ann{n}@example.com") });
            let response = app.post("/api/auth/forgot-password", body).await;
            assert_eq!(response.status(), StatusCode::OK);
        }
        let refused = app.post("/api/auth/login", json!({ "email": "a@example.com", "password": "x" })).await;
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(retry_after(&refused) >= 1);
        assert!(!detail(refused).await.is_empty());
        // /health and /me have their own, larger budget.
        assert_eq!(app.get("/health").await.status(), StatusCode::OK);
        assert_eq!(app.get("/api/auth/me").await.status(), StatusCode::UNAUTHORIZED);
    }

    async fn a_spoofed_forwarded_for_does_not_escape_the_limit(backend: Backend) {
        let app = backend.spawn_with(|c| c.http.credential_rate.burst = 2).await;
        let body = |n: u8| json!({ "email": format!("ann{n}@example.com") });
        for (n, ip) in ["10.0.0.1", "10.0.0.2"].into_iter().enumerate() {
            let response = app.post_as(ip, "/api/auth/forgot-password", body(n as u8)).await;
            assert_eq!(response.status(), StatusCode::OK);
        }
        let third = app.post_as("10.0.0.3", "/api/auth/forgot-password", body(3)).await;
        assert_eq!(third.status(), StatusCode::TOO_MANY_REQUESTS);
    }

    async fn behind_a_trusted_proxy_each_client_has_its_own_budget(backend: Backend) {
        let app = backend
            .spawn_with(|c| {
                c.http.credential_rate.burst = 2;
                c.http.trust_proxy = true;
            })
            .await;
        let body = |n: u8| json!({ "email": format!("ann{n}@example.com") });
        for n in 0..2 {
            let response = app.post_as("10.0.0.1", "/api/auth/forgot-password", body(n)).await;
            assert_eq!(response.status(), StatusCode::OK);
        }
        let again = app.post_as("10.0.0.1", "/api/auth/forgot-password", body(2)).await;
        assert_eq!(again.status(), StatusCode::TOO_MANY_REQUESTS);
        let other = app.post_as("10.0.0.2", "/api/auth/forgot-password", body(3)).await;
        assert_eq!(other.status(), StatusCode::OK);
    }

    async fn every_endpoint_has_a_general_limit(backend: Backend) {
        let app = backend
            .spawn_with(|c| {
                c.http.general_rate.burst = 5;
                c.http.general_rate.period = Duration::from_secs(1);
            })
            .await;
        for _ in 0..5 {
            assert_eq!(app.get("/health").await.status(), StatusCode::OK);
        }
        let refused = app.get("/api/auth/me").await;
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(retry_after(&refused) >= 1);
        assert_eq!(app.get("/no-such-page").await.status(), StatusCode::TOO_MANY_REQUESTS);
    }

    async fn the_default_limits_let_a_normal_session_through(backend: Backend) {
        let defaults = authd::Config::default();
        let app = backend
            .spawn_with(|c| {
                c.http.credential_rate = defaults.http.credential_rate;
                c.http.general_rate = defaults.http.general_rate;
            })
            .await;
        app.verified_user("ann@example.com").await;
        assert_eq!(app.login("ann@example.com", "a typo in it").await.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(app.login("ann@example.com", PASSWORD).await.status(), StatusCode::OK);
        for _ in 0..40 {
            assert_eq!(app.get("/api/auth/me").await.status(), StatusCode::OK);
        }
        assert_eq!(app.client.post(app.url("/api/auth/logout")).send().await.unwrap().status(), StatusCode::OK);
        app.post("/api/auth/forgot-password", json!({ "email": "ann@example.com" })).await;
        let code = app.last_code("ann@example.com");
        let reset = json!({ "email": "ann@example.com", "otp": code, "new_password": "velvet orchard tempest" });
        assert_eq!(app.post("/api/auth/reset-password", reset).await.status(), StatusCode::OK);
        assert_eq!(app.login("ann@example.com", "velvet orchard tempest").await.status(), StatusCode::OK);
    }
}
