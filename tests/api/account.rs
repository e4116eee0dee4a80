//! POST /api/auth/change-password, and what every account settings endpoint shares: a session
//! is needed, other origins are refused, and a wrong password is checked first and counts as a
//! failed login.

use std::time::Duration;

use authd::mail::Message;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{
    Backend, PASSWORD, TestApp, all_backends, detail, retry_after, set_cookie, token_of,
};

const NEW_PASSWORD: &str = "velvet orchard tempest";
const WRONG: &str = "definitely not it";

/// The body of a change of password from `current` to `new`.
fn change(current: &str, new: &str) -> Value {
    json!({ "current_password": current, "new_password": new })
}

/// The account settings endpoints that take the password, each with a body carrying `password`
/// where the endpoint wants it.
fn password_endpoints(password: &str) -> [(&'static str, Value); 3] {
    [
        ("/api/auth/change-password", change(password, NEW_PASSWORD)),
        (
            "/api/auth/change-email",
            json!({ "new_email": "ann.lee@example.org", "password": password }),
        ),
        ("/api/auth/delete-account", json!({ "password": password })),
    ]
}

/// Every account settings endpoint: method, path and a body that would be accepted.
fn every_endpoint() -> Vec<(Method, &'static str, Option<Value>)> {
    vec![
        (
            Method::POST,
            "/api/auth/change-password",
            Some(change(PASSWORD, NEW_PASSWORD)),
        ),
        (Method::GET, "/api/auth/sessions", None),
        (
            Method::DELETE,
            "/api/auth/sessions/0123456789abcdef0123456789abcdef",
            None,
        ),
        (Method::POST, "/api/auth/logout-others", None),
        (Method::POST, "/api/auth/logout-all", None),
        (
            Method::POST,
            "/api/auth/change-email",
            Some(json!({ "new_email": "ann.lee@example.org", "password": PASSWORD })),
        ),
        (
            Method::POST,
            "/api/auth/confirm-email-change",
            Some(json!({ "otp": "123456" })),
        ),
        (
            Method::POST,
            "/api/auth/delete-account",
            Some(json!({ "password": PASSWORD })),
        ),
    ]
}

/// POST `body` to `path` as the device holding `token`, from the client `ip` (needs
/// `trust_proxy`).
async fn post_from(
    app: &TestApp,
    ip: &str,
    token: &str,
    path: &str,
    body: Value,
) -> reqwest::Response {
    let request = app
        .as_device(token, Method::POST, path)
        .header("x-forwarded-for", ip);
    request.json(&body).send().await.unwrap()
}

all_backends! {
    async fn changing_the_password_replaces_this_session_and_ends_every_other(backend: Backend) {
        let app = backend.spawn().await;
        let this = app.logged_in_user("ann@example.com").await;
        let stolen = app.another_device("ann@example.com").await;
        app.cache(&this).await;
        app.cache(&stolen).await;

        // Through the browser's cookie, as the settings page would.
        let response = app.post("/api/auth/change-password", change(PASSWORD, NEW_PASSWORD)).await;
        assert_eq!(response.status(), StatusCode::OK);
        let cookie = set_cookie(&response);
        let body: Value = response.json().await.unwrap();
        assert!(body["message"].is_string(), "{body}");
        assert_eq!(body["user"]["email"], "ann@example.com");
        assert!(body["user"].get("password_hash").is_none());
        assert_eq!(body["token_type"], "bearer");
        assert_eq!(body["expires_in"], 86400);
        let new = body["access_token"].as_str().unwrap();
        assert!(cookie.starts_with(&format!("access_token={new};")), "{cookie}");
        assert!(cookie.contains("HttpOnly") && cookie.contains("Max-Age=86400"), "{cookie}");

        // The old token of this session and the other device's are dead, however cached.
        assert_eq!(app.me_with_bearer(&this).await.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(app.me_with_bearer(&stolen).await.status(), StatusCode::UNAUTHORIZED);
        // The new one works, through the header and through the cookie the browser now holds.
        assert_eq!(app.me_with_bearer(new).await.status(), StatusCode::OK);
        assert_eq!(app.get("/api/auth/me").await.status(), StatusCode::OK);
        assert_eq!(app.sessions(new).await.len(), 1);

        assert_eq!(app.login("ann@example.com", PASSWORD).await.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(app.login("ann@example.com", NEW_PASSWORD).await.status(), StatusCode::OK);
        let notices = app.mail_count("ann@example.com", |m| matches!(m, Message::PasswordChanged));
        assert_eq!(notices, 1);
    }

    async fn a_wrong_current_password_is_400_and_changes_nothing(backend: Backend) {
        let app = backend.spawn().await;
        let token = app.logged_in_user("ann@example.com").await;
        let other = app.another_device("ann@example.com").await;
        let response = app.post_as_device(&token, "/api/auth/change-password", change(WRONG, NEW_PASSWORD)).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert!(set_cookie(&response).is_empty());
        assert_eq!(detail(response).await, "The password is incorrect.");
        for session in [&token, &other] {
            assert_eq!(app.me_with_bearer(session).await.status(), StatusCode::OK);
        }
        assert_eq!(app.login("ann@example.com", NEW_PASSWORD).await.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(app.login("ann@example.com", PASSWORD).await.status(), StatusCode::OK);
        assert_eq!(app.mail_count("ann@example.com", |m| matches!(m, Message::PasswordChanged)), 0);
    }

    async fn the_current_password_is_checked_before_the_new_one(backend: Backend) {
        let app = backend.spawn().await;
        let token = app.logged_in_user("ann@example.com").await;
        let path = "/api/auth/change-password";
        // A weak new password with a wrong current one: the wrong password is what is told.
        let weak_and_wrong = app.post_as_device(&token, path, change(WRONG, "short")).await;
        assert_eq!(weak_and_wrong.status(), StatusCode::BAD_REQUEST);
        assert_eq!(detail(weak_and_wrong).await, "The password is incorrect.");
        // With the right current password, the new one must pass the rules of registration...
        let too_long = "x".repeat(73);
        for (new, kind) in [("short", None), ("password123", None), (too_long.as_str(), None), (PASSWORD, Some("password_unchanged"))] {
            let response = app.post_as_device(&token, path, change(PASSWORD, new)).await;
            assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "{new}");
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["detail"][0]["loc"], json!(["body", "new_password"]), "{new}: {body}");
            if let Some(kind) = kind {
                assert_eq!(body["detail"][0]["type"], kind, "{body}");
            }
        }
        // ...and nothing changed.
        assert_eq!(app.me_with_bearer(&token).await.status(), StatusCode::OK);
        assert_eq!(app.login("ann@example.com", PASSWORD).await.status(), StatusCode::OK);
        assert!(app.mailer.sent_to("ann@example.com").iter().all(|m| !matches!(m.message, Message::PasswordChanged)));
    }

    async fn wrong_current_passwords_count_as_failed_logins(backend: Backend) {
        let app = backend.spawn_with(|c| c.http.trust_proxy = true).await;
        app.verified_user("ann@example.com").await;
        let token = app.another_device("ann@example.com").await;
        // Two failed logins and three wrong current passwords: the five of the lockout.
        for _ in 0..2 {
            let response = app.login_as("10.0.0.1", "ann@example.com", WRONG).await;
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        }
        for _ in 0..3 {
            let response = post_from(&app, "10.0.0.1", &token, "/api/auth/change-password", change(WRONG, NEW_PASSWORD)).await;
            assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        }
        // Locked: even the right password, here and at /login.
        let locked = post_from(&app, "10.0.0.1", &token, "/api/auth/change-password", change(PASSWORD, NEW_PASSWORD)).await;
        assert_eq!(locked.status(), StatusCode::TOO_MANY_REQUESTS);
        let wait = retry_after(&locked);
        assert!((800..=900).contains(&wait), "Retry-After {wait}");
        assert_eq!(app.login_as("10.0.0.1", "ann@example.com", PASSWORD).await.status(), StatusCode::TOO_MANY_REQUESTS);
        // The password did not change, and the session was not ended by the lockout.
        assert_eq!(app.me_with_bearer(&token).await.status(), StatusCode::OK);
        assert_eq!(app.login_as("10.0.0.2", "ann@example.com", PASSWORD).await.status(), StatusCode::OK);
        // When the lockout ends, the right password works again from the first address.
        app.clock.advance(Duration::from_secs(wait));
        let later = post_from(&app, "10.0.0.1", &token, "/api/auth/change-password", change(PASSWORD, NEW_PASSWORD)).await;
        assert_eq!(later.status(), StatusCode::OK);
    }

    async fn a_wrong_password_on_each_endpoint_counts_towards_the_lockout(backend: Backend) {
        let app = backend.spawn_with(|c| c.http.trust_proxy = true).await;
        for n in 0..3 {
            let (email, ip, owner_ip) = (format!("user{n}@example.com"), format!("10.0.{n}.1"), format!("10.0.9.{n}"));
            app.verified_user(&email).await;
            let token = app.another_device(&email).await;
            // Five wrong passwords on one endpoint...
            let (wrong_path, wrong_body) = password_endpoints(WRONG).into_iter().nth(n).unwrap();
            for _ in 0..5 {
                let response = post_from(&app, &ip, &token, wrong_path, wrong_body.clone()).await;
                assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{wrong_path}");
                assert_eq!(detail(response).await, "The password is incorrect.");
            }
            // ...lock every endpoint that checks it, and /login, even with the right one.
            for (path, body) in password_endpoints(PASSWORD) {
                let response = post_from(&app, &ip, &token, path, body).await;
                assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS, "{path} after {wrong_path}");
                assert!(retry_after(&response) > 0);
            }
            let login = app.login_as(&ip, &email, PASSWORD).await;
            assert_eq!(login.status(), StatusCode::TOO_MANY_REQUESTS, "login after {wrong_path}");
            // Nothing happened to the account.
            assert_eq!(app.me_with_bearer(&token).await.status(), StatusCode::OK);
            assert_eq!(app.login_as(&owner_ip, &email, PASSWORD).await.status(), StatusCode::OK);
        }
    }

    async fn a_thief_guessing_from_many_addresses_is_stopped_by_the_account_lockout(backend: Backend) {
        let app = backend.spawn_with(|c| c.http.trust_proxy = true).await;
        app.verified_user("ann@example.com").await;
        let stolen = app.another_device("ann@example.com").await;
        // Five guesses from each of four addresses, spread over every endpoint that takes the
        // password: each address stays under its own limits.
        let mut guesses = 0;
        for ip in 1..=4 {
            for i in 0..5 {
                let guess = format!("guess number {ip}-{i}");
                let (path, body) = password_endpoints(&guess).into_iter().nth((ip + i) % 3).unwrap();
                let response = post_from(&app, &format!("6.6.{ip}.1"), &stolen, path, body).await;
                assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{path} from 6.6.{ip}.1");
                guesses += 1;
            }
        }
        assert_eq!(guesses, 20);
        // The account as a whole is locked: from a fresh address, even the right password is
        // refused (the account is not deleted), for the account lockout's five minutes.
        for (path, body) in password_endpoints(PASSWORD) {
            let response = post_from(&app, "6.6.9.1", &stolen, path, body).await;
            assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS, "{path}");
            let wait = retry_after(&response);
            assert!((1..=300).contains(&wait), "Retry-After {wait}");
        }
        assert_eq!(app.me_with_bearer(&stolen).await.status(), StatusCode::OK);
        assert_eq!(app.mail_count("ann@example.com", |m| matches!(m, Message::AccountDeleted | Message::PasswordChanged)), 0);
        assert_eq!(app.mail_count("ann.lee@example.org", |_| true), 0);
    }

    async fn a_pending_reset_code_stops_working_after_a_password_change(backend: Backend) {
        let app = backend.spawn().await;
        let token = app.logged_in_user("ann@example.com").await;
        // Someone (the owner, or whoever can read the mailbox) asked for a reset code earlier.
        app.post("/api/auth/forgot-password", json!({ "email": "ann@example.com" })).await;
        let code = app.last_code("ann@example.com");
        let changed = app.post_as_device(&token, "/api/auth/change-password", change(PASSWORD, NEW_PASSWORD)).await;
        assert_eq!(changed.status(), StatusCode::OK);
        let reset = json!({ "email": "ann@example.com", "otp": code, "new_password": "a third pass phrase" });
        assert_eq!(app.post("/api/auth/reset-password", reset).await.status(), StatusCode::BAD_REQUEST);
        assert_eq!(app.login("ann@example.com", NEW_PASSWORD).await.status(), StatusCode::OK);
    }

    async fn the_new_session_lives_the_absolute_lifetime_and_can_change_again(backend: Backend) {
        let app = backend.spawn_with(|c| c.auth.session_lifetime = Duration::from_secs(7200)).await;
        let token = app.logged_in_user("ann@example.com").await;
        app.clock.advance(Duration::from_secs(600));
        let response = app.post_as_device(&token, "/api/auth/change-password", change(PASSWORD, NEW_PASSWORD)).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert!(set_cookie(&response).contains("Max-Age=7200"));
        let new = token_of(response).await;
        // Back again, from the new session.
        let again = app.post_as_device(&new, "/api/auth/change-password", change(NEW_PASSWORD, PASSWORD)).await;
        assert_eq!(again.status(), StatusCode::OK);
        let body: Value = again.json().await.unwrap();
        assert_eq!(body["expires_in"], 7200);
        assert_eq!(app.me_with_bearer(&new).await.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(app.login("ann@example.com", PASSWORD).await.status(), StatusCode::OK);
    }

    async fn concurrent_changes_on_one_session_leave_one_password_and_one_session(backend: Backend) {
        let app = backend
            .spawn_with(|c| {
                c.auth.login_limits.per_account_ip.max = 1_000;
                c.auth.login_limits.per_ip.max = 1_000;
                c.auth.login_limits.per_account.max = 1_000;
            })
            .await;
        let token = app.logged_in_user("ann@example.com").await;
        let candidates: Vec<String> = (0..5).map(|n| format!("{NEW_PASSWORD} number {n}")).collect();
        let requests = candidates.iter().map(|new| {
            app.post_as_device(&token, "/api/auth/change-password", change(PASSWORD, new))
        });
        let responses = futures_util::future::join_all(requests).await;
        let mut new_sessions = Vec::new();
        for (response, new) in responses.into_iter().zip(&candidates) {
            let status = response.status();
            assert!(
                [StatusCode::OK, StatusCode::BAD_REQUEST, StatusCode::UNAUTHORIZED, StatusCode::TOO_MANY_REQUESTS].contains(&status),
                "{status}: {}", response.text().await.unwrap()
            );
            if status == StatusCode::OK {
                new_sessions.push((token_of(response).await, new.clone()));
            }
        }
        assert!(!new_sessions.is_empty(), "no change went through");
        // The last change to land is the password, and its session the only one left.
        let mut live = Vec::new();
        for (session, new) in &new_sessions {
            if app.me_with_bearer(session).await.status() == StatusCode::OK {
                live.push(new.clone());
            }
        }
        assert_eq!(live.len(), 1, "sessions left: {live:?}");
        let mut logs_in = Vec::new();
        for new in &candidates {
            if app.login("ann@example.com", new).await.status() == StatusCode::OK {
                logs_in.push(new.clone());
            }
        }
        assert_eq!(logs_in, live);
        assert_eq!(app.me_with_bearer(&token).await.status(), StatusCode::UNAUTHORIZED);
    }

    async fn the_password_endpoints_have_the_tight_rate_limit_of_credentials(backend: Backend) {
        let app = backend
            .spawn_with(|c| {
                c.http.trust_proxy = true;
                c.http.credential_rate.burst = 3;
                c.http.credential_rate.period = Duration::from_secs(60);
            })
            .await;
        // Register, verify and log in: the three requests of this client's budget.
        let token = app.logged_in_user("ann@example.com").await;
        for (path, body) in password_endpoints(WRONG) {
            let response = post_from(&app, "10.0.0.1", &token, path, body).await;
            assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{path}");
        }
        let refused = post_from(&app, "10.0.0.1", &token, "/api/auth/confirm-email-change", json!({ "otp": "123456" })).await;
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(retry_after(&refused) >= 1);
        // The session list is not a credential endpoint: it has the general budget.
        let list = app.as_device(&token, Method::GET, "/api/auth/sessions").header("x-forwarded-for", "10.0.0.1").send().await.unwrap();
        assert_eq!(list.status(), StatusCode::OK);
    }

    async fn every_account_endpoint_needs_a_session(backend: Backend) {
        let app = backend.spawn().await;
        let ended = app.logged_in_user("ann@example.com").await;
        let logout = app.post_empty_as_device(&ended, "/api/auth/logout").await;
        assert_eq!(logout.status(), StatusCode::OK);
        for (method, path, body) in every_endpoint() {
            for token in [None, Some(ended.as_str()), Some("not.a.token")] {
                let mut request = reqwest::Client::new().request(method.clone(), app.url(path));
                if let Some(token) = token {
                    request = request.bearer_auth(token);
                }
                if let Some(body) = &body {
                    request = request.json(body);
                }
                let response = request.send().await.unwrap();
                assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{method} {path} with {token:?}");
                assert!(!detail(response).await.is_empty());
            }
        }
        assert_eq!(app.mail_count("ann@example.com", |m| matches!(m, Message::PasswordChanged | Message::AccountDeleted | Message::EmailChangeRequested { .. })), 0);
    }

    async fn every_account_endpoint_refuses_a_cookie_sent_from_another_origin(backend: Backend) {
        let app = backend.spawn().await;
        app.logged_in_user("ann@example.com").await;
        for (method, path, body) in every_endpoint() {
            if method == Method::GET {
                continue;
            }
            let mut request = app.client.request(method.clone(), app.url(path)).header("origin", "https://evil.example");
            if let Some(body) = &body {
                request = request.json(body);
            }
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), StatusCode::FORBIDDEN, "{method} {path}");
        }
        // Nothing happened: the cookie session is alive and the password unchanged.
        assert_eq!(app.get("/api/auth/me").await.status(), StatusCode::OK);
        assert_eq!(app.login("ann@example.com", PASSWORD).await.status(), StatusCode::OK);
    }
}
