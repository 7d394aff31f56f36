//! The real `server` binary as a child process: started on a free port with a
//! `DATABASE_URL`, killed with SIGKILL, restarted on the same database, its peak memory
//! read from /proc. And the device side that survives a dying server: sync rounds that
//! report a lost request instead of panicking, so the caller can retry.

use super::{Answer, Device};
use reqwest::StatusCode;
use shared::sync::{ApiError, SyncRequest};
use std::collections::BTreeSet;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One running server process. Killed (SIGKILL) when dropped.
pub struct ServerProcess {
    child: Option<Child>,
    pub url: String,
    pub port: u16,
    pub base: String,
    /// Extra environment for every start (e.g. a smaller pool).
    pub env: Vec<(String, String)>,
    /// Where its standard error goes (removed with it).
    log: std::path::PathBuf,
    /// The open-file limit (`ulimit -n`, soft and hard) of the process, when set.
    pub nofile: Option<u64>,
}

impl ServerProcess {
    /// Starts the binary on `url` (a database already created) on a free port and waits
    /// until `/healthz` answers.
    pub async fn start(url: &str) -> ServerProcess {
        Self::start_with(url, &[]).await
    }

    pub async fn start_with(url: &str, env: &[(&str, &str)]) -> ServerProcess {
        Self::start_limited(url, env, None).await
    }

    /// Like [`ServerProcess::start_with`], with the process's open-file limit (soft and
    /// hard, as `ulimit -n` sets it) at `nofile`.
    pub async fn start_limited(
        url: &str,
        env: &[(&str, &str)],
        nofile: Option<u64>,
    ) -> ServerProcess {
        let port = free_port();
        let mut p = ServerProcess {
            child: None,
            url: url.to_string(),
            port,
            base: format!("http://127.0.0.1:{port}"),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            log: std::env::temp_dir().join(format!(
                "mimamori-server-{}.log",
                uuid::Uuid::new_v4().simple()
            )),
            nofile,
        };
        p.launch().await;
        p
    }

    /// Spawns the process on `self.port` and waits for `/healthz`. The port was free when
    /// chosen; should another program have taken it since, a new one is chosen (and
    /// `base` changes).
    async fn launch(&mut self) {
        assert!(self.child.is_none(), "the server is already running");
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .unwrap();
        let mut why = String::new();
        for _attempt in 0..3 {
            // With an open-file limit: through `sh -c 'ulimit -n N; exec server'`, so the
            // limit is in place before the server starts (and reads it).
            let mut cmd = match self.nofile {
                Some(n) => {
                    let mut c = Command::new("sh");
                    c.arg("-c")
                        .arg(format!("ulimit -n {n} && exec \"$0\""))
                        .arg(env!("CARGO_BIN_EXE_server"));
                    c
                }
                None => Command::new(env!("CARGO_BIN_EXE_server")),
            };
            cmd.env("DATABASE_URL", &self.url)
                .env("MIMAMORI_ADDR", format!("127.0.0.1:{}", self.port))
                .env("MIMAMORI_DIST", "/nonexistent")
                .env(
                    "RUST_LOG",
                    std::env::var("MIMAMORI_SERVER_LOG").unwrap_or_else(|_| "error".into()),
                )
                .stdout(Stdio::null());
            // Its errors go to a file, shown should it fail to start
            // (MIMAMORI_SERVER_LOG=info shows everything as it happens).
            if std::env::var("MIMAMORI_SERVER_LOG").is_ok() {
                cmd.stderr(Stdio::inherit());
            } else {
                let log = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&self.log)
                    .expect("the server's log file");
                cmd.stderr(log);
            }
            for (k, v) in &self.env {
                cmd.env(k, v);
            }
            let mut child = cmd.spawn().expect("start the server binary");
            let until = std::time::Instant::now() + Duration::from_secs(30);
            let mut exited = None;
            while std::time::Instant::now() < until {
                if let Ok(Some(status)) = child.try_wait() {
                    exited = Some(status); // port taken since it was chosen? Try another.
                    break;
                }
                if http
                    .get(format!("{}/healthz", self.base))
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success())
                {
                    self.child = Some(child);
                    return;
                }
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            let _ = child.kill();
            let _ = child.wait();
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            let tail: String = log.lines().rev().take(10).collect::<Vec<_>>().join("\n");
            why = format!(
                "port {}: {}; its last log lines (newest first):\n{tail}",
                self.port,
                match exited {
                    Some(s) => format!("it exited ({s})"),
                    None => "no answer from /healthz in 30 s".into(),
                }
            );
            self.port = free_port();
            self.base = format!("http://127.0.0.1:{}", self.port);
        }
        panic!(
            "the server did not start on {}: {why}",
            server::db::redact(&self.url)
        );
    }

    pub fn running(&self) -> bool {
        self.child.is_some()
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("the server is running").id()
    }

    /// SIGKILL, at once: no graceful shutdown, no flush, requests in flight are cut.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            // `Child::kill` is SIGKILL on Unix.
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same database (and, when free, the same port).
    pub async fn restart(&mut self) {
        self.kill9();
        self.launch().await;
    }

    /// Peak resident memory of the process so far (`VmHWM` in /proc/<pid>/status), in KiB.
    pub fn vm_hwm_kib(&self) -> u64 {
        proc_status_kib(self.pid(), "VmHWM:")
    }

    /// Current resident memory (`VmRSS`), in KiB.
    pub fn vm_rss_kib(&self) -> u64 {
        proc_status_kib(self.pid(), "VmRSS:")
    }
}

