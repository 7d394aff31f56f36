//! `syncbench`: Mimamori's side of the sync benchmark (DESIGN.md §7, issue 6). Run it
//! through `cargo xtask bench`, which builds it in release, runs it in every configuration
//! next to the reference server and prints the table.
//!
//! It starts real server processes (the release `server` binary) on a fresh SQLite file or
//! PostgreSQL database, seeds one organisation through the server's own library, and then
//! drives the servers over real HTTP:
//!
//! - **first sync**: every device signs on with `cursor: null` and receives its district's
//!   documents whole (set-up, timed);
//! - **no-op sync**: devices that are up to date sync again (one `POST /api/sync` each,
//!   nothing to push, nothing new), closed loop, `--concurrency` in flight, for
//!   `--seconds`; once over kept-alive connections and once with a new TCP connection per
//!   sync (a phone coming back online);
//! - **a day offline**: one device holding its district's documents makes 30 changes over
//!   20 of them offline, then syncs; round trips and the exact bytes on the wire (HTTP
//!   request and answer, headers included) against the bytes of the changes themselves;
//!   then another device of the district (through the other server when there are two)
//!   receives them;
//! - **growth** (`--growth 100,1000,10000`): districts of that many documents; a writer
//!   makes the same 30 changes over 20 documents, a reader catches up: the cost must not
//!   follow the district's size.
//!
//! Prints a summary to stderr and writes one JSON object (`--out`).

use anyhow::{Context, bail};
use serde_json::{Value, json};
use shared::client::Replica;
use shared::codes::{DocKind, Role};
use shared::sync::{NewDoc, SyncRequest, SyncResponse};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const PASSWORD: &str = "bench-password-not-used";
/// Devices per district, as in the reference run.
const DEVICES_PER_DISTRICT: usize = 10;
/// The day offline: changes, spread over this many documents.
const OFFLINE_CHANGES: usize = 30;
const OFFLINE_DOCS: usize = 20;
/// `getconf CLK_TCK` on Linux.
const CLOCK_TICKS_PER_SECOND: f64 = 100.0;

struct Args {
    server_bin: String,
    backend: String,
    pg: Option<String>,
    servers: usize,
    devices: usize,
    docs: usize,
    seconds: f64,
    concurrency: usize,
    growth: Vec<usize>,
    out: Option<String>,
}

