//! Prometheus metrics, scraped from the real binary's `METRICS_ADDR` listener (a process of its
//! own, so the figures are exactly this test's): counters that move as requests are made,
//! route labels that are patterns and never raw paths, the latency histogram, the build info;
//! nothing on the public port, and no listener at all without `METRICS_ADDR`.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::binary::{Binary, STRONG};
use crate::helpers::{PASSWORD, client};

/// One sample of a scrape: name, labels (sorted), value.
#[derive(Debug, Clone, PartialEq)]
struct Sample {
    name: String,
    labels: Vec<(String, String)>,
    value: f64,
}

/// A scrape of `/metrics`, parsed.
struct Scrape {
    text: String,
    samples: Vec<Sample>,
}

impl Scrape {
    /// The value of `name` with exactly `labels` (in any order); 0 when there is no such series
    /// (a counter that has not moved yet).
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let mut wanted: Vec<(String, String)> = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        wanted.sort();
        let found: Vec<&Sample> = self
            .samples
            .iter()
            .filter(|s| s.name == name && s.labels == wanted)
            .collect();
        assert!(found.len() <= 1, "{name} {labels:?} twice: {found:?}");
        found.first().map_or(0.0, |s| s.value)
    }

    /// The samples of `name` whose labels include `labels`.
    fn series(&self, name: &str, labels: &[(&str, &str)]) -> Vec<&Sample> {
        self.samples
            .iter()
            .filter(|s| {
                s.name == name
                    && labels
                        .iter()
                        .all(|(k, v)| s.labels.iter().any(|(lk, lv)| lk == k && lv == v))
            })
            .collect()
    }

    /// Every value the label `label` takes on `name`.
    fn label_values(&self, name: &str, label: &str) -> Vec<String> {
        let mut values: Vec<String> = self
            .series(name, &[])
            .into_iter()
            .filter_map(|s| s.labels.iter().find(|(k, _)| k == label))
            .map(|(_, v)| v.clone())
            .collect();
        values.sort();
        values.dedup();
        values
    }
}

/// Parses the Prometheus text format (what the exporter writes: no timestamps).
fn parse(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| {
            let (series, value) = line
                .rsplit_once(' ')
                .unwrap_or_else(|| panic!("no value: {line}"));
            let value: f64 = match value {
                "+Inf" => f64::INFINITY,
                v => v.parse().unwrap_or_else(|_| panic!("bad value: {line}")),
            };
            let (name, labels) = match series.split_once('{') {
                Some((name, rest)) => (name, parse_labels(rest.trim_end_matches('}'), line)),
                None => (series, Vec::new()),
            };
            Sample {
                name: name.to_owned(),
                labels,
                value,
            }
        })
        .collect()
}

/// `k="v",k2="v2"` (values with `\"`, `\\` and `\n` escaped), sorted by name.
fn parse_labels(text: &str, line: &str) -> Vec<(String, String)> {
    let mut labels = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let (key, after) = rest
            .split_once("=\"")
            .unwrap_or_else(|| panic!("bad labels: {line}"));
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next() {
                Some((_, '\\')) => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, c)) => value.push(c),
                    None => panic!("bad escape: {line}"),
                },
                Some((i, '"')) => break i,
                Some((_, c)) => value.push(c),
                None => panic!("unterminated label: {line}"),
            }
        };
        labels.push((key.trim_start_matches(',').to_owned(), value));
        rest = after[end + 1..].trim_start_matches(',');
    }
    labels.sort();
    labels
}

/// The binary with metrics on an address of its own (port 0: the log says which), and its
/// public and metrics base URLs.
fn with_metrics(env: &[(&str, &str)]) -> (Binary, String, String) {
    let mut all = vec![
        ("JWT_SECRET", STRONG),
        ("METRICS_ADDR", "127.0.0.1:0"),
        ("RUST_LOG", "info"),
    ];
    all.extend_from_slice(env);
    let authd = Binary::start(&all);
    let base = authd
        .base_url(Duration::from_secs(30))
        .unwrap_or_else(|| panic!("listening: {}", authd.output()));
    let metrics = authd
        .word_after("metrics on ", Duration::from_secs(5))
        .unwrap_or_else(|| panic!("the log names the metrics address: {}", authd.output()));
    let metrics = metrics.trim_end_matches("/metrics").to_owned();
    (authd, base, metrics)
}

