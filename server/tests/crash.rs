//! The server process is killed (SIGKILL) right after it acknowledges a sync; after a
//! restart every acknowledged change is there.

mod common;
use common::*;
use serde_json::json;
use shared::codes::DocKind;
use shared::sync::NewDoc;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn spawn(url: &str) -> (Child, String) {
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_server"))
        .env("DATABASE_URL", url)
        .env("MIMAMORI_ADDR", format!("127.0.0.1:{port}"))
        .env("MIMAMORI_DIST", "/nonexistent")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .expect("start the server binary");
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    for _ in 0..200 {
        if http
            .get(format!("{base}/healthz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return (child, base);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("the server did not start");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_changes_survive_kill_9() {
    for backend in backends() {
        let tmp = temp_db(backend).await;
        let pool = server::db::open(&tmp.url, 2).await.unwrap();
        let o = org(&pool).await;
        pool.close().await;

        let (mut child, base) = spawn(&tmp.url).await;
        let s = TestServer {
            base,
            db: server::db::open(&tmp.url, 2).await.unwrap(),
            tmp,
            http: reqwest::Client::new(),
        };
        let mut phone = s.device("minsei_a").await;
        phone.sync().await;
        phone
            .replica
            .create(
                "p-crash",
                NewDoc {
                    kind: DocKind::Person,
                    district: Some(o.school.clone()),
                    salon: None,
                },
            )
            .unwrap();
        let mut acked = 0;
        for round in 0..5 {
            for i in 0..3 {
                let visit = json!({"date": "2026-11-20", "kind": "visit", "outcome": "met", "note": format!("round {round} visit {i}")});
                phone
                    .replica
                    .edit("p-crash", |tx| {
                        shared::crdt::write(tx, &["visits", &format!("r{round}v{i}")], &visit)
                    })
                    .unwrap();
            }
            let req = phone.replica.request("test");
            let Answer::Ok(resp) = phone.post(&req).await else {
                panic!("sync failed")
            };
            // Acknowledged: kill the server at once, before anything else can happen.
            child.kill().unwrap();
            child.wait().unwrap();
            phone.replica.apply(&req, resp).unwrap();
            assert_eq!(phone.replica.pending(), 0);
            acked += 3;

            let (c, base) = spawn(&s.tmp.url).await;
            child = c;
            phone.base = base.clone();
            // A new device of another 民生委員 of the district sees every acknowledged visit.
            let mut fresh = TestServer {
                base,
                db: s.db.clone(),
                tmp: TempDb {
                    url: s.tmp.url.clone(),
                    dir: None,
                },
                http: s.http.clone(),
            }
            .device("minsei_b")
            .await;
            fresh.sync().await;
            let (p, _) = shared::doc::read::<shared::model::Person, _>(
                &fresh
                    .replica
                    .get("p-crash")
                    .expect("the person survived")
                    .doc,
            )
            .unwrap();
            assert_eq!(
                p.visits.len(),
                acked,
                "{backend} round {round}: every acknowledged visit is there"
            );
        }
        child.kill().unwrap();
        child.wait().unwrap();
    }
}
