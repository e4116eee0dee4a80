//! `GET /health`: whether this instance can serve, for load balancers and uptime checks.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use crate::mail::DeliveryStatus;

/// Whether this instance can serve.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"status": "ok", "database": "ok", "email": "ok"}))]
pub struct HealthBody {
    /// `ok`, `degraded` (email failing, still serving) or `unavailable` (database down).
    pub status: &'static str,
    /// `ok` or `unavailable`.
    pub database: &'static str,
    /// `ok`, or `degraded` while the latest delivery attempt has failed.
    pub email: &'static str,
}

const DB_PING_TIMEOUT: Duration = Duration::from_secs(2);

/// Health: whether this instance can serve, for load balancers and uptime checks.
///
/// 503 when the database is unreachable. Email trouble (the latest delivery failed) shows as
/// `"email": "degraded"` with a 200: the instance still serves logins and sessions.
#[utoipa::path(
    get,
    path = "/health",
    tag = "operations",
    responses(
        (status = 200, description = "Serving", body = HealthBody),
        (status = 429, response = crate::http::docs::responses::TooMany),
        (status = 503, description = "The database is unreachable", body = HealthBody),
    )
)]
pub async fn health(State(state): State<AppState>) -> (StatusCode, Json<HealthBody>) {
    let email = state.auth.mailer.status();
    let database_ok = state.auth.db.ping(DB_PING_TIMEOUT).await;
    let (code, status) = match (database_ok, email) {
        (false, _) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
        (true, DeliveryStatus::Degraded) => (StatusCode::OK, "degraded"),
        (true, DeliveryStatus::Ok) => (StatusCode::OK, "ok"),
    };
    let database = if database_ok { "ok" } else { "unavailable" };
    let body = HealthBody {
        status,
        database,
        email: email.as_str(),
    };
    (code, Json(body))
}
