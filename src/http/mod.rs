//! The HTTP layer: router assembly and the order of the tower layers around it.

mod auth;
mod body;
pub mod cookie;
pub mod error;
mod extract;
mod health;
mod middleware;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::routing::get;
use axum::{Router, middleware as axum_mw};
use tower::ServiceBuilder;
use tower_http::LatencyUnit;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};

use crate::auth::Auth;
use cookie::SessionCookie;
use error::ApiError;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub auth: Arc<Auth>,
    pub cookie: SessionCookie,
}

/// Router-level settings that are not part of the auth domain.
#[derive(Clone, Debug)]
pub struct HttpSettings {
    pub cors_origins: Vec<String>,
    /// Also turns on Strict-Transport-Security: the deployment is HTTPS.
    pub cookie_secure: bool,
    pub max_body_bytes: usize,
    pub request_timeout: Duration,
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The whole application as one router, ready to serve.
pub fn router(state: AppState, settings: &HttpSettings) -> Router {
    let api = Router::new()
        .nest("/api/auth", auth::router())
        .route("/health", get(health::health))
        .fallback(|| async { ApiError::Status(StatusCode::NOT_FOUND, "Not Found") })
        .layer(DefaultBodyLimit::max(settings.max_body_bytes))
        .with_state(state);

    // Listed outermost first: a request passes them top to bottom, its response bottom to top.
    let layers = ServiceBuilder::new()
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|req: &Request| {
                    let id = req
                        .headers()
                        .get(&REQUEST_ID)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("-");
                    tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
                })
                .on_request(())
                .on_response(
                    DefaultOnResponse::new()
                        .level(tracing::Level::INFO)
                        .latency_unit(LatencyUnit::Micros),
                ),
        )
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(axum_mw::from_fn_with_state(
            settings.cookie_secure,
            middleware::security_headers,
        ))
        .layer(axum_mw::from_fn(middleware::json_errors))
        .layer(cors(&settings.cors_origins))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            settings.request_timeout,
        ));
    api.layer(layers)
}

/// Credentialed CORS for the configured origins only; never a wildcard.
fn cors(origins: &[String]) -> CorsLayer {
    let origins: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_credentials(true)
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([header::CONTENT_TYPE, header::AUTHORIZATION, REQUEST_ID])
        .expose_headers([REQUEST_ID])
        .max_age(Duration::from_secs(600))
}
