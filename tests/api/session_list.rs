//! GET /api/auth/sessions, DELETE /api/auth/sessions/{id}, POST /api/auth/logout-others and
//! /api/auth/logout-all: see every signed-in device, and end one, all others, or all.

use std::time::Duration;

use authd::clock::Clock;
use reqwest::header::HeaderValue;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{
    Backend, PASSWORD, TestApp, all_backends, clears_the_cookie, detail, long_session_cache,
    same_second, set_cookie, stable_headers, time, token_of,
};

/// Logs `email` in from the client `ip` (needs `trust_proxy`) with the `User-Agent` given, if
/// any; returns the token.
async fn login_from(app: &TestApp, ip: &str, user_agent: Option<HeaderValue>) -> String {
    let mut request = reqwest::Client::new()
        .post(app.url("/api/auth/login"))
        .header("x-forwarded-for", ip)
        .json(&json!({ "email": "ann@example.com", "password": PASSWORD }));
    if let Some(user_agent) = user_agent {
        request = request.header("user-agent", user_agent);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    token_of(response).await
}

/// Whether `id` looks like a session list id: 32 lower-case hex digits.
fn is_handle(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The claims of a JWT, as text: its middle part, base64url-decoded.
fn claims_of(token: &str) -> String {
    let part = token.split('.').nth(1).expect("three parts");
    let mut bits = 0u32;
    let mut count = 0;
    let mut bytes = Vec::new();
    for c in part.bytes() {
        let value = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' => 62,
            b'_' => 63,
            _ => continue,
        };
        bits = (bits << 6) | u32::from(value);
        count += 6;
        if count >= 8 {
            count -= 8;
            bytes.push((bits >> count) as u8);
        }
    }
    String::from_utf8(bytes).unwrap()
}

/// The ids of the sessions of `token`'s list that are not its own.
async fn other_ids(app: &TestApp, token: &str) -> Vec<String> {
    let sessions = app.sessions(token).await;
    sessions
        .iter()
        .filter(|s| s["current"] == false)
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .collect()
}

all_backends! {
    async fn the_list_shows_every_live_session_newest_first_with_where_it_was_opened(backend: Backend) {
        let app = backend.spawn_with(|c| c.http.trust_proxy = true).await;
        app.verified_user("ann@example.com").await;
        let bob = app.logged_in_user("bob@example.com").await;
        let started = app.clock.now();
        let laptop = login_from(&app, "203.0.113.7", Some(HeaderValue::from_static("Mozilla/5.0 Firefox/140.0"))).await;
        app.clock.advance(Duration::from_secs(5));
        let phone = login_from(&app, "2001:db8:1:2:3:4:5:6", Some(HeaderValue::from_static("AcmeApp/2.1 (iPhone)"))).await;
        app.clock.advance(Duration::from_secs(5));
        let _script = login_from(&app, "::ffff:198.51.100.9", None).await;

        let sessions = app.sessions(&phone).await;
        assert_eq!(sessions.len(), 3, "{sessions:?}");
        // Newest first, each as it was opened: the whole client address (an IPv6 one is not cut
        // to the /64 the limits count by), the user agent (empty if none was sent).
        let ips: Vec<&str> = sessions.iter().map(|s| s["ip"].as_str().unwrap()).collect();
        assert_eq!(ips, ["198.51.100.9", "2001:db8:1:2:3:4:5:6", "203.0.113.7"]);
        let agents: Vec<&str> = sessions.iter().map(|s| s["user_agent"].as_str().unwrap()).collect();
        assert_eq!(agents, ["", "AcmeApp/2.1 (iPhone)", "Mozilla/5.0 Firefox/140.0"]);
        let current: Vec<bool> = sessions.iter().map(|s| s["current"].as_bool().unwrap()).collect();
        assert_eq!(current, [false, true, false]);
        for (n, session) in sessions.iter().enumerate() {
            let mut keys: Vec<&str> = session.as_object().unwrap().keys().map(String::as_str).collect();
            keys.sort_unstable();
            assert_eq!(keys, ["created_at", "current", "expires_at", "id", "ip", "last_used_at", "user_agent"]);
            assert!(is_handle(session["id"].as_str().unwrap()), "{session}");
            let opened = started + Duration::from_secs(10 - 5 * n as u64);
            assert!(same_second(time(&session["created_at"]), opened), "{session}");
            assert!(same_second(time(&session["last_used_at"]), opened), "{session}");
            // Unused since: the idle timeout (an hour) ends it before its absolute end (a day).
            let idle_end = time(&session["last_used_at"]) + Duration::from_secs(3600);
            assert_eq!(time(&session["expires_at"]), idle_end, "{session}");
        }
        let mut ids: Vec<&str> = sessions.iter().map(|s| s["id"].as_str().unwrap()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 3);
        // The same list from another device of the same user, with its own session marked.
        let from_laptop = app.sessions(&laptop).await;
        let current: Vec<bool> = from_laptop.iter().map(|s| s["current"].as_bool().unwrap()).collect();
        assert_eq!(current, [false, false, true]);
        // Another user sees only their own.
        let bobs = app.sessions(&bob).await;
        assert_eq!(bobs.len(), 1);
        assert!(!ids.contains(&bobs[0]["id"].as_str().unwrap()));
    }

    async fn a_session_id_is_a_handle_not_the_token(backend: Backend) {
        let app = backend.spawn().await;
        let token = app.logged_in_user("ann@example.com").await;
        let other = app.another_device("ann@example.com").await;
        let claims = claims_of(&token);
        let sid: Value = serde_json::from_str(&claims).unwrap();
        let sid = sid["sid"].as_str().unwrap().to_owned();
        for session in app.sessions(&token).await {
            let id = session["id"].as_str().unwrap();
            assert!(is_handle(id), "{id}");
            for secret in [&token, &other, &claims_of(&other), &claims] {
                assert!(!secret.contains(id), "the id {id} is part of a token: {secret}");
            }
            // The id opens nothing: not as a token, not as a cookie.
            assert_eq!(app.me_with_bearer(id).await.status(), StatusCode::UNAUTHORIZED);
            let as_cookie = reqwest::Client::new()
                .get(app.url("/api/auth/me"))
                .header("cookie", format!("access_token={id}"))
                .send()
                .await
                .unwrap();
            assert_eq!(as_cookie.status(), StatusCode::UNAUTHORIZED);
        }
        // Neither does the token's own session id end anything through the session list.
        for id in [sid.as_str(), &sid[..32], &sid[32..]] {
            assert_eq!(app.end_session(&other, id).await.status(), StatusCode::NOT_FOUND, "{id}");
        }
        assert_eq!(app.me_with_bearer(&token).await.status(), StatusCode::OK);
    }

    async fn deleting_another_session_ends_it_at_once_and_keeps_this_one(backend: Backend) {
        let app = backend.spawn_with(long_session_cache).await;
        let this = app.logged_in_user("ann@example.com").await;
        let stolen = app.another_device("ann@example.com").await;
        app.cache(&stolen).await;
        let ids = other_ids(&app, &this).await;
        assert_eq!(ids.len(), 1);
        let response = app.end_session(&this, &ids[0]).await;
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        assert!(set_cookie(&response).is_empty(), "another session's end does not touch this cookie");
        assert!(response.bytes().await.unwrap().is_empty());
        // At once, though the thief's token was served from the cache a moment ago.
        assert_eq!(app.me_with_bearer(&stolen).await.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(app.me_with_bearer(&this).await.status(), StatusCode::OK);
        assert_eq!(app.get("/api/auth/me").await.status(), StatusCode::OK);
        assert!(other_ids(&app, &this).await.is_empty());
        // It is gone: a second delete finds nothing.
        let again = app.end_session(&this, &ids[0]).await;
        assert_eq!(again.status(), StatusCode::NOT_FOUND);
        assert!(!detail(again).await.is_empty());
    }

    async fn deleting_the_current_session_works_like_logout(backend: Backend) {
        let app = backend.spawn_with(long_session_cache).await;
        let token = app.logged_in_user("ann@example.com").await;
        let other = app.another_device("ann@example.com").await;
        app.cache(&token).await;
        let id = app.own_session_id(&token).await;
        // Through the browser's cookie, as the settings page would.
        let response = app.client.delete(app.url(&format!("/api/auth/sessions/{id}"))).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        let cookie = set_cookie(&response);
        assert!(clears_the_cookie(&cookie), "{cookie}");
        assert_eq!(app.get("/api/auth/me").await.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(app.me_with_bearer(&token).await.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(app.me_with_bearer(&other).await.status(), StatusCode::OK);
    }

    async fn another_users_session_id_is_404_like_one_that_never_existed(backend: Backend) {
        let app = backend.spawn().await;
        let ann = app.logged_in_user("ann@example.com").await;
        let bob = app.logged_in_user("bob@example.com").await;
        let anns = app.own_session_id(&ann).await;
        let theirs = app.end_session(&bob, &anns).await;
        let never = app.end_session(&bob, "0123456789abcdef0123456789abcdef").await;
        assert_eq!(theirs.status(), StatusCode::NOT_FOUND);
        assert_eq!(stable_headers(&theirs), stable_headers(&never));
        assert_eq!(theirs.text().await.unwrap(), never.text().await.unwrap());
        // Ann's session is untouched, and still listed.
        assert_eq!(app.me_with_bearer(&ann).await.status(), StatusCode::OK);
        assert_eq!(app.own_session_id(&ann).await, anns);
        // An ended session of one's own is 404 too.
        let ended = app.another_device("bob@example.com").await;
        let ended_id = other_ids(&app, &bob).await.pop().unwrap();
        assert_eq!(app.post_empty_as_device(&ended, "/api/auth/logout").await.status(), StatusCode::OK);
        let gone = app.end_session(&bob, &ended_id).await;
        assert_eq!(gone.status(), StatusCode::NOT_FOUND);
        assert_eq!(gone.text().await.unwrap(), app.end_session(&bob, "0123456789abcdef0123456789abcdef").await.text().await.unwrap());
    }

    async fn malformed_session_ids_are_a_json_404_never_an_error(backend: Backend) {
        let app = backend.spawn().await;
        let token = app.logged_in_user("ann@example.com").await;
        let other = app.another_device("ann@example.com").await;
        let real = other_ids(&app, &token).await.pop().unwrap();
        let long = "a".repeat(1000);
        let odd = [
            "%00".to_owned(),
            "..%2f".to_owned(),
            "..%2F..%2F..%2Fetc%2Fpasswd".to_owned(),
            long,
            real.to_uppercase(),
            format!("{real}0"),
            real[..31].to_owned(),
            format!("{real}%00"),
            format!("%20{real}"),
            "%ff%fe".to_owned(),
            "%e2%80%ae".to_owned(),
            "null".to_owned(),
            "-1".to_owned(),
            "1%27%20OR%20%271%27=%271".to_owned(),
        ];
        for id in &odd {
            let response = app.end_session(&token, id).await;
            assert_eq!(response.status(), StatusCode::NOT_FOUND, "{id}");
            let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
            assert!(content_type.starts_with("application/json"), "{id}: {content_type}");
            assert!(!detail(response).await.is_empty(), "{id}");
        }
        // The same bytes, written straight on the socket.
        for id in ["%00", "..%2f", "%ff", "A%0d%0aX-Injected:%201"] {
            let request = format!(
                "DELETE /api/auth/sessions/{id} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
            );
            let (status, answer) = app.raw(request.as_bytes()).await;
            assert_eq!(status, 404, "{id}: {answer}");
            assert!(answer.contains("{\"detail\":"), "{id}: {answer}");
            assert!(!answer.to_lowercase().contains("x-injected"), "{id}: {answer}");
        }
        // None of it ended a session.
        for session in [&token, &other] {
            assert_eq!(app.me_with_bearer(session).await.status(), StatusCode::OK);
        }
        assert_eq!(app.sessions(&token).await.len(), 2);
    }

    async fn logout_others_ends_every_other_session_and_keeps_this_one(backend: Backend) {
        let app = backend.spawn_with(long_session_cache).await;
        let this = app.logged_in_user("ann@example.com").await;
        let others = [app.another_device("ann@example.com").await, app.another_device("ann@example.com").await];
        let bob = app.logged_in_user("bob@example.com").await;
        for token in others.iter().chain([&this, &bob]) {
            app.cache(token).await;
        }
        let response = app.post_empty_as_device(&this, "/api/auth/logout-others").await;
        assert_eq!(response.status(), StatusCode::OK);
        assert!(set_cookie(&response).is_empty());
        let body: Value = response.json().await.unwrap();
        assert!(body["message"].is_string(), "{body}");
        assert_eq!(body["ended"], 2);
        for token in &others {
            assert_eq!(app.me_with_bearer(token).await.status(), StatusCode::UNAUTHORIZED);
        }
        assert_eq!(app.me_with_bearer(&this).await.status(), StatusCode::OK);
        assert_eq!(app.me_with_bearer(&bob).await.status(), StatusCode::OK, "another user's session");
        let left = app.sessions(&this).await;
        assert_eq!(left.len(), 1);
        assert_eq!(left[0]["current"], true);
        let again: Value = app.post_empty_as_device(&this, "/api/auth/logout-others").await.json().await.unwrap();
        assert_eq!(again["ended"], 0);
    }

    async fn logout_all_ends_every_session_and_clears_the_cookie(backend: Backend) {
        let app = backend.spawn_with(long_session_cache).await;
        let cookie_token = app.logged_in_user("ann@example.com").await;
        let others = [app.another_device("ann@example.com").await, app.another_device("ann@example.com").await];
        // Bob signs in on his own device: the browser's cookie stays Ann's.
        app.verified_user("bob@example.com").await;
        let bob = app.another_device("bob@example.com").await;
        for token in others.iter().chain([&cookie_token, &bob]) {
            app.cache(token).await;
        }
        // Through the browser's cookie, as the settings page would.
        let response = app.client.post(app.url("/api/auth/logout-all")).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let cookie = set_cookie(&response);
        assert!(clears_the_cookie(&cookie), "{cookie}");
        let body: Value = response.json().await.unwrap();
        assert!(body["message"].is_string(), "{body}");
        assert_eq!(body["ended"], 3);
        for token in others.iter().chain([&cookie_token]) {
            assert_eq!(app.me_with_bearer(token).await.status(), StatusCode::UNAUTHORIZED);
        }
        assert_eq!(app.get("/api/auth/me").await.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(app.me_with_bearer(&bob).await.status(), StatusCode::OK, "another user's session");
        // Logging in again works as ever.
        assert_eq!(app.login("ann@example.com", PASSWORD).await.status(), StatusCode::OK);
        assert_eq!(app.get("/api/auth/me").await.status(), StatusCode::OK);
    }

    async fn the_settings_page_on_an_allowed_origin_can_end_a_session(backend: Backend) {
        let app = backend.spawn().await;
        let token = app.logged_in_user("ann@example.com").await;
        let other = app.another_device("ann@example.com").await;
        let id = other_ids(&app, &token).await.pop().unwrap();
        let path = format!("/api/auth/sessions/{id}");
        let preflight = app
            .client
            .request(Method::OPTIONS, app.url(&path))
            .header("origin", "http://localhost:5173")
            .header("access-control-request-method", "DELETE")
            .send()
            .await
            .unwrap();
        assert!(preflight.status().is_success(), "{}", preflight.status());
        let methods = preflight.headers()["access-control-allow-methods"].to_str().unwrap().to_owned();
        assert!(methods.contains("DELETE"), "{methods}");
        // The browser's cookie, from the page's origin.
        let response = app.client.delete(app.url(&path)).header("origin", "http://localhost:5173").send().await.unwrap();
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        assert_eq!(response.headers()["access-control-allow-origin"], "http://localhost:5173");
        assert_eq!(app.me_with_bearer(&other).await.status(), StatusCode::UNAUTHORIZED);
        let list = app.client.get(app.url("/api/auth/sessions")).header("origin", "http://localhost:5173").send().await.unwrap();
        assert_eq!(list.status(), StatusCode::OK);
        assert_eq!(list.headers()["access-control-allow-origin"], "http://localhost:5173");
    }

    async fn ended_counts_only_sessions_that_were_still_live(backend: Backend) {
        let app = backend.spawn_with(|c| c.auth.session_idle_timeout = Duration::from_secs(60)).await;
        let this = app.logged_in_user("ann@example.com").await;
        let idle = app.another_device("ann@example.com").await;
        let live = app.another_device("ann@example.com").await;
        app.clock.advance(Duration::from_secs(40));
        for token in [&this, &live] {
            assert_eq!(app.me_with_bearer(token).await.status(), StatusCode::OK);
        }
        app.clock.advance(Duration::from_secs(30));
        // One session idled out a moment ago: it is not listed, and ending the others does
        // not count it again.
        assert_eq!(app.me_with_bearer(&idle).await.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(app.sessions(&this).await.len(), 2);
        let others: Value = app.post_empty_as_device(&this, "/api/auth/logout-others").await.json().await.unwrap();
        assert_eq!(others["ended"], 1, "{others}");
        let all: Value = app.post_empty_as_device(&this, "/api/auth/logout-all").await.json().await.unwrap();
        assert_eq!(all["ended"], 1, "{all}");
    }

    async fn odd_user_agents_are_kept_readable_and_short(backend: Backend) {
        let app = backend.spawn_with(|c| c.http.trust_proxy = true).await;
        app.verified_user("ann@example.com").await;
        let long = format!("Mozilla/5.0 {}", "x".repeat(1000));
        login_from(&app, "10.0.0.1", Some(HeaderValue::from_str(&long).unwrap())).await;
        // Four bytes a character: cut by characters, and stored whole by every database.
        let crabs = "\u{1f980}".repeat(300);
        login_from(&app, "10.0.0.4", Some(HeaderValue::from_str(&crabs).unwrap())).await;
        // Bytes 0x80-0xff that are not UTF-8, a tab, a right-to-left override, a zero-width
        // space: all an HTTP client can put in a header.
        // A C1 control and a line separator, as UTF-8.
        let odd = HeaderValue::from_bytes(b"Evil\t\x80\xff\xfe Agent \xe2\x80\xae gnp.exe \xe2\x80\x8b \xc2\x85\xe2\x80\xa8 end").unwrap();
        let token = login_from(&app, "10.0.0.2", Some(odd)).await;
        // Control characters, which no client library sends: written on the socket.
        let body = json!({ "email": "ann@example.com", "password": PASSWORD }).to_string();
        for agent in [&b"Evil\x01\x1b[31mAgent"[..], b"Evil\x7fAgent", b"Evil\x00Agent"] {
            let mut request = format!(
                "POST /api/auth/login HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 10.0.0.3\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\nUser-Agent: ",
                body.len()
            )
            .into_bytes();
            request.extend_from_slice(agent);
            request.extend_from_slice(format!("\r\n\r\n{body}").as_bytes());
            let (status, answer) = app.raw(&request).await;
            // Refused as a malformed request, or accepted and shown cleaned up; never an error.
            assert!([200, 400].contains(&status), "{answer}");
        }
        let sessions = app.sessions(&token).await;
        for session in &sessions {
            let agent = session["user_agent"].as_str().unwrap();
            assert!(agent.chars().count() <= 256, "{agent}");
            assert!(!agent.chars().any(|c| c.is_control() || matches!(c, '\u{202e}' | '\u{200b}' | '\u{2028}')), "{agent:?}");
        }
        let agent = |ip: &str| sessions.iter().find(|s| s["ip"] == ip).unwrap()["user_agent"].as_str().unwrap().to_owned();
        let cut = agent("10.0.0.1");
        assert_eq!(cut.chars().count(), 256);
        assert!(long.starts_with(&cut));
        assert_eq!(agent("10.0.0.4"), "\u{1f980}".repeat(256));
        let odd = agent("10.0.0.2");
        assert!(odd.starts_with("Evil") && odd.ends_with("end") && odd.contains("Agent"), "{odd:?}");
        for session in sessions.iter().filter(|s| s["ip"] == "10.0.0.3") {
            let agent = session["user_agent"].as_str().unwrap();
            assert!(agent.starts_with("Evil") && agent.ends_with("Agent"), "{agent:?}");
        }
    }

    async fn the_list_leaves_out_sessions_that_ended(backend: Backend) {
        let app = backend.spawn_with(|c| c.auth.session_lifetime = Duration::from_secs(600)).await;
        let old = app.logged_in_user("ann@example.com").await;
        let logged_out = app.another_device("ann@example.com").await;
        assert_eq!(app.post_empty_as_device(&logged_out, "/api/auth/logout").await.status(), StatusCode::OK);
        assert_eq!(app.sessions(&old).await.len(), 1);
        app.clock.advance(Duration::from_secs(300));
        let new = app.another_device("ann@example.com").await;
        assert_eq!(app.sessions(&new).await.len(), 2);
        // The first session reaches its absolute end: gone from the list, and not deletable.
        let old_id = app.own_session_id(&old).await;
        app.clock.advance(Duration::from_secs(300));
        let sessions = app.sessions(&new).await;
        assert_eq!(sessions.len(), 1, "{sessions:?}");
        assert_eq!(sessions[0]["current"], true);
        assert_eq!(app.end_session(&new, &old_id).await.status(), StatusCode::NOT_FOUND);
    }

    async fn a_burst_of_deletes_of_one_session_ends_it_once(backend: Backend) {
        let app = backend.spawn().await;
        let this = app.logged_in_user("ann@example.com").await;
        let other = app.another_device("ann@example.com").await;
        let id = other_ids(&app, &this).await.pop().unwrap();
        let deletes = (0..10).map(|_| app.end_session(&this, &id));
        let statuses: Vec<StatusCode> = futures_util::future::join_all(deletes).await.iter().map(|r| r.status()).collect();
        let ended = statuses.iter().filter(|s| **s == StatusCode::NO_CONTENT).count();
        assert_eq!(ended, 1, "{statuses:?}");
        assert!(statuses.iter().all(|s| [StatusCode::NO_CONTENT, StatusCode::NOT_FOUND].contains(s)), "{statuses:?}");
        assert_eq!(app.me_with_bearer(&other).await.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(app.me_with_bearer(&this).await.status(), StatusCode::OK);
        // The list can be read by many at once too.
        let reads = (0..10).map(|_| app.as_device(&this, Method::GET, "/api/auth/sessions").send());
        for response in futures_util::future::join_all(reads).await {
            assert_eq!(response.unwrap().status(), StatusCode::OK);
        }
    }
}
