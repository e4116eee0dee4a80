//! POST /api/auth/change-email and /api/auth/confirm-email-change: move the account to another
//! address, proved by a code sent there; the same answer whether or not that address is taken.

use std::time::Duration;

use authd::mail::Message;
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{
    Backend, PASSWORD, TestApp, all_backends, detail, long_session_cache, retry_after,
    stable_headers, wrong_code,
};

const WRONG: &str = "definitely not it";

/// Asks, as the device holding `token`, to move its account to `new_email`.
async fn change_email(app: &TestApp, token: &str, new_email: &str, password: &str) -> Response {
    let body = json!({ "new_email": new_email, "password": password });
    app.post_as_device(token, "/api/auth/change-email", body)
        .await
}

/// Confirms the change with `otp`, as the device holding `token`.
async fn confirm(app: &TestApp, token: &str, otp: &str) -> Response {
    app.post_as_device(
        token,
        "/api/auth/confirm-email-change",
        json!({ "otp": otp }),
    )
    .await
}

/// Status, headers (but the date and request id) and body: all a client can compare.
async fn answer(response: Response) -> (StatusCode, Vec<(String, String)>, String) {
    let headers = stable_headers(&response);
    (response.status(), headers, response.text().await.unwrap())
}

/// The address /me shows for `token`.
async fn email_of(app: &TestApp, token: &str) -> String {
    let me: Value = app.me_with_bearer(token).await.json().await.unwrap();
    me["email"].as_str().unwrap().to_owned()
}

/// How many change-of-address codes went to `email`.
fn codes_to(app: &TestApp, email: &str) -> usize {
    app.mail_count(email, |m| matches!(m, Message::EmailChangeCode { .. }))
}

