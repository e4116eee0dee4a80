//! The SQL store: users and sessions, on SQLite, MySQL/MariaDB or PostgreSQL, chosen by the
//! scheme of `DATABASE_URL`.
//!
//! Every statement is written once for the three backends with sqlx's `QueryBuilder`, whose
//! `push_bind` writes each backend's placeholder (`?` or `$n`); [`with_pool!`] runs the same
//! code on whichever pool is in use. What truly differs per backend is kept here and named:
//! the migrations (`migrations/sqlite`, `migrations/mysql`, `migrations/postgres`), creating a
//! missing database (MySQL also sets utf8mb4), the connection options, and which errors mean
//! "the schema is gone".

pub mod admin;
pub mod audit;
pub mod data;
pub mod mfa;
pub mod outbox;
pub mod sessions;
pub mod users;

use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::MigrateDatabase;
use sqlx::mysql::{MySql, MySqlConnectOptions, MySqlPool, MySqlPoolOptions};
use sqlx::postgres::{PgPool, PgPoolOptions, Postgres};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{ConnectOptions, Connection, Executor};

/// How long a request waits for a connection before the database counts as unavailable.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// The connection pool of the backend in use.
#[derive(Clone, Debug)]
pub enum Db {
    MySql(MySqlPool),
    Postgres(PgPool),
    Sqlite(SqlitePool),
}

/// Runs the same code against whichever pool `$db` holds; `$pool` names it inside. The code
/// is compiled once per backend, so a `QueryBuilder` in it writes that backend's placeholders.
macro_rules! with_pool {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            $crate::db::Db::MySql($pool) => $body,
            $crate::db::Db::Postgres($pool) => $body,
            $crate::db::Db::Sqlite($pool) => $body,
        }
    };
}
pub(crate) use with_pool;

/// What a change writes beside itself, in its own transaction: the security event that records
/// it, and the email it causes (so a notice is queued if and only if the change is made).
#[derive(Clone, Debug)]
pub struct Effects {
    pub event: audit::NewEvent,
    pub mail: Vec<outbox::NewMail>,
}

/// Writes `effects` inside `tx`, with the change they go with.
pub(crate) async fn record_in<DB>(
    tx: &mut sqlx::Transaction<'_, DB>,
    effects: &Effects,
) -> Result<(), sqlx::Error>
where
    DB: sqlx::Database,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    for<'t> &'t str: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
    for<'t> i64: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
    for<'t> chrono::DateTime<chrono::Utc>: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
    for<'q> DB::Arguments: sqlx::IntoArguments<DB>,
{
    let mut q = sqlx::QueryBuilder::<DB>::new("");
    audit::push_event(&mut q, &effects.event);
    q.build().execute(&mut **tx).await?;
    for mail in &effects.mail {
        let mut q = sqlx::QueryBuilder::<DB>::new("");
        outbox::push_insert(&mut q, mail);
        q.build().execute(&mut **tx).await?;
    }
    Ok(())
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The database cannot be reached or has no free connection: a 503, and worth a retry.
    #[error("database unavailable: {0}")]
    Unavailable(sqlx::Error),
    /// A unique constraint refused the write.
    #[error("a row with the same unique key already exists")]
    Duplicate,
    #[error("database error: {0}")]
    Other(sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl From<sqlx::Error> for DbError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::Database(db) if db.is_unique_violation() => DbError::Duplicate,
            sqlx::Error::Database(db) if schema_missing(db.as_ref()) => DbError::Unavailable(e),
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed
            | sqlx::Error::Protocol(_) => DbError::Unavailable(e),
            _ => DbError::Other(e),
        }
    }
}

/// Whether the error says our database or its tables are gone (dropped while we run): an
/// outage like a lost connection, not a bug. MySQL by error number, PostgreSQL by SQLSTATE;
/// SQLite reports a missing table only as a generic error, so there the message is what tells.
fn schema_missing(e: &dyn sqlx::error::DatabaseError) -> bool {
    /// ER_BAD_DB_ERROR, ER_BAD_TABLE_ERROR, ER_NO_SUCH_TABLE.
    const MYSQL_MISSING: [u16; 3] = [1049, 1051, 1146];
    /// invalid_catalog_name, undefined_table.
    const POSTGRES_MISSING: [&str; 2] = ["3D000", "42P01"];
    if let Some(mysql) = e.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>() {
        return MYSQL_MISSING.contains(&mysql.number());
    }
    if let Some(postgres) = e.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
        return POSTGRES_MISSING.contains(&postgres.code());
    }
    if e.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
        return e.message().starts_with("no such table");
    }
    false
}

impl Db {
    /// Connects by URL scheme, creates the database if it is missing and applies migrations.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, DbError> {
        let db = if url.starts_with("mysql:") {
            Self::connect_mysql(url, max_connections).await?
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Self::connect_postgres(url, max_connections).await?
        } else {
            Self::connect_sqlite(url, max_connections).await?
        };
        db.migrate().await?;
        Ok(db)
    }

    async fn connect_mysql(url: &str, max_connections: u32) -> Result<Self, DbError> {
        if !MySql::database_exists(url).await? {
            MySql::create_database(url).await?;
            // The server's default character set may not hold every email or name.
            let options = MySqlConnectOptions::from_str(url)?;
            let mut conn = options.connect().await?;
            conn.execute("ALTER DATABASE CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
                .await?;
            conn.close().await?;
            tracing::info!("created the MySQL database (utf8mb4)");
        }
        let pool = MySqlPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect(url)
            .await?;
        Ok(Db::MySql(pool))
    }

    async fn connect_postgres(url: &str, max_connections: u32) -> Result<Self, DbError> {
        if !Postgres::database_exists(url).await? {
            Postgres::create_database(url).await?;
            tracing::info!("created the PostgreSQL database");
        }
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect(url)
            .await?;
        Ok(Db::Postgres(pool))
    }

    async fn connect_sqlite(url: &str, max_connections: u32) -> Result<Self, DbError> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await?;
        Ok(Db::Sqlite(pool))
    }

    async fn migrate(&self) -> Result<(), DbError> {
        match self {
            Db::MySql(pool) => sqlx::migrate!("./migrations/mysql").run(pool).await?,
            Db::Postgres(pool) => sqlx::migrate!("./migrations/postgres").run(pool).await?,
            Db::Sqlite(pool) => sqlx::migrate!("./migrations/sqlite").run(pool).await?,
        }
        Ok(())
    }

    /// Answers whether the database takes a query on our own table within `timeout`: a
    /// dropped database or table fails it, not only a lost connection.
    pub async fn ping(&self, timeout: Duration) -> bool {
        const SQL: &str = "SELECT id FROM users WHERE id = 0";
        let query =
            async { with_pool!(self, pool => sqlx::query(SQL).execute(pool).await.map(|_| ())) };
        matches!(tokio::time::timeout(timeout, query).await, Ok(Ok(())))
    }

    pub async fn close(&self) {
        with_pool!(self, pool => pool.close().await);
    }

    pub fn backend(&self) -> &'static str {
        match self {
            Db::MySql(_) => "mysql",
            Db::Postgres(_) => "postgres",
            Db::Sqlite(_) => "sqlite",
        }
    }
}