fn parse_args() -> anyhow::Result<Args> {
    let a: Vec<String> = std::env::args().skip(1).collect();
    let get = |name: &str| {
        a.iter()
            .position(|x| x == name)
            .and_then(|i| a.get(i + 1))
            .cloned()
    };
    let num = |name: &str, d: usize| -> anyhow::Result<usize> {
        get(name).map_or(Ok(d), |v| v.parse().with_context(|| format!("{name} {v}")))
    };
    let args = Args {
        server_bin: get("--server-bin").unwrap_or_else(|| "target/release/server".into()),
        backend: get("--backend").unwrap_or_else(|| "sqlite".into()),
        pg: get("--pg").or_else(|| std::env::var("MIMAMORI_BENCH_PG").ok()),
        servers: num("--servers", 1)?,
        devices: num("--devices", 10)?,
        docs: num("--docs", 200)?,
        seconds: get("--seconds").map_or(Ok(5.0), |v| v.parse())?,
        concurrency: num("--concurrency", 16)?,
        growth: get("--growth")
            .map(|g| {
                g.split(',')
                    .filter(|s| !s.is_empty())
                    .map(|s| s.parse::<usize>())
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?
            .unwrap_or_default(),
        out: get("--out"),
    };
    if !matches!(args.backend.as_str(), "sqlite" | "postgres") {
        bail!("--backend sqlite|postgres");
    }
    if args.backend == "postgres" && args.pg.is_none() {
        bail!(
            "--backend postgres needs --pg postgres://…/postgres (a server where databases may be created)"
        );
    }
    if args.servers == 0 || args.servers > 2 || (args.servers == 2 && args.backend != "postgres") {
        bail!("--servers 1, or 2 on PostgreSQL");
    }
    Ok(args)
}

/// A fresh database: a SQLite file in a temporary directory, or a new PostgreSQL database.
struct BenchDb {
    url: String,
    dir: Option<std::path::PathBuf>,
    pg_admin: Option<String>,
    pg_name: String,
}

impl BenchDb {
    async fn create(args: &Args) -> anyhow::Result<BenchDb> {
        let name = format!("mm_bench_{}", uuid::Uuid::new_v4().simple());
        if args.backend == "sqlite" {
            let dir = std::env::temp_dir().join(&name);
            std::fs::create_dir_all(&dir)?;
            Ok(BenchDb {
                url: format!("sqlite://{}/bench.db", dir.display()),
                dir: Some(dir),
                pg_admin: None,
                pg_name: name,
            })
        } else {
            let admin = args.pg.clone().unwrap();
            sqlx::any::install_default_drivers();
            let pool = sqlx::AnyPool::connect(&admin).await?;
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&pool)
                .await?;
            pool.close().await;
            let base = admin.rsplit_once('/').map(|(b, _)| b.to_string()).unwrap();
            Ok(BenchDb {
                url: format!("{base}/{name}"),
                dir: None,
                pg_admin: Some(admin),
                pg_name: name,
            })
        }
    }

    async fn drop_it(self) {
        if let Some(d) = &self.dir {
            let _ = std::fs::remove_dir_all(d);
        }
        if let Some(admin) = &self.pg_admin
            && let Ok(pool) = sqlx::AnyPool::connect(admin).await
        {
            let _ = sqlx::query(&format!("DROP DATABASE {} WITH (FORCE)", self.pg_name))
                .execute(&pool)
                .await;
            pool.close().await;
        }
    }
}

/// A server process of ours.
struct Proc {
    child: Child,
    addr: String,
}

impl Proc {
    async fn start(bin: &str, url: &str) -> anyhow::Result<Proc> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let addr = format!("127.0.0.1:{port}");
        let mut child = Command::new(bin)
            .env("DATABASE_URL", url)
            .env("MIMAMORI_ADDR", &addr)
            .env("MIMAMORI_DIST", "/nonexistent")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("start {bin}"))?;
        let http = reqwest::Client::new();
        for _ in 0..400 {
            if http
                .get(format!("http://{addr}/healthz"))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return Ok(Proc { child, addr });
            }
            if let Some(st) = child.try_wait()? {
                bail!("the server exited: {st}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = child.kill();
        bail!("the server did not start")
    }

    fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// CPU time the process has used (user + system), in milliseconds, from /proc.
    fn cpu_ms(&self) -> f64 {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap_or_default();
        // Fields after the command name, which is in parentheses and may hold spaces.
        let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
        let f: Vec<u64> = rest
            .split_whitespace()
            .map(|x| x.parse().unwrap_or(0))
            .collect();
        // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
        let ticks = f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0);
        ticks as f64 * 1000.0 / CLOCK_TICKS_PER_SECOND
    }

    /// (peak, current) resident memory in bytes, from /proc.
    fn rss(&self) -> (u64, u64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
                * 1024
        };
        (field("VmHWM:"), field("VmRSS:"))
    }
}

/// A server of ours never outlives the benchmark, whatever way it ends.
impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A device signed on for a user: its token, and the cursor of its last applied answer.
struct Dev {
    token: String,
    cursor: Option<String>,
    server: usize,
}

/// Creates a 民生委員 of `district` and a device for it (`auth::register_device`, as
/// `POST /api/login` does once the password is right), without paying Argon2 a thousand
/// times in set-up.
async fn user_with_device(
    db: &server::db::Db,
    org: &str,
    login: &str,
    district: &str,
    hash: &str,
) -> anyhow::Result<String> {
    let u = server::admin::create_user(db, org, login, login, hash).await?;
    server::admin::grant(db, &u, &Role::Minsei, Some(district), None).await?;
    let token = server::auth::register_device(db, &u, "bench", "bench")
        .await?
        .token;
    Ok(token)
}

/// Exactly what crosses the wire for one sync over a new HTTP/1.1 connection.
struct Wire {
    status: u16,
    body: Vec<u8>,
    sent: usize,
    received: usize,
    ms: f64,
}