impl super::TestServer {
    /// Signs devices in through a server process at `base` on the database `url` (which
    /// is not removed afterwards); `db` is the test's own pool on it.
    pub fn at(base: &str, url: &str, db: &server::db::Db) -> super::TestServer {
        super::TestServer {
            base: base.to_string(),
            db: db.clone(),
            tmp: super::TempDb {
                url: url.to_string(),
                dir: None,
            },
            http: reqwest::Client::new(),
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill9();
        let _ = std::fs::remove_file(&self.log);
    }
}

fn proc_status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

/// Raises this (test) process's soft open-file limit to at least `want` (up to its hard
/// limit); false when the hard limit is lower.
pub fn raise_nofile(want: u64) -> bool {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let lim = getrlimit(Resource::Nofile);
    if lim.current.is_none_or(|c| c >= want) {
        return true;
    }
    if lim.maximum.is_some_and(|m| m < want) {
        return false;
    }
    setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(want),
            maximum: lim.maximum,
        },
    )
    .is_ok()
}

/// The seeds a randomised test runs, so that the test command gives the same answer on
/// the same commit:
/// - `MIMAMORI_SEED=N`: that one;
/// - `MIMAMORI_EXPLORE=1`: `explore` fresh random seeds (exploring, never the gate); a seed
///   that fails is added to the committed file below, with the fix;
/// - otherwise the committed seeds of `server/tests/seeds/<test>.txt` (one a line, `#`
///   starts a comment).
///
/// Each seed is printed with the way to replay it.
pub fn seeds(test: &str, explore: usize) -> Vec<u64> {
    let seeds: Vec<u64> = if let Ok(s) = std::env::var("MIMAMORI_SEED") {
        vec![s.trim().parse().expect("MIMAMORI_SEED is a number")]
    } else if std::env::var("MIMAMORI_EXPLORE").is_ok_and(|v| v == "1") {
        (0..explore)
            .map(|_| rand::random::<u64>() % 1_000_000_000)
            .collect()
    } else {
        committed_seeds(test)
    };
    println!("{test}: seeds {seeds:?} (replay one with MIMAMORI_SEED=N)");
    seeds
}

