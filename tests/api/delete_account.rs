//! POST /api/auth/delete-account: the user, their sessions and pending codes are gone, and the
//! address is afterwards like one that never had an account.

use std::time::Duration;

use authd::mail::Message;
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{
    Backend, PASSWORD, TestApp, all_backends, clears_the_cookie, detail, long_session_cache,
    retry_after, set_cookie, stable_headers,
};

const WRONG: &str = "definitely not it";

/// The JSON body of a request about an address.
type BodyFor = fn(&str) -> Value;
const NEW_PASSWORD: &str = "velvet orchard tempest";

/// Asks, as the device holding `token`, to delete its account.
async fn delete_account(app: &TestApp, token: &str, password: &str) -> Response {
    app.post_as_device(
        token,
        "/api/auth/delete-account",
        json!({ "password": password }),
    )
    .await
}

/// Status, headers (but the date and request id) and body of an answer about `email`, with
/// the address itself written as `<email>`: what tells two addresses apart.
async fn answer_about(
    response: Response,
    email: &str,
) -> (StatusCode, Vec<(String, String)>, String) {
    let mut headers = stable_headers(&response);
    headers.retain(|(name, _)| name != "content-length");
    let status = response.status();
    (
        status,
        headers,
        response.text().await.unwrap().replace(email, "<email>"),
    )
}

/// The user id /me shows for `token`.
async fn user_id(app: &TestApp, token: &str) -> Value {
    let me: Value = app.me_with_bearer(token).await.json().await.unwrap();
    me["id"].clone()
}

