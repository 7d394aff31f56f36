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

/// Longest `detail` kept in an audit row, in characters; a longer one is cut and its
/// original length noted (`… [60026 chars]`).
pub const MAX_AUDIT_DETAIL: usize = 300;
/// Longest `doc_id` kept in an audit row.
const MAX_AUDIT_DOC: usize = 100;

/// `s` cut to `max` characters, noting the original length when cut.
pub fn bounded_text(s: &str, max: usize) -> String {
    let n = s.chars().count();
    if n <= max {
        return s.to_string();
    }
    let mut t: String = s.chars().take(max.saturating_sub(20)).collect();
    t.push_str(&format!(" … [{n} chars]"));
    t
}

/// Writes one audit row (inside the caller's transaction or on the pool). Its fields are
/// bounded ([`MAX_AUDIT_DETAIL`]).
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
    .bind(doc.map(|d| bounded_text(d, MAX_AUDIT_DOC)))
    .bind(bounded_text(detail, MAX_AUDIT_DETAIL))
    .execute(e)
    .await?;
    Ok(())
}

/// Records a refusal that anyone can provoke without signing in (a throttled sign-in, a
/// foreign Origin, an unknown device, a busy hasher) — at most
/// [`REFUSALS_AUDITED_PER_MINUTE`] rows per address, action and minute. Every refusal is
/// counted in `audit_quota` (address, action, minute); what was not written becomes one
/// `refusals_not_recorded` row once the minute is over ([`summarise_refusals`]), and
/// `server admin audit-refusals` shows the counts. `org` is the organisation concerned
/// when known (a known login id), else none: those rows are for the platform
/// administrator.
pub async fn audit_refusal(
    db: &Db,
    org: Option<&str>,
    user: Option<&str>,
    action: &str,
    ip: &str,
    detail: &str,
) -> sqlx::Result<()> {
    let ip = bounded_text(ip, 64);
    let n: i64 = sqlx::query_scalar(
        "INSERT INTO audit_quota (ip, action, minute, org_id, count, summarised) VALUES ($1, $2, $3, $4, 1, 0) \
         ON CONFLICT (ip, action, minute) DO UPDATE SET count = audit_quota.count + 1 RETURNING count",
    )
    .bind(ip.clone())
    .bind(action.to_string())
    .bind(now_ms() / 60_000)
    .bind(org.map(str::to_string))
    .fetch_one(db)
    .await?;
    if n <= REFUSALS_AUDITED_PER_MINUTE {
        audit(db, org, user, None, action, None, &format!("{ip} {detail}")).await?;
    }
    Ok(())
}

/// Writes one `refusals_not_recorded` row for each address, action and finished minute
/// with more refusals than were recorded (claimed atomically, so several server processes
/// write each once), and deletes counts older than 90 days. Returns the rows written.
pub async fn summarise_refusals(db: &Db) -> sqlx::Result<u64> {
    use sqlx::Row;
    let minute = now_ms() / 60_000;
    let rows = sqlx::query(
        "UPDATE audit_quota SET summarised = 1 WHERE minute < $1 AND summarised = 0 AND count > $2 \
         RETURNING ip, action, minute, org_id, count",
    )
    .bind(minute)
    .bind(REFUSALS_AUDITED_PER_MINUTE)
    .fetch_all(db)
    .await?;
    for r in &rows {
        let (ip, action, m, org, count): (String, String, i64, Option<String>, i64) =
            (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4));
        audit(
            db,
            org.as_deref(),
            None,
            None,
            "refusals_not_recorded",
            None,
            &format!(
                "{ip} {action}: {} more in the minute from {} (of {count})",
                count - REFUSALS_AUDITED_PER_MINUTE,
                m * 60_000
            ),
        )
        .await?;
    }
    sqlx::query("DELETE FROM audit_quota WHERE minute < $1 AND summarised = 1")
        .bind(minute - 90 * 24 * 60)
        .execute(db)
        .await?;
    sqlx::query("DELETE FROM audit_quota WHERE minute < $1 AND count <= $2")
        .bind(minute - 90 * 24 * 60)
        .bind(REFUSALS_AUDITED_PER_MINUTE)
        .execute(db)
        .await?;
    Ok(rows.len() as u64)
}

/// Refusals recorded per address, action and minute ([`audit_refusal`]).
pub const REFUSALS_AUDITED_PER_MINUTE: i64 = 20;
