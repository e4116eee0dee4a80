//! POST /api/auth/login

use reqwest::StatusCode;
use reqwest::header::{SET_COOKIE, WWW_AUTHENTICATE};
use serde_json::{Value, json};

use crate::helpers::{Backend, PASSWORD, all_backends, detail};

all_backends! {
    async fn login_returns_the_user_a_token_and_an_http_only_cookie(backend: Backend) {
        let app = backend.spawn().await;
        app.verified_user("ann@example.com").await;
        let response = app.login("ann@example.com", PASSWORD).await;
        assert_eq!(response.status(), StatusCode::OK);
        let cookie = response.headers()[SET_COOKIE].to_str().unwrap().to_owned();
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["token_type"], "bearer");
        assert_eq!(body["expires_in"], 86400);
        assert_eq!(body["user"]["email"], "ann@example.com");
        assert!(body["user"].get("password_hash").is_none());
        let token = body["access_token"].as_str().unwrap();
        assert!(cookie.starts_with(&format!("access_token={token};")), "{cookie}");
        // The cookie lives as long as the session at most: its absolute lifetime (a day).
        for attribute in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=86400"] {
            assert!(cookie.split("; ").any(|a| a == attribute), "{attribute} missing in {cookie}");
        }
        assert!(!cookie.contains("Secure"));
    }

    async fn with_cookie_secure_the_cookie_is_secure_and_host_prefixed(backend: Backend) {
        let app = backend.spawn_with(|c| c.http.cookie_secure = true).await;
        app.verified_user("ann@example.com").await;
        let response = app.login("ann@example.com", PASSWORD).await;
        let cookie = response.headers()[SET_COOKIE].to_str().unwrap();
        assert!(cookie.starts_with("__Host-access_token="), "{cookie}");
        assert!(cookie.split("; ").any(|a| a == "Secure"), "{cookie}");
    }

    async fn logging_in_before_verifying_is_forbidden(backend: Backend) {
        let app = backend.spawn().await;
        app.register("ann@example.com").await;
        let response = app.login("ann@example.com", PASSWORD).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert!(response.headers().get(SET_COOKIE).is_none());
        assert!(detail(response).await.to_lowercase().contains("verif"));
    }

    async fn a_wrong_password_and_an_unknown_address_look_the_same(backend: Backend) {
        let app = backend.spawn().await;
        app.verified_user("ann@example.com").await;
        let wrong = app.login("ann@example.com", "not-the-password").await;
        let unknown = app.login("nobody@example.com", PASSWORD).await;
        assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(unknown.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(wrong.headers()[WWW_AUTHENTICATE], "Bearer");
        assert!(wrong.headers().get(SET_COOKIE).is_none());
        assert_eq!(detail(wrong).await, detail(unknown).await);
    }

    async fn a_password_that_only_shares_the_first_72_bytes_is_wrong(backend: Backend) {
        let app = backend.spawn().await;
        // 72 bytes exactly, and strong enough for the password policy.
        let exact = "seventy two bytes of a long passphrase, every single one of them counted".to_owned();
        assert_eq!(exact.len(), 72);
        let body = json!({ "name": "Ann", "email": "ann@example.com", "password": exact });
        app.post("/api/auth/register", body).await;
        let code = app.last_code("ann@example.com");
        app.verify("ann@example.com", &code).await;
        assert_eq!(app.login("ann@example.com", &exact).await.status(), StatusCode::OK);
        let longer = format!("{exact}and-more");
        assert_eq!(app.login("ann@example.com", &longer).await.status(), StatusCode::UNAUTHORIZED);
    }

    async fn login_reports_missing_fields(backend: Backend) {
        let app = backend.spawn().await;
        let response = app.post("/api/auth/login", json!({})).await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["detail"][0]["loc"], json!(["body", "email"]));
        assert_eq!(body["detail"][1]["loc"], json!(["body", "password"]));
    }

    async fn a_look_alike_address_is_another_account(backend: Backend) {
        let app = backend.spawn().await;
        app.verified_user("ann@example.com").await;
        // MySQL's default collation would equate these two; the server must not.
        let look_alike = "ann@exämple.com";
        assert_eq!(app.login(look_alike, PASSWORD).await.status(), StatusCode::UNAUTHORIZED);
        let forgot = app.post("/api/auth/forgot-password", json!({ "email": look_alike })).await;
        assert_eq!(forgot.status(), StatusCode::OK);
        assert!(app.mailer.sent_to(look_alike).is_empty(), "a reset code went to a look-alike");
        assert_eq!(app.register(look_alike).await.status(), StatusCode::CREATED);
        let code = app.last_code(look_alike);
        assert_eq!(app.verify(look_alike, &code).await.status(), StatusCode::OK);
        assert_eq!(app.login("ann@example.com", PASSWORD).await.status(), StatusCode::OK);
    }
}
