//! The security activity log: GET /api/auth/activity lists the caller's own events of a whole
//! flow, newest first, a page at a time; events past the retention are gone; a sign-in from a
//! browser and network not seen lately mails a notice.

use std::time::Duration;

use authd::clock::Clock;
use authd::db::Db;
use authd::mail::Message;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Backend, PASSWORD, TestApp, all_backends, token_of};

const NEW_PASSWORD: &str = "velvet orchard tempest";

/// GET /api/auth/activity`query` as the device holding `token`.
async fn activity(app: &TestApp, token: &str, query: &str) -> (StatusCode, Value) {
    let path = format!("/api/auth/activity{query}");
    let response = app
        .as_device(token, Method::GET, &path)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap())
}

/// The event names of a page, newest first.
fn events(page: &Value) -> Vec<String> {
    page["events"]
        .as_array()
        .unwrap_or_else(|| panic!("no events: {page}"))
        .iter()
        .map(|e| e["event"].as_str().unwrap().to_owned())
        .collect()
}

/// Rows in the events table, past the API.
async fn stored_events(app: &TestApp) -> i64 {
    let sql = "SELECT COUNT(*) FROM security_events";
    let (n,): (i64,) = match &app.db {
        Db::Sqlite(pool) => sqlx::query_as(sql).fetch_one(pool).await,
        Db::MySql(pool) => sqlx::query_as(sql).fetch_one(pool).await,
        Db::Postgres(pool) => sqlx::query_as(sql).fetch_one(pool).await,
    }
    .unwrap();
    n
}

