//! What browsers rely on: security headers, CORS for the configured origins only, and the
//! cross-site request (CSRF) guard.

use reqwest::header::{
    ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_ORIGIN, AUTHORIZATION, ORIGIN, REFERER,
};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{Backend, all_backends};

const FRONTEND: &str = "http://localhost:5173";
const EVIL: &str = "https://evil.example";

all_backends! {
    async fn error_responses_carry_the_security_headers_too(backend: Backend) {
        let app = backend.spawn().await;
        let responses = [
            app.get("/nothing").await,
            app.get("/api/auth/me").await,
            app.post("/api/auth/login", json!({})).await,
        ];
        for response in responses {
            let h = response.headers();
            assert_eq!(h["x-content-type-options"], "nosniff");
            assert_eq!(h["x-frame-options"], "DENY");
            assert_eq!(h["referrer-policy"], "no-referrer");
            assert_eq!(h["content-security-policy"], "default-src 'none'; frame-ancestors 'none'");
            assert_eq!(h["cache-control"], "no-store");
            assert!(h.get("strict-transport-security").is_none());
            assert!(h.get("server").is_none() && h.get("x-powered-by").is_none());
        }
    }

    async fn hsts_is_sent_when_cookies_are_secure(backend: Backend) {
        let app = backend.spawn_with(|c| c.http.cookie_secure = true).await;
        let response = app.get("/health").await;
        assert!(response.headers()["strict-transport-security"].to_str().unwrap().contains("max-age="));
    }

    async fn preflight_allows_a_configured_origin_with_credentials(backend: Backend) {
        let app = backend.spawn().await;
        let preflight = |origin: &'static str| {
            app.client
                .request(Method::OPTIONS, app.url("/api/auth/login"))
                .header(ORIGIN, origin)
                .header("access-control-request-method", "POST")
                .header("access-control-request-headers", "content-type")
                .send()
        };
        let allowed = preflight(FRONTEND).await.unwrap();
        assert!(allowed.status().is_success());
        assert_eq!(allowed.headers()[ACCESS_CONTROL_ALLOW_ORIGIN], FRONTEND);
        assert_eq!(allowed.headers()[ACCESS_CONTROL_ALLOW_CREDENTIALS], "true");
        let refused = preflight(EVIL).await.unwrap();
        assert!(refused.headers().get(ACCESS_CONTROL_ALLOW_ORIGIN).is_none());
    }

    async fn a_cross_site_logout_with_the_cookie_is_refused(backend: Backend) {
        let app = backend.spawn().await;
        app.logged_in_user("ann@example.com").await;
        let forged = app.client.post(app.url("/api/auth/logout")).header(ORIGIN, EVIL).send().await.unwrap();
        assert_eq!(forged.status(), StatusCode::FORBIDDEN);
        let by_referer = app
            .client
            .post(app.url("/api/auth/logout"))
            .header(REFERER, format!("{EVIL}/page"))
            .send()
            .await
            .unwrap();
        assert_eq!(by_referer.status(), StatusCode::FORBIDDEN);
        let by_fetch_metadata = app
            .client
            .post(app.url("/api/auth/logout"))
            .header("sec-fetch-site", "cross-site")
            .send()
            .await
            .unwrap();
        assert_eq!(by_fetch_metadata.status(), StatusCode::FORBIDDEN);
        assert_eq!(app.get("/api/auth/me").await.status(), StatusCode::OK, "the session survived");
        let from_frontend = app.client.post(app.url("/api/auth/logout")).header(ORIGIN, FRONTEND).send().await.unwrap();
        assert_eq!(from_frontend.status(), StatusCode::OK);
        assert_eq!(app.get("/api/auth/me").await.status(), StatusCode::UNAUTHORIZED);
    }

    async fn the_servers_own_origin_may_write(backend: Backend) {
        let app = backend.spawn().await;
        app.logged_in_user("ann@example.com").await;
        let own = app.client.post(app.url("/api/auth/logout")).header(ORIGIN, &app.base).send().await.unwrap();
        assert_eq!(own.status(), StatusCode::OK);
    }

    async fn bearer_requests_are_not_subject_to_the_origin_check(backend: Backend) {
        let app = backend.spawn().await;
        let token = app.logged_in_user("ann@example.com").await;
        let response = reqwest::Client::new()
            .post(app.url("/api/auth/logout"))
            .header(ORIGIN, EVIL)
            .header(AUTHORIZATION, format!("Bearer {token}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(app.me_with_bearer(&token).await.status(), StatusCode::UNAUTHORIZED);
    }
}
