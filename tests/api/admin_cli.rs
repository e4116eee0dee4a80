//! The operator's command line: the real `authd` binary run as a process (`authd users …`,
//! `authd migrate`, `authd mfa-key`) on the database of a running test server, and what the
//! users of that server notice: a verified address, a deleted or disabled account, sessions
//! ended within the session cache's bound (at once on every instance with Redis), two-factor
//! login turned off. Exit codes: 0 done, 1 no such user, 2 bad usage, 3 could not run.

use std::collections::BTreeSet;
use std::process::Stdio;
use std::time::Duration;

use authd::mail::Message;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{
    Backend, PASSWORD, TEST_SECRET, TestApp, all_backends, detail, long_session_cache,
    stable_headers, test_redis_url, token_of,
};
use crate::revocation::refused_within;

/// What a run of the binary left: its exit code and what it printed.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Its standard output as JSON (what `--json` prints).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {self:?}"))
    }

    /// Panics unless the command succeeded.
    #[track_caller]
    pub fn ok(self) -> Self {
        assert_eq!(self.code, 0, "{self:?}");
        self
    }
}

/// Runs `authd args` in an empty directory (so no `.env` is read) with only `env`.
pub async fn authd(args: &[&str], env: &[(&str, &str)]) -> Run {
    let dir = tempfile::tempdir().expect("temporary directory");
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_authd"))
        .args(args)
        .current_dir(dir.path())
        .env_clear()
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(60), output)
        .await
        .expect("the command ends within a minute")
        .expect("authd runs");
    Run {
        code: output.status.code().expect("an exit code, not a signal"),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Runs `authd args` on the database of `app`, with the server's secret (as an operator runs
/// it with the server's environment: the key that seals queued email is derived from it).
async fn admin(app: &TestApp, args: &[&str]) -> Run {
    let env = [
        ("DATABASE_URL", app.database_url.as_str()),
        ("JWT_SECRET", TEST_SECRET),
    ];
    authd(args, &env).await
}

/// Registers `email` under `name`, checking the answer.
async fn register_named(app: &TestApp, name: &str, email: &str) {
    let body = json!({ "name": name, "email": email, "password": PASSWORD });
    let response = app.post("/api/auth/register", body).await;
    assert_eq!(response.status(), StatusCode::CREATED, "{email}");
}

/// The addresses of a JSON list of accounts, in its order.
fn emails(accounts: &Value) -> Vec<&str> {
    accounts
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {accounts}"))
        .iter()
        .map(|a| a["email"].as_str().expect("email"))
        .collect()
}

/// A login of `email` with `password` from a client with no cookies.
async fn fresh_login(app: &TestApp, email: &str, password: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(app.url("/api/auth/login"))
        .json(&json!({ "email": email, "password": password }))
        .send()
        .await
        .expect("request sent")
}

all_backends! {
    async fn users_list_finds_accounts_by_address_or_name_oldest_first(backend: Backend) {
        let app = backend.spawn().await;
        register_named(&app, "Ann Lee", "ann@example.com").await;
        register_named(&app, "Bob Stone", "bob@example.org").await;
        register_named(&app, "Carol 100% Real", "carol@example.com").await;
        let code = app.last_code("bob@example.org");
        assert_eq!(app.verify("bob@example.org", &code).await.status(), StatusCode::OK);

        let all = admin(&app, &["users", "list", "--json"]).await.ok().json();
        assert_eq!(emails(&all), ["ann@example.com", "bob@example.org", "carol@example.com"]);
        let verified: Vec<bool> = all.as_array().unwrap().iter().map(|a| a["is_verified"].as_bool().unwrap()).collect();
        assert_eq!(verified, [false, true, false]);
        assert_eq!(all[0]["name"], "Ann Lee");
        assert_eq!(all[0]["mfa_enabled"], false);
        assert!(all[0]["disabled_at"].is_null(), "{all}");

        // By address, by name (any case), and with LIKE's wildcards taken as plain text.
        let by_address = admin(&app, &["users", "list", "--search", "EXAMPLE.ORG", "--json"]).await.ok().json();
        assert_eq!(emails(&by_address), ["bob@example.org"]);
        let by_name = admin(&app, &["--json", "users", "list", "--search", "stone"]).await.ok().json();
        assert_eq!(emails(&by_name), ["bob@example.org"]);
        let percent = admin(&app, &["users", "list", "--search", "100%", "--json"]).await.ok().json();
        assert_eq!(emails(&percent), ["carol@example.com"]);
        let underscore = admin(&app, &["users", "list", "--search", "_", "--json"]).await.ok().json();
        assert_eq!(emails(&underscore), Vec::<&str>::new());
        let limited = admin(&app, &["users", "list", "--limit", "2", "--json"]).await.ok().json();
        assert_eq!(emails(&limited), ["ann@example.com", "bob@example.org"]);

        // Without --json, a table a person reads: a header and one line per account.
        let table = admin(&app, &["users", "list", "--search", "example.com"]).await.ok();
        let lines: Vec<&str> = table.stdout.lines().collect();
        assert_eq!(lines.len(), 3, "{table:?}");
        assert!(lines[0].contains("email") && lines[0].contains("verified"), "{table:?}");
        assert!(lines[1].contains("ann@example.com") && lines[1].contains("Ann Lee"), "{table:?}");
        assert!(lines[2].contains("carol@example.com"), "{table:?}");
        assert!(!table.stdout.contains("bob@"), "{table:?}");
    }

    async fn users_show_lists_the_live_sessions_and_the_two_factor_state(backend: Backend) {
        let app = backend.spawn().await;
        let token = app.logged_in_user("ann@example.com").await;
        app.another_device("ann@example.com").await;
        let shown = admin(&app, &["users", "show", "ann@example.com", "--json"]).await.ok().json();
        assert_eq!(shown["email"], "ann@example.com");
        assert_eq!(shown["is_verified"], true);
        assert_eq!(shown["mfa_enabled"], false);
        let listed = |v: &Value| -> BTreeSet<String> {
            v.as_array().expect("sessions").iter().map(|s| s["id"].as_str().expect("id").to_owned()).collect()
        };
        let over_http = listed(&Value::Array(app.sessions(&token).await));
        assert_eq!(over_http.len(), 2);
        assert_eq!(listed(&shown["sessions"]), over_http, "{shown}");

        let user = app.turn_on_mfa("ann@example.com", &token).await;
        let shown = admin(&app, &["users", "show", "ann@example.com", "--json"]).await.ok().json();
        assert_eq!(shown["mfa_enabled"], true, "{shown}");
        assert_eq!(shown["recovery_codes_left"], user.recovery_codes.len(), "{shown}");
        assert_eq!(listed(&shown["sessions"]), listed(&Value::Array(app.sessions(&token).await)));

        // The table names the account and each session.
        let table = admin(&app, &["users", "show", "ann@example.com"]).await.ok();
        assert!(table.stdout.contains("ann@example.com"), "{table:?}");
        for id in listed(&shown["sessions"]) {
            assert!(table.stdout.contains(&id), "{table:?}");
        }
    }

    async fn users_verify_lets_an_unverified_registration_log_in(backend: Backend) {
        let app = backend.spawn().await;
        assert_eq!(app.register("ann@example.com").await.status(), StatusCode::CREATED);
        assert_eq!(app.login("ann@example.com", PASSWORD).await.status(), StatusCode::FORBIDDEN);
        let verified = admin(&app, &["users", "verify", "ann@example.com", "--json"]).await.ok().json();
        assert_eq!(verified[0]["is_verified"], true, "{verified}");
        let login = app.login("ann@example.com", PASSWORD).await;
        assert_eq!(login.status(), StatusCode::OK);
        let me = app.me_with_bearer(&token_of(login).await).await;
        assert_eq!(me.status(), StatusCode::OK);
        let me: Value = me.json().await.unwrap();
        assert_eq!(me["is_verified"], true, "{me}");
    }

    async fn users_delete_ends_the_account_and_frees_the_address(backend: Backend) {
        let app = backend.spawn().await;
        let token = app.logged_in_user("ann@example.com").await;
        app.cache(&token).await;
        let run = admin(&app, &["users", "delete", "ann@example.com"]).await.ok();
        assert!(run.stdout.contains("goodbye email is queued"), "{run:?}");
        // The running server's worker delivers the goodbye the command queued (on the
        // command's clock, the real one: bring the test's clock past it).
        app.clock.advance(Duration::from_secs(60));
        app.mail_settled().await;
        let goodbyes = app.mail_count("ann@example.com", |m| matches!(m, Message::AccountDeleted));
        assert_eq!(goodbyes, 1);
        assert_eq!(app.login("ann@example.com", PASSWORD).await.status(), StatusCode::UNAUTHORIZED);
        assert!(refused_within(&app, &token, Duration::from_millis(1500)).await, "the deleted account's session still works");
        assert_eq!(admin(&app, &["users", "show", "ann@example.com"]).await.code, 1);
        // The address is free: a new registration of it is a new account.
        app.clock.advance(Duration::from_secs(61));
        let body = json!({ "name": "Ann Again", "email": "ann@example.com", "password": "velvet orchard tempest" });
        assert_eq!(app.post("/api/auth/register", body).await.status(), StatusCode::CREATED);
        let code = app.last_code("ann@example.com");
        assert_eq!(app.verify("ann@example.com", &code).await.status(), StatusCode::OK);
        assert_eq!(app.login("ann@example.com", PASSWORD).await.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(app.login("ann@example.com", "velvet orchard tempest").await.status(), StatusCode::OK);
        let listed = admin(&app, &["users", "list", "--json"]).await.ok().json();
        assert_eq!(listed[0]["name"], "Ann Again", "{listed}");
    }

    async fn users_revoke_sessions_ends_every_session_within_the_cache_bound(backend: Backend) {
        let app = backend.spawn().await;
        let first = app.logged_in_user("ann@example.com").await;
        let second = app.another_device("ann@example.com").await;
        let other = app.logged_in_user("bob@example.com").await;
        for token in [&first, &second, &other] {
            app.cache(token).await;
        }
        let run = admin(&app, &["users", "revoke-sessions", "ann@example.com"]).await.ok();
        assert!(run.stdout.contains("2 sessions ended"), "{run:?}");
        for token in [&first, &second] {
            assert!(refused_within(&app, token, Duration::from_millis(1500)).await, "a revoked session still works");
        }
        // Only that user's sessions, and the account itself is untouched.
        assert_eq!(app.me_with_bearer(&other).await.status(), StatusCode::OK);
        let again = fresh_login(&app, "ann@example.com", PASSWORD).await;
        assert_eq!(again.status(), StatusCode::OK);
        let json = admin(&app, &["users", "revoke-sessions", "ann@example.com", "--json"]).await.ok().json();
        assert_eq!(json["result"], "1 sessions ended", "{json}");
    }

    async fn a_disabled_user_is_answered_as_a_wrong_password_until_enabled(backend: Backend) {
        let app = backend.spawn().await;
        let token = app.logged_in_user("ann@example.com").await;
        app.cache(&token).await;
        let wrong = fresh_login(&app, "ann@example.com", "definitely not it").await;
        let (wrong_status, wrong_headers) = (wrong.status(), stable_headers(&wrong));
        let wrong_body: Value = wrong.json().await.unwrap();
        assert_eq!(wrong_status, StatusCode::UNAUTHORIZED);

        let run = admin(&app, &["users", "disable", "ann@example.com"]).await.ok();
        assert!(run.stdout.contains("1 sessions ended"), "{run:?}");
        assert!(refused_within(&app, &token, Duration::from_millis(1500)).await, "the disabled user's session still works");
        let refused = fresh_login(&app, "ann@example.com", PASSWORD).await;
        assert_eq!(refused.status(), wrong_status);
        assert_eq!(stable_headers(&refused), wrong_headers);
        let refused_body: Value = refused.json().await.unwrap();
        assert_eq!(refused_body, wrong_body);
        assert_eq!(refused_body["detail"], "Invalid email or password");
        let shown = admin(&app, &["users", "show", "ann@example.com", "--json"]).await.ok().json();
        assert!(shown["disabled_at"].is_string(), "{shown}");
        assert_eq!(shown["sessions"], json!([]), "{shown}");

        admin(&app, &["users", "enable", "ann@example.com"]).await.ok();
        let login = fresh_login(&app, "ann@example.com", PASSWORD).await;
        assert_eq!(login.status(), StatusCode::OK);
        assert_eq!(app.me_with_bearer(&token_of(login).await).await.status(), StatusCode::OK);
        let shown = admin(&app, &["users", "show", "ann@example.com", "--json"]).await.ok().json();
        assert!(shown["disabled_at"].is_null(), "{shown}");
    }

    async fn logins_of_a_disabled_user_count_as_failures(backend: Backend) {
        let app = backend.spawn_with(|c| c.http.trust_proxy = true).await;
        app.verified_user("ann@example.com").await;
        admin(&app, &["users", "disable", "ann@example.com"]).await.ok();
        // Five failures of one account from one IP lock it there, as for wrong passwords.
        for _ in 0..5 {
            let response = app.login_as("10.0.0.1", "ann@example.com", PASSWORD).await;
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        }
        let locked = app.login_as("10.0.0.1", "ann@example.com", PASSWORD).await;
        assert_eq!(locked.status(), StatusCode::TOO_MANY_REQUESTS, "{}", detail(locked).await);
    }

    async fn a_two_factor_login_begun_before_the_account_was_disabled_cannot_finish(backend: Backend) {
        let app = backend.spawn().await;
        let user = app.mfa_user("ann@example.com").await;
        let mfa_token = app.mfa_token("ann@example.com", PASSWORD).await;
        admin(&app, &["users", "disable", "ann@example.com"]).await.ok();
        let code = app.fresh_code(&user.app);
        let second_step = app.verify_code(&mfa_token, &code).await;
        assert_eq!(second_step.status(), StatusCode::UNAUTHORIZED);
        // Nor does the password reveal that a second factor is asked for.
        let login = fresh_login(&app, "ann@example.com", PASSWORD).await;
        assert_eq!(login.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(detail(login).await, "Invalid email or password");
    }

    async fn users_mfa_reset_lets_a_user_who_lost_the_device_log_in_with_the_password(backend: Backend) {
        let app = backend.spawn().await;
        let user = app.mfa_user("ann@example.com").await;
        app.cache(&user.token).await;
        // Before: the password alone only leads to the second step.
        app.mfa_token("ann@example.com", PASSWORD).await;
        let run = admin(&app, &["users", "mfa-reset", "ann@example.com"]).await.ok();
        assert!(run.stdout.contains("turned off"), "{run:?}");
        assert!(refused_within(&app, &user.token, Duration::from_millis(1500)).await, "sessions end with the reset");
        let login = fresh_login(&app, "ann@example.com", PASSWORD).await;
        assert_eq!(login.status(), StatusCode::OK);
        let token = token_of(login).await;
        assert!(!app.mfa_enabled(&token).await);
        let shown = admin(&app, &["users", "show", "ann@example.com", "--json"]).await.ok().json();
        assert_eq!(shown["mfa_enabled"], false, "{shown}");
        assert_eq!(shown["recovery_codes_left"], 0, "{shown}");
        let again = admin(&app, &["users", "mfa-reset", "ann@example.com"]).await.ok();
        assert!(again.stdout.contains("already off"), "{again:?}");
        // The old recovery codes are gone with it: turning it on again gives new ones.
        let renewed = app.turn_on_mfa("ann@example.com", &token).await;
        assert!(renewed.recovery_codes.iter().all(|c| !user.recovery_codes.contains(c)));
    }

    async fn an_unknown_user_exits_1_and_bad_usage_exits_2(backend: Backend) {
        let app = backend.spawn().await;
        app.verified_user("ann@example.com").await;
        for command in ["show", "verify", "delete", "revoke-sessions", "disable", "enable", "mfa-reset"] {
            let run = admin(&app, &["users", command, "nobody@example.com"]).await;
            assert_eq!(run.code, 1, "{command}: {run:?}");
            assert!(run.stderr.contains("no user"), "{command}: {run:?}");
            assert_eq!(run.stdout, "", "{command}: {run:?}");
            let invalid = admin(&app, &["users", command, "not-an-address"]).await;
            assert_eq!(invalid.code, 2, "{command}: {invalid:?}");
            assert!(!invalid.stderr.is_empty(), "{command}: {invalid:?}");
            let missing = admin(&app, &["users", command]).await;
            assert_eq!(missing.code, 2, "{command}: {missing:?}");
        }
        for args in [
            &["users", "frobnicate", "ann@example.com"][..],
            &["users", "list", "--limit", "many"],
            &["users", "list", "--no-such-flag"],
            &["no-such-command"],
        ] {
            let run = admin(&app, args).await;
            assert_eq!(run.code, 2, "{args:?}: {run:?}");
        }
        // None of that touched the account.
        assert_eq!(app.login("ann@example.com", PASSWORD).await.status(), StatusCode::OK);
    }

    async fn with_redis_a_revocation_reaches_every_instance_at_once(backend: Backend) {
        let Some(url) = test_redis_url() else {
            eprintln!("skipped: TEST_REDIS_URL is not set");
            return;
        };
        // Sessions cached for a minute: only the message through Redis can end them sooner.
        let (a, b) = backend.spawn_pair(&url, long_session_cache).await;
        let prefix = a.redis_prefix().expect("a Redis prefix").to_owned();
        let env = [
            ("DATABASE_URL", a.database_url.as_str()),
            ("REDIS_URL", url.as_str()),
            ("REDIS_KEY_PREFIX", prefix.as_str()),
            ("JWT_SECRET", TEST_SECRET),
        ];
        let token = a.logged_in_user("ann@example.com").await;
        a.cache(&token).await;
        b.cache(&token).await;
        authd(&["users", "revoke-sessions", "ann@example.com"], &env).await.ok();
        for app in [&a, &b] {
            assert!(refused_within(app, &token, Duration::from_millis(500)).await, "a cached session outlived the revocation");
        }
        let token = b.another_device("ann@example.com").await;
        a.cache(&token).await;
        b.cache(&token).await;
        authd(&["users", "disable", "ann@example.com"], &env).await.ok();
        for app in [&a, &b] {
            assert!(refused_within(app, &token, Duration::from_millis(500)).await, "a disabled user's cached session outlived the command");
        }
    }
}

/// Without Redis, a long session cache keeps serving a revoked session until it expires: the
/// bound the README documents, so the tests above prove the cache lifetime, not luck.
#[tokio::test]
async fn without_redis_a_running_server_follows_within_its_cache_lifetime() {
    let app = Backend::Sqlite
        .spawn_with(|c| c.auth.session_cache_ttl = Duration::from_secs(3))
        .await;
    let token = app.logged_in_user("ann@example.com").await;
    app.cache(&token).await;
    admin(&app, &["users", "revoke-sessions", "ann@example.com"])
        .await
        .ok();
    assert_eq!(
        app.me_with_bearer(&token).await.status(),
        StatusCode::OK,
        "served from the cache"
    );
    assert!(refused_within(&app, &token, Duration::from_secs(5)).await);
}

#[tokio::test]
async fn migrate_prepares_a_fresh_sqlite_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("fresh.db");
    let url = format!("sqlite://{}", file.display());
    let env = [("DATABASE_URL", url.as_str())];
    let run = authd(&["migrate"], &env).await.ok();
    assert!(file.exists(), "{run:?}");
    assert!(run.stdout.contains("migrations applied"), "{run:?}");
    // Applying them again is a no-op, and the commands work on the new database.
    authd(&["migrate"], &env).await.ok();
    let listed = authd(&["users", "list", "--json"], &env).await.ok().json();
    assert_eq!(listed, json!([]));
    assert_eq!(
        authd(&["users", "show", "ann@example.com"], &env)
            .await
            .code,
        1
    );
}

#[tokio::test]
async fn a_command_that_cannot_open_its_database_exits_3() {
    let env = [("DATABASE_URL", "sqlite:///no/such/directory/auth.db")];
    for args in [&["migrate"][..], &["users", "list"]] {
        let run = authd(args, &env).await;
        assert_eq!(run.code, 3, "{args:?}: {run:?}");
        assert!(run.stderr.starts_with("authd:"), "{run:?}");
    }
}

#[tokio::test]
async fn mfa_key_prints_the_same_64_hex_key_for_the_same_secret() {
    const SECRET: &str = "a-jwt-secret-of-at-least-thirty-two-bytes-0123";
    const OTHER: &str = "another-jwt-secret-at-least-thirty-two-bytes-9";
    let key = |secret: &'static str| async move {
        let run = authd(&["mfa-key"], &[("JWT_SECRET", secret)]).await.ok();
        let key = run.stdout.trim().to_owned();
        assert_eq!(key.len(), 64, "{run:?}");
        assert!(
            key.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
            "{run:?}"
        );
        key
    };
    let first = key(SECRET).await;
    assert_eq!(key(SECRET).await, first);
    assert_ne!(key(OTHER).await, first);
    // A pinned key is the one in use, whatever JWT_SECRET says.
    let pinned = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
    let env = [("JWT_SECRET", OTHER), ("MFA_ENCRYPTION_KEY", pinned)];
    let run = authd(&["mfa-key"], &env).await.ok();
    assert_eq!(run.stdout.trim(), pinned);
}