async fn wire_sync(addr: &str, token: &str, body: &[u8]) -> anyhow::Result<Wire> {
    let t = Instant::now();
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    s.set_nodelay(true)?;
    let head = format!(
        "POST /api/sync HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let mut req = head.into_bytes();
    req.extend_from_slice(body);
    s.write_all(&req).await?;
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).await?;
    let ms = t.elapsed().as_secs_f64() * 1000.0;
    let split = resp
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .context("no end of headers")?;
    let head = std::str::from_utf8(&resp[..split])?;
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .context("no status")?
        .parse()?;
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        bail!("chunked answers are not expected from /api/sync");
    }
    Ok(Wire {
        status,
        body: resp[split + 4..].to_vec(),
        sent: req.len(),
        received: resp.len(),
        ms,
    })
}

fn sync_request(cursor: &Option<String>) -> SyncRequest {
    SyncRequest {
        v: shared::sync::PROTOCOL_VERSION,
        cursor: cursor.clone(),
        app: "bench".into(),
        push: vec![],
        fallback: vec![],
    }
}

/// A device's full sync without keeping documents: follows `more` to the end; returns
/// (requests, bytes received, person documents received).
async fn raw_sync(addr: &str, dev: &mut Dev) -> anyhow::Result<(usize, usize, usize)> {
    let (mut n, mut bytes, mut docs) = (0, 0, 0);
    loop {
        let body = serde_json::to_vec(&sync_request(&dev.cursor))?;
        let w = wire_sync(addr, &dev.token, &body).await?;
        if w.status != 200 {
            bail!(
                "sync answered {}: {}",
                w.status,
                String::from_utf8_lossy(&w.body)
            );
        }
        let r: SyncResponse = serde_json::from_slice(&w.body)?;
        n += 1;
        bytes += w.received;
        docs += r.docs.iter().filter(|d| d.kind == DocKind::Person).count();
        dev.cursor = Some(r.cursor);
        if !r.more {
            return Ok((n, bytes, docs));
        }
    }
}

/// Syncs a full replica (documents kept) until nothing is left to exchange; returns
/// (round trips, bytes sent, bytes received).
async fn replica_sync(
    addr: &str,
    token: &str,
    rep: &mut Replica,
) -> anyhow::Result<(usize, usize, usize)> {
    let (mut rounds, mut sent, mut received) = (0, 0, 0);
    loop {
        let req = rep.request("bench");
        let w = wire_sync(addr, token, &serde_json::to_vec(&req)?).await?;
        if w.status != 200 {
            bail!(
                "sync answered {}: {}",
                w.status,
                String::from_utf8_lossy(&w.body)
            );
        }
        rounds += 1;
        sent += w.sent;
        received += w.received;
        let applied = rep.apply(&req, serde_json::from_slice(&w.body)?)?;
        if !applied.again {
            return Ok((rounds, sent, received));
        }
        if rounds > 10_000 {
            bail!("sync did not settle");
        }
    }
}

/// A person as a 民生委員 would first record them: profile, watch plan and three visits.
fn seed_person(rep: &mut Replica, id: &str, district: &str, i: usize) -> anyhow::Result<()> {
    rep.create(
        id,
        NewDoc {
            kind: DocKind::Person,
            district: Some(district.to_string()),
            salon: None,
        },
    )?;
    rep.edit(id, |tx| {
        shared::crdt::write(
            tx,
            &["profile"],
            &json!({"name": format!("見守 花子{i}"), "kana": "みまもり はなこ", "birth_year": 1938,
                    "address": format!("みなと市東町{}丁目{}番", i % 9 + 1, i % 40 + 1),
                    "phone": "090-1234-5678", "household": "alone", "note": "耳が少し遠い。玄関の呼び鈴を長めに。"}),
        )?;
        shared::crdt::write(tx, &["watch"], &json!({"frequency": "twice_monthly", "note": "午前中がよい"}))?;
        for v in 0..3 {
            shared::crdt::write(
                tx,
                &["visits", &uuid::Uuid::now_v7().to_string()],
                &visit(&format!("2026-1{v}-0{}", v + 1)),
            )?;
        }
        Ok(())
    })?;
    Ok(())
}

fn visit(date: &str) -> Value {
    json!({"date": date, "time": "10:30", "kind": "visit", "outcome": "met", "condition": "good",
           "note": "お元気そうでした。庭の柿の話をされた。", "recorded_by": "bench", "recorded_at": 1_764_000_000_000i64})
}

