//! The database: one SQL text for SQLite and PostgreSQL through sqlx's `Any` driver
//! (placeholders `$1…`, BIGINT unix-millisecond times, TEXT ids), and the migrations of
//! each flavour.

use anyhow::Context;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};
use std::str::FromStr;
use std::time::Duration;

pub type Db = AnyPool;
pub type Tx<'a> = sqlx::Transaction<'a, sqlx::Any>;

static SQLITE: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");
static POSTGRES: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");

/// The default database: an SQLite file in the working directory.
pub const DEFAULT_URL: &str = "sqlite://mimamori.db";

pub fn is_sqlite(url: &str) -> bool {
    url.starts_with("sqlite:")
}

/// Opens (creating it if need be) and migrates the database at `url`.
pub async fn open(url: &str, max_connections: u32) -> anyhow::Result<Db> {
    sqlx::any::install_default_drivers();
    let sqlite = is_sqlite(url);
    let url = if sqlite && !url.contains("mode=") {
        format!("{url}{}mode=rwc", if url.contains('?') { '&' } else { '?' })
    } else {
        url.to_string()
    };
    let opts = AnyConnectOptions::from_str(&url)
        .with_context(|| "DATABASE_URL is not a database address")?;
    let pool = AnyPoolOptions::new()
        .max_connections(if sqlite {
            max_connections.max(2)
        } else {
            max_connections
        })
        .acquire_timeout(Duration::from_secs(30))
        .after_connect(move |conn, _| {
            Box::pin(async move {
                if sqlite {
                    // WAL with synchronous=FULL: a commit is on disk before the answer goes
                    // out, so an acknowledged change survives a crash or power loss.
                    conn.execute("PRAGMA journal_mode = WAL").await?;
                    conn.execute("PRAGMA synchronous = FULL").await?;
                    conn.execute("PRAGMA foreign_keys = ON").await?;
                    conn.execute("PRAGMA busy_timeout = 10000").await?;
                }
                Ok(())
            })
        })
        .connect_with(opts)
        .await
        .with_context(|| format!("cannot open the database at {}", redact(&url)))?;
    if sqlite { &SQLITE } else { &POSTGRES }
        .run(&pool)
        .await
        .context("database migration failed")?;
    sqlx::query("INSERT INTO meta (key, value) VALUES ('epoch', $1) ON CONFLICT (key) DO NOTHING")
        .bind(new_id())
        .execute(&pool)
        .await?;
    Ok(pool)
}

/// The database's epoch: a random id made when it was created, part of every cursor.
pub async fn epoch(db: &Db) -> anyhow::Result<String> {
    Ok(
        sqlx::query_scalar("SELECT value FROM meta WHERE key = 'epoch'")
            .fetch_one(db)
            .await?,
    )
}

/// The URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://…@{}", &url[..s], &url[at + 1..]),
        _ => url.to_string(),
    }
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A new id: UUID v7 (time-ordered), as text.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Writes one audit row (inside the caller's transaction or on the pool).
pub async fn audit<'e, E: sqlx::Executor<'e, Database = sqlx::Any>>(
    e: E,
    org: Option<&str>,
    user: Option<&str>,
    device: Option<&str>,
    action: &str,
    doc: Option<&str>,
    detail: &str,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO audit_log (at, org_id, user_id, device_id, action, doc_id, detail) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(now_ms())
    .bind(org.map(str::to_string))
    .bind(user.map(str::to_string))
    .bind(device.map(str::to_string))
    .bind(action.to_string())
    .bind(doc.map(str::to_string))
    .bind(detail.to_string())
    .execute(e)
    .await?;
    Ok(())
}
