//! What the edge (`edge.rs`) does to every request and response, as plain functions: the
//! request id, the security headers, JSON bodies on every error, CORS, and the cross-site
//! request guard.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;

use super::REQUEST_ID;
use super::error::detail_response;

/// API responses are data, never a page: nothing may load, run or frame them.
const API_CSP: &str = "default-src 'none'; frame-ancestors 'none'";

/// The request's `x-request-id`, set on the request if it had none. A client's id is kept only
/// if it is short and made of safe characters (`[A-Za-z0-9._-]{1,64}`); otherwise the server
/// makes its own (128 random bits in hex): a raw id would be echoed to the client and written
/// into every log line of the request, where a long or crafted one could bloat the log or
/// forge fields.
pub fn request_id(req: &mut Request) -> HeaderValue {
    let safe = |v: &HeaderValue| {
        let bytes = v.as_bytes();
        (1..=64).contains(&bytes.len())
            && bytes
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    };
    let mut given = req.headers().get_all(REQUEST_ID).iter();
    match (given.next(), given.next()) {
        (Some(only), None) if safe(only) => only.clone(),
        _ => {
            let made = HeaderValue::from_str(&format!("{:032x}", rand::random::<u128>()))
                .unwrap_or_else(|_| HeaderValue::from_static("-"));
            req.headers_mut().insert(REQUEST_ID, made.clone());
            made
        }
    }
}

/// Headers that tell browsers to treat every response as inert data; the documentation pages
/// get the few more permissions they need to render.
pub fn security_headers(h: &mut HeaderMap, hsts: bool, docs_page: bool) {
    let csp = if docs_page {
        super::docs::DOCS_CSP
    } else {
        API_CSP
    };
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(csp),
    );
    // Session tokens and user data must never sit in a shared or browser cache.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if hsts {
        h.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
}

/// Gives an error response produced outside our handlers (405 from the router, 408 from the
/// timeout, 413 from the body limit) the same `{"detail"}` JSON body as ours.
pub fn json_error(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (mut parts, _) = response.into_parts();
    let detail = status.canonical_reason().unwrap_or("Error");
    let (json_parts, body) = detail_response(status, detail).into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.extend(json_parts.headers);
    Response::from_parts(parts, Body::new(body))
}

/// Credentialed CORS for the configured origins only: never a wildcard.
pub struct Cors {
    origins: Vec<HeaderValue>,
}

/// What browsers may send and read cross-origin.
const ALLOW_METHODS: &str = "GET,POST,DELETE";
const ALLOW_HEADERS: &str = "content-type,authorization,x-request-id";
const EXPOSE_HEADERS: &str = "x-request-id,retry-after";
const MAX_AGE_SECS: &str = "600";
const VARY: &str = "origin, access-control-request-method, access-control-request-headers";

impl Cors {
    pub fn new(origins: &[String]) -> Self {
        Self {
            origins: origins
                .iter()
                .filter_map(|o| HeaderValue::from_str(o).ok())
                .collect(),
        }
    }

    /// The request's `Origin`, if it is one of the configured origins.
    pub fn allowed_origin(&self, headers: &HeaderMap) -> Option<HeaderValue> {
        let origin = headers.get(header::ORIGIN)?;
        self.origins.contains(origin).then(|| origin.clone())
    }

    /// The answer to a preflight (`OPTIONS` with `Access-Control-Request-Method`): 200, with
    /// the permissions only for an allowed origin; the CORS headers are added by [`Cors::apply`].
    pub fn preflight(&self, req: &Request, allowed: Option<&HeaderValue>) -> Option<Response> {
        let is_preflight = req.method() == Method::OPTIONS
            && req
                .headers()
                .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
        if !is_preflight {
            return None;
        }
        let mut response = Response::new(Body::empty());
        if allowed.is_some() {
            let h = response.headers_mut();
            h.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static(ALLOW_METHODS),
            );
            h.insert(
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static(ALLOW_HEADERS),
            );
            h.insert(
                header::ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from_static(MAX_AGE_SECS),
            );
        }
        Some(response)
    }

    /// The CORS headers of every response: for an allowed origin, that origin with credentials
    /// and the headers a page may read; `Vary` always, so caches keep answers per origin.
    pub fn apply(h: &mut HeaderMap, allowed: Option<HeaderValue>) {
        h.append(header::VARY, HeaderValue::from_static(VARY));
        if let Some(origin) = allowed {
            h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
            h.insert(
                header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
            h.insert(
                header::ACCESS_CONTROL_EXPOSE_HEADERS,
                HeaderValue::from_static(EXPOSE_HEADERS),
            );
        }
    }
}

/// The cross-site request guard: refuses a browser write (POST and the like) that comes from
/// an origin not in CORS_ORIGINS and not the server's own. Requests with an
/// `Authorization: Bearer` header are not affected: a browser never adds one by itself, so they
/// cannot be forged cross-site. Returns the 403 to answer with, if refused.
pub fn csrf_refusal(req: &Request, allowed: &[String]) -> Option<Response> {
    let safe = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if safe || super::extract::bearer(req.headers()).is_some() {
        return None;
    }
    let headers = req.headers();
    let origin = headers
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| {
            headers
                .get(header::REFERER)
                .and_then(|v| v.to_str().ok())
                .and_then(origin_of)
        });
    let allowed_origin =
        |origin: &str| allowed.iter().any(|a| a == origin) || is_own_origin(origin, headers);
    let refused = match origin.as_deref() {
        Some(origin) => !allowed_origin(origin),
        None => headers
            .get("sec-fetch-site")
            .is_some_and(|v| v.as_bytes() == b"cross-site"),
    };
    refused.then(|| {
        detail_response(
            StatusCode::FORBIDDEN,
            "Cross-site request refused: this origin is not allowed to call the API",
        )
    })
}

/// `scheme://host[:port]` of a URL.
fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let host = rest.split(['/', '?', '#']).next()?;
    Some(format!("{scheme}://{host}"))
}

/// Whether `origin` is this server as the request addressed it (its Host header).
fn is_own_origin(origin: &str, headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    origin
        .split_once("://")
        .is_some_and(|(scheme, rest)| matches!(scheme, "http" | "https") && rest == host)
}