async fn scrape(metrics: &str) -> Scrape {
    let response = client()
        .get(format!("{metrics}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response.headers()["content-type"].to_str().unwrap();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    let text = response.text().await.unwrap();
    Scrape {
        samples: parse(&text),
        text,
    }
}

async fn post(base: &str, path: &str, body: Value) -> reqwest::Response {
    client()
        .post(format!("{base}{path}"))
        .json(&body)
        .send()
        .await
        .unwrap()
}

const LOGINS: &str = "authd_logins_total";
const REQUESTS: &str = "authd_http_requests_total";
const DURATION: &str = "authd_http_request_duration_seconds";

#[tokio::test]
async fn the_counters_follow_the_requests_the_server_answers() {
    let (_authd, base, metrics) = with_metrics(&[]);
    let authd = &_authd;
    let client = client();
    let before = scrape(&metrics).await;
    assert_eq!(
        before.value(
            "authd_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        1.0,
        "{}",
        before.text
    );
    assert_eq!(before.value("authd_sessions_created_total", &[]), 0.0);
    assert_eq!(before.value("authd_password_hash_in_flight", &[]), 0.0);
    assert!(before.text.contains("authd_password_hash_rejected_total"));

    // Two anonymous /me: two 401s under the route's pattern.
    for _ in 0..2 {
        let me = client
            .get(format!("{base}/api/auth/me"))
            .send()
            .await
            .unwrap();
        assert_eq!(me.status(), StatusCode::UNAUTHORIZED);
    }
    let unknown = post(
        &base,
        "/api/auth/login",
        json!({ "email": "nobody@example.com", "password": PASSWORD }),
    )
    .await;
    assert_eq!(unknown.status(), StatusCode::UNAUTHORIZED);
    let after = scrape(&metrics).await;
    let me_401 = [
        ("method", "GET"),
        ("route", "/api/auth/me"),
        ("status", "401"),
    ];
    assert_eq!(after.value(REQUESTS, &me_401), 2.0, "{}", after.text);
    assert_eq!(
        after.value(LOGINS, &[("outcome", "unknown_user")]),
        1.0,
        "{}",
        after.text
    );
    assert_eq!(after.value(LOGINS, &[("outcome", "wrong_password")]), 0.0);

    // A whole sign-up: the code email, an unverified login, a wrong and a right password.
    let register = json!({ "name": "Ann Lee", "email": "ann@example.com", "password": PASSWORD });
    assert_eq!(
        post(&base, "/api/auth/register", register).await.status(),
        StatusCode::CREATED
    );
    let unverified = post(
        &base,
        "/api/auth/login",
        json!({ "email": "ann@example.com", "password": PASSWORD }),
    )
    .await;
    assert_eq!(unverified.status(), StatusCode::FORBIDDEN);
    let code = authd.mailed_code("ann@example.com", "verification_code");
    let verify = post(
        &base,
        "/api/auth/verify-email",
        json!({ "email": "ann@example.com", "otp": code }),
    )
    .await;
    assert_eq!(verify.status(), StatusCode::OK);
    let wrong = post(
        &base,
        "/api/auth/login",
        json!({ "email": "ann@example.com", "password": "not it at all" }),
    )
    .await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let login = post(
        &base,
        "/api/auth/login",
        json!({ "email": "ann@example.com", "password": PASSWORD }),
    )
    .await;
    assert_eq!(login.status(), StatusCode::OK);
    let token = crate::helpers::token_of(login).await;
    let me = client
        .get(format!("{base}/api/auth/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), StatusCode::OK);

    let after = scrape(&metrics).await;
    for (outcome, count) in [
        ("unknown_user", 1.0),
        ("unverified", 1.0),
        ("wrong_password", 1.0),
        ("success", 1.0),
    ] {
        assert_eq!(
            after.value(LOGINS, &[("outcome", outcome)]),
            count,
            "{outcome}: {}",
            after.text
        );
    }
    assert_eq!(after.value("authd_sessions_created_total", &[]), 1.0);
    let sent = after.series("authd_emails_total", &[("outcome", "sent")]);
    assert_eq!(sent.len(), 1, "{}", after.text);
    assert_eq!(sent[0].value, 1.0);
    let login_statuses = [("200", 1.0), ("401", 2.0), ("403", 1.0)];
    for (status, count) in login_statuses {
        let labels = [
            ("method", "POST"),
            ("route", "/api/auth/login"),
            ("status", status),
        ];
        assert_eq!(
            after.value(REQUESTS, &labels),
            count,
            "login {status}: {}",
            after.text
        );
    }
    assert_eq!(
        after.value(
            REQUESTS,
            &[
                ("method", "GET"),
                ("route", "/api/auth/me"),
                ("status", "200")
            ]
        ),
        1.0
    );
    // No bcrypt work is left running once the answers are in.
    assert_eq!(after.value("authd_password_hash_in_flight", &[]), 0.0);

    // The histogram: every bucket of the route, cumulative, ending in +Inf at the count.
    let me_route = [("method", "GET"), ("route", "/api/auth/me")];
    let buckets = after.series(&format!("{DURATION}_bucket"), &me_route);
    assert!(buckets.len() >= 10, "{}", after.text);
    let mut bounds: Vec<(f64, f64)> = buckets
        .iter()
        .map(|s| {
            let le = &s.labels.iter().find(|(k, _)| k == "le").expect("le").1;
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().unwrap()
            };
            (le, s.value)
        })
        .collect();
    bounds.sort_by(|a, b| a.0.total_cmp(&b.0));
    assert!(
        bounds.windows(2).all(|w| w[0].1 <= w[1].1),
        "not cumulative: {bounds:?}"
    );
    assert_eq!(bounds.last().unwrap(), &(f64::INFINITY, 3.0));
    assert_eq!(after.value(&format!("{DURATION}_count"), &me_route), 3.0);
    assert!(after.value(&format!("{DURATION}_sum"), &me_route) > 0.0);
}

#[tokio::test]
async fn the_route_label_is_the_pattern_never_the_raw_path() {
    let (authd, base, metrics) = with_metrics(&[]);
    let client = client();
    let register = json!({ "name": "Ann Lee", "email": "ann@example.com", "password": PASSWORD });
    assert_eq!(
        post(&base, "/api/auth/register", register).await.status(),
        StatusCode::CREATED
    );
    let code = authd.mailed_code("ann@example.com", "verification_code");
    post(
        &base,
        "/api/auth/verify-email",
        json!({ "email": "ann@example.com", "otp": code }),
    )
    .await;
    let login = post(
        &base,
        "/api/auth/login",
        json!({ "email": "ann@example.com", "password": PASSWORD }),
    )
    .await;
    let token = crate::helpers::token_of(login).await;
    let ids: Vec<String> = (0..3)
        .map(|_| format!("{:032x}", rand::random::<u128>()))
        .collect();
    for id in &ids {
        let response = client
            .delete(format!("{base}/api/auth/sessions/{id}"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
    }
    // Pages no route serves, and the docs, are counted under fixed names too.
    let probe = format!("/wp-admin/{}", ids[0]);
    for path in [probe.as_str(), "/docs/", "/openapi.json"] {
        client.get(format!("{base}{path}")).send().await.unwrap();
    }
    let after = scrape(&metrics).await;
    let sessions = [
        ("method", "DELETE"),
        ("route", "/api/auth/sessions/{id}"),
        ("status", "404"),
    ];
    assert_eq!(after.value(REQUESTS, &sessions), 3.0, "{}", after.text);
    assert_eq!(
        after.value(
            REQUESTS,
            &[("method", "GET"), ("route", "other"), ("status", "404")]
        ),
        1.0,
        "{}",
        after.text
    );
    assert!(
        !after.series(REQUESTS, &[("route", "docs")]).is_empty(),
        "{}",
        after.text
    );
    for id in &ids {
        assert!(
            !after.text.contains(id.as_str()),
            "a raw path in a label: {}",
            after.text
        );
    }
    assert!(!after.text.contains("wp-admin"), "{}", after.text);
    for route in after.label_values(REQUESTS, "route") {
        assert!(
            route == "other"
                || route == "docs"
                || route == "/health"
                || route.starts_with("/api/auth/"),
            "unexpected route label {route}"
        );
    }
}

#[tokio::test]
async fn refusals_by_the_rate_limits_and_the_mail_throttle_are_counted() {
    let (_authd, base, metrics) = with_metrics(&[
        ("RATE_LIMIT_AUTH_BURST", "2"),
        ("RATE_LIMIT_AUTH_PER_MINUTE", "1"),
        ("RATE_LIMIT_GENERAL_BURST", "6"),
        ("RATE_LIMIT_GENERAL_PER_SECOND", "1"),
    ]);
    let client = client();
    // The second registration of one address within the cooldown is throttled, not mailed.
    let register = json!({ "name": "Ann Lee", "email": "ann@example.com", "password": PASSWORD });
    assert_eq!(
        post(&base, "/api/auth/register", register.clone())
            .await
            .status(),
        StatusCode::CREATED
    );
    assert_eq!(
        post(&base, "/api/auth/register", register.clone())
            .await
            .status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    // The third credential request is over the credential budget.
    let third = post(&base, "/api/auth/register", register).await;
    assert_eq!(third.status(), StatusCode::TOO_MANY_REQUESTS);
    let after = scrape(&metrics).await;
    assert_eq!(
        after.value("authd_rate_limited_total", &[("limit", "credentials")]),
        1.0,
        "{}",
        after.text
    );
    assert_eq!(
        after.value("authd_rate_limited_total", &[("limit", "general")]),
        0.0
    );
    let sent = after.series("authd_emails_total", &[("outcome", "sent")]);
    let throttled = after.series("authd_emails_total", &[("outcome", "throttled")]);
    assert_eq!((sent.len(), throttled.len()), (1, 1), "{}", after.text);
    assert_eq!((sent[0].value, throttled[0].value), (1.0, 1.0));
    let kind = |s: &Sample| {
        s.labels
            .iter()
            .find(|(k, _)| k == "kind")
            .map(|(_, v)| v.clone())
    };
    assert_eq!(
        kind(throttled[0]),
        kind(sent[0]),
        "one kind label per kind of email: {}",
        after.text
    );

    // The general budget (6, one more a second) runs out within a burst of /health.
    let mut refused = 0;
    for _ in 0..12 {
        if client
            .get(format!("{base}/health"))
            .send()
            .await
            .unwrap()
            .status()
            == StatusCode::TOO_MANY_REQUESTS
        {
            refused += 1;
        }
    }
    assert!(refused > 0, "the general limit never answered 429");
    let after = scrape(&metrics).await;
    assert_eq!(
        after.value("authd_rate_limited_total", &[("limit", "general")]),
        f64::from(refused),
        "{}",
        after.text
    );
    assert_eq!(
        after.value(
            REQUESTS,
            &[("method", "GET"), ("route", "/health"), ("status", "429")]
        ),
        f64::from(refused)
    );
}

#[tokio::test]
async fn metrics_are_never_served_on_the_public_port() {
    let (authd, base, metrics) = with_metrics(&[]);
    let public = client()
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(public.status(), StatusCode::NOT_FOUND);
    assert!(!public.text().await.unwrap().contains("authd_"));
    // The metrics listener serves /metrics and nothing else.
    let elsewhere = client()
        .get(format!("{metrics}/api/auth/me"))
        .send()
        .await
        .unwrap();
    assert_eq!(elsewhere.status(), StatusCode::NOT_FOUND);
    let mut ports = listening_ports(authd.pid());
    ports.sort_unstable();
    let mut expected = vec![port_of(&base), port_of(&metrics)];
    expected.sort_unstable();
    assert_eq!(ports, expected);
}

#[tokio::test]
async fn without_metrics_addr_there_is_no_metrics_listener() {
    let authd = Binary::start(&[("JWT_SECRET", STRONG), ("RUST_LOG", "info")]);
    let base = authd.base_url(Duration::from_secs(30)).expect("listening");
    assert_eq!(
        client()
            .get(format!("{base}/health"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        client()
            .get(format!("{base}/metrics"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
    assert!(!authd.output().contains("metrics on"), "{}", authd.output());
    // The process listens on its public port and nowhere else.
    assert_eq!(listening_ports(authd.pid()), [port_of(&base)]);
}

/// The port of `http://host:port`.
fn port_of(url: &str) -> u16 {
    url.rsplit(':')
        .next()
        .unwrap()
        .trim_end_matches('/')
        .parse()
        .unwrap()
}

/// The TCP ports process `pid` listens on: its socket inodes (from /proc/<pid>/fd) matched
/// with the listening sockets of /proc/<pid>/net/tcp and tcp6 (state 0A).
fn listening_ports(pid: u32) -> Vec<u16> {
    let inodes: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("the process's descriptors")
        .filter_map(|entry| std::fs::read_link(entry.ok()?.path()).ok())
        .filter_map(|target| {
            let target = target.to_string_lossy().into_owned();
            Some(
                target
                    .strip_prefix("socket:[")?
                    .strip_suffix(']')?
                    .to_owned(),
            )
        })
        .collect();
    let mut ports = Vec::new();
    for table in ["tcp", "tcp6"] {
        let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/net/{table}")) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (Some(local), Some(state), Some(inode)) =
                (fields.get(1), fields.get(3), fields.get(9))
            else {
                continue;
            };
            if *state == "0A" && inodes.iter().any(|i| i == inode) {
                let port = local.rsplit(':').next().unwrap();
                ports.push(u16::from_str_radix(port, 16).unwrap());
            }
        }
    }
    ports
}

/// Scrapes until `done` holds (the outbox gauges are refreshed every 5 s), for 20 s at most.
async fn scrape_until(metrics: &str, done: impl Fn(&Scrape) -> bool) -> Scrape {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let scrape = scrape(metrics).await;
        if done(&scrape) || std::time::Instant::now() > deadline {
            return scrape;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn the_outbox_depth_and_age_show_mail_waiting_for_a_dead_mail_server() {
    let port = crate::smtp_server::free_port().to_string();
    let (authd, base, metrics) = with_metrics(&[
        ("EMAIL_TRANSPORT", "smtp"),
        ("SMTP_HOST", "127.0.0.1"),
        ("SMTP_PORT", &port),
        ("SMTP_TLS", "none"),
        ("SMTP_FROM", "Acme <no-reply@acme.test>"),
    ]);
    for email in ["ann@example.com", "bob@example.com"] {
        let body = json!({ "name": "Ann", "email": email, "password": PASSWORD });
        assert_eq!(
            post(&base, "/api/auth/register", body).await.status(),
            StatusCode::CREATED
        );
    }
    let codes = [("kind", "verification_code"), ("outcome", "queued")];
    let waiting = scrape_until(&metrics, |s| {
        s.value("authd_mail_outbox_depth", &[]) == 2.0
            && s.value("authd_mail_outbox_oldest_age_seconds", &[]) >= 1.0
    })
    .await;
    assert_eq!(
        waiting.value("authd_mail_outbox_depth", &[]),
        2.0,
        "{}",
        authd.output()
    );
    assert!(waiting.value("authd_mail_outbox_oldest_age_seconds", &[]) >= 1.0);
    assert_eq!(waiting.value("authd_emails_total", &codes), 2.0);
    let retried = [("kind", "verification_code"), ("outcome", "retried")];
    assert!(
        waiting.value("authd_emails_total", &retried) >= 2.0,
        "{}",
        waiting.text
    );

    let port: u16 = port.parse().unwrap();
    let smtp = crate::smtp_server::SmtpServer::start_on(port).await;
    assert_eq!(smtp.wait_for(2, Duration::from_secs(30)).await.len(), 2);
    let drained = scrape_until(&metrics, |s| s.value("authd_mail_outbox_depth", &[]) == 0.0).await;
    assert_eq!(drained.value("authd_mail_outbox_depth", &[]), 0.0);
    assert_eq!(
        drained.value("authd_mail_outbox_oldest_age_seconds", &[]),
        0.0
    );
    let sent = [("kind", "verification_code"), ("outcome", "sent")];
    assert_eq!(drained.value("authd_emails_total", &sent), 2.0);
}