/// `n` changes over the first `over` documents of `ids`: each one a new visit.
fn offline_day(rep: &mut Replica, ids: &[String], n: usize, over: usize) -> anyhow::Result<()> {
    for k in 0..n {
        let id = &ids[k % over];
        rep.edit(id, |tx| {
            shared::crdt::write(
                tx,
                &["visits", &uuid::Uuid::now_v7().to_string()],
                &visit("2026-11-29"),
            )
        })?;
    }
    Ok(())
}

fn change_bytes(req: &SyncRequest) -> (usize, usize) {
    let n = req.push.iter().map(|p| p.changes.len()).sum();
    let b = req
        .push
        .iter()
        .flat_map(|p| &p.changes)
        .map(|c| c.0.len())
        .sum();
    (n, b)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    percentile(v, 0.5)
}

/// Closed-loop no-op syncs for `seconds`: returns the JSON figures.
async fn noop_phase(
    procs: &[Proc],
    bases: &[String],
    devs: &[Dev],
    seconds: f64,
    concurrency: usize,
    fresh_connections: bool,
) -> anyhow::Result<Value> {
    let mut b = reqwest::Client::builder().tcp_nodelay(true);
    if fresh_connections {
        b = b.pool_max_idle_per_host(0);
    }
    let http = b.build()?;
    let bodies: Arc<Vec<(String, String, Vec<u8>)>> = Arc::new(
        devs.iter()
            .map(|d| {
                (
                    format!("{}/api/sync", bases[d.server]),
                    format!("Bearer {}", d.token),
                    serde_json::to_vec(&sync_request(&d.cursor)).unwrap(),
                )
            })
            .collect(),
    );
    let next = Arc::new(AtomicUsize::new(0));
    let errors = Arc::new(AtomicUsize::new(0));
    let cpu_before: f64 = procs.iter().map(Proc::cpu_ms).sum();
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (http, bodies, next, errors) =
            (http.clone(), bodies.clone(), next.clone(), errors.clone());
        tasks.spawn(async move {
            let mut lat = Vec::new();
            while Instant::now() < deadline {
                let i = next.fetch_add(1, Ordering::Relaxed) % bodies.len();
                let (url, auth, body) = &bodies[i];
                let t = Instant::now();
                let ok = match http
                    .post(url)
                    .header("authorization", auth)
                    .header("content-type", "application/json")
                    .body(body.clone())
                    .send()
                    .await
                {
                    Ok(r) if r.status() == 200 => match r.json::<SyncResponse>().await {
                        // A no-op: nothing new, nothing more.
                        Ok(s) => s.docs.is_empty() && !s.more && s.removed.is_empty(),
                        Err(_) => false,
                    },
                    _ => false,
                };
                if ok {
                    lat.push(t.elapsed().as_secs_f64() * 1000.0);
                } else {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
            }
            lat
        });
    }
    let mut lat = Vec::new();
    while let Some(r) = tasks.join_next().await {
        lat.extend(r?);
    }
    let elapsed = start.elapsed().as_secs_f64();
    let cpu: f64 = procs.iter().map(Proc::cpu_ms).sum::<f64>() - cpu_before;
    lat.sort_by(f64::total_cmp);
    let errors = errors.load(Ordering::Relaxed);
    if errors > 0 {
        eprintln!("  !! {errors} no-op syncs failed or were not no-ops");
    }
    Ok(json!({
        "syncs": lat.len(), "seconds": elapsed, "throughput": lat.len() as f64 / elapsed,
        "p50_ms": percentile(&lat, 0.5), "p99_ms": percentile(&lat, 0.99),
        "concurrency": concurrency, "errors": errors,
        "server_cpu_ms_per_sync": cpu / lat.len().max(1) as f64,
    }))
}

