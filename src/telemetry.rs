//! Prometheus metrics: every name and label the server records, through the `metrics` facade
//! and `metrics-exporter-prometheus`. Until [`install`] sets the recorder (only when
//! `METRICS_ADDR` is set) every function here is a no-op of a few nanoseconds.
//!
//! Labels are bounded: `route` is the route pattern (or `other`), never the raw path; the
//! other labels take a fixed set of values.

use std::sync::OnceLock;
use std::time::Duration;

use metrics::{counter, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

const REQUEST_DURATION: &str = "authd_http_request_duration_seconds";
/// Buckets of the request duration, in seconds: from a cached `/me` to a bcrypt login.
const DURATION_BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// Sets the process's recorder (once; later calls return the same handle). The handle renders
/// the text format for `GET /metrics`.
pub fn install() -> Option<&'static PrometheusHandle> {
    if HANDLE.get().is_none() {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(REQUEST_DURATION.into()), &DURATION_BUCKETS)
            .ok()?
            .build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_ok() {
            let _ = HANDLE.set(handle);
            gauge!("authd_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
            // Counters without labels exist from the start, at zero, so a rate over them
            // works before the first event.
            counter!("authd_password_hash_rejected_total").increment(0);
            counter!("authd_sessions_created_total").increment(0);
            gauge!("authd_password_hash_in_flight").set(0.0);
        }
    }
    HANDLE.get()
}

/// Whether metrics are being recorded.
pub fn enabled() -> bool {
    HANDLE.get().is_some()
}

/// The current metrics in the Prometheus text format (empty before [`install`]).
pub fn render() -> String {
    HANDLE
        .get()
        .map(PrometheusHandle::render)
        .unwrap_or_default()
}

/// One answered request.
pub fn http_request(method: &'static str, route: &'static str, status: u16, took: Duration) {
    counter!(
        "authd_http_requests_total",
        "method" => method,
        "route" => route,
        "status" => status.to_string(),
    )
    .increment(1);
    histogram!(REQUEST_DURATION, "method" => method, "route" => route).record(took.as_secs_f64());
}

/// How a login ended.
#[derive(Clone, Copy, Debug)]
pub enum LoginOutcome {
    Success,
    WrongPassword,
    UnknownUser,
    Unverified,
    Locked,
    MfaRequired,
}

impl LoginOutcome {
    fn label(self) -> &'static str {
        match self {
            LoginOutcome::Success => "success",
            LoginOutcome::WrongPassword => "wrong_password",
            LoginOutcome::UnknownUser => "unknown_user",
            LoginOutcome::Unverified => "unverified",
            LoginOutcome::Locked => "locked",
            LoginOutcome::MfaRequired => "mfa_required",
        }
    }
}

pub fn login(outcome: LoginOutcome) {
    counter!("authd_logins_total", "outcome" => outcome.label()).increment(1);
}

/// An email of `kind`: written to the outbox (`queued`), delivered (`sent`), put off after a
/// failed try (`retried`), refused or given up (`failed`), not sent because its code died or
/// it expired (`dropped`), or not queued because the mail throttle stopped the request
/// (`throttled`).
pub fn email(kind: &'static str, outcome: &'static str) {
    counter!("authd_emails_total", "kind" => message_kind(kind), "outcome" => outcome).increment(1);
}

/// The `kind` label of an email: the message's kind (`verification_code`…). The mail throttle
/// counts by its own keys (`verification`, `reset`…); they are named here as the message each
/// guards, so that `sent`, `failed` and `throttled` of one kind share its label.
fn message_kind(kind: &'static str) -> &'static str {
    match kind {
        "verification" => "verification_code",
        "reset" => "password_reset_code",
        "email-change" => "email_change_code",
        "email-change-notice" => "email_change_requested",
        other => other,
    }
}

/// The outbox: how many emails wait to be delivered, and how long the oldest has waited.
pub fn outbox_backlog(depth: i64, oldest_age_seconds: f64) {
    gauge!("authd_mail_outbox_depth").set(depth as f64);
    gauge!("authd_mail_outbox_oldest_age_seconds").set(oldest_age_seconds);
}

/// bcrypt work running or waiting now.
pub fn hash_in_flight(count: usize) {
    gauge!("authd_password_hash_in_flight").set(count as f64);
}

/// A credential request turned away because too much bcrypt work was queued (503).
pub fn hash_rejected() {
    counter!("authd_password_hash_rejected_total").increment(1);
}

/// A request refused by a per-IP rate limit: `general` or `credentials`.
pub fn rate_limited(limit: &'static str) {
    counter!("authd_rate_limited_total", "limit" => limit).increment(1);
}

pub fn session_created() {
    counter!("authd_sessions_created_total").increment(1);
}
