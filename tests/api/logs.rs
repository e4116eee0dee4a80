//! `LOG_FORMAT=json`: the real binary's log of a whole flow at debug level (sign-up, login,
//! `/me`, logout, reset, two-factor login), read line by line as a log shipper would: every
//! line one JSON object with its time, level and message; each request's line with its status,
//! latency, request id and route pattern; and no secret anywhere (passwords, tokens, hashes,
//! the TOTP secret, recovery codes, the signing key), codes only in the console mailer's lines.

use std::time::Duration;

use reqwest::{Response, StatusCode};
use serde_json::{Value, json};

use crate::binary::{Binary, STRONG};
use crate::helpers::{PASSWORD, Totp, token_of};

const NEW_PASSWORD: &str = "velvet orchard tempest";
const WRONG: &str = "correct horse battery staple";

/// A request the test made: the id the server gave it, its route pattern and its status.
struct Sent {
    request_id: String,
    route: &'static str,
    status: u16,
}

/// Talks to the binary and remembers every answer's request id.
struct Flow {
    base: String,
    client: reqwest::Client,
    sent: Vec<Sent>,
}

impl Flow {
    async fn send(
        &mut self,
        route: &'static str,
        request: reqwest::RequestBuilder,
        expected: StatusCode,
    ) -> Response {
        let response = request.send().await.expect("request sent");
        assert_eq!(response.status(), expected, "{route}");
        self.sent.push(Sent {
            request_id: response.headers()["x-request-id"]
                .to_str()
                .unwrap()
                .to_owned(),
            route,
            status: response.status().as_u16(),
        });
        response
    }

    async fn post(&mut self, path: &'static str, body: Value, expected: StatusCode) -> Response {
        let request = self.client.post(format!("{}{path}", self.base)).json(&body);
        self.send(path, request, expected).await
    }

    async fn post_with(
        &mut self,
        token: &str,
        path: &'static str,
        body: Option<Value>,
        expected: StatusCode,
    ) -> Response {
        let mut request = self
            .client
            .post(format!("{}{path}", self.base))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        self.send(path, request, expected).await
    }

    async fn me(&mut self, token: &str, expected: StatusCode) -> Response {
        let request = self
            .client
            .get(format!("{}/api/auth/me", self.base))
            .bearer_auth(token);
        self.send("/api/auth/me", request, expected).await
    }

    async fn login(&mut self, password: &str, expected: StatusCode) -> Response {
        let body = json!({ "email": "ann@example.com", "password": password });
        self.post("/api/auth/login", body, expected).await
    }
}

/// The Unix time now, for the authenticator app.
fn unix_now() -> i64 {
    authd::clock::Clock::now(&authd::clock::SystemClock).timestamp()
}

