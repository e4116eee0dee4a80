//! What any client gets for requests the API does not serve: JSON errors, never plain text.

use reqwest::StatusCode;
use reqwest::header::CONTENT_TYPE;
use serde_json::{Value, json};

use crate::helpers::{Backend, all_backends, detail};

all_backends! {
    async fn an_unknown_path_is_a_json_404(backend: Backend) {
        let app = backend.spawn().await;
        let response = app.get("/api/auth/nothing-here").await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        assert_eq!(detail(response).await, "Not Found");
    }

    async fn a_wrong_method_is_a_json_405(backend: Backend) {
        let app = backend.spawn().await;
        let response = app.get("/api/auth/login").await;
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(response.headers()[CONTENT_TYPE], "application/json");
        assert_eq!(detail(response).await, "Method Not Allowed");
    }

    async fn malformed_json_is_a_422_in_fastapi_shape(backend: Backend) {
        let app = backend.spawn().await;
        let response = app
            .client
            .post(app.url("/api/auth/login"))
            .header(CONTENT_TYPE, "application/json")
            .body("{\"email\": ")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["detail"][0]["type"], "json_invalid");
        assert_eq!(body["detail"][0]["loc"], json!(["body"]));
    }

    async fn a_body_that_is_not_an_object_is_a_422(backend: Backend) {
        let app = backend.spawn().await;
        let response = app.post("/api/auth/login", json!(["ann@example.com"])).await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["detail"][0]["loc"], json!(["body"]));
    }

    async fn a_missing_or_wrong_content_type_is_a_json_415(backend: Backend) {
        let app = backend.spawn().await;
        let body = r#"{"email":"ann@example.com","password":"correct horse"}"#;
        let plain = app.client.post(app.url("/api/auth/login")).body(body).send().await.unwrap();
        assert_eq!(plain.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert!(!detail(plain).await.is_empty());
        let form = app
            .client
            .post(app.url("/api/auth/login"))
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body("email=ann%40example.com&password=x")
            .send()
            .await
            .unwrap();
        assert_eq!(form.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }

    async fn an_oversized_body_is_a_json_413(backend: Backend) {
        let app = backend.spawn().await;
        let body = json!({ "email": "ann@example.com", "password": "x".repeat(64 * 1024) });
        let response = app.post("/api/auth/login", body).await;
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert!(!detail(response).await.is_empty());
    }

    async fn a_client_that_stalls_mid_body_gets_a_json_408(backend: Backend) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let app = backend
            .spawn_with(|c| c.http.request_timeout = std::time::Duration::from_secs(1))
            .await;
        let addr = app.base.trim_start_matches("http://");
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let head = "POST /api/auth/login HTTP/1.1\r\nHost: x\r\nOrigin: http://localhost:5173\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"email\":";
        stream.write_all(head.as_bytes()).await.unwrap();
        let mut answer = Vec::new();
        let read = tokio::time::timeout(std::time::Duration::from_secs(10), stream.read_to_end(&mut answer));
        read.await.expect("the server answers instead of waiting forever").unwrap();
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
        assert!(answer.contains("{\"detail\":"), "{answer}");
        // A cross-origin page can read it.
        assert!(answer.contains("access-control-allow-origin: http://localhost:5173"), "{answer}");
    }

    async fn a_client_that_trickles_its_headers_is_cut_off(backend: Backend) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let app = backend
            .spawn_with(|c| c.http.request_timeout = std::time::Duration::from_secs(1))
            .await;
        let addr = app.base.trim_start_matches("http://");
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        // A request head that never ends.
        stream.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ").await.unwrap();
        let mut answer = Vec::new();
        let read = tokio::time::timeout(std::time::Duration::from_secs(10), stream.read_to_end(&mut answer));
        // Closed (or reset) by the server instead of held open.
        assert!(read.await.is_ok(), "the server kept the connection open");
        // The same for a client that connects and says nothing at all.
        let mut silent = tokio::net::TcpStream::connect(addr).await.unwrap();
        let mut nothing = Vec::new();
        let read = tokio::time::timeout(std::time::Duration::from_secs(10), silent.read_to_end(&mut nothing));
        assert!(read.await.is_ok(), "the server kept a silent connection open");
    }

    async fn health_reports_the_database(backend: Backend) {
        let app = backend.spawn().await;
        let response = app.get("/health").await;
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body, json!({ "status": "ok", "database": "ok", "email": "ok" }));
    }

    async fn a_request_id_is_echoed_or_made_up(backend: Backend) {
        let app = backend.spawn().await;
        let given = app
            .client
            .get(app.url("/health"))
            .header("x-request-id", "trace-me-123")
            .send()
            .await
            .unwrap();
        assert_eq!(given.headers()["x-request-id"], "trace-me-123");
        let made = app.get("/health").await;
        assert!(!made.headers()["x-request-id"].is_empty());
    }

    async fn every_response_carries_the_security_headers(backend: Backend) {
        let app = backend.spawn().await;
        for response in [app.get("/health").await, app.get("/nope").await, app.get("/api/auth/me").await] {
            let h = response.headers();
            assert_eq!(h["x-content-type-options"], "nosniff");
            assert_eq!(h["x-frame-options"], "DENY");
            assert_eq!(h["cache-control"], "no-store");
            assert!(h.get("server").is_none());
        }
    }
}