/// Waits until the server's projection worker has caught up with every stored change (it
/// also compacts snapshots), so that set-up work does not run under the measurements.
async fn settle(url: &str) -> anyhow::Result<()> {
    let pool = server::db::open(url, 1).await?;
    let t = Instant::now();
    loop {
        let behind: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM documents WHERE proj_seq < last_seq")
                .fetch_one(&pool)
                .await?;
        if behind == 0 {
            break;
        }
        if t.elapsed() > Duration::from_secs(600) {
            bail!("the projection worker is still {behind} documents behind");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    pool.close().await;
    Ok(())
}

/// Seeds `n` person documents in `district` through a seeding device; returns the replica
/// (holding them, synced) and the document ids.
async fn seed_district(
    addr: &str,
    token: &str,
    district: &str,
    n: usize,
) -> anyhow::Result<(Replica, Vec<String>)> {
    let mut rep = Replica::new(automerge::ActorId::random());
    replica_sync(addr, token, &mut rep).await?;
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        let id = uuid::Uuid::now_v7().to_string();
        seed_person(&mut rep, &id, district, i)?;
        ids.push(id);
    }
    replica_sync(addr, token, &mut rep).await?;
    if rep.pending() != 0 {
        bail!("seeding left {} changes unsent", rep.pending());
    }
    Ok((rep, ids))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    let db = BenchDb::create(&args).await?;
    let result = run(&args, &db).await;
    db.drop_it().await;
    let out = result?;
    let text = serde_json::to_string_pretty(&out)?;
    match &args.out {
        Some(f) => std::fs::write(f, text)?,
        None => println!("{text}"),
    }
    Ok(())
}

async fn run(args: &Args, bdb: &BenchDb) -> anyhow::Result<Value> {
    let t0 = Instant::now();
    let pool = server::db::open(&bdb.url, 4).await?;
    let hash = server::auth::hash_password(PASSWORD)?;
    let org = server::admin::create_org(&pool, "ベンチ社協").await?;
    let districts_n = args.devices.div_ceil(DEVICES_PER_DISTRICT);
    let mut districts = Vec::new();
    let mut seeders = Vec::new();
    for g in 0..districts_n {
        let d =
            server::admin::create_district(&pool, &org, None, &format!("地区{g}"), "地区", None)
                .await?;
        seeders.push(user_with_device(&pool, &org, &format!("seed{g}"), &d, &hash).await?);
        districts.push(d);
    }
    let mut devs = Vec::new();
    for i in 0..args.devices {
        let token = user_with_device(
            &pool,
            &org,
            &format!("dev{i}"),
            &districts[i / DEVICES_PER_DISTRICT],
            &hash,
        )
        .await?;
        devs.push(Dev {
            token,
            cursor: None,
            server: i % args.servers,
        });
    }
    let growth_org = if args.growth.is_empty() {
        None
    } else {
        Some(server::admin::create_org(&pool, "ベンチ社協（成長）").await?)
    };
    let mut growth_users = Vec::new();
    if let Some(gorg) = &growth_org {
        for &size in &args.growth {
            let d = server::admin::create_district(
                &pool,
                gorg,
                None,
                &format!("{size}件の地区"),
                "地区",
                None,
            )
            .await?;
            let w = user_with_device(&pool, gorg, &format!("gw{size}"), &d, &hash).await?;
            let r = user_with_device(&pool, gorg, &format!("gr{size}"), &d, &hash).await?;
            growth_users.push((size, d, w, r));
        }
    }
    pool.close().await;
    eprintln!(
        "  set-up: {} users and devices in {:.1} s",
        args.devices + districts_n,
        t0.elapsed().as_secs_f64()
    );

    let mut procs = Vec::new();
    for _ in 0..args.servers {
        procs.push(Proc::start(&args.server_bin, &bdb.url).await?);
    }
    let addrs: Vec<String> = procs.iter().map(|p| p.addr.clone()).collect();
    let bases: Vec<String> = procs.iter().map(Proc::base).collect();

    // Seed each district's documents through its seeding device.
    let t = Instant::now();
    let mut first_district = None;
    for (g, d) in districts.iter().enumerate() {
        let (rep, ids) = seed_district(&addrs[g % addrs.len()], &seeders[g], d, args.docs).await?;
        if g == 0 {
            first_district = Some((rep, ids));
        }
    }
    let (_seed_rep, ids0) = first_district.context("no district")?;
    eprintln!(
        "  seeded {} districts × {} documents in {:.1} s",
        districts_n,
        args.docs,
        t.elapsed().as_secs_f64()
    );
    settle(&bdb.url).await?;

    // First sync of every device (documents received whole, then dropped: the no-op
    // figures depend on the request, which carries only the cursor).
    let t = Instant::now();
    let mut first_ms = Vec::new();
    let mut first_bytes = 0usize;
    for chunk in devs.chunks_mut(4) {
        let mut set = tokio::task::JoinSet::new();
        for (k, d) in chunk.iter_mut().enumerate() {
            let addr = addrs[d.server].clone();
            let mut dev = Dev {
                token: d.token.clone(),
                cursor: None,
                server: d.server,
            };
            set.spawn(async move {
                let t = Instant::now();
                let r = raw_sync(&addr, &mut dev).await;
                (k, dev.cursor, r, t.elapsed().as_secs_f64() * 1000.0)
            });
        }
        while let Some(j) = set.join_next().await {
            let (k, cursor, r, ms) = j?;
            let (_, bytes, docs) = r?;
            if docs != args.docs {
                bail!(
                    "a device's first sync brought {docs} documents, not {}",
                    args.docs
                );
            }
            chunk[k].cursor = cursor;
            first_ms.push(ms);
            first_bytes += bytes;
        }
    }
    let first_total = t.elapsed().as_secs_f64();
    first_ms.sort_by(f64::total_cmp);
    eprintln!(
        "  first sync of {} devices in {:.1} s (p50 {:.1} ms)",
        devs.len(),
        first_total,
        percentile(&first_ms, 0.5)
    );
    let first = json!({
        "devices": devs.len(), "seconds": first_total, "p50_ms": percentile(&first_ms, 0.5),
        "p99_ms": percentile(&first_ms, 0.99), "bytes_per_device": first_bytes / devs.len().max(1),
    });

    let concurrency = args.concurrency.min(args.devices).max(1);
    let keepalive = noop_phase(&procs, &bases, &devs, args.seconds, concurrency, false).await?;
    eprintln!("  no-op, kept-alive connections: {keepalive}");
    let fresh = noop_phase(&procs, &bases, &devs, args.seconds, concurrency, true).await?;
    eprintln!("  no-op, a new connection per sync: {fresh}");

    // A day offline: a field device of district 0 holds its documents.
    let field_token = {
        let pool = server::db::open(&bdb.url, 2).await?;
        let t = user_with_device(&pool, &org, "field", &districts[0], &hash).await?;
        pool.close().await;
        t
    };
    let mut field = Replica::new(automerge::ActorId::random());
    replica_sync(&addrs[0], &field_token, &mut field).await?;
    let held = field
        .docs()
        .filter(|(_, d)| d.kind == DocKind::Person)
        .count();
    if held != args.docs {
        bail!("the field device holds {held} person documents");
    }
    offline_day(&mut field, &ids0, OFFLINE_CHANGES, OFFLINE_DOCS)?;
    let probe = field.request("bench");
    let (nchanges, cbytes) = change_bytes(&probe);
    if nchanges != OFFLINE_CHANGES {
        bail!("{nchanges} changes waiting, not {OFFLINE_CHANGES}");
    }
    let t = Instant::now();
    let (rounds, sent, received) = replica_sync(&addrs[0], &field_token, &mut field).await?;
    let up_ms = t.elapsed().as_secs_f64() * 1000.0;
    // Another device of district 0, through the other server when there are two.
    let peer = &mut devs[DEVICES_PER_DISTRICT.min(args.devices) - 1];
    let peer_addr = addrs[(peer.server + 1) % addrs.len()].clone();
    let before = peer.cursor.clone();
    let body = serde_json::to_vec(&sync_request(&before))?;
    let w = wire_sync(&peer_addr, &peer.token, &body).await?;
    let r: SyncResponse = serde_json::from_slice(&w.body)?;
    let got: usize = r.docs.iter().map(|d| d.chunks.len()).sum();
    if got != OFFLINE_CHANGES || r.more {
        bail!("the peer received {got} chunks, not {OFFLINE_CHANGES}");
    }
    let wire = sent + received;
    let day = json!({
        "changes": nchanges, "docs": OFFLINE_DOCS, "change_bytes": cbytes,
        "round_trips": rounds, "request_bytes": sent, "answer_bytes": received,
        "wire_bytes": wire, "ratio": wire as f64 / cbytes as f64,
        "budget_bytes": 2 * cbytes + 1024, "ms": up_ms,
        "peer": {"round_trips": 1, "wire_bytes": w.sent + w.received, "answer_bytes": w.received,
                 "ratio": (w.sent + w.received) as f64 / cbytes as f64, "ms": w.ms},
    });
    eprintln!("  a day offline: {day}");

    // Growth: the same day's work in districts of different sizes. Every district is
    // seeded first; the rounds then take the districts in turn, so that whatever else the
    // machine is doing falls on all sizes alike.
    struct Grown {
        size: usize,
        writer: String,
        rep: Replica,
        ids: Vec<String>,
        reader: Dev,
        seed_s: f64,
        push_ms: Vec<f64>,
        catch_ms: Vec<f64>,
        catch_bytes: Vec<f64>,
        noop_ms: Vec<f64>,
    }
    let mut grown = Vec::new();
    for (size, d, wtok, rtok) in &growth_users {
        let t = Instant::now();
        let (rep, ids) = seed_district(&addrs[0], wtok, d, *size).await?;
        let seed_s = t.elapsed().as_secs_f64();
        let mut reader = Dev {
            token: rtok.clone(),
            cursor: None,
            server: 0,
        };
        let (_, _, docs) = raw_sync(&addrs[0], &mut reader).await?;
        if docs != *size {
            bail!("the growth reader got {docs} documents, not {size}");
        }
        grown.push(Grown {
            size: *size,
            writer: wtok.clone(),
            rep,
            ids,
            reader,
            seed_s,
            push_ms: vec![],
            catch_ms: vec![],
            catch_bytes: vec![],
            noop_ms: vec![],
        });
    }
    settle(&bdb.url).await?;
    let reader_addr = addrs[addrs.len() - 1].clone();
    for _ in 0..20 {
        for g in grown.iter_mut() {
            offline_day(&mut g.rep, &g.ids, OFFLINE_CHANGES, OFFLINE_DOCS)?;
            let t = Instant::now();
            replica_sync(&addrs[0], &g.writer, &mut g.rep).await?;
            g.push_ms.push(t.elapsed().as_secs_f64() * 1000.0);
            let body = serde_json::to_vec(&sync_request(&g.reader.cursor))?;
            let w = wire_sync(&reader_addr, &g.reader.token, &body).await?;
            let r: SyncResponse = serde_json::from_slice(&w.body)?;
            let got: usize = r.docs.iter().map(|d| d.chunks.len()).sum();
            if got != OFFLINE_CHANGES {
                bail!("growth {}: the reader got {got} chunks", g.size);
            }
            g.reader.cursor = Some(r.cursor);
            g.catch_ms.push(w.ms);
            g.catch_bytes.push(w.received as f64);
            for _ in 0..5 {
                let body = serde_json::to_vec(&sync_request(&g.reader.cursor))?;
                g.noop_ms
                    .push(wire_sync(&reader_addr, &g.reader.token, &body).await?.ms);
            }
        }
    }
    let mut growth = Vec::new();
    for mut g in grown {
        let j = json!({
            "docs": g.size, "seed_seconds": g.seed_s,
            "push_ms_p50": median(&mut g.push_ms),
            "catchup_ms_p50": median(&mut g.catch_ms), "catchup_bytes": median(&mut g.catch_bytes),
            "noop_ms_p50": median(&mut g.noop_ms),
        });
        eprintln!("  growth: {j}");
        growth.push(j);
    }

    let rss: Vec<Value> = procs
        .iter()
        .map(|p| {
            let (peak, now) = p.rss();
            json!({"peak_bytes": peak, "now_bytes": now})
        })
        .collect();
    drop(procs);
    Ok(json!({
        "impl": "mimamori", "backend": args.backend, "servers": args.servers,
        "devices": args.devices, "docs_per_device": args.docs,
        "first_sync": first, "noop": keepalive, "noop_fresh_connection": fresh,
        "day_offline": day, "growth": growth, "server_rss": rss,
        "server_rss_bytes": rss.iter().filter_map(|r| r["peak_bytes"].as_u64()).max().unwrap_or(0),
    }))
}
