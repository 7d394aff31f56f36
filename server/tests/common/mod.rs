//! Test support: fresh databases (SQLite file, and PostgreSQL when `MIMAMORI_TEST_PG`
//! names a server), a real server on a real port, and simulated devices that sync over
//! real HTTP with `shared::client::Replica`.
#![allow(dead_code)]

use reqwest::StatusCode;
use server::{AppState, admin, auth, db};
use shared::api::{LoginRequest, LoginResponse};
use shared::client::Replica;
use shared::sync::{ApiError, SyncRequest, SyncResponse};
use std::path::PathBuf;

mod process;
#[allow(unused_imports)] // not every test runs server processes
pub use process::*;

/// The databases every test runs on: SQLite always; PostgreSQL when `MIMAMORI_TEST_PG`
/// is set. `MIMAMORI_REQUIRE_PG=1` (set by scripts/test) makes a missing PostgreSQL an
/// error rather than a silent skip.
pub fn backends() -> Vec<&'static str> {
    let pg = std::env::var("MIMAMORI_TEST_PG").is_ok();
    if !pg && std::env::var("MIMAMORI_REQUIRE_PG").is_ok_and(|v| v == "1") {
        panic!("MIMAMORI_REQUIRE_PG=1 but MIMAMORI_TEST_PG is not set");
    }
    if pg {
        vec!["sqlite", "postgres"]
    } else {
        vec!["sqlite"]
    }
}

pub struct TempDb {
    pub url: String,
    pub dir: Option<PathBuf>,
}

impl Drop for TempDb {
    fn drop(&mut self) {
        if let Some(d) = &self.dir {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

/// A new, empty database of `backend`.
pub async fn temp_db(backend: &str) -> TempDb {
    let name = format!("mm_{}", uuid::Uuid::new_v4().simple());
    match backend {
        "sqlite" => {
            let dir = std::env::temp_dir().join(&name);
            std::fs::create_dir_all(&dir).unwrap();
            TempDb {
                url: format!("sqlite://{}/test.db", dir.display()),
                dir: Some(dir),
            }
        }
        _ => {
            let admin_url = std::env::var("MIMAMORI_TEST_PG").expect("MIMAMORI_TEST_PG");
            sqlx::any::install_default_drivers();
            let pool = sqlx::AnyPool::connect(&admin_url)
                .await
                .expect("connect to PostgreSQL");
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&pool)
                .await
                .unwrap();
            pool.close().await;
            let base = admin_url
                .rsplit_once('/')
                .map(|(b, _)| b.to_string())
                .unwrap();
            TempDb {
                url: format!("{base}/{name}"),
                dir: None,
            }
        }
    }
}

/// Serves `st` on a fresh loopback port, with client addresses as in production; returns
/// its base URL.
pub async fn serve_state(st: AppState) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = server::router(st, None);
    tokio::spawn(server::net::serve(
        listener,
        app,
        server::net::Limits::from_env(),
        std::future::pending(),
    ));
    base
}

/// A running server (in this process, on a real port).
pub struct TestServer {
    pub base: String,
    pub db: db::Db,
    pub tmp: TempDb,
    pub http: reqwest::Client,
}

impl TestServer {
    pub async fn start(backend: &str) -> TestServer {
        Self::serve(temp_db(backend).await).await
    }

    /// A server on an existing database (not removed afterwards).
    pub async fn on(url: &str) -> TestServer {
        Self::serve(TempDb {
            url: url.to_string(),
            dir: None,
        })
        .await
    }

    async fn serve(tmp: TempDb) -> TestServer {
        let pool = db::open(&tmp.url, 8).await.expect("open database");
        let base = serve_state(AppState::new(pool.clone()).await.unwrap()).await;
        TestServer {
            base,
            db: pool,
            tmp,
            http: reqwest::Client::new(),
        }
    }

    /// Another server process on the same database (its own pool, its own port).
    pub async fn another(&self) -> String {
        let pool = db::open(&self.tmp.url, 8).await.expect("open database");
        serve_state(AppState::new(pool).await.unwrap()).await
    }

    pub async fn count(&self, table: &str) -> i64 {
        sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
            .fetch_one(&self.db)
            .await
            .unwrap()
    }

    pub async fn audits(&self, action: &str) -> i64 {
        sqlx::query_scalar("SELECT COUNT(*) FROM audit_log WHERE action = $1")
            .bind(action.to_string())
            .fetch_one(&self.db)
            .await
            .unwrap()
    }

    /// Signs `login` in as a new device.
    pub async fn device(&self, login: &str) -> Device {
        self.device_with(login, PASSWORD).await
    }

    pub async fn device_with(&self, login: &str, password: &str) -> Device {
        let r = self
            .http
            .post(format!("{}/api/login", self.base))
            .json(&LoginRequest {
                login: login.into(),
                password: password.into(),
                device_name: "test".into(),
                app: "test".into(),
            })
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "login {login}");
        let l: LoginResponse = r.json().await.unwrap();
        Device {
            base: self.base.clone(),
            http: self.http.clone(),
            token: l.token,
            device_id: l.device_id,
            user_id: l.user.id,
            replica: Replica::new(automerge::ActorId::random()),
        }
    }
}

pub const PASSWORD: &str = "correct horse battery";

/// A small organisation: one 地区 with two 小学校区, one salon; users `minsei_a`,
/// `minsei_b` (民生委員 of the 地区), `vol` (volunteer), `lead1`, `lead2` (co-leaders).
pub struct Org {
    pub id: String,
    pub district: String,
    pub school: String,
    pub other_school: String,
    pub salon: String,
    pub salon_doc: String,
    pub users: std::collections::BTreeMap<&'static str, String>,
}

