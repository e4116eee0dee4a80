//! The edge: one service in front of the router that does, for every request, what used to take
//! eight layers (a `from_fn` per concern, tower-http's CORS, request-id and trace layers, the
//! general rate limiter on every route): the request id, the request's log span and line,
//! CORS, the cross-site request guard, the client's address, the general per-IP rate limit,
//! and on the way out JSON error bodies, the security headers, the CORS headers and the
//! request id. Measured: per request it saves several boxed futures and clones (BENCHMARKS.md,
//! "Where the time went").

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use tower::{Service, ServiceExt};
use tracing::Instrument;

use super::client_ip::ClientGate;
use super::error::ApiError;
use super::middleware::{Cors, csrf_refusal, json_error, request_id, security_headers};
use super::routes::{RouteTable, method_label};
use super::{IpLimiter, REQUEST_ID};
use crate::telemetry;

/// What the edge needs, built once.
pub struct EdgeConfig {
    /// Strict-Transport-Security on every response (the deployment is HTTPS).
    pub hsts: bool,
    pub cors: Cors,
    /// Origins a browser may write from, besides the server's own.
    pub csrf_origins: Vec<String>,
    pub gate: ClientGate,
    /// The per-IP budget every request draws on.
    pub general: IpLimiter,
    /// The route patterns, for the metrics.
    pub routes: RouteTable,
}

/// The edge around `inner`.
#[derive(Clone)]
pub struct Edge<S> {
    inner: S,
    config: Arc<EdgeConfig>,
}

impl<S> Edge<S> {
    pub fn new(inner: S, config: EdgeConfig) -> Self {
        Self {
            inner,
            config: Arc::new(config),
        }
    }
}

impl<S> Service<Request> for Edge<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        let started = Instant::now();
        let id = request_id(&mut req);
        let config = self.config.clone();
        let span = tracing::info_span!(
            "request",
            method = %req.method(),
            path = %req.uri().path(),
            route = config.routes.route_of(req.uri().path()),
            request_id = id.to_str().unwrap_or("-"),
        );
        let measured = telemetry::enabled().then(|| {
            (
                method_label(req.method()),
                config.routes.route_of(req.uri().path()),
            )
        });
        let origin = config.cors.allowed_origin(req.headers());
        let docs_page = super::docs::is_docs_path(req.uri().path());
        let early = self.refusal(&mut req, origin.as_ref());
        // The ready service is the one to call; a fresh clone waits for the next request.
        let ready = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, ready);
        Box::pin(
            async move {
                let response = match early {
                    Some(response) => response,
                    None => inner.oneshot(req).await?,
                };
                let mut response = json_error(response);
                let headers = response.headers_mut();
                security_headers(headers, config.hsts, docs_page);
                Cors::apply(headers, origin);
                headers.insert(REQUEST_ID, id);
                let took = started.elapsed();
                let status = response.status().as_u16();
                if let Some((method, route)) = measured {
                    telemetry::http_request(method, route, status, took);
                }
                tracing::info!(
                    latency_us = took.as_micros() as u64,
                    status,
                    "finished processing request"
                );
                Ok(response)
            }
            .instrument(span),
        )
    }
}

impl<S> Edge<S> {
    /// What answers the request before the router does, if anything: a CORS preflight, the
    /// CSRF guard's 403, a 503 while the rate limiters are full, the general rate limit's 429.
    /// Puts the client's address in the request's extensions for the rest.
    fn refusal(
        &self,
        req: &mut Request,
        origin: Option<&axum::http::HeaderValue>,
    ) -> Option<Response> {
        let config = &self.config;
        if let Some(preflight) = config.cors.preflight(req, origin) {
            return Some(preflight);
        }
        if let Some(forbidden) = csrf_refusal(req, &config.csrf_origins) {
            return Some(forbidden);
        }
        if !config.gate.has_room() {
            tracing::warn!("rate limiters full of active clients: request refused");
            return Some(ApiError::Crowded.into_response());
        }
        let (client, address) = config.gate.client_of(req);
        if let Err(not_until) = config.general.check_key(&client.0) {
            telemetry::rate_limited("general");
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            return Some(
                ApiError::TooManyRequests {
                    retry_after_secs: wait.as_secs().max(1),
                    detail: super::RATE_LIMITED,
                }
                .into_response(),
            );
        }
        req.extensions_mut().insert(client);
        req.extensions_mut().insert(address);
        None
    }
}
