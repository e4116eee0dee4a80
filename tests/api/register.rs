//! POST /api/auth/register

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, PASSWORD, all_backends};
use authd::mail::Message;

all_backends! {
    async fn registering_answers_201_and_emails_a_six_digit_code(backend: Backend) {
        let app = backend.spawn().await;
        let response = app.register("ann@example.com").await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["email"], "ann@example.com");
        assert!(body["message"].is_string());
        let code = app.last_code("ann@example.com");
        assert_eq!(code.len(), 6);
        assert!(code.bytes().all(|b| b.is_ascii_digit()));
    }

    async fn emails_are_trimmed_and_lower_cased(backend: Backend) {
        let app = backend.spawn().await;
        let response = app.register("  Ann.Lee@Example.COM ").await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["email"], "ann.lee@example.com");
        let code = app.last_code("ann.lee@example.com");
        // The address is found whatever case the user types later.
        assert_eq!(app.verify("ANN.LEE@example.com", &code).await.status(), StatusCode::OK);
        assert_eq!(app.login("Ann.Lee@EXAMPLE.com", PASSWORD).await.status(), StatusCode::OK);
    }

    async fn every_invalid_field_is_reported_in_fastapi_shape(backend: Backend) {
        let app = backend.spawn().await;
        let body = json!({ "name": "   ", "email": "not-an-email", "password": "short" });
        let response = app.post("/api/auth/register", body).await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let body: Value = response.json().await.unwrap();
        let errors = body["detail"].as_array().unwrap();
        let locs: Vec<&Value> = errors.iter().map(|e| &e["loc"]).collect();
        assert_eq!(
            locs,
            [&json!(["body", "name"]), &json!(["body", "email"]), &json!(["body", "password"])]
        );
        for e in errors {
            assert!(e["msg"].as_str().is_some_and(|m| !m.is_empty()));
            assert!(e["type"].is_string());
        }
        assert!(app.mailer.sent().is_empty(), "nothing is sent for a refused request");
    }

    async fn missing_and_mistyped_fields_are_named(backend: Backend) {
        let app = backend.spawn().await;
        let body = json!({ "email": 42, "password": PASSWORD });
        let response = app.post("/api/auth/register", body).await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["detail"][0]["loc"], json!(["body", "name"]));
        assert_eq!(body["detail"][0]["type"], "missing");
        assert_eq!(body["detail"][1]["loc"], json!(["body", "email"]));
        assert_eq!(body["detail"][1]["type"], "string_type");
        assert_eq!(body["detail"].as_array().unwrap().len(), 2);
    }

    async fn a_password_longer_than_72_bytes_is_refused_with_the_reason(backend: Backend) {
        let app = backend.spawn().await;
        let long = "é".repeat(37); // 37 characters, 74 bytes
        let body = json!({ "name": "Ann", "email": "ann@example.com", "password": long });
        let response = app.post("/api/auth/register", body).await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["detail"][0]["loc"], json!(["body", "password"]));
        assert!(body["detail"][0]["msg"].as_str().unwrap().contains("72 bytes"));
    }

    async fn a_name_over_100_characters_is_refused(backend: Backend) {
        let app = backend.spawn().await;
        let body = json!({ "name": "n".repeat(101), "email": "ann@example.com", "password": PASSWORD });
        let response = app.post("/api/auth/register", body).await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["detail"][0]["loc"], json!(["body", "name"]));
    }

    async fn registering_a_taken_address_changes_nothing_and_answers_the_same(backend: Backend) {
        let app = backend.spawn().await;
        app.verified_user("ann@example.com").await;
        let first_body: Value = app.register("fresh@example.com").await.json().await.unwrap();
        app.clock.advance(Duration::from_secs(61)); // past the email cooldown

        let hijack = json!({ "name": "Mallory", "email": "ann@example.com", "password": "purple kettle drums at dawn" });
        let response = app.post("/api/auth/register", hijack).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["message"], first_body["message"]);

        // The owner's password and name are untouched, and the owner is told.
        assert_eq!(app.login("ann@example.com", "purple kettle drums at dawn").await.status(), StatusCode::UNAUTHORIZED);
        let login: Value = app.login("ann@example.com", PASSWORD).await.json().await.unwrap();
        assert_eq!(login["user"]["name"], "Test User");
        let notices = app.mail_count("ann@example.com", |m| matches!(m, Message::RegistrationAttempt));
        assert_eq!(notices, 1);
    }

    async fn registering_again_with_the_same_password_is_no_competition(backend: Backend) {
        let app = backend.spawn().await;
        app.register("ann@example.com").await;
        app.clock.advance(Duration::from_secs(61));
        assert_eq!(app.register("ann@example.com").await.status(), StatusCode::CREATED);
        let code = app.last_code("ann@example.com");
        let verified: Value = app.verify("ann@example.com", &code).await.json().await.unwrap();
        assert_eq!(verified["password_set"], true);
        assert_eq!(app.login("ann@example.com", PASSWORD).await.status(), StatusCode::OK);
    }

    async fn a_code_replaced_by_a_later_registration_no_longer_works(backend: Backend) {
        let app = backend.spawn().await;
        app.register("ann@example.com").await;
        let first = app.last_code("ann@example.com");
        app.clock.advance(Duration::from_secs(61));
        let again = json!({ "name": "Zed", "email": "ann@example.com", "password": "quiet lantern over the hills" });
        assert_eq!(app.post("/api/auth/register", again).await.status(), StatusCode::CREATED);
        let second = app.last_code("ann@example.com");
        assert_eq!(app.mailer.sent_to("ann@example.com").len(), 2);
        if first != second {
            assert_eq!(app.verify("ann@example.com", &first).await.status(), StatusCode::BAD_REQUEST);
        }
        assert_eq!(app.verify("ann@example.com", &second).await.status(), StatusCode::OK);
        // Two registrations with different passwords competed: neither password was set.
        assert_eq!(app.login("ann@example.com", PASSWORD).await.status(), StatusCode::UNAUTHORIZED);
        let zed = app.login("ann@example.com", "quiet lantern over the hills").await;
        assert_eq!(zed.status(), StatusCode::UNAUTHORIZED);
    }
}
