//! A Pwned Passwords range API of the suite's own, on a loopback port (axum): it answers
//! `GET /range/{5 hex}` with the suffixes of the passwords it was told are breached (with
//! their counts), padding lines with count 0, and records every request's path and headers so
//! a test can check what left the server. It can also answer slowly, or with an error; and
//! [`closed_url`] names a port nothing listens on, for an API that is down.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use sha1::{Digest, Sha1};

/// One request as the range server received it.
#[derive(Clone, Debug)]
pub struct RangeRequest {
    pub path: String,
    pub query: Option<String>,
    pub headers: Vec<(String, String)>,
}

impl RangeRequest {
    /// The value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct Inner {
    /// (SHA-1 in upper-case hex, count): count 0 is listed as padding.
    listed: Vec<(String, u64)>,
    /// How long to wait before answering.
    delay: Option<Duration>,
    /// Answer this status and no listing.
    failure: Option<StatusCode>,
    requests: Vec<RangeRequest>,
}

/// A running range server; it stops when the test's runtime ends.
pub struct RangeServer {
    /// The range endpoint, for `config.auth.breach.api_url`.
    pub url: String,
    inner: Arc<Mutex<Inner>>,
}

/// The SHA-1 of `password`, upper-case hex, as the range API spells it.
pub fn sha1_hex(password: &str) -> String {
    hex::encode_upper(Sha1::digest(password.as_bytes()))
}

impl RangeServer {
    /// A server that lists each of `breached` with a count, and `padded` with count 0 (the
    /// padding entries a real padded answer mixes in).
    pub async fn start(breached: &[&str], padded: &[&str]) -> Self {
        let mut listed: Vec<(String, u64)> = breached
            .iter()
            .enumerate()
            .map(|(n, p)| (sha1_hex(p), 1_000 + n as u64))
            .collect();
        listed.extend(padded.iter().map(|p| (sha1_hex(p), 0)));
        let inner = Arc::new(Mutex::new(Inner {
            listed,
            ..Inner::default()
        }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let router = Router::new().fallback(answer).with_state(inner.clone());
        tokio::spawn(async move { axum::serve(listener, router).await });
        Self {
            url: format!("http://{addr}/range"),
            inner,
        }
    }

    /// From now on, wait `delay` before each answer.
    pub fn answer_after(&self, delay: Duration) {
        self.inner.lock().unwrap().delay = Some(delay);
    }

    /// From now on, answer `status` with no listing.
    pub fn fail_with(&self, status: StatusCode) {
        self.inner.lock().unwrap().failure = Some(status);
    }

    /// Every request so far, oldest first.
    pub fn requests(&self) -> Vec<RangeRequest> {
        self.inner.lock().unwrap().requests.clone()
    }
}

/// The range URL of a loopback port that nothing listens on: an API that is down.
pub async fn closed_url() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}/range")
}

async fn answer(State(inner): State<Arc<Mutex<Inner>>>, uri: Uri, headers: HeaderMap) -> Response {
    let (delay, failure, body) = {
        let mut inner = inner.lock().unwrap();
        inner.requests.push(RangeRequest {
            path: uri.path().to_owned(),
            query: uri.query().map(str::to_owned),
            headers: headers
                .iter()
                .map(|(n, v)| {
                    let value = String::from_utf8_lossy(v.as_bytes()).into_owned();
                    (n.as_str().to_owned(), value)
                })
                .collect(),
        });
        let prefix = uri
            .path()
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_uppercase();
        (inner.delay, inner.failure, listing(&inner.listed, &prefix))
    };
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    match failure {
        Some(status) => (status, "upstream trouble").into_response(),
        None => body.into_response(),
    }
}

/// The answer for `prefix`: the listed hashes under it, and padding lines of count 0, in the
/// `SUFFIX:COUNT` lines of the real API.
fn listing(listed: &[(String, u64)], prefix: &str) -> String {
    let mut lines: Vec<String> = (0..8)
        .map(|n| format!("{}:0", &sha1_hex(&format!("padding {prefix} {n}"))[5..]))
        .collect();
    for (hash, count) in listed {
        if let Some(suffix) = hash.strip_prefix(prefix) {
            lines.push(format!("{suffix}:{count}"));
        }
    }
    lines.sort();
    lines.join("\r\n")
}