/// The committed seeds of `test` (`server/tests/seeds/<test>.txt`).
pub fn committed_seeds(test: &str) -> Vec<u64> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/seeds")
        .join(format!("{test}.txt"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let seeds: Vec<u64> = text
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .map(|l| {
            l.parse()
                .unwrap_or_else(|_| panic!("{}: {l:?} is not a seed", path.display()))
        })
        .collect();
    assert!(!seeds.is_empty(), "{} lists no seed", path.display());
    seeds
}

/// The one seed of a test that runs a single randomised case (see [`seeds`]).
pub fn seed(test: &str) -> u64 {
    seeds(test, 1)[0]
}

/// `MIMAMORI_LONG=1`: the bigger sizes.
pub fn long() -> bool {
    std::env::var("MIMAMORI_LONG").is_ok_and(|v| v == "1")
}

/// What one sync round against a server that may be dying came to.
#[derive(Debug)]
pub enum Round {
    /// 200, applied. `acked`: (document, change hash) of every change the request carried,
    /// now acknowledged; `again`: sync again at once. Also a 409 `missing_deps`, as the app
    /// takes it: nothing acknowledged, the replica reconciles the documents named, again.
    Acked {
        acked: Vec<(String, String)>,
        again: bool,
    },
    /// No answer (connection refused or cut, timeout) or a 5xx: nothing is known to be
    /// stored; the replica was told (`request_failed`) and the same changes go again.
    Lost(String),
    /// Any other answer: a test failure for the callers here (a 429 above all).
    Refused(StatusCode, ApiError),
}

/// The (document, hash) of every change in a request.
pub fn hashes_of(req: &SyncRequest) -> Vec<(String, String)> {
    req.push
        .iter()
        .flat_map(|p| {
            p.changes.iter().map(|b| {
                let c = automerge::Change::try_from(b.0.as_slice()).expect("a change");
                (p.doc.clone(), c.hash().to_string())
            })
        })
        .collect()
}

impl Device {
    /// Like [`Device::post`], but a request that gets no answer (or a 5xx) is reported
    /// rather than a panic.
    pub async fn try_post(&self, req: &SyncRequest) -> Result<Answer, String> {
        let r = self
            .http
            .post(format!("{}/api/sync", self.base))
            .bearer_auth(&self.token)
            .json(req)
            .send()
            .await
            .map_err(|e| format!("no answer: {e}"))?;
        let status = r.status();
        if status.is_server_error() {
            return Err(format!("{status}"));
        }
        let body = r.bytes().await.map_err(|e| format!("answer cut: {e}"))?;
        if status == StatusCode::OK {
            Ok(Answer::Ok(serde_json::from_slice(&body).map_err(|e| {
                format!("unreadable 200 answer ({} bytes): {e}", body.len())
            })?))
        } else {
            Ok(Answer::Err(
                status,
                serde_json::from_slice(&body).expect("error answers are JSON"),
            ))
        }
    }

    /// One round (request, answer, apply) that survives the server dying.
    pub async fn try_round(&mut self) -> Round {
        let req = self.replica.request("test");
        match self.try_post(&req).await {
            Ok(Answer::Ok(resp)) => {
                let acked = hashes_of(&req);
                let applied = self.replica.apply(&req, resp).expect("apply the answer");
                Round::Acked {
                    acked,
                    again: applied.again,
                }
            }
            Ok(Answer::Err(s, e)) if super::is_missing_deps(s, &e) => {
                self.replica.missing_deps(&e.docs);
                Round::Acked {
                    acked: vec![],
                    again: true,
                }
            }
            Ok(Answer::Err(s, e)) => Round::Refused(s, e),
            Err(why) => {
                self.replica.request_failed();
                Round::Lost(why)
            }
        }
    }

    /// Syncs until there is nothing more to exchange, retrying lost requests (after a short
    /// pause) up to `max_lost` times in all. Adds every acknowledged change to `acked`;
    /// returns how many requests were lost. Panics on any refusal.
    pub async fn sync_retrying(
        &mut self,
        acked: &mut BTreeSet<(String, String)>,
        max_lost: usize,
    ) -> usize {
        let mut lost = 0;
        for _ in 0..(100 + max_lost) {
            match self.try_round().await {
                Round::Acked { acked: a, again } => {
                    acked.extend(a);
                    if !again {
                        return lost;
                    }
                }
                Round::Lost(why) => {
                    lost += 1;
                    assert!(lost <= max_lost, "sync lost {lost} requests, last: {why}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Round::Refused(s, e) => panic!("sync refused: {s} {e:?}"),
            }
        }
        panic!("sync did not settle");
    }

    /// This device's heads of `doc`, sorted.
    pub fn heads_of(&self, doc: &str) -> Vec<String> {
        let mut h: Vec<String> = self
            .replica
            .get(doc)
            .unwrap_or_else(|| panic!("the device holds {doc}"))
            .doc
            .get_heads()
            .iter()
            .map(|h| h.to_string())
            .collect();
        h.sort();
        h
    }
}

/// Heads of `doc` as the database holds it, sorted.
pub async fn db_heads(db: &server::db::Db, doc: &str) -> Vec<String> {
    let d = server::store::stored(&mut db.acquire().await.unwrap(), doc)
        .await
        .unwrap()
        .load()
        .unwrap();
    let mut h: Vec<String> = d.get_heads().iter().map(|h| h.to_string()).collect();
    h.sort();
    h
}

/// Every (document, hash) in the changes table.
pub async fn stored_changes(db: &server::db::Db) -> BTreeSet<(String, String)> {
    use sqlx::Row;
    sqlx::query("SELECT doc_id, hash FROM changes")
        .fetch_all(db)
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get::<String, _>(0), r.get::<String, _>(1)))
        .collect()
}

/// Every acknowledged change is in the database, and the storage invariants hold
/// ([`check_storage`]). `what` names the run in messages.
pub async fn check_acknowledged(
    db: &server::db::Db,
    url: &str,
    acked: &BTreeSet<(String, String)>,
    what: &str,
) {
    let stored = stored_changes(db).await;
    let missing: Vec<_> = acked.difference(&stored).collect();
    assert!(
        missing.is_empty(),
        "{what}: {} acknowledged changes are not stored, e.g. {:?}",
        missing.len(),
        missing.first()
    );
    check_storage(db, url, what).await;
}

/// The storage invariants after a crash: no change stored twice; the sequence numbers
/// unique per organisation, never above the organisation's counter, and each document's
/// `last_seq` is its newest change; on SQLite `PRAGMA integrity_check` is `ok` and
/// `PRAGMA foreign_key_check` finds nothing. `what` names the run in messages.
pub async fn check_storage(db: &server::db::Db, url: &str, what: &str) {
    let dupes: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM (SELECT doc_id, hash FROM changes GROUP BY doc_id, hash HAVING COUNT(*) > 1) x",
    )
    .fetch_one(db)
    .await
    .unwrap();
    assert_eq!(dupes, 0, "{what}: a change is stored twice");
    let seq_dupes: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM (SELECT org_id, seq FROM changes GROUP BY org_id, seq HAVING COUNT(*) > 1) x",
    )
    .fetch_one(db)
    .await
    .unwrap();
    assert_eq!(seq_dupes, 0, "{what}: two changes share a sequence number");
    let over: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM changes c JOIN organisations o ON o.id = c.org_id WHERE c.seq > o.change_seq OR c.seq < 1",
    )
    .fetch_one(db)
    .await
    .unwrap();
    assert_eq!(
        over, 0,
        "{what}: a change numbered outside the organisation's sequence"
    );
    let over: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM scope_events e JOIN organisations o ON o.id = e.org_id WHERE e.seq > o.change_seq",
    )
    .fetch_one(db)
    .await
    .unwrap();
    assert_eq!(
        over, 0,
        "{what}: a scope event numbered beyond the organisation's sequence"
    );
    let shared_seq: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM changes c WHERE EXISTS (SELECT 1 FROM scope_events e WHERE e.org_id = c.org_id AND e.seq = c.seq)",
    )
    .fetch_one(db)
    .await
    .unwrap();
    assert_eq!(
        shared_seq, 0,
        "{what}: a change and a scope event share a sequence number"
    );
    let stale: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM documents d WHERE d.last_seq <> COALESCE((SELECT MAX(seq) FROM changes c WHERE c.doc_id = d.id), 0)",
    )
    .fetch_one(db)
    .await
    .unwrap();
    assert_eq!(
        stale, 0,
        "{what}: a document's last_seq is not its newest change"
    );
    let orphans: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM changes c WHERE NOT EXISTS (SELECT 1 FROM documents d WHERE d.id = c.doc_id)",
    )
    .fetch_one(db)
    .await
    .unwrap();
    assert_eq!(orphans, 0, "{what}: a change of no document");
    if server::db::is_sqlite(url) {
        let ok: String = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_one(db)
            .await
            .unwrap();
        assert_eq!(ok, "ok", "{what}: PRAGMA integrity_check");
        let fk = sqlx::query("PRAGMA foreign_key_check")
            .fetch_all(db)
            .await
            .unwrap();
        assert!(fk.is_empty(), "{what}: PRAGMA foreign_key_check found rows");
    }
}
