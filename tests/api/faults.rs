//! Faults of what the server stands on, each proven against the real server (issue 16): its
//! database killed and started again, its Redis stopped and started again, and the process
//! itself told to stop while a request is in flight. Through an outage, requests that need the
//! missing piece answer a quick JSON 503 with `Retry-After` (never a hang, a 500 or a pass
//! granted unchecked), and once the piece is back the same process serves again by itself.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::header::{CONTENT_TYPE, RETRY_AFTER, SET_COOKIE};
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::binary::{Binary, STRONG};
use crate::helpers::{
    Backend, OwnMariaDb, OwnRedis, PASSWORD, Shared, TestApp, redis_store, retry_after,
};
use crate::smtp_server::free_port;

/// The longest a request may take while something it needs is down. A correctness bound, not
/// a speed target: a request that waits on a dead dependency fails the test instead of hanging.
const ANSWER_BOUND: Duration = Duration::from_secs(5);

/// How long a restarted dependency may take to be used again, with no restart of the app.
const RECOVERY_BOUND: Duration = Duration::from_secs(15);

/// What `request` answers, which must come within [`ANSWER_BOUND`].
async fn quick<T>(what: &str, request: impl Future<Output = T>) -> T {
    let started = Instant::now();
    match tokio::time::timeout(ANSWER_BOUND, request).await {
        Ok(answer) => answer,
        Err(_) => panic!("{what}: no answer after {:?}", started.elapsed()),
    }
}

/// Asserts that `response` is the outage answer: a 503 with `Retry-After`, no cookie, and a
/// JSON body whose `detail` gives away nothing of the fault (no SQL, driver error, address or
/// connection string) and which carries no token.
async fn assert_outage(what: &str, response: Response) {
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE, "{what}");
    assert!(
        response.headers().contains_key(RETRY_AFTER),
        "{what}: no Retry-After"
    );
    assert!(retry_after(&response) >= 1, "{what}");
    assert!(
        !response.headers().contains_key(SET_COOKIE),
        "{what}: a cookie"
    );
    let content_type = response.headers()[CONTENT_TYPE].to_str().unwrap();
    assert!(
        content_type.starts_with("application/json"),
        "{what}: {content_type}"
    );
    let text = response.text().await.unwrap();
    let body: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {text}"));
    assert!(body["detail"].is_string(), "{what}: {text}");
    assert!(body.get("access_token").is_none(), "{what}: {text}");
    let lower = text.to_lowercase();
    for leak in [
        "sql",
        "maria",
        "redis",
        "select",
        "table",
        "://",
        "127.0.0.1",
        "connect",
        "refused",
        "pool",
        "timed out",
        "io error",
        "broken pipe",
    ] {
        assert!(
            !lower.contains(leak),
            "{what}: the body says {leak:?}: {text}"
        );
    }
}

