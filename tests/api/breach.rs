//! The breached-password check, against a range server of the suite's own on loopback
//! (helpers/range_server.rs): a password the corpus lists is refused (422) at registration,
//! reset and change of password; one listed only as padding, or absent, passes; only five hex
//! characters of its SHA-1 leave the server, with padding asked; an API that is slow or down
//! lets passwords through (fail-open) within the timeout, unless set to fail closed (503).

use std::time::{Duration, Instant};

use reqwest::{Response, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{
    Backend, PASSWORD, RangeServer, TestApp, all_backends, closed_url, sha1_hex, token_of,
};

/// In the corpus (the range server lists it with a count).
const BREACHED: &str = "tangerine lighthouse sonata";
/// Strong, and listed by no one.
const UNLISTED: &str = "quartz meadow bicycle anthem";
const NEW_PASSWORD: &str = "velvet orchard tempest";

/// The wait the tests give the API.
const TIMEOUT: Duration = Duration::from_millis(300);

/// The check on, asking `url`, failing closed or open.
fn check_at(url: &str, fail_closed: bool) -> impl FnOnce(&mut authd::Config) {
    let url = url.to_owned();
    move |c| {
        c.auth.breach.enabled = true;
        c.auth.breach.api_url = url;
        c.auth.breach.timeout = TIMEOUT;
        c.auth.breach.fail_closed = fail_closed;
    }
}

/// A range server that lists [`BREACHED`], and [`PASSWORD`] as padding (count 0).
async fn corpus() -> RangeServer {
    RangeServer::start(&[BREACHED], &[PASSWORD]).await
}

async fn register(app: &TestApp, email: &str, password: &str) -> Response {
    let body = json!({ "name": "Test User", "email": email, "password": password });
    app.post("/api/auth/register", body).await
}

/// Checks a 422 refusing a breached password under the body field `field`.
async fn assert_breached(response: Response, field: &str) -> Value {
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = response.json().await.unwrap();
    let error = &body["detail"][0];
    assert_eq!(error["loc"], json!(["body", field]), "{body}");
    assert_eq!(error["type"], "password_breached", "{body}");
    assert!(error["msg"].as_str().unwrap().contains("breach"), "{body}");
    body
}

/// Asks for a reset code for `email` and resets its password to `new_password` with it.
async fn reset(app: &TestApp, email: &str, new_password: &str) -> Response {
    app.post("/api/auth/forgot-password", json!({ "email": email }))
        .await;
    let otp = app.last_code(email);
    let body = json!({ "email": email, "otp": otp, "new_password": new_password });
    app.post("/api/auth/reset-password", body).await
}

all_backends! {
    async fn a_breached_password_is_refused_at_registration(backend: Backend) {
        let corpus = corpus().await;
        let app = backend.spawn_with(check_at(&corpus.url, false)).await;
        assert_breached(register(&app, "ann@example.com", BREACHED).await, "password").await;
        // Nothing was created or sent.
        assert!(app.mailer.sent_to("ann@example.com").is_empty());
        // Another password goes through, and the account works.
        assert_eq!(register(&app, "ann@example.com", UNLISTED).await.status(), StatusCode::CREATED);
        let code = app.last_code("ann@example.com");
        assert_eq!(app.verify("ann@example.com", &code).await.status(), StatusCode::OK);
        assert_eq!(app.login("ann@example.com", UNLISTED).await.status(), StatusCode::OK);
        assert_eq!(corpus.requests().len(), 2);
    }

    async fn a_breached_new_password_is_refused_at_reset_and_change(backend: Backend) {
        let corpus = corpus().await;
        let app = backend.spawn_with(check_at(&corpus.url, false)).await;
        app.verified_user("ann@example.com").await;
        let refused = assert_breached(reset(&app, "ann@example.com", BREACHED).await, "new_password").await;
        // The same answer for an address with no account: the check tells nothing of accounts.
        let body = json!({ "email": "nobody@example.com", "otp": "123456", "new_password": BREACHED });
        let unknown = app.post("/api/auth/reset-password", body).await;
        assert_eq!(assert_breached(unknown, "new_password").await, refused);
        // The reset code was not spent: it sets a password that is not breached.
        let otp = app.last_code("ann@example.com");
        let body = json!({ "email": "ann@example.com", "otp": otp, "new_password": UNLISTED });
        assert_eq!(app.post("/api/auth/reset-password", body).await.status(), StatusCode::OK);

        let token = token_of(app.login("ann@example.com", UNLISTED).await).await;
        let change = json!({ "current_password": UNLISTED, "new_password": BREACHED });
        let refused = app.post_as_device(&token, "/api/auth/change-password", change).await;
        assert_breached(refused, "new_password").await;
        assert_eq!(app.me_with_bearer(&token).await.status(), StatusCode::OK);
        assert_eq!(app.login("ann@example.com", BREACHED).await.status(), StatusCode::UNAUTHORIZED);
        let change = json!({ "current_password": UNLISTED, "new_password": NEW_PASSWORD });
        assert_eq!(app.post_as_device(&token, "/api/auth/change-password", change).await.status(), StatusCode::OK);
        assert_eq!(app.login("ann@example.com", NEW_PASSWORD).await.status(), StatusCode::OK);
    }

    async fn a_password_listed_only_as_padding_or_not_at_all_is_accepted(backend: Backend) {
        let corpus = corpus().await;
        let app = backend.spawn_with(check_at(&corpus.url, false)).await;
        // PASSWORD is in the answer, with the count 0 of padding.
        assert_eq!(register(&app, "ann@example.com", PASSWORD).await.status(), StatusCode::CREATED);
        assert_eq!(register(&app, "bob@example.com", UNLISTED).await.status(), StatusCode::CREATED);
        assert_eq!(corpus.requests().len(), 2);
        // An answer that lists nothing at all (just padding lines) is "not found" too.
        let empty = RangeServer::start(&[], &[]).await;
        let app = backend.spawn_with(check_at(&empty.url, true)).await;
        assert_eq!(register(&app, "carl@example.com", BREACHED).await.status(), StatusCode::CREATED);
        assert_eq!(empty.requests().len(), 1);
    }

    async fn only_five_hex_characters_leave_the_server_and_padding_is_asked(backend: Backend) {
        let corpus = corpus().await;
        let app = backend.spawn_with(check_at(&corpus.url, false)).await;
        let passwords = [BREACHED, PASSWORD, UNLISTED];
        for (n, password) in passwords.iter().enumerate() {
            register(&app, &format!("user{n}@example.com"), password).await;
        }
        let requests = corpus.requests();
        assert_eq!(requests.len(), passwords.len());
        for (request, password) in requests.iter().zip(passwords) {
            let hash = sha1_hex(password);
            assert_eq!(request.path, format!("/range/{}", &hash[..5]), "{password}");
            assert_eq!(request.query, None);
            assert_eq!(request.header("add-padding"), Some("true"), "{request:?}");
            // Nothing else of the hash, or of the password, anywhere in the request.
            let everything = format!("{request:?}").to_uppercase();
            assert!(!everything.contains(&hash[5..12]), "{request:?}");
            assert!(!everything.contains(&password.to_uppercase()), "{request:?}");
        }
    }

    async fn a_slow_api_is_given_up_on_after_the_timeout(backend: Backend) {
        let corpus = corpus().await;
        // Far longer than any test waits: a request that waited for it would fail the bound.
        corpus.answer_after(Duration::from_secs(60));
        let app = backend.spawn_with(check_at(&corpus.url, false)).await;
        let started = Instant::now();
        let response = register(&app, "ann@example.com", BREACHED).await;
        let waited = started.elapsed();
        // Fail-open: the answer the API would have given never came, so the password passes.
        assert_eq!(response.status(), StatusCode::CREATED);
        assert!(waited >= TIMEOUT, "{waited:?}: the API was not asked");
        assert!(waited < TIMEOUT + Duration::from_secs(5), "waited {waited:?}");
        assert_eq!(corpus.requests().len(), 1);
        // The same for a change of password.
        app.verified_user("bob@example.com").await;
        let token = token_of(app.login("bob@example.com", PASSWORD).await).await;
        let started = Instant::now();
        let change = json!({ "current_password": PASSWORD, "new_password": BREACHED });
        let response = app.post_as_device(&token, "/api/auth/change-password", change).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert!(started.elapsed() < TIMEOUT + Duration::from_secs(5), "waited {:?}", started.elapsed());
    }

    async fn an_api_that_is_down_or_failing_lets_passwords_through(backend: Backend) {
        let app = backend.spawn_with(check_at(&closed_url().await, false)).await;
        assert_eq!(register(&app, "ann@example.com", BREACHED).await.status(), StatusCode::CREATED);
        assert_eq!(app.verify("ann@example.com", &app.last_code("ann@example.com")).await.status(), StatusCode::OK);
        assert_eq!(app.login("ann@example.com", BREACHED).await.status(), StatusCode::OK);

        let failing = corpus().await;
        failing.fail_with(StatusCode::SERVICE_UNAVAILABLE);
        let app = backend.spawn_with(check_at(&failing.url, false)).await;
        assert_eq!(register(&app, "bob@example.com", BREACHED).await.status(), StatusCode::CREATED);
        assert_eq!(failing.requests().len(), 1);
    }

    async fn failing_closed_refuses_with_503_when_the_api_cannot_answer(backend: Backend) {
        let app = backend.spawn_with(check_at(&closed_url().await, true)).await;
        let refused = register(&app, "ann@example.com", UNLISTED).await;
        assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(refused.headers().contains_key(reqwest::header::RETRY_AFTER));
        let body: Value = refused.json().await.unwrap();
        assert!(!body["detail"].as_str().unwrap().is_empty(), "{body}");
        assert!(app.mailer.sent_to("ann@example.com").is_empty());

        let slow = corpus().await;
        slow.answer_after(Duration::from_secs(60));
        let app = backend.spawn_with(check_at(&slow.url, true)).await;
        let started = Instant::now();
        assert_eq!(register(&app, "ann@example.com", UNLISTED).await.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(started.elapsed() < TIMEOUT + Duration::from_secs(5), "waited {:?}", started.elapsed());

        // With the API answering, failing closed changes nothing.
        let corpus = corpus().await;
        let app = backend.spawn_with(check_at(&corpus.url, true)).await;
        assert_eq!(register(&app, "ann@example.com", UNLISTED).await.status(), StatusCode::CREATED);
        assert_breached(register(&app, "bob@example.com", BREACHED).await, "password").await;
    }

    async fn register_answers_alike_for_taken_and_new_addresses_with_the_check_on(backend: Backend) {
        let corpus = corpus().await;
        let app = backend.spawn_with(check_at(&corpus.url, false)).await;
        app.verified_user("ann@example.com").await;
        // Past the email cooldown of the registration above.
        app.clock.advance(Duration::from_secs(61));
        for password in [PASSWORD, BREACHED] {
            let mut answers = Vec::new();
            for email in ["ann@example.com", "new@example.com"] {
                let response = register(&app, email, password).await;
                let status = response.status();
                let mut body: Value = response.json().await.unwrap();
                body["email"] = Value::Null; // echoes the request, so naturally differs
                answers.push((status, body));
            }
            assert_eq!(answers[0], answers[1], "{password}");
            let expected = if password == BREACHED { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::CREATED };
            assert_eq!(answers[0].0, expected, "{password}");
            app.clock.advance(Duration::from_secs(3601));
        }
        // The taken address was not taken over.
        assert_eq!(app.login("ann@example.com", PASSWORD).await.status(), StatusCode::OK);
    }

    async fn with_the_check_off_nothing_is_asked(backend: Backend) {
        let corpus = corpus().await;
        let app = backend
            .spawn_with(|c| {
                check_at(&corpus.url, true)(c);
                c.auth.breach.enabled = false;
            })
            .await;
        assert_eq!(register(&app, "ann@example.com", BREACHED).await.status(), StatusCode::CREATED);
        assert!(corpus.requests().is_empty());
    }
}
