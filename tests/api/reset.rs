//! POST /api/auth/forgot-password and /api/auth/reset-password

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, PASSWORD, all_backends, wrong_code};
use authd::mail::Message;

const NEW_PASSWORD: &str = "a brand new passphrase";

all_backends! {
    async fn forgot_password_answers_the_same_whether_or_not_the_account_exists(backend: Backend) {
        let app = backend.spawn().await;
        app.verified_user("ann@example.com").await;
        let known = app.post("/api/auth/forgot-password", json!({ "email": "ann@example.com" })).await;
        let unknown = app.post("/api/auth/forgot-password", json!({ "email": "nobody@example.com" })).await;
        assert_eq!(known.status(), StatusCode::OK);
        assert_eq!(unknown.status(), StatusCode::OK);
        assert_eq!(known.json::<Value>().await.unwrap(), unknown.json::<Value>().await.unwrap());
        let reset_codes = app.mail_count("ann@example.com", |m| matches!(m, Message::PasswordResetCode { .. }));
        assert_eq!(reset_codes, 1);
        assert!(app.mailer.sent_to("nobody@example.com").is_empty());
    }

    async fn a_reset_changes_the_password_and_ends_every_session(backend: Backend) {
        let app = backend.spawn().await;
        let first = app.logged_in_user("ann@example.com").await;
        let second: Value = app.login("ann@example.com", PASSWORD).await.json().await.unwrap();
        let second = second["access_token"].as_str().unwrap().to_owned();

        app.post("/api/auth/forgot-password", json!({ "email": "ann@example.com" })).await;
        let code = app.last_code("ann@example.com");
        let body = json!({ "email": "ann@example.com", "otp": code, "new_password": NEW_PASSWORD });
        let response = app.post("/api/auth/reset-password", body).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert!(response.json::<Value>().await.unwrap()["message"].is_string());

        assert_eq!(app.me_with_bearer(&first).await.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(app.me_with_bearer(&second).await.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(app.get("/api/auth/me").await.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(app.login("ann@example.com", PASSWORD).await.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(app.login("ann@example.com", NEW_PASSWORD).await.status(), StatusCode::OK);
        let notices = app.mail_count("ann@example.com", |m| matches!(m, Message::PasswordChanged));
        assert_eq!(notices, 1);
    }

    async fn a_wrong_reset_code_changes_nothing(backend: Backend) {
        let app = backend.spawn().await;
        app.verified_user("ann@example.com").await;
        app.post("/api/auth/forgot-password", json!({ "email": "ann@example.com" })).await;
        let code = app.last_code("ann@example.com");
        let wrong = wrong_code(&code);
        let body = json!({ "email": "ann@example.com", "otp": wrong, "new_password": NEW_PASSWORD });
        let response = app.post("/api/auth/reset-password", body).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert_eq!(app.login("ann@example.com", PASSWORD).await.status(), StatusCode::OK);
    }


    async fn a_reset_code_works_once(backend: Backend) {
        let app = backend.spawn().await;
        app.verified_user("ann@example.com").await;
        app.post("/api/auth/forgot-password", json!({ "email": "ann@example.com" })).await;
        let code = app.last_code("ann@example.com");
        let body = json!({ "email": "ann@example.com", "otp": code, "new_password": NEW_PASSWORD });
        assert_eq!(app.post("/api/auth/reset-password", body.clone()).await.status(), StatusCode::OK);
        assert_eq!(app.post("/api/auth/reset-password", body).await.status(), StatusCode::BAD_REQUEST);
    }
}
