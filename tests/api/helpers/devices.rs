//! Helpers for the account settings tests: requests made as one signed-in device (its token in
//! `Authorization: Bearer`, no cookies), the session list, and requests written byte by byte.

use std::time::Duration;

use chrono::{DateTime, Utc};

use reqwest::header::SET_COOKIE;
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{PASSWORD, TestApp};

impl TestApp {
    /// Sends `request`; returns once the email it queued has been delivered.
    pub async fn send_settled(&self, request: RequestBuilder) -> Response {
        let response = request.send().await.expect("request sent");
        self.mail_settled().await;
        response
    }

    /// A request as the device holding `token`: `Authorization: Bearer`, no cookies.
    pub fn as_device(&self, token: &str, method: Method, path: &str) -> RequestBuilder {
        reqwest::Client::new()
            .request(method, self.url(path))
            .bearer_auth(token)
    }

    /// POST `body` as the device holding `token`.
    pub async fn post_as_device(&self, token: &str, path: &str, body: Value) -> Response {
        let request = self.as_device(token, Method::POST, path).json(&body);
        self.send_settled(request).await
    }

    /// POST without a body (logout-others, logout-all) as the device holding `token`.
    pub async fn post_empty_as_device(&self, token: &str, path: &str) -> Response {
        let request = self.as_device(token, Method::POST, path);
        self.send_settled(request).await
    }

    /// DELETE /api/auth/sessions/{id} as the device holding `token`; `id` goes into the path
    /// as given (already percent-encoded where it needs to be).
    pub async fn end_session(&self, token: &str, id: &str) -> Response {
        let path = format!("/api/auth/sessions/{id}");
        let request = self.as_device(token, Method::DELETE, &path);
        request.send().await.expect("request sent")
    }

    /// The session list as the device holding `token`.
    pub async fn sessions(&self, token: &str) -> Vec<Value> {
        let response = self.as_device(token, Method::GET, "/api/auth/sessions");
        let response = response.send().await.expect("request sent");
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.expect("json body");
        body.as_array().expect("a JSON array").clone()
    }

    /// The `id` the session list of `token` gives the session of `token` itself.
    pub async fn own_session_id(&self, token: &str) -> String {
        let sessions = self.sessions(token).await;
        let own = sessions.iter().find(|s| s["current"] == true);
        own.expect("the current session is listed")["id"]
            .as_str()
            .expect("id string")
            .to_owned()
    }

    /// Logs `email` in once more, as another device (no cookies); returns its token.
    pub async fn another_device(&self, email: &str) -> String {
        self.device_with_password(email, PASSWORD).await
    }

    /// Logs `email` in with `password` as another device; returns its token.
    pub async fn device_with_password(&self, email: &str, password: &str) -> String {
        let request = reqwest::Client::new()
            .post(self.url("/api/auth/login"))
            .json(&serde_json::json!({ "email": email, "password": password }));
        let response = self.send_settled(request).await;
        assert_eq!(response.status(), StatusCode::OK, "login of {email}");
        token_of(response).await
    }

    /// Uses `token` on /me until this instance serves it from its session cache (the first
    /// use reads the database and caches it; the second is served from memory).
    pub async fn cache(&self, token: &str) {
        for _ in 0..2 {
            assert_eq!(self.me_with_bearer(token).await.status(), StatusCode::OK);
        }
    }

    /// Sends `request` (a whole HTTP/1.1 request, head and body) over a socket of its own and
    /// returns the status and the rest of the answer as text: for bytes no HTTP client sends.
    pub async fn raw(&self, request: &[u8]) -> (u16, String) {
        let addr = self.base.trim_start_matches("http://");
        let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        stream.write_all(request).await.expect("request written");
        let mut answer = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer));
        read.await.expect("an answer in time").expect("answer read");
        let answer = String::from_utf8_lossy(&answer).into_owned();
        let status = answer
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no status line in {answer:?}"));
        (status, answer)
    }
}

/// The access token of a login (or change-password) response.
pub async fn token_of(response: Response) -> String {
    let body: Value = response.json().await.expect("json body");
    body["access_token"].as_str().expect("token").to_owned()
}

/// The `Set-Cookie` header of a response, as text (empty if there is none).
pub fn set_cookie(response: &Response) -> String {
    response
        .headers()
        .get(SET_COOKIE)
        .map(|v| v.to_str().expect("ascii cookie").to_owned())
        .unwrap_or_default()
}

/// Whether a `Set-Cookie` header clears the session cookie.
pub fn clears_the_cookie(cookie: &str) -> bool {
    cookie.starts_with("access_token=;") && cookie.contains("Max-Age=0")
}

/// A response's headers as comparable text, without those that differ from one response to the
/// next whatever was asked (the date and the request id).
pub fn stable_headers(response: &Response) -> Vec<(String, String)> {
    let mut headers: Vec<(String, String)> = response
        .headers()
        .iter()
        .filter(|(name, _)| !matches!(name.as_str(), "date" | "x-request-id"))
        .map(|(name, value)| {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            (name.as_str().to_owned(), value)
        })
        .collect();
    headers.sort();
    headers
}

/// A session cache that outlives the test: a session ended while cached must then be dropped
/// from it by the server, since waiting for the entry to expire would take a minute.
pub fn long_session_cache(c: &mut authd::Config) {
    c.auth.session_cache_ttl = Duration::from_secs(60);
}

/// A time of the session list.
pub fn time(value: &Value) -> DateTime<Utc> {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("not a time: {value}"));
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

/// Whether two times are the same to the second (some databases keep whole seconds).
pub fn same_second(a: DateTime<Utc>, b: DateTime<Utc>) -> bool {
    (a - b).num_milliseconds().abs() < 1000
}
