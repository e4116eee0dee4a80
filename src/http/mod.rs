//! The HTTP layer: router assembly and the order of the tower layers around it.

mod auth;
mod body;
mod client_ip;
pub mod cookie;
pub mod docs;
mod edge;
pub mod error;
mod extract;
mod health;
mod middleware;
mod routes;

use std::net::IpAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, Response, StatusCode};
use axum::response::IntoResponse;
use governor::middleware::NoOpMiddleware;
use tower::Layer;
use tower_governor::governor::{GovernorConfigBuilder, SharedRateLimiter};
use tower_governor::{GovernorError, GovernorLayer};
use tower_http::timeout::{Timeout, TimeoutLayer};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Auth;
use crate::config::HttpSettings;
use crate::limits::RateLimit;
use client_ip::ClientIpKey;
use cookie::SessionCookie;
use edge::{Edge, EdgeConfig};
use error::{ApiError, detail_response};

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

/// The 429 body of the per-IP rate limits.
const RATE_LIMITED: &str = "Too many requests. Please slow down and try again shortly.";

/// The application, ready to serve: the edge around the request timeout around the router.
pub type App = Edge<Timeout<Router>>;

/// The whole application, ready to serve, and its rate limiters; `None` if a rate limit has a
/// zero burst or period.
///
/// The order, outermost first: the edge (request id, log line, CORS, CSRF guard, client
/// address, general rate limit; JSON errors and security headers on the way out), the request
/// timeout, then the router, where the credential endpoints add their own tighter limit.
/// Layers go around the router, not on its routes, so nothing of theirs is cloned per route.
pub fn router(state: AppState, settings: &HttpSettings) -> Option<(App, RateLimiters)> {
    let (credential_limit, credential_limiter) = rate_limit(settings.credential_rate)?;
    let (_, general_limiter) = rate_limit(settings.general_rate)?;

    let (api, openapi) = OpenApiRouter::with_openapi(docs::ApiDoc::openapi())
        .nest(
            "/api/auth",
            auth::credential_routes()
                .route_layer(credential_limit)
                .merge(auth::session_routes()),
        )
        .routes(routes!(health::health))
        .split_for_parts();
    let route_table = routes::RouteTable::new(openapi.paths.paths.keys());
    let api = api
        .merge(docs::router(openapi))
        .fallback(|| async { ApiError::Status(StatusCode::NOT_FOUND, "Not Found") })
        .layer(DefaultBodyLimit::max(settings.max_body_bytes))
        .with_state(state);

    let limiters = RateLimiters(vec![credential_limiter, general_limiter.clone()]);
    let timed =
        TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, settings.request_timeout)
            .layer(api);
    let config = EdgeConfig {
        hsts: settings.cookie_secure,
        cors: middleware::Cors::new(&settings.cors_origins),
        csrf_origins: settings.cors_origins.clone(),
        gate: client_ip::ClientGate::new(
            settings.trust_proxy,
            limiters.clone(),
            settings.max_clients,
        ),
        general: general_limiter,
        routes: route_table,
    };
    Some((Edge::new(timed, config), limiters))
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
        GovernorError::TooManyRequests { wait_time, .. } => {
            crate::telemetry::rate_limited("credentials");
            ApiError::TooManyRequests {
                retry_after_secs: wait_time.max(1),
                detail: RATE_LIMITED,
            }
            .into_response()
        }
        GovernorError::UnableToExtractKey | GovernorError::Other { .. } => {
            detail_response(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

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
