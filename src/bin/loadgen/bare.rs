//! The ceiling: a bare axum handler answering `GET /api/auth/me` with the same JSON as authd's
//! `/me`, with no middleware and no I/O, served by `axum::serve` in a process of its own.

use axum::Json;
use axum::routing::get;
use serde::Serialize;

/// The user `/me` answers with, in the same shape.
#[derive(Serialize)]
struct User {
    id: i64,
    name: &'static str,
    email: &'static str,
    is_verified: bool,
    created_at: &'static str,
}

/// Serves the bare handler on 127.0.0.1:`port` until killed.
pub async fn serve(port: u16) -> Result<(), String> {
    let app = axum::Router::new().route(
        "/api/auth/me",
        get(|| async {
            Json(User {
                id: 1,
                name: "Load Tester",
                email: "bench-0123abcd@example.com",
                is_verified: true,
                created_at: "2026-11-30T12:00:00Z",
            })
        }),
    );
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .map_err(|e| e.to_string())?;
    axum::serve(listener, app).await.map_err(|e| e.to_string())
}
