//! Two-factor login with TOTP: setup and enable from the settings page, the second step of
//! login (`mfa_token` and a code or a recovery code), codes good once and within a step of
//! skew, the token short-lived and single-use, wrong factors locked out per account and per
//! account and client, the step-up that account changes ask for, and the secret sealed at rest.
//! Codes are computed here from the secret setup answers (helpers/totp.rs), on the test clock.

use std::time::Duration;

use authd::db::Db;
use authd::mail::Message;
use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};
use sqlx::AssertSqlSafe;

use crate::helpers::{
    Backend, PASSWORD, TestApp, Totp, all_backends, client, detail, long_session_cache,
    mfa_token_of, retry_after, set_cookie, token_of, wrong_code,
};

const WRONG: &str = "definitely not it";
const NEW_PASSWORD: &str = "velvet orchard tempest";
const WRONG_FACTOR: &str = "The code is incorrect, or was used already.";
const WRONG_PASSWORD: &str = "The password is incorrect.";

/// A recovery code in the right shape that is none of the user's.
const NOT_A_RECOVERY_CODE: &str = "aaaa-bbbb-cccc";

/// POST `body` to `path` as the device holding `token`, from the client `ip` (needs
/// `trust_proxy`).
async fn post_from(app: &TestApp, ip: &str, token: &str, path: &str, body: Value) -> Response {
    let request = app
        .as_device(token, Method::POST, path)
        .header("x-forwarded-for", ip);
    request.json(&body).send().await.unwrap()
}

/// The `mfa_token` of a login of `email` from the client `ip` (needs `trust_proxy`).
async fn mfa_token_as(app: &TestApp, ip: &str, email: &str) -> String {
    mfa_token_of(app.login_as(ip, email, PASSWORD).await).await
}

/// How many recovery-code notices went to `email`, and the counts left they announced.
fn recovery_notices(app: &TestApp, email: &str) -> Vec<u64> {
    app.mailer
        .sent_to(email)
        .into_iter()
        .filter_map(|m| match m.message {
            Message::RecoveryCodeUsed { left } => Some(left),
            _ => None,
        })
        .collect()
}

/// Runs `sql` (a statement with no result, written by the test) on the app's database, past
/// the API.
async fn execute(app: &TestApp, sql: &str) {
    match &app.db {
        Db::Sqlite(pool) => sqlx::query(AssertSqlSafe(sql.to_owned()))
            .execute(pool)
            .await
            .map(|_| ()),
        Db::MySql(pool) => sqlx::query(AssertSqlSafe(sql.to_owned()))
            .execute(pool)
            .await
            .map(|_| ()),
        Db::Postgres(pool) => sqlx::query(AssertSqlSafe(sql.to_owned()))
            .execute(pool)
            .await
            .map(|_| ()),
    }
    .unwrap();
}

/// The text column of every row `sql` selects (NULL as `None`), past the API.
async fn texts(app: &TestApp, sql: &str) -> Vec<Option<String>> {
    let rows: Vec<(Option<String>,)> = match &app.db {
        Db::Sqlite(pool) => {
            sqlx::query_as(AssertSqlSafe(sql.to_owned()))
                .fetch_all(pool)
                .await
        }
        Db::MySql(pool) => {
            sqlx::query_as(AssertSqlSafe(sql.to_owned()))
                .fetch_all(pool)
                .await
        }
        Db::Postgres(pool) => {
            sqlx::query_as(AssertSqlSafe(sql.to_owned()))
                .fetch_all(pool)
                .await
        }
    }
    .unwrap();
    rows.into_iter().map(|(t,)| t).collect()
}

/// The stored `totp_secret` of `email`.
async fn stored_secret(app: &TestApp, email: &str) -> Option<String> {
    let sql = format!("SELECT totp_secret FROM users WHERE email = '{email}'");
    texts(app, &sql).await.into_iter().next().unwrap()
}

/// Checks that `stored` gives away neither the base32 secret nor its bytes in hex.
fn assert_sealed(stored: &str, base32: &str, app: &Totp) {
    let lower = stored.to_ascii_lowercase();
    assert!(
        !lower.contains(&base32.to_ascii_lowercase()),
        "base32 secret in {stored}"
    );
    assert!(
        !lower.contains(&hex::encode(&app.key)),
        "hex secret in {stored}"
    );
    assert!(!stored.contains(&String::from_utf8_lossy(&app.key).into_owned()));
}

/// The body of a change of password, with `extra` fields (the second factor) merged in.
fn change_password(current: &str, new: &str, extra: Value) -> Value {
    let mut body = json!({ "current_password": current, "new_password": new });
    merge(&mut body, extra);
    body
}

fn merge(body: &mut Value, extra: Value) {
    if let Value::Object(extra) = extra {
        body.as_object_mut().unwrap().extend(extra);
    }
}

