//! `GET /health`: whether this instance can serve, for load balancers and uptime checks.

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
    /// Only with REDIS_URL: `ok` or `unavailable` (then code and login requests get 503).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redis: Option<&'static str>,
}

/// Health: whether this instance can serve, for load balancers and uptime checks.
///
/// 503 when the database is unreachable. Email trouble (the latest delivery failed) or, with
/// REDIS_URL, an unreachable Redis shows as `"status": "degraded"` with a 200: the instance
/// still serves sessions, and every instance shares the same Redis anyway.
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
    let health = state.auth.health().await;
    let (email, database_ok, redis) = (health.email, health.database, health.store);
    let degraded = email == DeliveryStatus::Degraded || redis == Some(false);
    let (code, status) = match (database_ok, degraded) {
        (false, _) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
        (true, true) => (StatusCode::OK, "degraded"),
        (true, false) => (StatusCode::OK, "ok"),
    };
    let database = if database_ok { "ok" } else { "unavailable" };
    let body = HealthBody {
        status,
        database,
        email: email.as_str(),
        redis: redis.map(|ok| if ok { "ok" } else { "unavailable" }),
    };
    (code, Json(body))
}
