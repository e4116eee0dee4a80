//! Response middleware: security headers on every response, and JSON bodies on every error.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

use super::error::detail_response;

/// API responses are data, never a page: nothing may load, run or frame them.
const API_CSP: &str = "default-src 'none'; frame-ancestors 'none'";

/// Headers that tell browsers to treat every response as inert data; the documentation pages
/// get the few more permissions they need to render.
pub async fn security_headers(State(hsts): State<bool>, req: Request, next: Next) -> Response {
    let csp = if super::docs::is_docs_path(req.uri().path()) {
        super::docs::DOCS_CSP
    } else {
        API_CSP
    };
    let mut response = next.run(req).await;
    let h = response.headers_mut();
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
    response
}

/// Gives every request an `x-request-id`, and echoes it on the response. A client's id is kept
/// only if it is short and made of safe characters (`[A-Za-z0-9._-]{1,64}`); otherwise the
/// server makes its own (128 random bits in hex): a raw id would be echoed to the client and
/// written into every log line of the request, where a long or crafted one could bloat the log
/// or forge fields.
pub async fn request_id(mut req: Request, next: Next) -> Response {
    let safe = |v: &HeaderValue| {
        let bytes = v.as_bytes();
        (1..=64).contains(&bytes.len())
            && bytes
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    };
    let mut given = req.headers().get_all(super::REQUEST_ID).iter();
    let id = match (given.next(), given.next()) {
        (Some(only), None) if safe(only) => only.clone(),
        _ => {
            let made = HeaderValue::from_str(&format!("{:032x}", rand::random::<u128>()))
                .unwrap_or_else(|_| HeaderValue::from_static("-"));
            req.headers_mut().insert(super::REQUEST_ID, made.clone());
            made
        }
    };
    let mut response = next.run(req).await;
    response.headers_mut().insert(super::REQUEST_ID, id);
    response
}

/// Gives error responses produced outside our handlers (405 from the router, 408 from the
/// timeout, 413 from the body limit) the same `{"detail"}` JSON body as ours.
pub async fn json_errors(req: Request, next: Next) -> Response {
    let response = next.run(req).await;
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

/// Origins a browser may send cookie-carrying writes from.
#[derive(Clone, Debug)]
pub struct CsrfOrigins(pub std::sync::Arc<Vec<String>>);

/// Refuses a browser write (POST and the like) that comes from an origin not in CORS_ORIGINS
/// and not the server's own. Requests with an `Authorization: Bearer` header are not affected:
/// a browser never adds one by itself, so they cannot be forged cross-site.
pub async fn csrf_guard(State(allowed): State<CsrfOrigins>, req: Request, next: Next) -> Response {
    use axum::http::Method;
    let safe = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let bearer = super::extract::bearer(req.headers()).is_some();
    if safe || bearer {
        return next.run(req).await;
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
        |origin: &str| allowed.0.iter().any(|a| a == origin) || is_own_origin(origin, headers);
    let refused = match origin.as_deref() {
        Some(origin) => !allowed_origin(origin),
        None => headers
            .get("sec-fetch-site")
            .is_some_and(|v| v.as_bytes() == b"cross-site"),
    };
    if refused {
        return detail_response(
            axum::http::StatusCode::FORBIDDEN,
            "Cross-site request refused: this origin is not allowed to call the API",
        );
    }
    next.run(req).await
}

/// `scheme://host[:port]` of a URL.
fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let host = rest.split(['/', '?', '#']).next()?;
    Some(format!("{scheme}://{host}"))
}

/// Whether `origin` is this server as the request addressed it (its Host header).
fn is_own_origin(origin: &str, headers: &axum::http::HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    origin
        .split_once("://")
        .is_some_and(|(scheme, rest)| matches!(scheme, "http" | "https") && rest == host)
}