all_backends! {
    async fn deleting_the_account_ends_every_session_and_says_goodbye(backend: Backend) {
        let app = backend.spawn_with(long_session_cache).await;
        let this = app.logged_in_user("ann@example.com").await;
        let stolen = app.another_device("ann@example.com").await;
        app.verified_user("bob@example.com").await;
        let bob = app.another_device("bob@example.com").await;
        for token in [&this, &stolen, &bob] {
            app.cache(token).await;
        }
        // Through the browser's cookie, as the settings page would.
        let response = app.post("/api/auth/delete-account", json!({ "password": PASSWORD })).await;
        assert_eq!(response.status(), StatusCode::OK);
        let cookie = set_cookie(&response);
        assert!(clears_the_cookie(&cookie), "{cookie}");
        let body: Value = response.json().await.unwrap();
        assert!(body["message"].is_string(), "{body}");
        // Every session ended at once, cached or not.
        assert_eq!(app.get("/api/auth/me").await.status(), StatusCode::UNAUTHORIZED);
        for token in [&this, &stolen] {
            assert_eq!(app.me_with_bearer(token).await.status(), StatusCode::UNAUTHORIZED);
            let list = app.as_device(token, reqwest::Method::GET, "/api/auth/sessions").send().await.unwrap();
            assert_eq!(list.status(), StatusCode::UNAUTHORIZED);
        }
        assert_eq!(app.mail_count("ann@example.com", |m| matches!(m, Message::AccountDeleted)), 1);
        assert_eq!(app.login("ann@example.com", PASSWORD).await.status(), StatusCode::UNAUTHORIZED);
        // Another user is untouched.
        assert_eq!(app.me_with_bearer(&bob).await.status(), StatusCode::OK);
        assert_eq!(app.login("bob@example.com", PASSWORD).await.status(), StatusCode::OK);
    }

    async fn a_wrong_password_is_400_deletes_nothing_and_counts_as_a_failed_login(backend: Backend) {
        let app = backend.spawn_with(|c| c.http.trust_proxy = true).await;
        app.verified_user("ann@example.com").await;
        let token = app.another_device("ann@example.com").await;
        let from = |ip: &'static str, password: &'static str| {
            app.as_device(&token, reqwest::Method::POST, "/api/auth/delete-account")
                .header("x-forwarded-for", ip)
                .json(&json!({ "password": password }))
                .send()
        };
        for _ in 0..5 {
            let response = from("10.0.0.1", WRONG).await.unwrap();
            assert_eq!(response.status(), StatusCode::BAD_REQUEST);
            assert!(set_cookie(&response).is_empty());
            assert_eq!(detail(response).await, "The password is incorrect.");
        }
        let locked = from("10.0.0.1", PASSWORD).await.unwrap();
        assert_eq!(locked.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(retry_after(&locked) > 0);
        assert_eq!(app.login_as("10.0.0.1", "ann@example.com", PASSWORD).await.status(), StatusCode::TOO_MANY_REQUESTS);
        // Still there.
        assert_eq!(app.me_with_bearer(&token).await.status(), StatusCode::OK);
        assert_eq!(app.login_as("10.0.0.2", "ann@example.com", PASSWORD).await.status(), StatusCode::OK);
        assert_eq!(app.mail_count("ann@example.com", |m| matches!(m, Message::AccountDeleted)), 0);
    }

    async fn the_address_can_register_again_as_a_new_account(backend: Backend) {
        let app = backend.spawn().await;
        let token = app.logged_in_user("ann@example.com").await;
        let old_id = user_id(&app, &token).await;
        assert_eq!(delete_account(&app, &token, PASSWORD).await.status(), StatusCode::OK);
        // The mail throttle applies as to any address: the registration a moment ago counts.
        let early = app.register("ann@example.com").await;
        assert_eq!(early.status(), StatusCode::TOO_MANY_REQUESTS);
        app.clock.advance(Duration::from_secs(61));
        let body = json!({ "name": "Ann Again", "email": "ann@example.com", "password": NEW_PASSWORD });
        let registered = app.post("/api/auth/register", body).await;
        assert_eq!(registered.status(), StatusCode::CREATED);
        let code = app.last_code("ann@example.com");
        let verified = app.verify("ann@example.com", &code).await;
        assert_eq!(verified.status(), StatusCode::OK);
        let verified: Value = verified.json().await.unwrap();
        // A new account: its own password and name, a new id, no session of the old one.
        assert_eq!(verified["password_set"], true, "{verified}");
        assert_eq!(verified["user"]["name"], "Ann Again");
        assert_ne!(verified["user"]["id"], old_id);
        assert_eq!(app.login("ann@example.com", PASSWORD).await.status(), StatusCode::UNAUTHORIZED);
        let login = app.login("ann@example.com", NEW_PASSWORD).await;
        assert_eq!(login.status(), StatusCode::OK);
        let new = crate::helpers::token_of(login).await;
        assert_eq!(app.sessions(&new).await.len(), 1);
        assert_eq!(app.me_with_bearer(&token).await.status(), StatusCode::UNAUTHORIZED);
    }

    async fn afterwards_login_forgot_and_resend_answer_as_for_an_unknown_address(backend: Backend) {
        let app = backend.spawn().await;
        let token = app.logged_in_user("ann@example.com").await;
        assert_eq!(delete_account(&app, &token, PASSWORD).await.status(), StatusCode::OK);
        let mails_after_deletion = app.mailer.sent_to("ann@example.com").len();
        // Past the cooldown of Ann's registration, so only what the address is now counts.
        app.clock.advance(Duration::from_secs(61));
        let requests: [(&str, BodyFor); 4] = [
            ("/api/auth/login", |e| json!({ "email": e, "password": PASSWORD })),
            ("/api/auth/login", |e| json!({ "email": e, "password": WRONG })),
            ("/api/auth/forgot-password", |e| json!({ "email": e })),
            ("/api/auth/resend-verification-otp", |e| json!({ "email": e })),
        ];
        for (path, body) in requests {
            let deleted = answer_about(app.post(path, body("ann@example.com")).await, "ann@example.com").await;
            let unknown = answer_about(app.post(path, body("nobody@example.com")).await, "nobody@example.com").await;
            assert_eq!(deleted, unknown, "{path}");
        }
        // And nothing was mailed to it: no reset code, no verification code.
        assert_eq!(app.mailer.sent_to("ann@example.com").len(), mails_after_deletion);
        assert!(app.mailer.sent_to("nobody@example.com").is_empty());
    }

    async fn a_reset_code_asked_before_deletion_no_longer_works(backend: Backend) {
        let app = backend.spawn_with(|c| c.http.trust_proxy = true).await;
        let token = app.logged_in_user("ann@example.com").await;
        app.post("/api/auth/forgot-password", json!({ "email": "ann@example.com" })).await;
        let reset_code = app.last_code("ann@example.com");
        assert_eq!(delete_account(&app, &token, PASSWORD).await.status(), StatusCode::OK);
        // Someone has a new account at the address (before anyone tried the code: a code
        // tried once is used up, whatever the answer was).
        app.clock.advance(Duration::from_secs(61));
        let registered = app.register_as("10.9.9.9", "ann@example.com", NEW_PASSWORD).await;
        assert_eq!(registered.status(), StatusCode::CREATED);
        let code = app.last_code("ann@example.com");
        assert_eq!(app.verify("ann@example.com", &code).await.status(), StatusCode::OK);
        let reset = json!({ "email": "ann@example.com", "otp": reset_code, "new_password": "a third pass phrase" });
        assert_eq!(app.post("/api/auth/reset-password", reset).await.status(), StatusCode::BAD_REQUEST);
        assert_eq!(app.login("ann@example.com", NEW_PASSWORD).await.status(), StatusCode::OK);
    }

    async fn a_pending_change_of_address_dies_with_the_account(backend: Backend) {
        let app = backend.spawn().await;
        let token = app.logged_in_user("ann@example.com").await;
        let change = json!({ "new_email": "new@example.org", "password": PASSWORD });
        assert_eq!(app.post_as_device(&token, "/api/auth/change-email", change).await.status(), StatusCode::ACCEPTED);
        assert_eq!(delete_account(&app, &token, PASSWORD).await.status(), StatusCode::OK);
        // The address asked for is free as ever, and nobody has Ann's password there.
        assert_eq!(app.login("new@example.org", PASSWORD).await.status(), StatusCode::UNAUTHORIZED);
        app.clock.advance(Duration::from_secs(61));
        assert_eq!(app.register("new@example.org").await.status(), StatusCode::CREATED);
    }

    async fn concurrent_deletions_delete_once(backend: Backend) {
        let app = backend.spawn().await;
        let first = app.logged_in_user("ann@example.com").await;
        let second = app.another_device("ann@example.com").await;
        let requests = [&first, &second, &first, &second].map(|token| delete_account(&app, token, PASSWORD));
        let mut statuses = Vec::new();
        for response in futures_util::future::join_all(requests).await {
            let status = response.status();
            assert!(!status.is_server_error(), "{status}: {}", response.text().await.unwrap());
            statuses.push(status);
        }
        assert_eq!(statuses.iter().filter(|s| **s == StatusCode::OK).count(), 1, "{statuses:?}");
        assert_eq!(app.mail_count("ann@example.com", |m| matches!(m, Message::AccountDeleted)), 1);
        for token in [&first, &second] {
            assert_eq!(app.me_with_bearer(token).await.status(), StatusCode::UNAUTHORIZED);
        }
    }
}
