//! One mailbox, one account: every spelling of an address reaches the same account, invisible
//! characters and IP-literal or single-label domains are refused, and addresses stored before
//! the rule are normalised (merging duplicates) at start.

use std::time::Duration;

use authd::db::Db;
use authd::mail::Message;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, PASSWORD, Shared, TestApp, all_backends};

const SPELLINGS: [&str; 5] = [
    "ann@\u{ff45}\u{ff58}\u{ff41}\u{ff4d}\u{ff50}\u{ff4c}\u{ff45}.com",
    "ann@example\u{3002}com",
    "ANN@Example.COM",
    "ann@example.com.",
    " ann@example.com ",
];

/// Runs `sql` (no parameters) on the app's database, past the API: the way rows written by an
/// older version of the server look.
async fn execute(app: &TestApp, sql: &str) {
    let sql = sqlx::AssertSqlSafe(sql.to_owned());
    match &app.db {
        Db::Sqlite(pool) => sqlx::query(sql).execute(pool).await.map(|_| ()),
        Db::MySql(pool) => sqlx::query(sql).execute(pool).await.map(|_| ()),
        Db::Postgres(pool) => sqlx::query(sql).execute(pool).await.map(|_| ()),
    }
    .expect("setup statement");
}

async fn stored_emails(app: &TestApp) -> Vec<(i64, String, bool)> {
    const SQL: &str = "SELECT id, email, is_verified FROM users ORDER BY id";
    match &app.db {
        Db::Sqlite(pool) => sqlx::query_as(SQL).fetch_all(pool).await,
        Db::MySql(pool) => sqlx::query_as(SQL).fetch_all(pool).await,
        Db::Postgres(pool) => sqlx::query_as(SQL).fetch_all(pool).await,
    }
    .expect("users")
}

all_backends! {
    async fn every_spelling_of_one_mailbox_reaches_the_same_account(backend: Backend) {
        let app = backend.spawn().await;
        app.verified_user("ann@example.com").await;
        for spelling in SPELLINGS {
            let login = app.login(spelling, PASSWORD).await;
            assert_eq!(login.status(), StatusCode::OK, "{spelling:?}");
            let body: Value = login.json().await.unwrap();
            assert_eq!(body["user"]["email"], "ann@example.com");
        }
        // Registering another spelling is registering the same address: its owner is told.
        app.clock.advance(Duration::from_secs(61));
        let body = json!({ "name": "Mallory", "email": SPELLINGS[0], "password": "purple kettle drums at dawn" });
        assert_eq!(app.post("/api/auth/register", body).await.status(), StatusCode::CREATED);
        let notices = app.mail_count("ann@example.com", |m| matches!(m, Message::RegistrationAttempt));
        assert_eq!(notices, 1);
        assert_eq!(stored_emails(&app).await.len(), 1);
    }

    async fn the_mail_throttle_counts_every_spelling_as_one_address(backend: Backend) {
        let app = backend.spawn().await;
        app.verified_user("ann@example.com").await;
        app.clock.advance(Duration::from_secs(61));
        let first = app.post("/api/auth/forgot-password", json!({ "email": SPELLINGS[0] })).await;
        assert_eq!(first.status(), StatusCode::OK);
        let second = app.post("/api/auth/forgot-password", json!({ "email": SPELLINGS[1] })).await;
        assert_eq!(second.status(), StatusCode::TOO_MANY_REQUESTS);
    }

    async fn invisible_characters_and_ip_or_single_label_domains_are_refused(backend: Backend) {
        let app = backend.spawn().await;
        for email in [
            "ann@exam\u{ad}ple.com",
            "ann@exam\u{200b}ple.com",
            "ann@example.com\u{200b}",
            "ann\u{2060}@example.com",
            "ann@exa mple.com",
            "ann@-example.com",
            "ann@localhost",
            "ann@[127.0.0.1]",
            "ann@[::1]",
            "ann@[IPv6:::1]",
            "ann.@example.com",
            ".ann@example.com",
            "a..nn@example.com",
        ] {
            let body = json!({ "name": "Ann", "email": email, "password": PASSWORD });
            let response = app.post("/api/auth/register", body).await;
            assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "{email:?}");
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["detail"][0]["loc"], json!(["body", "email"]), "{email:?}");
        }
        assert!(app.mailer.sent().is_empty());
    }

    async fn an_internationalised_domain_is_stored_in_unicode(backend: Backend) {
        let app = backend.spawn().await;
        let body = json!({ "name": "Ann", "email": "Ann@B\u{fc}cher.Example", "password": PASSWORD });
        let response = app.post("/api/auth/register", body).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["email"], "ann@b\u{fc}cher.example");
        let code = app.last_code("ann@b\u{fc}cher.example");
        // Its A-label spelling is the same account.
        assert_eq!(app.verify("ann@xn--bcher-kva.example", &code).await.status(), StatusCode::OK);
    }

    async fn names_with_invisible_or_direction_characters_are_refused(backend: Backend) {
        let app = backend.spawn().await;
        for name in ["Ann\u{202e}eeL", "Ann\u{200b}", "\u{feff}Ann", "Ann\u{2067}x\u{2069}", "Ann\u{1b}[31m"] {
            let body = json!({ "name": name, "email": "ann@example.com", "password": PASSWORD });
            let response = app.post("/api/auth/register", body).await;
            assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "{name:?}");
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["detail"][0]["loc"], json!(["body", "name"]));
        }
        // Zero-width non-joiner and joiner are part of Persian and Indic names.
        let persian = "\u{645}\u{6cc}\u{200c}\u{62e}\u{648}\u{627}\u{647}\u{645}";
        let body = json!({ "name": persian, "email": "ann@example.com", "password": PASSWORD });
        assert_eq!(app.post("/api/auth/register", body).await.status(), StatusCode::CREATED);
    }

    async fn addresses_stored_before_the_rule_are_normalised_and_merged_at_start(backend: Backend) {
        let old = backend.spawn().await;
        // Rows as an older server stored them: lower-cased, nothing more.
        let verified_at_fullwidth = "ann@\u{ff45}xample.com";
        let insert = |email: &str, verified: bool, id: i64| {
            format!(
                "INSERT INTO users (id, name, email, password_hash, is_verified, created_at, updated_at, registered_at) \
                 VALUES ({id}, 'Ann', '{email}', 'x', {}, '2026-01-0{id} 00:00:00', '2026-01-01 00:00:00', '2026-01-01 00:00:00')",
                if verified { "TRUE" } else { "FALSE" }
            )
        };
        execute(&old, &insert("ann@example.com", false, 1)).await;
        execute(&old, &insert(verified_at_fullwidth, true, 2)).await;
        execute(&old, &insert("ann@example\u{3002}com", false, 3)).await;
        execute(&old, &insert("bob@b\u{fc}cher.example", false, 4)).await;
        execute(&old, &insert("eve@localhost", true, 5)).await;
        execute(&old, "UPDATE data_migrations SET applied_at = NULL").await;
        // The next start normalises them.
        let new = backend
            .spawn_sharing(|_| {}, Shared { database_url: Some(old.database_url.clone()), ..Shared::default() })
            .await;
        let rows = stored_emails(&new).await;
        assert_eq!(
            rows,
            [
                (2, "ann@example.com".to_owned(), true),
                (4, "bob@b\u{fc}cher.example".to_owned(), false),
                (5, "eve@localhost".to_owned(), true),
            ]
        );
    }
}
