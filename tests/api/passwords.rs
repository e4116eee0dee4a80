//! The password policy (NIST SP 800-63B 5.1.1): length, no common or personal passwords.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, PASSWORD, all_backends};

async fn register_with(
    app: &crate::helpers::TestApp,
    name: &str,
    email: &str,
    password: &str,
) -> reqwest::Response {
    let body = json!({ "name": name, "email": email, "password": password });
    app.post("/api/auth/register", body).await
}

all_backends! {
    async fn a_common_password_is_refused_with_the_reason(backend: Backend) {
        let app = backend.spawn().await;
        for weak in ["password123", "qwertyuiop", "iloveyou2026"] {
            let response = register_with(&app, "Ann", "ann@example.com", weak).await;
            assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "{weak}");
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["detail"][0]["loc"], json!(["body", "password"]));
            assert_eq!(body["detail"][0]["type"], "password_too_weak");
            assert!(body["detail"][0]["msg"].as_str().unwrap().contains("guess"));
        }
        assert!(app.mailer.sent().is_empty());
    }

    async fn a_password_made_of_the_users_name_or_email_is_refused(backend: Backend) {
        let app = backend.spawn().await;
        let cases = [
            ("Bartholomew", "bart@example.com", "Bartholomew-rules-77"),
            ("Ann", "kingfisher@example.com", "kingfisher over blue water"),
        ];
        for (name, email, password) in cases {
            let response = register_with(&app, name, email, password).await;
            assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "{password}");
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["detail"][0]["type"], "password_personal");
        }
    }

    async fn a_long_passphrase_of_64_characters_is_accepted(backend: Backend) {
        let app = backend.spawn().await;
        let long = "the quick brown fox jumps over a lazy dog while it rains at 3am!";
        assert_eq!(long.chars().count(), 64);
        let response = register_with(&app, "Ann", "ann@example.com", long).await;
        assert_eq!(response.status(), StatusCode::CREATED);
    }

    async fn reset_refuses_a_weak_new_password_and_keeps_the_code(backend: Backend) {
        let app = backend.spawn().await;
        app.verified_user("ann@example.com").await;
        app.post("/api/auth/forgot-password", json!({ "email": "ann@example.com" })).await;
        let code = app.last_code("ann@example.com");
        // Too short, then too common: neither uses up a try of the code.
        for weak in ["short", "password1"] {
            let body = json!({ "email": "ann@example.com", "otp": code, "new_password": weak });
            let response = app.post("/api/auth/reset-password", body).await;
            assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "{weak}");
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["detail"][0]["loc"], json!(["body", "new_password"]));
        }
        let strong = json!({ "email": "ann@example.com", "otp": code, "new_password": "velvet orchard tempest" });
        assert_eq!(app.post("/api/auth/reset-password", strong).await.status(), StatusCode::OK);
        assert_eq!(app.login("ann@example.com", PASSWORD).await.status(), StatusCode::UNAUTHORIZED);
    }
}