/// Waits until the events table holds `n` rows (some are written off the response path).
async fn until_stored(app: &TestApp, n: i64) {
    for _ in 0..200 {
        if stored_events(app).await >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!(
        "expected {n} stored events, found {}",
        stored_events(app).await
    );
}

/// Registers, verifies and logs in `email` (the events table holding `stored` rows before):
/// waits for each event written off the response path, so they are stored in order.
async fn signed_up(app: &TestApp, email: &str, stored: i64) -> String {
    assert_eq!(app.register(email).await.status(), StatusCode::CREATED);
    until_stored(app, stored).await;
    let code = app.last_code(email);
    assert_eq!(app.verify(email, &code).await.status(), StatusCode::OK);
    token_of(app.login(email, PASSWORD).await).await
}

/// A login of `email` from the client `ip` with the browser `agent` (needs `trust_proxy`).
async fn login_from(app: &TestApp, ip: &str, agent: &str, password: &str) -> reqwest::Response {
    let request = reqwest::Client::new()
        .post(app.url("/api/auth/login"))
        .header("x-forwarded-for", ip)
        .header("user-agent", agent)
        .json(&json!({ "email": "ann@example.com", "password": password }));
    app.send_settled(request).await
}

fn new_sign_ins(app: &TestApp) -> Vec<(String, String)> {
    app.mailer
        .sent_to("ann@example.com")
        .into_iter()
        .filter_map(|m| match m.message {
            Message::NewSignIn { ip, user_agent } => Some((ip, user_agent)),
            _ => None,
        })
        .collect()
}

all_backends! {
    async fn a_whole_flow_is_listed_newest_first_and_only_to_its_user(backend: Backend) {
        let app = backend.spawn_with(|c| c.http.trust_proxy = true).await;
        app.register("ann@example.com").await;
        until_stored(&app, 1).await;
        let code = app.last_code("ann@example.com");
        assert_eq!(app.verify("ann@example.com", &code).await.status(), StatusCode::OK);
        let wrong = login_from(&app, "203.0.113.7", "Firefox/140", "not my password").await;
        assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
        until_stored(&app, 3).await;
        let first = token_of(login_from(&app, "203.0.113.7", "Firefox/140", PASSWORD).await).await;
        let changed = app
            .as_device(&first, Method::POST, "/api/auth/change-password")
            .json(&json!({ "current_password": PASSWORD, "new_password": NEW_PASSWORD }))
            .send()
            .await
            .unwrap();
        assert_eq!(changed.status(), StatusCode::OK);
        let token = token_of(changed).await;
        let bob = signed_up(&app, "bob@example.com", 6).await;

        let (status, page) = activity(&app, &token, "").await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert_eq!(
            events(&page),
            ["password_changed", "login_succeeded", "login_failed", "email_verified", "account_created"]
        );
        let login = &page["events"][1];
        assert_eq!(login["ip"], "203.0.113.7", "{login}");
        assert_eq!(login["user_agent"], "Firefox/140", "{login}");
        assert!(login["at"].is_string());
        assert_eq!(page["next"], Value::Null);
        // Bob sees his own, none of Ann's.
        let (_, his) = activity(&app, &bob, "").await;
        assert_eq!(events(&his), ["login_succeeded", "email_verified", "account_created"]);

        // Ending sessions is listed too; logging out the last one leaves it for the next login.
        let other = token_of(login_from(&app, "203.0.113.7", "Firefox/140", NEW_PASSWORD).await).await;
        let ended = app.as_device(&token, Method::POST, "/api/auth/logout-others").send().await.unwrap();
        assert_eq!(ended.status(), StatusCode::OK);
        assert_eq!(app.me_with_bearer(&other).await.status(), StatusCode::UNAUTHORIZED);
        let logout = app.as_device(&token, Method::POST, "/api/auth/logout").send().await.unwrap();
        assert_eq!(logout.status(), StatusCode::OK);
        let last = token_of(login_from(&app, "203.0.113.7", "Firefox/140", NEW_PASSWORD).await).await;
        let (_, page) = activity(&app, &last, "?limit=4").await;
        assert_eq!(events(&page), ["login_succeeded", "logout", "session_revoked", "login_succeeded"]);
    }

    async fn pages_follow_the_next_cursor_and_bad_parameters_are_422(backend: Backend) {
        let app = backend.spawn().await;
        let token = signed_up(&app, "ann@example.com", 1).await;
        let (_, first) = activity(&app, &token, "?limit=2").await;
        assert_eq!(events(&first), ["login_succeeded", "email_verified"]);
        let next = first["next"].as_i64().expect("a next cursor");
        let (_, second) = activity(&app, &token, &format!("?limit=2&before={next}")).await;
        assert_eq!(events(&second), ["account_created"]);
        assert_eq!(second["next"], Value::Null);
        for bad in ["?limit=0", "?limit=101", "?limit=x", "?before=-1", "?before=%00"] {
            let (status, body) = activity(&app, &token, bad).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {body}");
            assert_eq!(body["detail"][0]["loc"][0], "query", "{bad}: {body}");
        }
        let anonymous = reqwest::get(app.url("/api/auth/activity")).await.unwrap();
        assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    }

    async fn events_past_the_retention_are_not_shown_and_are_purged(backend: Backend) {
        let app = backend.spawn().await;
        app.verified_user("ann@example.com").await;
        until_stored(&app, 2).await;
        app.clock.advance(Duration::from_secs(91 * 86_400));
        let login = app.login("ann@example.com", PASSWORD).await;
        let token = token_of(login).await;
        let (_, page) = activity(&app, &token, "").await;
        assert_eq!(events(&page), ["login_succeeded"], "the 91-day-old events are still listed");
        let cutoff = app.clock.now() - chrono::TimeDelta::days(90);
        let purged = authd::db::audit::purge(&app.db, cutoff).await.unwrap();
        assert_eq!(purged, 2);
        assert_eq!(stored_events(&app).await, 1);
    }

    async fn failed_logins_for_unknown_addresses_store_nothing(backend: Backend) {
        let app = backend.spawn().await;
        app.verified_user("ann@example.com").await;
        until_stored(&app, 2).await;
        for n in 0..5 {
            let response = app.login(&format!("nobody{n}@example.com"), PASSWORD).await;
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(stored_events(&app).await, 2);
    }

    async fn a_sign_in_from_a_new_browser_and_network_mails_a_notice(backend: Backend) {
        let app = backend.spawn_with(|c| c.http.trust_proxy = true).await;
        app.verified_user("ann@example.com").await;
        // The first sign-in of an account is not "new"; the same browser on the same /24 is not.
        assert_eq!(login_from(&app, "203.0.113.7", "Firefox/140", PASSWORD).await.status(), StatusCode::OK);
        assert_eq!(login_from(&app, "203.0.113.99", "Firefox/140", PASSWORD).await.status(), StatusCode::OK);
        assert!(new_sign_ins(&app).is_empty(), "{:?}", new_sign_ins(&app));
        // Another network, or another browser: a notice naming where it came from.
        assert_eq!(login_from(&app, "198.51.100.4", "Firefox/140", PASSWORD).await.status(), StatusCode::OK);
        assert_eq!(login_from(&app, "203.0.113.7", "EvilBrowser/1", PASSWORD).await.status(), StatusCode::OK);
        assert_eq!(
            new_sign_ins(&app),
            [
                ("198.51.100.4".to_owned(), "Firefox/140".to_owned()),
                ("203.0.113.7".to_owned(), "EvilBrowser/1".to_owned()),
            ]
        );
        // Once seen, no longer new.
        assert_eq!(login_from(&app, "198.51.100.4", "Firefox/140", PASSWORD).await.status(), StatusCode::OK);
        assert_eq!(new_sign_ins(&app).len(), 2);
    }

    async fn login_notify_off_mails_no_notice(backend: Backend) {
        let app = backend
            .spawn_with(|c| {
                c.http.trust_proxy = true;
                c.auth.login_notify = false;
            })
            .await;
        app.verified_user("ann@example.com").await;
        assert_eq!(login_from(&app, "203.0.113.7", "Firefox/140", PASSWORD).await.status(), StatusCode::OK);
        assert_eq!(login_from(&app, "198.51.100.4", "Chrome/1", PASSWORD).await.status(), StatusCode::OK);
        assert!(new_sign_ins(&app).is_empty());
    }
}