/// The account changes that ask for the second factor: path and body (with `password` and
/// then `extra` merged in).
fn step_up_endpoints(password: &str, extra: &Value) -> Vec<(&'static str, Value)> {
    let mut endpoints = vec![
        (
            "/api/auth/change-password",
            json!({ "current_password": password, "new_password": NEW_PASSWORD }),
        ),
        (
            "/api/auth/change-email",
            json!({ "new_email": "ann.lee@example.org", "password": password }),
        ),
        ("/api/auth/delete-account", json!({ "password": password })),
    ];
    for (_, body) in &mut endpoints {
        merge(body, extra.clone());
    }
    endpoints
}

/// Whether `code` is also the code of a step in `steps` (so a test about it would be
/// ambiguous; a one-in-a-million chance).
fn collides(app: &Totp, code: &str, steps: impl IntoIterator<Item = i64>) -> bool {
    steps.into_iter().any(|s| app.code_at_step(s) == code)
}

all_backends! {
    async fn a_login_with_totp_on_asks_for_the_code_then_opens_the_session(backend: Backend) {
        let app = backend.spawn().await;
        let token = app.logged_in_user("ann@example.com").await;
        assert!(!app.mfa_enabled(&token).await);

        let setup = app.totp_setup(&token, PASSWORD).await;
        assert_eq!(setup.status(), StatusCode::OK);
        let setup: Value = setup.json().await.unwrap();
        let secret = setup["secret"].as_str().unwrap();
        assert_eq!(secret.len(), 32, "160 bits in base32: {secret}");
        let totp = Totp::from_base32(secret);
        assert_eq!(totp.key.len(), 20);
        let url = setup["otpauth_url"].as_str().unwrap();
        assert!(url.starts_with("otpauth://totp/"), "{url}");
        assert!(url.contains(&format!("secret={secret}")), "{url}");
        assert!(url.contains("ann%40example.com") && url.contains("issuer="), "{url}");
        assert!(setup["qr_svg"].as_str().unwrap().contains("<svg"));
        // Pending: login still opens a session with the password alone.
        let before = app.another_device("ann@example.com").await;
        assert!(!app.mfa_enabled(&token).await);

        let enabled = app.totp_enable(&token, &app.code_now(&totp)).await;
        assert_eq!(enabled.status(), StatusCode::OK);
        let enabled: Value = enabled.json().await.unwrap();
        assert!(enabled["message"].is_string());
        let codes: Vec<&str> = enabled["recovery_codes"].as_array().unwrap().iter().map(|c| c.as_str().unwrap()).collect();
        assert_eq!(codes.len(), 10);
        for code in &codes {
            let parts: Vec<&str> = code.split('-').collect();
            assert!(parts.len() == 3 && parts.iter().all(|p| p.len() == 4 && p.bytes().all(|b| b.is_ascii_alphanumeric())), "{code}");
        }
        let distinct: std::collections::HashSet<_> = codes.iter().collect();
        assert_eq!(distinct.len(), 10);
        assert!(app.mfa_enabled(&token).await);
        assert_eq!(app.me_with_bearer(&before).await.status(), StatusCode::UNAUTHORIZED);
        app.advance_steps(1);

        // A browser: the password gives a token and no session.
        let browser = client();
        let login = browser.post(app.url("/api/auth/login")).json(&json!({ "email": "ann@example.com", "password": PASSWORD })).send().await.unwrap();
        let mfa_token = mfa_token_of(login).await;
        assert_eq!(browser.get(app.url("/api/auth/me")).send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
        // The token is worth nothing as a session.
        assert_eq!(app.me_with_bearer(&mfa_token).await.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(app.sessions(&token).await.len(), 1);

        // The code finishes the login: the cookie, and the body of a login.
        let verified = browser.post(app.url("/api/auth/mfa/verify")).json(&json!({ "mfa_token": mfa_token, "code": app.code_now(&totp) })).send().await.unwrap();
        assert_eq!(verified.status(), StatusCode::OK);
        let cookie = set_cookie(&verified);
        let body: Value = verified.json().await.unwrap();
        let session = body["access_token"].as_str().unwrap();
        assert!(cookie.starts_with(&format!("access_token={session};")) && cookie.contains("HttpOnly"), "{cookie}");
        assert_eq!(body["token_type"], "bearer");
        assert_eq!(body["user"]["email"], "ann@example.com");
        assert_eq!(body["user"]["mfa_enabled"], true);
        let me: Value = browser.get(app.url("/api/auth/me")).send().await.unwrap().json().await.unwrap();
        assert_eq!((me["email"].as_str(), me["mfa_enabled"].as_bool()), (Some("ann@example.com"), Some(true)));
        assert_eq!(app.sessions(&token).await.len(), 2);
        assert_eq!(app.mail_count("ann@example.com", |m| matches!(m, Message::TotpEnabled)), 1);
    }

    async fn enable_needs_a_right_code_of_the_newest_pending_secret(backend: Backend) {
        let app = backend.spawn().await;
        let token = app.logged_in_user("ann@example.com").await;
        let nothing_pending = app.totp_enable(&token, "123456").await;
        assert_eq!(nothing_pending.status(), StatusCode::BAD_REQUEST);

        let wrong = app.totp_setup(&token, WRONG).await;
        assert_eq!(wrong.status(), StatusCode::BAD_REQUEST);
        assert_eq!(detail(wrong).await, WRONG_PASSWORD);
        let first: Value = app.totp_setup(&token, PASSWORD).await.json().await.unwrap();
        let second: Value = app.totp_setup(&token, PASSWORD).await.json().await.unwrap();
        assert_ne!(first["secret"], second["secret"]);
        let (first, second) = (Totp::from_base32(first["secret"].as_str().unwrap()), Totp::from_base32(second["secret"].as_str().unwrap()));
        // The newer setup replaced the older: its codes no longer turn anything on.
        let old_code = app.code_now(&first);
        if !collides(&second, &old_code, app.step() - 1..=app.step() + 1) {
            assert_eq!(app.totp_enable(&token, &old_code).await.status(), StatusCode::BAD_REQUEST);
        }
        let wrong = app.totp_enable(&token, &wrong_code(&app.code_now(&second))).await;
        assert_eq!(wrong.status(), StatusCode::BAD_REQUEST);
        assert!(!app.mfa_enabled(&token).await);
        assert!(!app.another_device("ann@example.com").await.is_empty());

        assert_eq!(app.totp_enable(&token, &app.code_now(&second)).await.status(), StatusCode::OK);
        assert!(app.mfa_enabled(&token).await);
        // On already: neither a new setup nor another enable.
        app.advance_steps(1);
        assert_eq!(app.totp_setup(&token, PASSWORD).await.status(), StatusCode::CONFLICT);
        assert_eq!(app.totp_enable(&token, &app.code_now(&second)).await.status(), StatusCode::CONFLICT);
        // The secret that works is still the one enabled.
        let mfa_token = app.mfa_token("ann@example.com", PASSWORD).await;
        assert_eq!(app.verify_code(&mfa_token, &app.code_now(&second)).await.status(), StatusCode::OK);
        assert_eq!(app.mail_count("ann@example.com", |m| matches!(m, Message::TotpEnabled)), 1);
    }

    async fn a_code_is_good_once(backend: Backend) {
        let app = backend.spawn().await;
        let ann = app.mfa_user("ann@example.com").await;
        let code = app.code_now(&ann.app);
        let first = app.mfa_token("ann@example.com", PASSWORD).await;
        assert_eq!(app.verify_code(&first, &code).await.status(), StatusCode::OK);
        // Seen over a shoulder, or replayed from a captured request: refused, in the same step.
        let second = app.mfa_token("ann@example.com", PASSWORD).await;
        let replayed = app.verify_code(&second, &code).await;
        assert_eq!(replayed.status(), StatusCode::BAD_REQUEST);
        assert_eq!(detail(replayed).await, WRONG_FACTOR);
        // So is the code of the step before, though within the skew.
        let earlier = ann.app.code_at_step(app.step() - 1);
        assert_eq!(app.verify_code(&second, &earlier).await.status(), StatusCode::BAD_REQUEST);
        // The next step's code works, and the token survived the refusals.
        assert_eq!(app.verify_code(&second, &app.fresh_code(&ann.app)).await.status(), StatusCode::OK);
    }

    async fn one_code_sent_many_times_at_once_opens_one_session(backend: Backend) {
        let app = backend.spawn_with(|c| c.http.trust_proxy = true).await;
        let ann = app.mfa_user("ann@example.com").await;
        let mut tokens = Vec::new();
        for _ in 0..6 {
            tokens.push(app.mfa_token("ann@example.com", PASSWORD).await);
        }
        let code = app.code_now(&ann.app);
        let attempts = tokens.iter().enumerate().map(|(n, token)| {
            let (app, code) = (&app, code.clone());
            async move { app.verify_code_as(&format!("10.0.0.{n}"), token, &code).await }
        });
        let mut statuses: Vec<u16> = futures_util::future::join_all(attempts).await.iter().map(|r| r.status().as_u16()).collect();
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 400, 400, 400, 400, 400]);
    }

    async fn a_step_of_clock_skew_either_way_is_accepted_and_two_are_not(backend: Backend) {
        let app = backend.spawn().await;
        let ann = app.mfa_user("ann@example.com").await;
        app.advance_steps(5);
        let now = app.step();
        let near = now - 1..=now + 1;
        let token = app.mfa_token("ann@example.com", PASSWORD).await;
        for far in [now - 2, now + 2] {
            let code = ann.app.code_at_step(far);
            if !collides(&ann.app, &code, near.clone()) {
                assert_eq!(app.verify_code(&token, &code).await.status(), StatusCode::BAD_REQUEST, "step {}", far - now);
            }
        }
        // A phone a step behind, then on time, then a step ahead: each accepted once.
        for step in [now - 1, now, now + 1] {
            let token = app.mfa_token("ann@example.com", PASSWORD).await;
            let response = app.verify_code(&token, &ann.app.code_at_step(step)).await;
            assert_eq!(response.status(), StatusCode::OK, "step {}", step - now);
        }
        let again = app.verify_code(&token, &ann.app.code_at_step(now + 1)).await;
        assert_eq!(again.status(), StatusCode::BAD_REQUEST);
    }

    async fn a_recovery_code_works_once_and_tells_the_owner(backend: Backend) {
        let app = backend.spawn().await;
        let ann = app.mfa_user("ann@example.com").await;
        let token = app.mfa_token("ann@example.com", PASSWORD).await;
        let signed_in = app.verify_recovery(&token, &ann.recovery_codes[0]).await;
        assert_eq!(signed_in.status(), StatusCode::OK);
        assert!(set_cookie(&signed_in).starts_with("access_token="));
        let session = token_of(signed_in).await;
        assert_eq!(app.me_with_bearer(&session).await.status(), StatusCode::OK);
        assert_eq!(recovery_notices(&app, "ann@example.com"), [9]);

        let token = app.mfa_token("ann@example.com", PASSWORD).await;
        let again = app.verify_recovery(&token, &ann.recovery_codes[0]).await;
        assert_eq!(again.status(), StatusCode::BAD_REQUEST);
        assert_eq!(detail(again).await, WRONG_FACTOR);
        assert_eq!(app.verify_recovery(&token, NOT_A_RECOVERY_CODE).await.status(), StatusCode::BAD_REQUEST);
        // Typed as people type: capitals, spaces for dashes.
        let typed = ann.recovery_codes[1].to_uppercase().replace('-', " ");
        assert_eq!(app.verify_recovery(&token, &typed).await.status(), StatusCode::OK);
        assert_eq!(recovery_notices(&app, "ann@example.com"), [9, 8]);
    }

    async fn a_wrong_factor_keeps_the_token_and_a_right_one_uses_it_up(backend: Backend) {
        let app = backend.spawn().await;
        let ann = app.mfa_user("ann@example.com").await;
        let token = app.mfa_token("ann@example.com", PASSWORD).await;
        let code = app.code_now(&ann.app);
        let wrong = app.verify_code(&token, &wrong_code(&code)).await;
        assert_eq!(wrong.status(), StatusCode::BAD_REQUEST);
        assert_eq!(set_cookie(&wrong), "");
        assert_eq!(detail(wrong).await, WRONG_FACTOR);
        assert_eq!(app.verify_recovery(&token, NOT_A_RECOVERY_CODE).await.status(), StatusCode::BAD_REQUEST);
        assert_eq!(app.verify_code(&token, &code).await.status(), StatusCode::OK);
        // Used: neither a new code nor a recovery code brings it back.
        let used = app.verify_code(&token, &app.fresh_code(&ann.app)).await;
        assert_eq!(used.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(set_cookie(&used), "");
        let used = app.verify_recovery(&token, &ann.recovery_codes[0]).await;
        assert_eq!(used.status(), StatusCode::UNAUTHORIZED);
        // Those refusals spent nothing: the code of now and the recovery code still work.
        let token = app.mfa_token("ann@example.com", PASSWORD).await;
        assert_eq!(app.verify_code(&token, &app.code_now(&ann.app)).await.status(), StatusCode::OK);
        let token = app.mfa_token("ann@example.com", PASSWORD).await;
        assert_eq!(app.verify_recovery(&token, &ann.recovery_codes[0]).await.status(), StatusCode::OK);
    }

    async fn the_token_lives_five_minutes(backend: Backend) {
        let app = backend.spawn().await;
        let ann = app.mfa_user("ann@example.com").await;
        let token = app.mfa_token("ann@example.com", PASSWORD).await;
        app.clock.advance(Duration::from_secs(290));
        assert_eq!(app.verify_code(&token, &app.code_now(&ann.app)).await.status(), StatusCode::OK);

        let token = app.mfa_token("ann@example.com", PASSWORD).await;
        app.clock.advance(Duration::from_secs(301));
        let expired = app.verify_code(&token, &app.code_now(&ann.app)).await;
        assert_eq!(expired.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(set_cookie(&expired), "");
        assert!(!detail(expired).await.is_empty());
        // The code was not spent on the dead token.
        let token = app.mfa_token("ann@example.com", PASSWORD).await;
        assert_eq!(app.verify_code(&token, &app.code_now(&ann.app)).await.status(), StatusCode::OK);
    }

    async fn forged_and_garbled_tokens_are_refused_and_never_a_500(backend: Backend) {
        let app = backend.spawn().await;
        let ann = app.mfa_user("ann@example.com").await;
        let bob = app.mfa_user("bob@example.com").await;
        let bob_token = app.mfa_token("bob@example.com", PASSWORD).await;
        let token = app.mfa_token("ann@example.com", PASSWORD).await;
        let parts: Vec<&str> = token.split('.').collect();
        let bob_id = bob_token.split('.').next().unwrap();
        assert_ne!(parts[0], bob_id);
        let with = |i: usize, value: &str| {
            let mut forged = parts.clone();
            forged[i] = value;
            forged.join(".")
        };
        let later = (parts[1].parse::<i64>().unwrap() + 86_400).to_string();
        let mut flipped = token.clone().into_bytes();
        let last = flipped.len() - 1;
        flipped[last] = if flipped[last] == b'0' { b'1' } else { b'0' };
        let flipped = String::from_utf8(flipped).unwrap();
        let signed_by_ann = with(0, bob_id);
        let code = app.code_now(&ann.app);
        // Forgeries of a real token: exactly 401.
        for forged in [with(0, bob_id), with(1, &later), with(2, &"0".repeat(32)), with(3, &"0".repeat(32)), flipped, format!("{token}.00"), ann.token.clone(), token.to_uppercase()] {
            let response = app.verify_code(&forged, &code).await;
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{forged}");
            assert!(!detail(response).await.is_empty());
        }
        // Garbage of every shape: refused as such, never an error of the server.
        let garbage = [
            json!(""), json!("x"), json!("...."), json!("1.2.3.4.5"), json!("\u{0}\u{7f}\u{ffff}"),
            json!("💥".repeat(100)), json!("a".repeat(513)), json!(".".repeat(10_000)), json!(format!("{}{}", token, "9".repeat(600))),
            json!(format!("99999999999999999999999.{}", "9".repeat(30))), json!(12345), json!(null), json!(["x"]), json!({ "a": 1 }),
        ];
        for mfa_token in garbage {
            let response = app.mfa_verify(json!({ "mfa_token": mfa_token, "code": code })).await;
            let status = response.status();
            assert!(status == StatusCode::UNAUTHORIZED || status == StatusCode::UNPROCESSABLE_ENTITY, "{status} for {mfa_token}");
            let body: Value = response.json().await.unwrap();
            assert!(body["detail"].is_string() || body["detail"].is_array(), "{body}");
        }
        // No token, or no factor: 422.
        for body in [json!({ "code": code }), json!({ "mfa_token": token }), json!({ "mfa_token": token, "code": "12345" }), json!({ "mfa_token": token, "code": code, "recovery_code": ann.recovery_codes[0] })] {
            assert_eq!(app.mfa_verify(body.clone()).await.status(), StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        }
        // Ann's token, signed for her, does not become Bob's with his code.
        let bobs_code = app.code_now(&bob.app);
        assert_eq!(app.verify_code(&signed_by_ann, &bobs_code).await.status(), StatusCode::UNAUTHORIZED);
        // None of it spent the real tokens or the codes.
        assert_eq!(app.verify_code(&token, &code).await.status(), StatusCode::OK);
        assert_eq!(app.verify_code(&bob_token, &bobs_code).await.status(), StatusCode::OK);
    }

    async fn wrong_codes_lock_the_second_step_per_account_and_address(backend: Backend) {
        let app = backend.spawn_with(|c| c.http.trust_proxy = true).await;
        let ann = app.mfa_user("ann@example.com").await;
        let token = mfa_token_as(&app, "10.0.0.1", "ann@example.com").await;
        let code = app.code_now(&ann.app);
        for _ in 0..5 {
            let response = app.verify_code_as("10.0.0.1", &token, &wrong_code(&code)).await;
            assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        }
        // Locked for this account from this address, even with the right code...
        let locked = app.verify_code_as("10.0.0.1", &token, &code).await;
        assert_eq!(locked.status(), StatusCode::TOO_MANY_REQUESTS);
        let wait = retry_after(&locked);
        assert!((800..=900).contains(&wait), "Retry-After {wait}");
        assert_eq!(app.verify_code_as("10.0.0.1", &token, &code).await.status(), StatusCode::TOO_MANY_REQUESTS);
        // ...but the owner, elsewhere, still gets in with the same token.
        assert_eq!(app.verify_code_as("10.0.0.2", &token, &code).await.status(), StatusCode::OK);

        // Guesses spread over many addresses add up to the account's lockout: 20 in all.
        let token = mfa_token_as(&app, "10.0.9.9", "ann@example.com").await;
        let code = app.fresh_code(&ann.app);
        for ip in 1..=3 {
            for _ in 0..5 {
                let response = app.verify_code_as(&format!("10.0.1.{ip}"), &token, &wrong_code(&code)).await;
                assert_eq!(response.status(), StatusCode::BAD_REQUEST, "from 10.0.1.{ip}");
            }
        }
        let locked = app.verify_code_as("10.0.2.1", &token, &code).await;
        assert_eq!(locked.status(), StatusCode::TOO_MANY_REQUESTS);
        let wait = retry_after(&locked);
        assert!((1..=300).contains(&wait), "Retry-After {wait}");
        // The password still passes (a lockout of its own); the second step does not.
        let later = mfa_token_as(&app, "10.0.2.1", "ann@example.com").await;
        assert_eq!(app.verify_code_as("10.0.2.1", &later, &code).await.status(), StatusCode::TOO_MANY_REQUESTS);
        // When the lockout ends, the right code works again.
        app.clock.advance(Duration::from_secs(wait));
        let token = mfa_token_as(&app, "10.0.2.1", "ann@example.com").await;
        assert_eq!(app.verify_code_as("10.0.2.1", &token, &app.code_now(&ann.app)).await.status(), StatusCode::OK);
    }

    async fn a_password_reset_keeps_totp_on_and_voids_a_pending_token(backend: Backend) {
        let app = backend.spawn().await;
        let ann = app.mfa_user("ann@example.com").await;
        let pending = app.mfa_token("ann@example.com", PASSWORD).await;
        app.post("/api/auth/forgot-password", json!({ "email": "ann@example.com" })).await;
        let otp = app.last_code("ann@example.com");
        let reset = json!({ "email": "ann@example.com", "otp": otp, "new_password": NEW_PASSWORD });
        assert_eq!(app.post("/api/auth/reset-password", reset).await.status(), StatusCode::OK);
        // The token of the old password is void, even with a right code.
        let code = app.fresh_code(&ann.app);
        assert_eq!(app.verify_code(&pending, &code).await.status(), StatusCode::UNAUTHORIZED);
        // The new password still asks for the second factor.
        assert_eq!(app.login("ann@example.com", PASSWORD).await.status(), StatusCode::UNAUTHORIZED);
        let token = app.mfa_token("ann@example.com", NEW_PASSWORD).await;
        let signed_in = app.verify_code(&token, &code).await;
        assert_eq!(signed_in.status(), StatusCode::OK);
        let session = token_of(signed_in).await;
        assert!(app.mfa_enabled(&session).await);
    }

    async fn enabling_and_disabling_end_every_other_session_and_tell_the_owner(backend: Backend) {
        let app = backend.spawn_with(long_session_cache).await;
        let this = app.logged_in_user("ann@example.com").await;
        let other = app.another_device("ann@example.com").await;
        app.cache(&other).await;
        let ann = app.turn_on_mfa("ann@example.com", &this).await;
        assert_eq!(app.me_with_bearer(&other).await.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(app.me_with_bearer(&this).await.status(), StatusCode::OK);
        assert_eq!(app.mail_count("ann@example.com", |m| matches!(m, Message::TotpEnabled)), 1);

        let second = app.mfa_login(&ann).await;
        app.cache(&second).await;
        let disable = "/api/auth/mfa/totp/disable";
        let code = app.fresh_code(&ann.app);
        let wrong_password = app.post_as_device(&this, disable, json!({ "password": WRONG, "code": code })).await;
        assert_eq!(wrong_password.status(), StatusCode::BAD_REQUEST);
        assert_eq!(detail(wrong_password).await, WRONG_PASSWORD);
        let no_code = app.post_as_device(&this, disable, json!({ "password": PASSWORD })).await;
        assert_eq!(no_code.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let wrong = app.post_as_device(&this, disable, json!({ "password": PASSWORD, "code": wrong_code(&code) })).await;
        assert_eq!(wrong.status(), StatusCode::BAD_REQUEST);
        assert_eq!(detail(wrong).await, WRONG_FACTOR);
        assert!(app.mfa_enabled(&this).await);
        assert_eq!(app.me_with_bearer(&second).await.status(), StatusCode::OK);
        assert_eq!(app.mail_count("ann@example.com", |m| matches!(m, Message::TotpDisabled)), 0);

        let off = app.post_as_device(&this, disable, json!({ "password": PASSWORD, "code": code })).await;
        assert_eq!(off.status(), StatusCode::OK);
        assert_eq!(app.me_with_bearer(&second).await.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(app.me_with_bearer(&this).await.status(), StatusCode::OK);
        assert!(!app.mfa_enabled(&this).await);
        assert_eq!(app.mail_count("ann@example.com", |m| matches!(m, Message::TotpDisabled)), 1);
        // The password alone signs in again; the recovery codes are gone with the secret.
        let login = app.login("ann@example.com", PASSWORD).await;
        assert_eq!(login.status(), StatusCode::OK);
        let body: Value = login.json().await.unwrap();
        assert!(body["access_token"].is_string() && body.get("mfa_token").is_none(), "{body}");
        assert_eq!(body["user"]["mfa_enabled"], false);
        let again = app.post_as_device(&this, disable, json!({ "password": PASSWORD, "recovery_code": ann.recovery_codes[0] })).await;
        assert_eq!(again.status(), StatusCode::CONFLICT);
        let regenerate = app.post_as_device(&this, "/api/auth/mfa/recovery-codes", json!({ "password": PASSWORD, "code": app.fresh_code(&ann.app) })).await;
        assert_eq!(regenerate.status(), StatusCode::CONFLICT);
    }

    async fn new_recovery_codes_replace_the_old_ones(backend: Backend) {
        let app = backend.spawn().await;
        let ann = app.mfa_user("ann@example.com").await;
        let path = "/api/auth/mfa/recovery-codes";
        let new_codes = |response: Value| -> Vec<String> {
            response["recovery_codes"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_owned()).collect()
        };
        let wrong = app.post_as_device(&ann.token, path, json!({ "password": WRONG, "code": app.code_now(&ann.app) })).await;
        assert_eq!(wrong.status(), StatusCode::BAD_REQUEST);
        let no_factor = app.post_as_device(&ann.token, path, json!({ "password": PASSWORD })).await;
        assert_eq!(no_factor.status(), StatusCode::UNPROCESSABLE_ENTITY);

        // With one of the old recovery codes as the factor.
        let first = app.post_as_device(&ann.token, path, json!({ "password": PASSWORD, "recovery_code": ann.recovery_codes[0] })).await;
        assert_eq!(first.status(), StatusCode::OK);
        let first = new_codes(first.json().await.unwrap());
        assert_eq!(first.len(), 10);
        assert!(first.iter().all(|c| !ann.recovery_codes.contains(c)));
        let token = app.mfa_token("ann@example.com", PASSWORD).await;
        assert_eq!(app.verify_recovery(&token, &ann.recovery_codes[1]).await.status(), StatusCode::BAD_REQUEST);
        assert_eq!(app.verify_recovery(&token, &first[0]).await.status(), StatusCode::OK);

        // With a code of the app.
        let second = app.post_as_device(&ann.token, path, json!({ "password": PASSWORD, "code": app.fresh_code(&ann.app) })).await;
        assert_eq!(second.status(), StatusCode::OK);
        let second = new_codes(second.json().await.unwrap());
        assert!(second.iter().all(|c| !first.contains(c)));
        let token = app.mfa_token("ann@example.com", PASSWORD).await;
        assert_eq!(app.verify_recovery(&token, &first[1]).await.status(), StatusCode::BAD_REQUEST);
        assert_eq!(app.verify_recovery(&token, &second[9]).await.status(), StatusCode::OK);
    }

    async fn account_changes_ask_for_the_second_factor_after_the_password(backend: Backend) {
        let app = backend.spawn().await;
        let ann = app.mfa_user("ann@example.com").await;
        let code = app.code_now(&ann.app);
        for (path, body) in step_up_endpoints(PASSWORD, &json!({})) {
            let response = app.post_as_device(&ann.token, path, body).await;
            assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{path} without a code");
            assert!(detail(response).await.contains("two-factor"), "{path}");
        }
        for (path, body) in step_up_endpoints(PASSWORD, &json!({ "code": wrong_code(&code) })) {
            let response = app.post_as_device(&ann.token, path, body).await;
            assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{path} with a wrong code");
            assert_eq!(detail(response).await, WRONG_FACTOR, "{path}");
        }
        // A wrong password with the right code: the password is what is told, and the code is
        // not spent on it.
        for (path, body) in step_up_endpoints(WRONG, &json!({ "code": code })) {
            let response = app.post_as_device(&ann.token, path, body).await;
            assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{path} with a wrong password");
            assert_eq!(detail(response).await, WRONG_PASSWORD, "{path}");
        }
        // Nothing changed.
        assert_eq!(app.mail_count("ann@example.com", |m| matches!(m, Message::PasswordChanged | Message::EmailChangeRequested { .. } | Message::AccountDeleted)), 0);
        assert_eq!(app.mail_count("ann.lee@example.org", |_| true), 0);
        assert_eq!(app.me_with_bearer(&ann.token).await.status(), StatusCode::OK);

        let changed = app.post_as_device(&ann.token, "/api/auth/change-password", change_password(PASSWORD, NEW_PASSWORD, json!({ "code": code }))).await;
        assert_eq!(changed.status(), StatusCode::OK);
        let changed: Value = changed.json().await.unwrap();
        assert_eq!(changed["user"]["mfa_enabled"], true);
        let session = changed["access_token"].as_str().unwrap().to_owned();
        // The code of that step is spent now.
        let email = json!({ "new_email": "ann.lee@example.org", "password": NEW_PASSWORD, "code": code });
        assert_eq!(app.post_as_device(&session, "/api/auth/change-email", email).await.status(), StatusCode::BAD_REQUEST);
        let email = json!({ "new_email": "ann.lee@example.org", "password": NEW_PASSWORD, "code": app.fresh_code(&ann.app) });
        assert_eq!(app.post_as_device(&session, "/api/auth/change-email", email).await.status(), StatusCode::ACCEPTED);
        assert_eq!(app.mail_count("ann.lee@example.org", |m| matches!(m, Message::EmailChangeCode { .. })), 1);
        // A recovery code stands in for the app.
        let delete = json!({ "password": NEW_PASSWORD, "recovery_code": ann.recovery_codes[3] });
        assert_eq!(app.post_as_device(&session, "/api/auth/delete-account", delete).await.status(), StatusCode::OK);
        assert_eq!(app.login("ann@example.com", NEW_PASSWORD).await.status(), StatusCode::UNAUTHORIZED);
    }

    async fn wrong_step_up_codes_count_towards_the_second_factor_lockout(backend: Backend) {
        let app = backend.spawn().await;
        let ann = app.mfa_user("ann@example.com").await;
        let code = app.code_now(&ann.app);
        let guesses = step_up_endpoints(PASSWORD, &json!({ "code": wrong_code(&code) }));
        for n in 0..5 {
            let (path, body) = guesses[n % 3].clone();
            let response = app.post_as_device(&ann.token, path, body).await;
            assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{path}");
        }
        // Locked: the right code, at the step-up and at login, from this address.
        for (path, body) in step_up_endpoints(PASSWORD, &json!({ "code": code })) {
            let response = app.post_as_device(&ann.token, path, body).await;
            assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS, "{path}");
            assert!(retry_after(&response) > 0);
        }
        let token = app.mfa_token("ann@example.com", PASSWORD).await;
        assert_eq!(app.verify_code(&token, &code).await.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(app.me_with_bearer(&ann.token).await.status(), StatusCode::OK);
        assert_eq!(app.mail_count("ann@example.com", |m| matches!(m, Message::PasswordChanged | Message::AccountDeleted)), 0);
    }

    async fn setup_with_a_wrong_password_counts_as_a_failed_login(backend: Backend) {
        let app = backend.spawn_with(|c| c.http.trust_proxy = true).await;
        let token = app.logged_in_user("ann@example.com").await;
        let setup = "/api/auth/mfa/totp/setup";
        for _ in 0..5 {
            let response = post_from(&app, "10.0.0.1", &token, setup, json!({ "password": WRONG })).await;
            assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        }
        let locked = post_from(&app, "10.0.0.1", &token, setup, json!({ "password": PASSWORD })).await;
        assert_eq!(locked.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(app.login_as("10.0.0.1", "ann@example.com", PASSWORD).await.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(app.login_as("10.0.0.2", "ann@example.com", PASSWORD).await.status(), StatusCode::OK);
        assert!(!app.mfa_enabled(&token).await);
    }

    async fn the_secret_is_stored_sealed_and_only_for_its_own_user(backend: Backend) {
        let app = backend.spawn().await;
        let token = app.logged_in_user("ann@example.com").await;
        let setup: Value = app.totp_setup(&token, PASSWORD).await.json().await.unwrap();
        let base32 = setup["secret"].as_str().unwrap().to_owned();
        let totp = Totp::from_base32(&base32);
        let pending = stored_secret(&app, "ann@example.com").await.expect("a pending secret");
        assert_sealed(&pending, &base32, &totp);
        assert_eq!(app.totp_enable(&token, &app.code_now(&totp)).await.status(), StatusCode::OK);
        let sealed = stored_secret(&app, "ann@example.com").await.expect("the secret");
        assert_sealed(&sealed, &base32, &totp);
        app.advance_steps(1);

        // Recovery codes are not kept as typed either.
        let bob = app.mfa_user("bob@example.com").await;
        let digests = texts(&app, "SELECT digest FROM recovery_codes").await;
        assert_eq!(digests.len(), 20, "ten for Ann, ten for Bob");
        for code in &bob.recovery_codes {
            let canonical = code.replace('-', "");
            assert!(digests.iter().flatten().all(|d| !d.contains(&canonical) && !d.contains(code.as_str())), "{code}");
        }

        // Ann's sealed secret copied into Bob's row opens for no one there: neither Ann's codes
        // nor Bob's sign Bob in.
        execute(&app, &format!("UPDATE users SET totp_secret = '{sealed}' WHERE email = 'bob@example.com'")).await;
        let token = app.mfa_token("bob@example.com", PASSWORD).await;
        let code = app.fresh_code(&totp);
        assert_eq!(app.verify_code(&token, &code).await.status(), StatusCode::BAD_REQUEST);
        assert_eq!(app.verify_code(&token, &app.code_now(&bob.app)).await.status(), StatusCode::BAD_REQUEST);
        // Ann's own login is untouched.
        let token = app.mfa_token("ann@example.com", PASSWORD).await;
        assert_eq!(app.verify_code(&token, &code).await.status(), StatusCode::OK);
    }
}
