//! A database that disappears while the server runs: dropped tables or a dropped database are
//! an outage (503 with Retry-After, /health says so), never a 500 or a false "ok".

use authd::db::Db;
use reqwest::StatusCode;
use serde_json::Value;
use sqlx::Connection;

use crate::helpers::{Backend, all_backends, detail, retry_after};

all_backends! {
    async fn a_dropped_schema_is_an_outage_not_a_500_and_health_says_so(backend: Backend) {
        let app = backend.spawn().await;
        let token = app.logged_in_user("ann@example.com").await;
        assert_eq!(app.get("/health").await.status(), StatusCode::OK);
        // Someone drops our tables (SQLite) or the whole database (MySQL) under the server.
        match &app.db {
            Db::Sqlite(pool) => {
                for sql in ["DROP TABLE sessions", "DROP TABLE users"] {
                    sqlx::query(sql).execute(pool).await.unwrap();
                }
            }
            Db::MySql(pool) => {
                let sql = sqlx::AssertSqlSafe(format!("DROP DATABASE `{}`", database_name(&app.database_url)));
                sqlx::query(sql).execute(pool).await.unwrap();
            }
            Db::Postgres(_) => {
                // A database cannot be dropped from a connection to itself: use the server's own.
                let (server, _) = app.database_url.rsplit_once('/').unwrap();
                let mut admin = sqlx::PgConnection::connect(&format!("{server}/postgres")).await.unwrap();
                let name = database_name(&app.database_url);
                let sql = sqlx::AssertSqlSafe(format!("DROP DATABASE \"{name}\" WITH (FORCE)"));
                sqlx::query(sql).execute(&mut admin).await.unwrap();
            }
        }
        let me = app.me_with_bearer(&token).await;
        assert_eq!(me.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(retry_after(&me) >= 1);
        let text = detail(me).await;
        assert!(!text.to_lowercase().contains("table") && !text.contains("SQL"), "{text}");
        let login = app.login("ann@example.com", crate::helpers::PASSWORD).await;
        assert_eq!(login.status(), StatusCode::SERVICE_UNAVAILABLE);
        let health = app.get("/health").await;
        assert_eq!(health.status(), StatusCode::SERVICE_UNAVAILABLE);
        let body: Value = health.json().await.unwrap();
        assert_eq!(body["database"], "unavailable");
        assert_eq!(body["status"], "unavailable");
    }
}

/// The database named at the end of `url`.
fn database_name(url: &str) -> &str {
    let last = url.rsplit('/').next().unwrap_or(url);
    last.split('?').next().unwrap_or(last)
}
