//! GET /api/auth/me and POST /api/auth/logout: sessions held by the server.

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::SET_COOKIE;
use serde_json::Value;

use crate::helpers::{Backend, all_backends, detail};

all_backends! {
    async fn me_answers_with_the_cookie_alone(backend: Backend) {
        let app = backend.spawn().await;
        app.logged_in_user("ann@example.com").await;
        let response = app.get("/api/auth/me").await;
        assert_eq!(response.status(), StatusCode::OK);
        let user: Value = response.json().await.unwrap();
        assert_eq!(user["email"], "ann@example.com");
        assert_eq!(user["is_verified"], true);
        assert!(user.get("password_hash").is_none());
    }

    async fn me_answers_with_a_bearer_token_alone(backend: Backend) {
        let app = backend.spawn().await;
        let token = app.logged_in_user("ann@example.com").await;
        let response = app.me_with_bearer(&token).await;
        assert_eq!(response.status(), StatusCode::OK);
    }

    async fn me_without_a_session_is_401(backend: Backend) {
        let app = backend.spawn().await;
        let response = app.get("/api/auth/me").await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert!(!detail(response).await.is_empty());
    }

    async fn a_tampered_token_is_401(backend: Backend) {
        let app = backend.spawn().await;
        let token = app.logged_in_user("ann@example.com").await;
        let (head_and_claims, signature) = token.rsplit_once('.').unwrap();
        let flipped = if signature.starts_with('A') { 'B' } else { 'A' };
        let tampered = format!("{head_and_claims}.{flipped}{}", &signature[1..]);
        assert_eq!(app.me_with_bearer(&tampered).await.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(app.me_with_bearer("not.a.jwt").await.status(), StatusCode::UNAUTHORIZED);
    }

    async fn a_token_signed_with_alg_none_is_401(backend: Backend) {
        let app = backend.spawn().await;
        let token = app.logged_in_user("ann@example.com").await;
        let claims = token.split('.').nth(1).unwrap();
        // {"alg":"none","typ":"JWT"}, base64url
        let unsigned = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{claims}.");
        assert_eq!(app.me_with_bearer(&unsigned).await.status(), StatusCode::UNAUTHORIZED);
    }

    async fn logout_ends_the_session_even_for_a_copied_token(backend: Backend) {
        let app = backend.spawn().await;
        let copied = app.logged_in_user("ann@example.com").await;
        let response = app.client.post(app.url("/api/auth/logout")).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let cookie = response.headers()[SET_COOKIE].to_str().unwrap().to_owned();
        assert!(cookie.starts_with("access_token=;"), "{cookie}");
        assert!(cookie.contains("Max-Age=0"), "{cookie}");
        let body: Value = response.json().await.unwrap();
        assert!(body["message"].is_string());
        assert_eq!(app.get("/api/auth/me").await.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(app.me_with_bearer(&copied).await.status(), StatusCode::UNAUTHORIZED);
    }

    async fn logout_ends_only_its_own_session(backend: Backend) {
        let app = backend.spawn().await;
        let other_device = app.logged_in_user("ann@example.com").await;
        let response = app.client.post(app.url("/api/auth/logout")).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        // The first login's token came from the same browser; log in again to get a second one.
        let second = app.login("ann@example.com", crate::helpers::PASSWORD).await;
        let second: Value = second.json().await.unwrap();
        let second = second["access_token"].as_str().unwrap().to_owned();
        let logout = reqwest::Client::new()
            .post(app.url("/api/auth/logout"))
            .bearer_auth(&other_device)
            .send()
            .await
            .unwrap();
        assert_eq!(logout.status(), StatusCode::OK);
        assert_eq!(app.me_with_bearer(&second).await.status(), StatusCode::OK);
    }

    async fn logout_without_a_session_still_clears_the_cookie(backend: Backend) {
        let app = backend.spawn().await;
        let response = app.client.post(app.url("/api/auth/logout")).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert!(response.headers()[SET_COOKIE].to_str().unwrap().contains("Max-Age=0"));
    }

    async fn a_session_ends_when_its_token_expires(backend: Backend) {
        let app = backend.spawn_with(|c| c.auth.session_lifetime = Duration::from_secs(120)).await;
        let token = app.logged_in_user("ann@example.com").await;
        app.clock.advance(Duration::from_secs(119));
        assert_eq!(app.me_with_bearer(&token).await.status(), StatusCode::OK);
        app.clock.advance(Duration::from_secs(1));
        assert_eq!(app.me_with_bearer(&token).await.status(), StatusCode::UNAUTHORIZED);
    }

    async fn a_database_outage_is_a_503_not_a_crash(backend: Backend) {
        let app = backend.spawn().await;
        let token = app.logged_in_user("ann@example.com").await;
        app.db.close().await;
        let response = app.me_with_bearer(&token).await;
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(!detail(response).await.is_empty());
        let health = app.get("/health").await;
        assert_eq!(health.status(), StatusCode::SERVICE_UNAVAILABLE);
        let body: Value = health.json().await.unwrap();
        assert_eq!(body["database"], "unavailable");
    }

    async fn logout_with_a_stale_bearer_header_still_ends_the_cookie_session(backend: Backend) {
        let app = backend.spawn().await;
        let cookie_token = app.logged_in_user("ann@example.com").await;
        let response = app
            .client
            .post(app.url("/api/auth/logout"))
            .bearer_auth("stale.token.value")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(app.me_with_bearer(&cookie_token).await.status(), StatusCode::UNAUTHORIZED);
    }

    async fn a_foreign_cookie_with_non_ascii_bytes_does_not_hide_the_session(backend: Backend) {
        let app = backend.spawn().await;
        let token = app.logged_in_user("ann@example.com").await;
        let mut raw = b"lang=fran\xe7ais; theme=\xc3\xa9t\xc3\xa9; access_token=".to_vec();
        raw.extend_from_slice(token.as_bytes());
        let cookie = reqwest::header::HeaderValue::from_bytes(&raw).unwrap();
        let bare = reqwest::Client::new();
        let me = bare.get(app.url("/api/auth/me")).header("cookie", cookie.clone()).send().await.unwrap();
        assert_eq!(me.status(), StatusCode::OK);
        let logout = bare.post(app.url("/api/auth/logout")).header("cookie", cookie.clone()).send().await.unwrap();
        assert_eq!(logout.status(), StatusCode::OK);
        // The session /me accepted from that header is the one logout ended.
        assert_eq!(app.me_with_bearer(&token).await.status(), StatusCode::UNAUTHORIZED);
        let me = bare.get(app.url("/api/auth/me")).header("cookie", cookie).send().await.unwrap();
        assert_eq!(me.status(), StatusCode::UNAUTHORIZED);
    }

    async fn logout_ends_every_session_cookie_a_request_carries(backend: Backend) {
        let app = backend.spawn().await;
        let first = app.logged_in_user("ann@example.com").await;
        let second = app.login("ann@example.com", crate::helpers::PASSWORD).await;
        let second: Value = second.json().await.unwrap();
        let second = second["access_token"].as_str().unwrap().to_owned();
        let both = format!("access_token={first}; access_token={second}");
        let logout = reqwest::Client::new()
            .post(app.url("/api/auth/logout"))
            .header("cookie", both)
            .send()
            .await
            .unwrap();
        assert_eq!(logout.status(), StatusCode::OK);
        assert_eq!(app.me_with_bearer(&first).await.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(app.me_with_bearer(&second).await.status(), StatusCode::UNAUTHORIZED);
    }
}