#[tokio::test]
async fn a_whole_flow_logs_json_lines_with_no_secret_in_them() {
    let authd = Binary::start(&[
        ("JWT_SECRET", STRONG),
        ("LOG_FORMAT", "json"),
        ("RUST_LOG", "debug"),
        // The flow makes more credential requests than the default budget allows a minute.
        ("RATE_LIMIT_AUTH_BURST", "100"),
    ]);
    let base = authd
        .base_url(Duration::from_secs(30))
        .unwrap_or_else(|| panic!("listening: {}", authd.output()));
    let mut flow = Flow {
        base,
        // No cookies: each request is made with the token it names.
        client: {
            let _ = rustls::crypto::ring::default_provider().install_default();
            reqwest::Client::new()
        },
        sent: Vec::new(),
    };

    let register = json!({ "name": "Ann Lee", "email": "ann@example.com", "password": PASSWORD });
    flow.post("/api/auth/register", register, StatusCode::CREATED)
        .await;
    let verification = authd.mailed_code("ann@example.com", "verification_code");
    let verify = json!({ "email": "ann@example.com", "otp": verification });
    flow.post("/api/auth/verify-email", verify, StatusCode::OK)
        .await;
    flow.login(WRONG, StatusCode::UNAUTHORIZED).await;
    let first = token_of(flow.login(PASSWORD, StatusCode::OK).await).await;
    flow.me(&first, StatusCode::OK).await;
    flow.post_with(&first, "/api/auth/logout", None, StatusCode::OK)
        .await;
    flow.me(&first, StatusCode::UNAUTHORIZED).await;

    let forgot = json!({ "email": "ann@example.com" });
    flow.post("/api/auth/forgot-password", forgot, StatusCode::OK)
        .await;
    let reset_code = authd.mailed_code("ann@example.com", "password_reset_code");
    let reset =
        json!({ "email": "ann@example.com", "otp": reset_code, "new_password": NEW_PASSWORD });
    flow.post("/api/auth/reset-password", reset, StatusCode::OK)
        .await;
    let second = token_of(flow.login(NEW_PASSWORD, StatusCode::OK).await).await;

    // Two-factor login: the secret, the recovery codes and the mfa_token are secrets too.
    let setup = json!({ "password": NEW_PASSWORD });
    let setup = flow
        .post_with(
            &second,
            "/api/auth/mfa/totp/setup",
            Some(setup),
            StatusCode::OK,
        )
        .await;
    let setup: Value = setup.json().await.unwrap();
    let totp_secret = setup["secret"].as_str().expect("secret").to_owned();
    let app = Totp::from_base32(&totp_secret);
    let enable = json!({ "code": app.code_at(unix_now()) });
    let enabled = flow
        .post_with(
            &second,
            "/api/auth/mfa/totp/enable",
            Some(enable),
            StatusCode::OK,
        )
        .await;
    let enabled: Value = enabled.json().await.unwrap();
    let recovery_codes: Vec<String> = enabled["recovery_codes"]
        .as_array()
        .expect("recovery codes")
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    let challenge: Value = flow
        .login(NEW_PASSWORD, StatusCode::OK)
        .await
        .json()
        .await
        .unwrap();
    let mfa_token = challenge["mfa_token"]
        .as_str()
        .expect("mfa_token")
        .to_owned();
    let second_step = json!({ "mfa_token": mfa_token, "recovery_code": recovery_codes[0] });
    let third = token_of(
        flow.post("/api/auth/mfa/verify", second_step, StatusCode::OK)
            .await,
    )
    .await;
    flow.me(&third, StatusCode::OK).await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    let log = authd.output();
    let lines: Vec<Value> = log
        .lines()
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"))
        })
        .collect();
    assert!(lines.len() > flow.sent.len(), "{log}");
    for line in &lines {
        assert!(line.is_object(), "{line}");
        for field in ["timestamp", "level", "target"] {
            assert!(line[field].is_string(), "no {field} in {line}");
        }
        // The server's own events all say what happened; a library's may carry only fields
        // (sqlx's statement log: `summary`, `db.statement`), which are still one JSON object.
        if line["target"].as_str().unwrap().starts_with("authd") {
            assert!(line["message"].is_string(), "no message in {line}");
        } else {
            assert!(
                line.as_object().unwrap().len() > 4,
                "an empty event: {line}"
            );
        }
        let time = line["timestamp"].as_str().unwrap();
        assert!(chrono::DateTime::parse_from_rfc3339(time).is_ok(), "{time}");
        let level = line["level"].as_str().unwrap();
        assert!(
            ["TRACE", "DEBUG", "INFO", "WARN", "ERROR"].contains(&level),
            "{line}"
        );
    }
    assert!(
        lines.iter().any(|l| l["level"] == "DEBUG"),
        "RUST_LOG=debug logs debug lines"
    );

    // Each request: one line when it is answered, with everything a dashboard filters on.
    for sent in &flow.sent {
        let finished: Vec<&Value> = lines
            .iter()
            .filter(|l| {
                l["message"] == "finished processing request"
                    && l["span"]["request_id"] == sent.request_id.as_str()
            })
            .collect();
        assert_eq!(
            finished.len(),
            1,
            "{} {}: {log}",
            sent.route,
            sent.request_id
        );
        let line = finished[0];
        assert_eq!(line["status"], sent.status, "{line}");
        assert!(line["latency_us"].is_u64(), "{line}");
        assert_eq!(line["span"]["route"], sent.route, "{line}");
        assert!(line["span"]["method"].is_string(), "{line}");
        assert_eq!(line["span"]["path"], sent.route, "{line}");
    }

    // No secret in any line, at any level.
    let mut secrets = vec![
        PASSWORD.to_owned(),
        NEW_PASSWORD.to_owned(),
        WRONG.to_owned(),
        first,
        second,
        third,
        mfa_token,
        totp_secret.clone(),
        totp_secret.to_lowercase(),
        STRONG.to_owned(),
    ];
    secrets.extend(recovery_codes);
    for secret in &secrets {
        assert!(!log.contains(secret.as_str()), "{secret} in the log: {log}");
    }
    for bcrypt in ["$2a$", "$2b$", "$2y$"] {
        assert!(!log.contains(bcrypt), "a password hash in the log: {log}");
    }
    // The codes: only in the console mailer's own lines, which exist to show them.
    for code in [&verification, &reset_code] {
        let carrying: Vec<&Value> = lines.iter().filter(|l| carries(l, code)).collect();
        assert!(!carrying.is_empty(), "the console mailer shows {code}");
        for line in carrying {
            let message = line["message"].as_str().unwrap();
            assert!(
                message.starts_with("console email to ann@example.com: "),
                "{code} outside the mailer's line: {line}"
            );
        }
    }
}

/// Whether `line` carries the digits of `code` apart from other digits, anywhere but in its
/// timestamp (whose microseconds are six digits too).
fn carries(line: &Value, code: &str) -> bool {
    let mut line = line.clone();
    line.as_object_mut().unwrap().remove("timestamp");
    let text = line.to_string();
    text.match_indices(code).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + code.len()..].chars().next();
        !before.is_some_and(|c| c.is_ascii_digit()) && !after.is_some_and(|c| c.is_ascii_digit())
    })
}

#[test]
fn an_unknown_log_format_stops_the_start() {
    let mut authd = Binary::start(&[("JWT_SECRET", STRONG), ("LOG_FORMAT", "xml")]);
    let status = authd.exit_within(Duration::from_secs(30)).expect("refused");
    assert!(!status.success());
    assert!(authd.output().contains("LOG_FORMAT"), "{}", authd.output());
}

#[test]
fn the_default_log_format_stays_human() {
    let authd = Binary::start(&[("JWT_SECRET", STRONG), ("RUST_LOG", "info")]);
    authd.base_url(Duration::from_secs(30)).expect("listening");
    let output = authd.output();
    let line = output.lines().find(|l| l.contains("listening on")).unwrap();
    assert!(serde_json::from_str::<Value>(line).is_err(), "{line}");
    assert!(line.contains("INFO"), "{line}");
}