all_backends! {
    async fn the_account_moves_to_the_new_address_with_the_code_sent_there(backend: Backend) {
        let app = backend.spawn_with(long_session_cache).await;
        let this = app.logged_in_user("ann@example.com").await;
        let stolen = app.another_device("ann@example.com").await;
        app.cache(&stolen).await;

        // Through the browser's cookie, as the settings page would; the address is normalised.
        let asked = app.post("/api/auth/change-email", json!({ "new_email": " Ann.Lee@Example.ORG ", "password": PASSWORD })).await;
        assert_eq!(asked.status(), StatusCode::ACCEPTED);
        let body: Value = asked.json().await.unwrap();
        assert!(body["message"].is_string(), "{body}");
        assert_eq!(codes_to(&app, "ann.lee@example.org"), 1);
        let requested: Vec<_> = app.mailer.sent_to("ann@example.com").into_iter()
            .filter_map(|m| match m.message { Message::EmailChangeRequested { new_email } => Some(new_email.to_string()), _ => None })
            .collect();
        assert_eq!(requested, ["ann.lee@example.org"]);
        // Nothing changes before the code.
        assert_eq!(email_of(&app, &this).await, "ann@example.com");
        assert_eq!(app.me_with_bearer(&stolen).await.status(), StatusCode::OK);
        assert_eq!(app.login("ann.lee@example.org", PASSWORD).await.status(), StatusCode::UNAUTHORIZED);

        let code = app.last_code("ann.lee@example.org");
        let confirmed = app.post("/api/auth/confirm-email-change", json!({ "otp": code })).await;
        assert_eq!(confirmed.status(), StatusCode::OK);
        let body: Value = confirmed.json().await.unwrap();
        assert!(body["message"].is_string(), "{body}");
        assert_eq!(body["user"]["email"], "ann.lee@example.org");
        assert!(body["user"].get("password_hash").is_none());

        // This session stays and shows the new address; every other one ended at once.
        let me: Value = app.get("/api/auth/me").await.json().await.unwrap();
        assert_eq!(me["email"], "ann.lee@example.org");
        assert_eq!(email_of(&app, &this).await, "ann.lee@example.org");
        assert_eq!(app.me_with_bearer(&stolen).await.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(app.sessions(&this).await.len(), 1);
        // The old address no longer logs in; the new one does, with the same password.
        assert_eq!(app.login("ann@example.com", PASSWORD).await.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(app.login("ann.lee@example.org", PASSWORD).await.status(), StatusCode::OK);
        let changed: Vec<_> = app.mailer.sent_to("ann@example.com").into_iter()
            .filter_map(|m| match m.message { Message::EmailChanged { new_email } => Some(new_email.to_string()), _ => None })
            .collect();
        assert_eq!(changed, ["ann.lee@example.org"]);
        // The code was used up.
        assert_eq!(confirm(&app, &this, &code).await.status(), StatusCode::BAD_REQUEST);
        // The old address is free: someone else can have it.
        app.clock.advance(Duration::from_secs(61));
        assert_eq!(app.register("ann@example.com").await.status(), StatusCode::CREATED);
    }

    async fn a_wrong_password_is_400_sends_nothing_and_counts_as_a_failed_login(backend: Backend) {
        let app = backend.spawn_with(|c| c.http.trust_proxy = true).await;
        app.verified_user("ann@example.com").await;
        let token = app.another_device("ann@example.com").await;
        let mails_before = app.mailer.sent_to("ann@example.com").len();
        let from = |ip: &'static str, password: &'static str| {
            let body = json!({ "new_email": "ann.lee@example.org", "password": password });
            app.as_device(&token, reqwest::Method::POST, "/api/auth/change-email").header("x-forwarded-for", ip).json(&body).send()
        };
        for _ in 0..5 {
            let response = from("10.0.0.1", WRONG).await.unwrap();
            assert_eq!(response.status(), StatusCode::BAD_REQUEST);
            assert_eq!(detail(response).await, "The password is incorrect.");
        }
        assert_eq!(app.mailer.sent_to("ann@example.com").len(), mails_before);
        assert!(app.mailer.sent_to("ann.lee@example.org").is_empty());
        let locked = from("10.0.0.1", PASSWORD).await.unwrap();
        assert_eq!(locked.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(retry_after(&locked) > 0);
        assert_eq!(app.login_as("10.0.0.1", "ann@example.com", PASSWORD).await.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(app.mailer.sent_to("ann.lee@example.org").is_empty());
        // From the owner's own address, it works.
        assert_eq!(from("10.0.0.2", PASSWORD).await.unwrap().status(), StatusCode::ACCEPTED);
    }

    async fn the_current_address_is_a_422_at_new_email_once_the_password_is_right(backend: Backend) {
        let app = backend.spawn().await;
        let token = app.logged_in_user("ann@example.com").await;
        let wrong = change_email(&app, &token, "ann@example.com", WRONG).await;
        assert_eq!(wrong.status(), StatusCode::BAD_REQUEST);
        for same in ["ann@example.com", "  ANN@Example.COM "] {
            let response = change_email(&app, &token, same, PASSWORD).await;
            assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "{same}");
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["detail"][0]["loc"], json!(["body", "new_email"]), "{body}");
        }
        let invalid = change_email(&app, &token, "not an address", PASSWORD).await;
        assert_eq!(invalid.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(app.mail_count("ann@example.com", |m| matches!(m, Message::EmailChangeRequested { .. })), 0);
    }

    async fn a_taken_address_gets_the_same_answer_as_a_free_one(backend: Backend) {
        let app = backend.spawn().await;
        let ann = app.logged_in_user("ann@example.com").await;
        let carl = app.logged_in_user("carl@example.com").await;
        let dave = app.logged_in_user("dave@example.com").await;
        let bob = app.logged_in_user("bob@example.com").await;
        app.register("pending@example.com").await;
        // Past the mail cooldowns of the registrations above, as an attacker would wait.
        app.clock.advance(Duration::from_secs(61));

        let taken = answer(change_email(&app, &ann, "bob@example.com", PASSWORD).await).await;
        let free = answer(change_email(&app, &carl, "free@example.com", PASSWORD).await).await;
        let unverified = answer(change_email(&app, &dave, "pending@example.com", PASSWORD).await).await;
        assert_eq!(taken.0, StatusCode::ACCEPTED);
        assert_eq!(taken, free);
        assert_eq!(unverified, free);

        // The owner of the taken address is told, and gets no code; the free one gets a code.
        assert_eq!(app.mail_count("bob@example.com", |m| matches!(m, Message::EmailChangeAttempt)), 1);
        assert_eq!(codes_to(&app, "bob@example.com"), 0);
        assert_eq!(codes_to(&app, "pending@example.com"), 0);
        assert_eq!(codes_to(&app, "free@example.com"), 1);
        // Both asking addresses are told of the request alike.
        for email in ["ann@example.com", "carl@example.com", "dave@example.com"] {
            assert_eq!(app.mail_count(email, |m| matches!(m, Message::EmailChangeRequested { .. })), 1, "{email}");
        }
        // A code tried for the taken address fails like a wrong code for the free one.
        let guess = wrong_code(&app.last_code("free@example.com"));
        let for_taken = answer(confirm(&app, &ann, &guess).await).await;
        let for_free = answer(confirm(&app, &carl, &guess).await).await;
        assert_eq!(for_taken.0, StatusCode::BAD_REQUEST);
        assert_eq!(for_taken, for_free);
        // Nobody moved, and Bob's account is untouched.
        assert_eq!(email_of(&app, &ann).await, "ann@example.com");
        assert_eq!(email_of(&app, &bob).await, "bob@example.com");
        assert_eq!(app.login("bob@example.com", PASSWORD).await.status(), StatusCode::OK);
    }

    async fn throttled_requests_answer_the_same_for_a_taken_and_a_free_address(backend: Backend) {
        let app = backend.spawn().await;
        let ann = app.logged_in_user("ann@example.com").await;
        let carl = app.logged_in_user("carl@example.com").await;
        let eve = app.logged_in_user("eve@example.com").await;
        app.logged_in_user("bob@example.com").await;
        app.clock.advance(Duration::from_secs(61));
        let first_taken = change_email(&app, &ann, "bob@example.com", PASSWORD).await;
        let first_free = change_email(&app, &carl, "free@example.com", PASSWORD).await;
        assert_eq!(first_taken.status(), StatusCode::ACCEPTED);
        assert_eq!(first_free.status(), StatusCode::ACCEPTED);
        app.clock.advance(Duration::from_secs(10));
        // Asked again within the cooldown of the new address: refused alike, whoever asks.
        let again_taken = answer(change_email(&app, &ann, "bob@example.com", PASSWORD).await).await;
        let again_free = answer(change_email(&app, &carl, "free@example.com", PASSWORD).await).await;
        assert_eq!(again_taken.0, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(again_taken, again_free);
        assert!(again_taken.1.iter().any(|(name, value)| name == "retry-after" && value == "50"), "{:?}", again_taken.1);
        let other_taken = answer(change_email(&app, &eve, "bob@example.com", PASSWORD).await).await;
        assert_eq!(other_taken, again_free);
        // Nothing more was sent.
        assert_eq!(app.mail_count("bob@example.com", |m| matches!(m, Message::EmailChangeAttempt)), 1);
        assert_eq!(codes_to(&app, "free@example.com"), 1);
        // After the cooldown, both are accepted again.
        app.clock.advance(Duration::from_secs(50));
        let later_taken = answer(change_email(&app, &ann, "bob@example.com", PASSWORD).await).await;
        let later_free = answer(change_email(&app, &carl, "free@example.com", PASSWORD).await).await;
        assert_eq!(later_taken.0, StatusCode::ACCEPTED);
        assert_eq!(later_taken, later_free);
    }

    async fn guessing_codes_for_a_taken_address_looks_like_guessing_for_a_free_one(backend: Backend) {
        let app = backend.spawn().await;
        let ann = app.logged_in_user("ann@example.com").await;
        let carl = app.logged_in_user("carl@example.com").await;
        app.logged_in_user("bob@example.com").await;
        app.clock.advance(Duration::from_secs(61));
        assert_eq!(change_email(&app, &ann, "bob@example.com", PASSWORD).await.status(), StatusCode::ACCEPTED);
        assert_eq!(change_email(&app, &carl, "free@example.com", PASSWORD).await.status(), StatusCode::ACCEPTED);
        let code = app.last_code("free@example.com");
        // Wrong guesses until the wrong-code budget runs out: the same answers all along.
        let mut statuses = Vec::new();
        for n in 1..=12 {
            let guess = format!("{:06}", (code.parse::<u32>().unwrap() + n) % 1_000_000);
            let taken = answer(confirm(&app, &ann, &guess).await).await;
            let free = answer(confirm(&app, &carl, &guess).await).await;
            assert_eq!(taken, free, "guess {n}");
            statuses.push(taken.0);
        }
        assert_eq!(statuses[0], StatusCode::BAD_REQUEST);
        assert_eq!(statuses[11], StatusCode::TOO_MANY_REQUESTS);
    }

    async fn the_code_works_only_for_this_user_and_the_address_it_was_sent_to(backend: Backend) {
        let app = backend.spawn().await;
        let ann = app.logged_in_user("ann@example.com").await;
        let bob = app.logged_in_user("bob@example.com").await;
        let carl = app.logged_in_user("carl@example.com").await;
        // Ann and Bob both ask for the same free address; each gets a code there.
        assert_eq!(change_email(&app, &ann, "shared@example.org", PASSWORD).await.status(), StatusCode::ACCEPTED);
        let anns_code = app.last_code("shared@example.org");
        app.clock.advance(Duration::from_secs(61));
        assert_eq!(change_email(&app, &bob, "shared@example.org", PASSWORD).await.status(), StatusCode::ACCEPTED);
        let bobs_code = app.last_code("shared@example.org");
        // Ann's code is not Bob's, nor Carl's (who asked for nothing).
        if anns_code != bobs_code {
            assert_eq!(confirm(&app, &bob, &anns_code).await.status(), StatusCode::BAD_REQUEST);
        }
        assert_eq!(confirm(&app, &carl, &anns_code).await.status(), StatusCode::BAD_REQUEST);
        assert_eq!(email_of(&app, &bob).await, "bob@example.com");
        assert_eq!(email_of(&app, &carl).await, "carl@example.com");
        // Ann's own code still works for her: the first to confirm gets the address...
        let confirmed = confirm(&app, &ann, &anns_code).await;
        assert_eq!(confirmed.status(), StatusCode::OK);
        assert_eq!(email_of(&app, &ann).await, "shared@example.org");
        // ...and the other, with a right code, is told it is taken now.
        let late = confirm(&app, &bob, &bobs_code).await;
        assert_eq!(late.status(), StatusCode::CONFLICT);
        assert!(!detail(late).await.is_empty());
        assert_eq!(email_of(&app, &bob).await, "bob@example.com");
        assert_eq!(app.login("bob@example.com", PASSWORD).await.status(), StatusCode::OK);
    }

    async fn a_newer_request_replaces_a_pending_one(backend: Backend) {
        let app = backend.spawn().await;
        let ann = app.logged_in_user("ann@example.com").await;
        app.logged_in_user("bob@example.com").await;
        assert_eq!(change_email(&app, &ann, "first@example.org", PASSWORD).await.status(), StatusCode::ACCEPTED);
        let first = app.last_code("first@example.org");
        assert_eq!(change_email(&app, &ann, "second@example.org", PASSWORD).await.status(), StatusCode::ACCEPTED);
        let second = app.last_code("second@example.org");
        // The first code is for an address no longer asked for.
        assert_eq!(confirm(&app, &ann, &first).await.status(), StatusCode::BAD_REQUEST);
        // A request for a taken address replaces a pending one too: the second code is void.
        assert_eq!(change_email(&app, &ann, "bob@example.com", PASSWORD).await.status(), StatusCode::ACCEPTED);
        assert_eq!(confirm(&app, &ann, &second).await.status(), StatusCode::BAD_REQUEST);
        assert_eq!(email_of(&app, &ann).await, "ann@example.com");
        // A fresh request works as ever.
        app.clock.advance(Duration::from_secs(61));
        assert_eq!(change_email(&app, &ann, "second@example.org", PASSWORD).await.status(), StatusCode::ACCEPTED);
        let third = app.last_code("second@example.org");
        if third != second {
            assert_eq!(confirm(&app, &ann, &second).await.status(), StatusCode::BAD_REQUEST);
        }
        assert_eq!(confirm(&app, &ann, &third).await.status(), StatusCode::OK);
        assert_eq!(email_of(&app, &ann).await, "second@example.org");
        assert_eq!(app.login("first@example.org", PASSWORD).await.status(), StatusCode::UNAUTHORIZED);
    }

    async fn confirming_is_409_when_the_new_address_got_an_account_meanwhile(backend: Backend) {
        let app = backend.spawn().await;
        let ann = app.logged_in_user("ann@example.com").await;
        assert_eq!(change_email(&app, &ann, "new@example.org", PASSWORD).await.status(), StatusCode::ACCEPTED);
        let code = app.last_code("new@example.org");
        app.clock.advance(Duration::from_secs(61));
        // Someone registers the address before Ann confirms.
        assert_eq!(app.register("new@example.org").await.status(), StatusCode::CREATED);
        let response = confirm(&app, &ann, &code).await;
        assert_eq!(response.status(), StatusCode::CONFLICT);
        assert!(!detail(response).await.is_empty());
        assert_eq!(email_of(&app, &ann).await, "ann@example.com");
        assert_eq!(app.login("ann@example.com", PASSWORD).await.status(), StatusCode::OK);
        // The registration of the address is not disturbed.
        let registrants = app.last_code("new@example.org");
        assert_eq!(app.verify("new@example.org", &registrants).await.status(), StatusCode::OK);
    }

    async fn a_wrong_or_expired_code_is_400(backend: Backend) {
        let app = backend.spawn().await;
        let ann = app.logged_in_user("ann@example.com").await;
        // With no request pending, any code is wrong.
        assert_eq!(confirm(&app, &ann, "123456").await.status(), StatusCode::BAD_REQUEST);
        assert_eq!(change_email(&app, &ann, "new@example.org", PASSWORD).await.status(), StatusCode::ACCEPTED);
        let code = app.last_code("new@example.org");
        let wrong = confirm(&app, &ann, &wrong_code(&code)).await;
        assert_eq!(wrong.status(), StatusCode::BAD_REQUEST);
        assert!(!detail(wrong).await.is_empty());
        for malformed in ["12345", "abcdef", ""] {
            assert_eq!(confirm(&app, &ann, malformed).await.status(), StatusCode::UNPROCESSABLE_ENTITY, "{malformed}");
        }
        // Expired: the lifetime of verification codes (five minutes).
        app.clock.advance(Duration::from_secs(301));
        assert_eq!(confirm(&app, &ann, &code).await.status(), StatusCode::BAD_REQUEST);
        assert_eq!(email_of(&app, &ann).await, "ann@example.com");
        // A new request gets a new code that works.
        assert_eq!(change_email(&app, &ann, "new@example.org", PASSWORD).await.status(), StatusCode::ACCEPTED);
        let fresh = app.last_code("new@example.org");
        assert_eq!(confirm(&app, &ann, &fresh).await.status(), StatusCode::OK);
    }

    async fn a_code_guessed_at_too_often_stops_working(backend: Backend) {
        let app = backend.spawn().await;
        let ann = app.logged_in_user("ann@example.com").await;
        assert_eq!(change_email(&app, &ann, "new@example.org", PASSWORD).await.status(), StatusCode::ACCEPTED);
        let code = app.last_code("new@example.org");
        // The attempt rules of verification codes: five wrong tries use the code up.
        for n in 1..=5 {
            let guess = format!("{:06}", (code.parse::<u32>().unwrap() + n) % 1_000_000);
            assert_eq!(confirm(&app, &ann, &guess).await.status(), StatusCode::BAD_REQUEST);
        }
        assert_ne!(confirm(&app, &ann, &code).await.status(), StatusCode::OK);
        assert_eq!(email_of(&app, &ann).await, "ann@example.com");
    }

    async fn the_old_address_is_told_of_each_request_but_not_flooded(backend: Backend) {
        let app = backend.spawn().await;
        let ann = app.logged_in_user("ann@example.com").await;
        let notices = |app: &TestApp| app.mail_count("ann@example.com", |m| matches!(m, Message::EmailChangeRequested { .. }));
        assert_eq!(change_email(&app, &ann, "one@example.org", PASSWORD).await.status(), StatusCode::ACCEPTED);
        assert_eq!(notices(&app), 1);
        // Within the cooldown of the old address: the request goes through, the notice not.
        assert_eq!(change_email(&app, &ann, "two@example.org", PASSWORD).await.status(), StatusCode::ACCEPTED);
        assert_eq!(codes_to(&app, "two@example.org"), 1);
        assert_eq!(notices(&app), 1);
        app.clock.advance(Duration::from_secs(61));
        assert_eq!(change_email(&app, &ann, "three@example.org", PASSWORD).await.status(), StatusCode::ACCEPTED);
        assert_eq!(notices(&app), 2);
    }

    async fn a_reset_code_for_the_old_address_stops_working(backend: Backend) {
        let app = backend.spawn_with(|c| c.http.trust_proxy = true).await;
        let ann = app.logged_in_user("ann@example.com").await;
        app.post("/api/auth/forgot-password", json!({ "email": "ann@example.com" })).await;
        let reset_code = app.last_code("ann@example.com");
        assert_eq!(change_email(&app, &ann, "new@example.org", PASSWORD).await.status(), StatusCode::ACCEPTED);
        let code = app.last_code("new@example.org");
        assert_eq!(confirm(&app, &ann, &code).await.status(), StatusCode::OK);
        // Someone takes the old address over.
        app.clock.advance(Duration::from_secs(61));
        let registered = app.register_as("10.9.9.9", "ann@example.com", PASSWORD).await;
        assert_eq!(registered.status(), StatusCode::CREATED);
        let theirs = app.last_code("ann@example.com");
        assert_eq!(app.verify("ann@example.com", &theirs).await.status(), StatusCode::OK);
        for email in ["ann@example.com", "new@example.org"] {
            let reset = json!({ "email": email, "otp": reset_code, "new_password": "velvet orchard tempest" });
            assert_eq!(app.post("/api/auth/reset-password", reset).await.status(), StatusCode::BAD_REQUEST, "{email}");
        }
        assert_eq!(app.login("new@example.org", PASSWORD).await.status(), StatusCode::OK);
        assert_eq!(app.login("ann@example.com", PASSWORD).await.status(), StatusCode::OK);
    }

    async fn concurrent_confirmations_with_the_right_code_succeed_once(backend: Backend) {
        let app = backend.spawn().await;
        let ann = app.logged_in_user("ann@example.com").await;
        assert_eq!(change_email(&app, &ann, "new@example.org", PASSWORD).await.status(), StatusCode::ACCEPTED);
        let code = app.last_code("new@example.org");
        let confirmations = (0..10).map(|_| confirm(&app, &ann, &code));
        let mut statuses = Vec::new();
        for response in futures_util::future::join_all(confirmations).await {
            let status = response.status();
            assert!([StatusCode::OK, StatusCode::BAD_REQUEST].contains(&status), "{status}: {}", response.text().await.unwrap());
            statuses.push(status);
        }
        assert_eq!(statuses.iter().filter(|s| **s == StatusCode::OK).count(), 1, "{statuses:?}");
        assert_eq!(email_of(&app, &ann).await, "new@example.org");
        assert_eq!(app.mail_count("ann@example.com", |m| matches!(m, Message::EmailChanged { .. })), 1);
    }

    async fn concurrent_requests_for_one_address_send_one_code(backend: Backend) {
        let app = backend.spawn().await;
        let ann = app.logged_in_user("ann@example.com").await;
        let requests = (0..10).map(|_| change_email(&app, &ann, "new@example.org", PASSWORD));
        let mut statuses = Vec::new();
        for response in futures_util::future::join_all(requests).await {
            let status = response.status();
            assert!([StatusCode::ACCEPTED, StatusCode::TOO_MANY_REQUESTS].contains(&status), "{status}: {}", response.text().await.unwrap());
            statuses.push(status);
        }
        assert_eq!(statuses.iter().filter(|s| **s == StatusCode::ACCEPTED).count(), 1, "{statuses:?}");
        assert_eq!(codes_to(&app, "new@example.org"), 1);
        let code = app.last_code("new@example.org");
        assert_eq!(confirm(&app, &ann, &code).await.status(), StatusCode::OK);
    }
}