/// Repeats `attempt` until it holds, for at most `within`; whether it did.
async fn eventually<F: Future<Output = bool>>(
    within: Duration,
    mut attempt: impl FnMut() -> F,
) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if attempt().await {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The JSON body of `response`.
async fn json_of(response: Response) -> Value {
    response.json().await.expect("json body")
}

/// POSTs `body` to `path` with the app's client and returns the answer as soon as it comes,
/// which must be within [`ANSWER_BOUND`]. (`TestApp::post` also waits for the mail the request
/// queued, which asks the database: not what is timed here.)
async fn post_now(app: &TestApp, path: &str, body: Value) -> Response {
    let request = app.client.post(app.url(path)).json(&body).send();
    quick(path, request).await.expect("request sent")
}

/// A login of `email` with [`PASSWORD`], answered within [`ANSWER_BOUND`].
async fn login_now(app: &TestApp, email: &str) -> Response {
    let body = json!({ "email": email, "password": PASSWORD });
    post_now(app, "/api/auth/login", body).await
}

#[tokio::test]
async fn a_killed_database_is_a_quick_503_and_the_same_process_serves_again_once_it_restarts() {
    let mut mariadb = match OwnMariaDb::start(free_port()) {
        Ok(mariadb) => mariadb,
        Err(missing) => {
            eprintln!("skipped: {missing} is not installed");
            return;
        }
    };
    let url = mariadb.url("authd");
    let with = Shared {
        database_url: Some(url.clone()),
        ..Shared::default()
    };
    // No session cache: `/me` must ask the database, not answer from a second-old entry.
    let app = Backend::MySql(url)
        .spawn_sharing(|c| c.auth.session_cache_ttl = Duration::ZERO, with)
        .await;
    let token = app.logged_in_user("ann@example.com").await;

    mariadb.kill();

    let register = json!({ "name": "Bob", "email": "bob@example.com", "password": PASSWORD });
    let (login, register, me, health) = tokio::join!(
        login_now(&app, "ann@example.com"),
        post_now(&app, "/api/auth/register", register),
        quick("me", app.me_with_bearer(&token)),
        quick("health", app.get("/health")),
    );
    assert_outage("login", login).await;
    assert_outage("register", register).await;
    assert_outage("me", me).await;
    assert_eq!(health.status(), StatusCode::SERVICE_UNAVAILABLE);
    let health = json_of(health).await;
    assert_eq!(health["database"], "unavailable", "{health}");
    assert_eq!(health["status"], "unavailable", "{health}");
    // Asked again once the pool has dropped every broken connection: as quick, as clean.
    assert_outage("login again", login_now(&app, "ann@example.com").await).await;

    mariadb.restart();

    let login_works = eventually(RECOVERY_BOUND, || async {
        login_now(&app, "ann@example.com").await.status() == StatusCode::OK
    });
    assert!(login_works.await, "login did not recover");
    let me = quick("me", app.me_with_bearer(&token)).await;
    assert_eq!(
        me.status(),
        StatusCode::OK,
        "the session outlived the crash"
    );
    let register = quick("register", app.register("carol@example.com")).await;
    assert_eq!(register.status(), StatusCode::CREATED);
    let health = quick("health", app.get("/health")).await;
    assert_eq!(health.status(), StatusCode::OK);
    assert_eq!(json_of(health).await["database"], "ok");
}

#[tokio::test]
async fn a_stopped_redis_is_a_quick_503_that_lets_nothing_through_and_the_same_process_serves_again_once_it_returns()
 {
    let port = free_port();
    let Some(redis) = OwnRedis::start(port) else {
        eprintln!("skipped: redis-server is not installed");
        return;
    };
    let store = redis_store(&format!("redis://127.0.0.1:{port}/0"), "authd_test_fault:");
    let with = Shared {
        store: Some(Arc::new(store)),
        ..Shared::default()
    };
    let app = Backend::Sqlite.spawn_sharing(|_| {}, with).await;
    let token = app.logged_in_user("ann@example.com").await;
    assert_eq!(
        app.register("bob@example.com").await.status(),
        StatusCode::CREATED
    );
    let bobs_code = app.last_code("bob@example.com");
    let mails_before = app.mailer.sent_to("ann@example.com").len();

    drop(redis);

    // Every request that counts or checks something shared is refused: the right password
    // opens no session, and the right code verifies nothing.
    let login = quick("login", app.login("ann@example.com", PASSWORD)).await;
    assert_outage("login", login).await;
    let verify = quick("verify", app.verify("bob@example.com", &bobs_code)).await;
    assert_outage("verify-email", verify).await;
    let forgot = json!({ "email": "ann@example.com" });
    let forgot = quick("forgot", app.post("/api/auth/forgot-password", forgot)).await;
    assert_outage("forgot-password", forgot).await;
    let resend = json!({ "email": "bob@example.com" });
    let resend = quick(
        "resend",
        app.post("/api/auth/resend-verification-otp", resend),
    )
    .await;
    assert_outage("resend-verification-otp", resend).await;
    let register = quick("register", app.register("carol@example.com")).await;
    assert_outage("register", register).await;
    assert_eq!(
        app.mailer.sent_to("ann@example.com").len(),
        mails_before,
        "a reset code went out unthrottled"
    );
    // Sessions live in the database: they are served all along.
    let me = quick("me", app.me_with_bearer(&token)).await;
    assert_eq!(me.status(), StatusCode::OK);
    let health = quick("health", app.get("/health")).await;
    assert_eq!(health.status(), StatusCode::OK);
    let health = json_of(health).await;
    assert_eq!(health["redis"], "unavailable", "{health}");
    assert_eq!(health["status"], "degraded", "{health}");

    let _redis = OwnRedis::start(port).expect("redis-server starts again");

    let login_works = eventually(RECOVERY_BOUND, || async {
        let login = quick("login", app.login("ann@example.com", PASSWORD)).await;
        login.status() == StatusCode::OK
    });
    assert!(login_works.await, "login did not recover");
    // The refused login opened no session: Ann has hers and the one just opened.
    let sessions = app
        .client
        .get(app.url("/api/auth/sessions"))
        .bearer_auth(&token)
        .send();
    let sessions = json_of(quick("sessions", sessions).await.unwrap()).await;
    assert_eq!(sessions.as_array().map(Vec::len), Some(2), "{sessions}");
    // The refused code check verified nothing, and verifying works again with a new code.
    let unverified = quick("login", app.login("bob@example.com", PASSWORD)).await;
    assert_eq!(unverified.status(), StatusCode::FORBIDDEN);
    app.clock.advance(Duration::from_secs(61));
    let resend = json!({ "email": "bob@example.com" });
    let resend = quick(
        "resend",
        app.post("/api/auth/resend-verification-otp", resend),
    )
    .await;
    assert_eq!(resend.status(), StatusCode::OK);
    let code = app.last_code("bob@example.com");
    let verify = quick("verify", app.verify("bob@example.com", &code)).await;
    assert_eq!(verify.status(), StatusCode::OK);
    let forgot = json!({ "email": "ann@example.com" });
    let forgot = quick("forgot", app.post("/api/auth/forgot-password", forgot)).await;
    assert_eq!(forgot.status(), StatusCode::OK);
    let health = json_of(quick("health", app.get("/health")).await).await;
    assert_eq!(health["redis"], "ok", "{health}");
    assert_eq!(health["status"], "ok", "{health}");
}

/// How long the test lets the binary drain (SHUTDOWN_TIMEOUT_SECONDS), and how much later
/// than that it may still exit.
const DRAIN: Duration = Duration::from_secs(5);
const EXIT_SLACK: Duration = Duration::from_secs(10);

#[tokio::test]
async fn sigterm_lets_the_request_in_flight_finish_refuses_new_connections_and_exits_cleanly() {
    // A real bcrypt cost: the login below is still hashing while the process drains.
    let drain = DRAIN.as_secs().to_string();
    let mut authd = Binary::start(&[
        ("JWT_SECRET", STRONG),
        ("BCRYPT_COST", "12"),
        ("SHUTDOWN_TIMEOUT_SECONDS", drain.as_str()),
    ]);
    let base = authd
        .base_url(Duration::from_secs(30))
        .unwrap_or_else(|| panic!("not listening: {}", authd.output()));
    let addr: SocketAddr = base.trim_start_matches("http://").parse().unwrap();
    let client = crate::helpers::client();
    let post = |path: &str, body: Value| client.post(format!("{base}{path}")).json(&body).send();
    let register = json!({ "name": "Ann", "email": "ann@example.com", "password": PASSWORD });
    let registered = post("/api/auth/register", register).await.unwrap();
    assert_eq!(registered.status(), StatusCode::CREATED);
    let code = authd.mailed_code("ann@example.com", "verification_code");
    let verify = json!({ "email": "ann@example.com", "otp": code });
    let verified = post("/api/auth/verify-email", verify).await.unwrap();
    assert_eq!(verified.status(), StatusCode::OK);

    // A login whose body is still on its way when the signal comes: surely in flight.
    let body = json!({ "email": "ann@example.com", "password": PASSWORD }).to_string();
    let (most, last) = body.split_at(body.len() - 1);
    let mut in_flight = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /api/auth/login HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{most}",
        body.len()
    );
    in_flight.write_all(head.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;

    let signalled = Instant::now();
    let kill = std::process::Command::new("kill")
        .args(["-TERM", &authd.pid().to_string()])
        .status()
        .expect("kill runs");
    assert!(kill.success());

    // New connections are refused (at once: the listener closes when the signal comes) while
    // the request in flight is still unfinished.
    let refused = eventually(Duration::from_secs(3), || async {
        matches!(
            TcpStream::connect(addr).await,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused
        )
    });
    assert!(refused.await, "still accepting connections after SIGTERM");

    in_flight.write_all(last.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(DRAIN + EXIT_SLACK, in_flight.read_to_end(&mut answer));
    read.await
        .expect("the answer comes while draining")
        .expect("the connection is closed cleanly after the answer");
    let answer = String::from_utf8_lossy(&answer);
    let (head, body) = answer.split_once("\r\n\r\n").expect("an HTTP answer");
    assert!(head.starts_with("HTTP/1.1 200 "), "{answer}");
    let body: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {answer}"));
    assert!(body["access_token"].is_string(), "{body}");

    let left = (DRAIN + EXIT_SLACK).saturating_sub(signalled.elapsed());
    let status = authd.exit_within(left).unwrap_or_else(|| {
        panic!(
            "still running {:?} after SIGTERM: {}",
            signalled.elapsed(),
            authd.output()
        )
    });
    assert!(status.success(), "{status}: {}", authd.output());
}
