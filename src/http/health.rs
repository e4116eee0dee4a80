//! `GET /health`: whether this instance can serve, for load balancers and uptime checks.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use super::AppState;
use crate::mail::DeliveryStatus;

const DB_PING_TIMEOUT: Duration = Duration::from_secs(2);

/// 503 when the database is unreachable. Email trouble (the latest delivery failed) shows as
/// `"email": "degraded"` with a 200: the instance still serves logins and sessions.
pub async fn health(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let email = state.auth.mailer.status();
    let database_ok = state.auth.db.ping(DB_PING_TIMEOUT).await;
    let (code, status) = match (database_ok, email) {
        (false, _) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
        (true, DeliveryStatus::Degraded) => (StatusCode::OK, "degraded"),
        (true, DeliveryStatus::Ok) => (StatusCode::OK, "ok"),
    };
    let database = if database_ok { "ok" } else { "unavailable" };
    let body = json!({ "status": status, "database": database, "email": email.as_str() });
    (code, Json(body))
}
