//! What a test leaves behind (a database, Redis keys), removed when it ends, even by panic.

use sqlx::Connection;
use sqlx::migrate::MigrateDatabase;

/// Deletes a test's Redis keys when the test ends.
pub(super) struct RedisScratch {
    pub(super) url: String,
    pub(super) prefix: String,
}

impl Drop for RedisScratch {
    fn drop(&mut self) {
        let Ok(client) = redis::Client::open(self.url.as_str()) else {
            return;
        };
        let Ok(mut conn) = client.get_connection() else {
            return;
        };
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{}*", self.prefix))
            .query(&mut conn)
            .unwrap_or_default();
        if !keys.is_empty() {
            let _: redis::RedisResult<()> = redis::cmd("DEL").arg(keys).query(&mut conn);
        }
    }
}

/// What a test leaves behind, removed when the test ends (even by panic).
pub(super) enum Scratch {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    /// A database of its own on a MySQL or PostgreSQL server.
    Server(String),
    /// Another instance's database: that instance removes it.
    Borrowed,
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Scratch::Server(url) = self {
            let url = url.clone();
            // Drop runs inside the test's runtime, which cannot be blocked on; use a thread.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                rt.block_on(drop_database(&url));
            })
            .join();
        }
    }
}

/// Drops the database `url` names. On PostgreSQL, `WITH (FORCE)` ends the connections the
/// test's server may still hold.
async fn drop_database(url: &str) {
    if url.starts_with("mysql:") {
        let _ = sqlx::MySql::drop_database(url).await;
        return;
    }
    let (server, name) = url.rsplit_once('/').unwrap_or((url, ""));
    let name = name.split('?').next().unwrap_or(name).to_owned();
    let Ok(mut conn) = sqlx::PgConnection::connect(&format!("{server}/postgres")).await else {
        return;
    };
    let sql = sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"));
    let _ = sqlx::query(sql).execute(&mut conn).await;
}