pub async fn org(db: &db::Db) -> Org {
    let id = admin::create_org(db, "テスト社協").await.unwrap();
    let district = admin::create_district(db, &id, None, "東地区", "地区", None)
        .await
        .unwrap();
    let school = admin::create_district(db, &id, Some(&district), "第一小学校区", "小学校区", None)
        .await
        .unwrap();
    let other_school =
        admin::create_district(db, &id, Some(&district), "第二小学校区", "小学校区", None)
            .await
            .unwrap();
    let (salon, salon_doc) = admin::create_salon(
        db,
        &id,
        Some(&district),
        "ふれあいサロン",
        &shared::codes::SalonType::Fureai,
    )
    .await
    .unwrap();
    let hash = auth::hash_password(PASSWORD).unwrap();
    let mut users = std::collections::BTreeMap::new();
    use shared::codes::Role;
    for (login, role) in [
        ("minsei_a", Role::Minsei),
        ("minsei_b", Role::Minsei),
        ("vol", Role::Volunteer),
        ("lead1", Role::SalonLeader),
        ("lead2", Role::SalonLeader),
        ("staff", Role::Staff),
    ] {
        let u = admin::create_user(db, &id, login, login, &hash)
            .await
            .unwrap();
        let (d, s) = match role {
            Role::Minsei => (Some(district.as_str()), None),
            Role::SalonLeader => (None, Some(salon.as_str())),
            _ => (None, None),
        };
        admin::grant(db, &u, &role, d, s).await.unwrap();
        users.insert(login, u);
    }
    Org {
        id,
        district,
        school,
        other_school,
        salon,
        salon_doc,
        users,
    }
}

/// A simulated phone.
pub struct Device {
    pub base: String,
    pub http: reqwest::Client,
    pub token: String,
    pub device_id: String,
    pub user_id: String,
    pub replica: Replica,
}

pub enum Answer {
    Ok(SyncResponse),
    Err(StatusCode, ApiError),
}

/// A 409 `missing_deps`: the server lacks predecessors of pushed changes; the device
/// reconciles the documents named (`Replica::missing_deps`).
pub fn is_missing_deps(s: StatusCode, e: &ApiError) -> bool {
    s == StatusCode::CONFLICT && e.error == "missing_deps"
}

impl Device {
    /// Sends `req`; an answer other than 200 is `Answer::Err`. No answer, or a 5xx, fails
    /// the test (`try_post` reports them instead).
    pub async fn post(&self, req: &SyncRequest) -> Answer {
        self.try_post(req)
            .await
            .unwrap_or_else(|e| panic!("sync request: {e}"))
    }

    /// Creates a person document in `district` on this device (not yet synced).
    pub fn create_person(&mut self, id: &str, district: &str) {
        self.replica
            .create(
                id,
                shared::sync::NewDoc {
                    kind: shared::codes::DocKind::Person,
                    district: Some(district.to_string()),
                    salon: None,
                },
            )
            .unwrap();
        // A household card has a name from the start (the model requires one).
        self.replica
            .edit(id, |tx| {
                shared::crdt::write(
                    tx,
                    &["profile", "name"],
                    &serde_json::json!(format!("世帯 {id}")),
                )
            })
            .unwrap();
    }

    /// One full round: request, answer, apply. A 409 `missing_deps` is taken as the app
    /// takes it (the documents named are reconciled); any other error answer panics.
    pub async fn round(&mut self) -> bool {
        let req = self.replica.request("test");
        match self.post(&req).await {
            Answer::Ok(resp) => self.replica.apply(&req, resp).unwrap().again,
            Answer::Err(s, e) if is_missing_deps(s, &e) => {
                self.replica.missing_deps(&e.docs);
                true
            }
            Answer::Err(s, e) => panic!("sync failed: {s} {e:?}"),
        }
    }

    /// Syncs until there is nothing more to exchange.
    pub async fn sync(&mut self) {
        for _ in 0..50 {
            if !self.round().await {
                return;
            }
        }
        panic!("sync did not settle in 50 rounds");
    }
}

// ───────────── backups and restores (restore.rs, convergence_property.rs) ─────────────

/// A document's heads as sorted hex strings, to compare replicas.
pub fn sorted_heads(doc: &automerge::Automerge) -> Vec<String> {
    let mut h: Vec<String> = doc.get_heads().iter().map(|h| h.to_string()).collect();
    h.sort();
    h
}

/// A PostgreSQL client binary: the newest of Debian's versioned ones, else the `PATH`'s.
pub fn pg_bin(name: &str) -> PathBuf {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v: u32 = e.file_name().to_str()?.parse().ok()?;
            let p = e.path().join("bin").join(name);
            p.exists().then_some((v, p))
        })
        .collect();
    found.sort();
    found.pop().map_or_else(|| PathBuf::from(name), |(_, p)| p)
}

/// The backup at `file` (`server admin backup`) restored into a new, empty database of
/// `backend`: SQLite, the file takes the database's place; PostgreSQL, `pg_restore` of the
/// `pg_dump -Fc` file.
pub async fn restore_fresh(backend: &str, file: &std::path::Path) -> TempDb {
    let t = temp_db(backend).await;
    if backend == "sqlite" {
        std::fs::copy(file, t.dir.as_ref().unwrap().join("test.db")).unwrap();
    } else {
        let out = tokio::process::Command::new(pg_bin("pg_restore"))
            .args(["--no-owner", "--exit-on-error", "--dbname"])
            .arg(&t.url)
            .arg(file)
            .output()
            .await
            .expect("run pg_restore");
        assert!(
            out.status.success(),
            "pg_restore failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    t
}
