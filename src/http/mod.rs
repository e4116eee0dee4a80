//! The HTTP layer: router assembly and the order of the tower layers around it.

mod auth;
mod body;
mod client_ip;
pub mod cookie;
pub mod docs;
pub mod error;
mod extract;
mod health;
mod middleware;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderName, HeaderValue, Method, Response, StatusCode, header};
use axum::response::IntoResponse;
use axum::{Router, middleware as axum_mw};
use governor::middleware::NoOpMiddleware;
use tower::ServiceBuilder;
use tower_governor::governor::{GovernorConfigBuilder, SharedRateLimiter};
use tower_governor::{GovernorError, GovernorLayer};
use tower_http::LatencyUnit;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Auth;
use crate::config::HttpSettings;
use crate::limits::RateLimit;
use client_ip::ClientIpKey;
use cookie::SessionCookie;
use error::{ApiError, detail_response};
use middleware::CsrfOrigins;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    auth: Arc<Auth>,
    cookie: SessionCookie,
}

impl AppState {
    /// The state over `auth`, with a `Secure` `__Host-` cookie when `cookie_secure`.
    pub fn new(auth: Arc<Auth>, cookie_secure: bool) -> Self {
        Self {
            auth,
            cookie: SessionCookie::new(cookie_secure),
        }
    }
}

type IpLimiter = SharedRateLimiter<IpAddr, NoOpMiddleware>;

/// The per-IP rate limiters, kept so their idle keys can be purged.
#[derive(Clone)]
pub struct RateLimiters(Vec<IpLimiter>);

impl RateLimiters {
    /// Forgets clients whose buckets are full again, so memory stays bounded however many
    /// addresses have called.
    pub fn purge_idle(&self) {
        for limiter in &self.0 {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }

    /// How many client addresses the busiest limiter remembers.
    pub fn tracked_clients(&self) -> usize {
        self.0.iter().map(|l| l.len()).max().unwrap_or(0)
    }
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The whole application as one router, ready to serve, and its rate limiters; `None` if a
/// rate limit has a zero burst or period.
pub fn router(state: AppState, settings: &HttpSettings) -> Option<(Router, RateLimiters)> {
    let (credential_limit, credential_limiter) = rate_limit(settings.credential_rate)?;
    let (general_limit, general_limiter) = rate_limit(settings.general_rate)?;

    let (api, openapi) = OpenApiRouter::with_openapi(docs::ApiDoc::openapi())
        .nest(
            "/api/auth",
            auth::credential_routes()
                .route_layer(credential_limit)
                .merge(auth::session_routes()),
        )
        .routes(routes!(health::health))
        .split_for_parts();
    let api = api
        .merge(docs::router(openapi))
        .fallback(|| async { ApiError::Status(StatusCode::NOT_FOUND, "Not Found") })
        .layer(general_limit)
        .layer(DefaultBodyLimit::max(settings.max_body_bytes))
        .with_state(state);

    let csrf = CsrfOrigins(Arc::new(settings.cors_origins.clone()));
    let limiters = RateLimiters(vec![credential_limiter, general_limiter]);
    let gate =
        client_ip::ClientGate::new(settings.trust_proxy, limiters.clone(), settings.max_clients);
    // Listed outermost first: a request passes them top to bottom, its response bottom to top.
    let layers = ServiceBuilder::new()
        .layer(axum_mw::from_fn(middleware::request_id))
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
        .layer(axum_mw::from_fn_with_state(
            settings.cookie_secure,
            middleware::security_headers,
        ))
        .layer(axum_mw::from_fn(middleware::json_errors))
        .layer(cors(&settings.cors_origins))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            settings.request_timeout,
        ))
        .layer(axum_mw::from_fn_with_state(csrf, middleware::csrf_guard))
        .layer(axum_mw::from_fn_with_state(gate, client_ip::client_ip));
    Some((api.layer(layers), limiters))
}

type IpGovernor = GovernorLayer<ClientIpKey, NoOpMiddleware, Body>;

fn rate_limit(limit: RateLimit) -> Option<(IpGovernor, IpLimiter)> {
    let config = GovernorConfigBuilder::default()
        .key_extractor(ClientIpKey)
        .period(limit.period)
        .burst_size(limit.burst)
        .finish()?;
    let limiter = config.limiter().clone();
    let layer = GovernorLayer::new(config).error_handler(rate_limited);
    Some((layer, limiter))
}

/// 429 in our shape, with the seconds to wait in Retry-After.
fn rate_limited(error: GovernorError) -> Response<Body> {
    match error {
        GovernorError::TooManyRequests { wait_time, .. } => ApiError::TooManyRequests {
            retry_after_secs: wait_time.max(1),
            detail: "Too many requests. Please slow down and try again shortly.",
        }
        .into_response(),
        GovernorError::UnableToExtractKey | GovernorError::Other { .. } => {
            detail_response(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error")
        }
    }
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
        .expose_headers([REQUEST_ID, header::RETRY_AFTER])
        .max_age(Duration::from_secs(600))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_clients_are_forgotten_so_memory_stays_bounded() {
        let limit = RateLimit {
            burst: 2,
            period: Duration::from_millis(1),
        };
        let (_, limiter) = rate_limit(limit).unwrap();
        for i in 0..1000u32 {
            let _ = limiter.check_key(&IpAddr::from(i.to_be_bytes()));
        }
        let limiters = RateLimiters(vec![limiter]);
        assert_eq!(limiters.tracked_clients(), 1000);
        // Every bucket refills within 2 ms; then nobody needs remembering.
        std::thread::sleep(Duration::from_millis(20));
        limiters.purge_idle();
        assert_eq!(limiters.tracked_clients(), 0);
    }
}
