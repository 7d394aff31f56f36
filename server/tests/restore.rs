//! Backup and restore drill, on SQLite and PostgreSQL: devices work and sync; a backup is
//! taken with the real command (`server admin backup`, the server binary) while the server
//! runs and a device writes; work goes on after the backup (visits, a new person, a salon
//! session, a map place); the backup is restored into a fresh database (SQLite: the file
//! put in place; PostgreSQL: `pg_restore` of the `pg_dump -Fc` file) and a server started
//! on it. The devices notice that their cursor is unknown (the backup carries no epoch),
//! reconcile through the Automerge sync protocol and give the server back everything it
//! lost — including a device that only comes online after the others have already written
//! more than the backup lacked, and one whose first request pushes an offline edit to a
//! document the restored server no longer has (refused, then re-offered) — and everything
//! converges.

mod common;
use common::*;
use serde_json::json;
use shared::codes::DocKind;
use shared::crdt;
use shared::model::{Person, Salon, SupportMap};
use std::path::Path;

/// `server admin backup PATH` with the real binary, against `url`.
async fn backup_command(url: &str, path: &Path) -> std::process::Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_server"))
        .args(["admin", "backup"])
        .arg(path)
        .env("DATABASE_URL", url)
        .env("MIMAMORI_PG_DUMP", pg_bin("pg_dump"))
        .env("RUST_BACKTRACE", "0")
        .output()
        .await
        .expect("run the server binary")
}

fn visit(d: &mut Device, doc: &str, id: &str, note: &str) {
    d.replica
        .edit(doc, |tx| {
            crdt::write(
                tx,
                &["visits", id],
                &json!({"date": "2026-11-20", "kind": "visit", "outcome": "met", "note": note}),
            )
        })
        .unwrap();
}

/// Syncs as the app does: a 403 naming documents keeps their changes on the device and
/// stops sending them (`Replica::refuse`); a 409 `missing_deps` reconciles the documents
/// named (`Replica::missing_deps`); anything else but 200 fails the test.
async fn app_sync(d: &mut Device) {
    for _ in 0..50 {
        let req = d.replica.request("test");
        match d.post(&req).await {
            Answer::Ok(resp) => {
                if !d.replica.apply(&req, resp).unwrap().again {
                    return;
                }
            }
            Answer::Err(s, e) if s.as_u16() == 403 && !e.docs.is_empty() => {
                d.replica.refuse(&e.docs);
            }
            Answer::Err(s, e) if is_missing_deps(s, &e) => {
                d.replica.missing_deps(&e.docs);
            }
            Answer::Err(s, e) => panic!("sync failed: {s} {e:?}"),
        }
    }
    panic!("sync did not settle in 50 rounds");
}

async fn map_doc(s: &TestServer, district: &str) -> String {
    sqlx::query_scalar("SELECT map_doc FROM districts WHERE id = $1")
        .bind(district.to_string())
        .fetch_one(&s.db)
        .await
        .unwrap()
}

async fn has_doc(s: &TestServer, id: &str) -> bool {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM documents WHERE id = $1")
        .bind(id.to_string())
        .fetch_one(&s.db)
        .await
        .unwrap();
    n == 1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_and_restore_drill() {
    for backend in backends() {
        drill(backend).await;
    }
}

async fn drill(backend: &str) {
    let s = TestServer::start(backend).await;
    let o = org(&s.db).await;
    let map = map_doc(&s, &o.district).await;
    let mut a = s.device("minsei_a").await;
    let mut b = s.device("minsei_b").await;
    let mut v = s.device("vol").await;
    let mut l1 = s.device("lead1").await;
    let mut l2 = s.device("lead2").await;
    // minsei_b's tablet: synced before the backup, offline until after the restore.
    let mut tablet = s.device("minsei_b").await;

    // Before the backup: a person with a visit, assigned to the volunteer; the salon's
    // roster and a session; a place on the 地区's map.
    a.sync().await;
    a.create_person("p1", &o.school);
    visit(&mut a, "p1", "v1", "before the backup");
    a.replica
        .edit(&map, |tx| {
            crdt::write(
                tx,
                &["places", "pl1"],
                &json!({"kind": "household", "lat": 35.1, "lng": 139.5, "label": "田中宅"}),
            )
        })
        .unwrap();
    a.sync().await;
    server::admin::assign(&s.db, &o.users["vol"], "p1")
        .await
        .unwrap();
    l1.sync().await;
    l1.replica
        .edit(&o.salon_doc, |tx| {
            crdt::write(tx, &["members", "m1"], &json!({"name": "佐藤 ハナ"}))?;
            crdt::write(
                tx,
                &["sessions", "2026-11-01"],
                &json!({"date": "2026-11-01", "attendance": {"m1": "present"}}),
            )
        })
        .unwrap();
    l1.sync().await;
    for d in [&mut b, &mut v, &mut l2, &mut tablet] {
        d.sync().await;
    }
    assert!(v.replica.get("p1").is_some(), "{backend}: assigned person");

    // The backup, taken with the real command while the server runs and a 民生委員
    // records visits (each its own committed sync).
    let work = std::env::temp_dir().join(format!("mm_backup_{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&work).unwrap();
    let backup = work.join(if backend == "sqlite" {
        "mimamori-backup.db"
    } else {
        "mimamori-backup.dump"
    });
    let writer = tokio::spawn(async move {
        for i in 0..5 {
            visit(&mut b, "p1", &format!("during{i}"), "during the backup");
            b.sync().await;
        }
        b
    });
    let out = backup_command(&s.tmp.url, &backup).await;
    let mut b = writer.await.unwrap();
    assert!(
        out.status.success(),
        "{backend}: server admin backup failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("backup written to"), "{backend}: {said}");
    assert!(backup.exists(), "{backend}: the backup file");
    assert!(
        !work
            .join(format!(
                "{}.partial",
                backup.file_name().unwrap().to_string_lossy()
            ))
            .exists(),
        "{backend}: no partial file left"
    );

    // Work after the backup.
    // The tablet, offline, records a visit it will only send after the restore.
    visit(&mut tablet, "p1", "tablet", "offline on the tablet");
    // A 民生委員: another visit and a new person.
    visit(&mut a, "p1", "v2", "after the backup");
    a.create_person("p2", &o.other_school);
    visit(&mut a, "p2", "p2v1", "first visit to the new person");
    a.sync().await;
    // The co-leader records a session.
    l2.sync().await;
    l2.replica
        .edit(&o.salon_doc, |tx| {
            crdt::write(
                tx,
                &["sessions", "2026-11-15"],
                &json!({"date": "2026-11-15", "guests": 2, "attendance": {"m1": "absent"}}),
            )
        })
        .unwrap();
    l2.sync().await;
    l1.sync().await;
    // The other 民生委員 adds a place and a link to the map.
    b.sync().await;
    b.replica
        .edit(&map, |tx| {
            crdt::write(
                tx,
                &["places", "pl2"],
                &json!({"kind": "helper", "lat": 35.2, "lng": 139.6, "label": "見守り協力店"}),
            )?;
            crdt::write(
                tx,
                &["links", "lk1"],
                &json!({"from": "pl2", "to": "pl1", "kind": "watch"}),
            )
        })
        .unwrap();
    b.sync().await;
    // Last: the volunteer's visit, held by nobody else when the server is lost.
    v.sync().await;
    visit(&mut v, "p1", "vol1", "the volunteer's visit");
    v.sync().await;

    // The server is lost; the backup is restored into a new database and a server started.
    let restored_db = restore_fresh(backend, &backup).await;
    let r = TestServer::on(&restored_db.url).await;
    assert!(has_doc(&r, "p1").await, "{backend}: p1 is in the backup");
    assert!(
        !has_doc(&r, "p2").await,
        "{backend}: the person created after the backup is not"
    );
    let before_resync: i64 = r.count("changes").await;
    for d in [&mut a, &mut b, &mut v, &mut l1, &mut l2, &mut tablet] {
        d.base = r.base.clone();
    }

    // Before its first contact with the restored server, the 民生委員 records another visit
    // to the person made after the backup: that first request pushes a change to a
    // document the server no longer has, without `create`, and is refused (403) before
    // the server can say it was restored.
    visit(
        &mut a,
        "p2",
        "offline",
        "recorded offline while the server was down",
    );

    // Everyone but the volunteer comes back and keeps working: more visits than the
    // backup lacked, so the restored server's sequence passes the volunteer's old cursor.
    for d in [&mut a, &mut b, &mut l1, &mut l2, &mut tablet] {
        app_sync(d).await;
    }
    for i in 0..12 {
        visit(&mut a, "p2", &format!("later{i}"), "after the restore");
        app_sync(&mut a).await;
    }
    l1.replica
        .edit(&o.salon_doc, |tx| {
            crdt::write(
                tx,
                &["sessions", "2026-11-29"],
                &json!({"date": "2026-11-29", "attendance": {"m1": "present"}}),
            )
        })
        .unwrap();
    app_sync(&mut l1).await;
    // A day later the volunteer's phone is back online.
    app_sync(&mut v).await;
    // Everyone catches up.
    for _ in 0..2 {
        for d in [&mut a, &mut b, &mut v, &mut l1, &mut l2, &mut tablet] {
            app_sync(d).await;
        }
    }
    assert!(
        r.count("changes").await > before_resync,
        "{backend}: the devices gave changes back"
    );

    // A fresh 民生委員 device and a fresh leader device on the restored server see all.
    let mut fresh = r.device("minsei_a").await;
    fresh.sync().await;
    let (p1, _) =
        shared::doc::read::<Person, _>(&fresh.replica.get("p1").expect("p1").doc).unwrap();
    let mut want: Vec<String> = ["v1", "v2", "vol1", "tablet"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    want.extend((0..5).map(|i| format!("during{i}")));
    for id in &want {
        assert!(
            p1.visits.contains_key(id),
            "{backend}: visit {id} is back on the server; have {:?}",
            p1.visits.keys().collect::<Vec<_>>()
        );
    }
    let (p2, _) = shared::doc::read::<Person, _>(
        &fresh
            .replica
            .get("p2")
            .expect("the person created after the backup is back")
            .doc,
    )
    .unwrap();
    assert_eq!(
        p2.visits.len(),
        14,
        "{backend}: p2's visits, the one recorded offline included"
    );
    let (m, _) =
        shared::doc::read::<SupportMap, _>(&fresh.replica.get(&map).expect("map").doc).unwrap();
    assert!(
        m.places.contains_key("pl1") && m.places.contains_key("pl2") && m.links.contains_key("lk1"),
        "{backend}: the map's places and link"
    );
    let mut lead = r.device("lead2").await;
    lead.sync().await;
    let (salon, conflicts) =
        shared::doc::read::<Salon, _>(&lead.replica.get(&o.salon_doc).unwrap().doc).unwrap();
    for date in ["2026-11-01", "2026-11-15", "2026-11-29"] {
        assert!(
            salon.sessions.contains_key(date),
            "{backend}: session {date}"
        );
    }
    assert!(conflicts.is_empty(), "{backend}: {conflicts:?}");

    // Every device, the fresh ones and the database agree, document by document.
    let mut conn = r.db.acquire().await.unwrap();
    for (name, d) in [
        ("a", &a),
        ("b", &b),
        ("vol", &v),
        ("lead1", &l1),
        ("lead2", &l2),
        ("tablet", &tablet),
        ("fresh minsei", &fresh),
        ("fresh lead", &lead),
    ] {
        assert_eq!(
            d.replica.pending(),
            0,
            "{backend}: {name} has pending changes"
        );
        assert!(
            d.replica.refused.is_empty(),
            "{backend}: {name} refused {:?}",
            d.replica.refused
        );
        for (id, local) in d.replica.docs() {
            let stored = server::store::stored(&mut conn, id)
                .await
                .unwrap_or_else(|e| panic!("{backend}: {name}'s {id} is not on the server: {e}"))
                .load()
                .unwrap();
            assert_eq!(
                sorted_heads(&local.doc),
                sorted_heads(&stored),
                "{backend}: {name} {id}: heads"
            );
            assert_eq!(
                crdt::read_doc(&local.doc).unwrap(),
                crdt::read_doc(&stored).unwrap(),
                "{backend}: {name} {id}: content"
            );
        }
    }
    for (name, d) in [("a", &a), ("b", &b), ("tablet", &tablet)] {
        let mine: Vec<&String> = d.replica.ids().collect();
        let theirs: Vec<&String> = fresh.replica.ids().collect();
        if name == "a" {
            assert_eq!(mine, theirs, "{backend}: a holds what a fresh device gets");
        } else {
            // minsei_b has the same scope as minsei_a (the whole 地区), except the
            // activity record, which is each user's own.
            let kinds = |r: &shared::client::Replica| {
                r.docs()
                    .filter(|(_, l)| l.kind != DocKind::Activity)
                    .map(|(id, _)| id.clone())
                    .collect::<Vec<_>>()
            };
            assert_eq!(
                kinds(&d.replica),
                kinds(&fresh.replica),
                "{backend}: {name}"
            );
        }
    }
    drop(conn);
    let _ = std::fs::remove_dir_all(&work);
    drop(restored_db);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_command_never_overwrites_and_never_creates_a_database() {
    let s = TestServer::start("sqlite").await;
    let dir = s.tmp.dir.clone().unwrap();
    let taken = dir.join("taken.db");
    std::fs::write(&taken, b"an older backup").unwrap();
    let out = backup_command(&s.tmp.url, &taken).await;
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("already exists"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read(&taken).unwrap(), b"an older backup");

    let missing = format!("sqlite://{}/no-such.db", dir.display());
    let out = backup_command(&missing, &dir.join("b.db")).await;
    assert!(!out.status.success());
    assert!(!dir.join("no-such.db").exists(), "no database was created");
    assert!(!dir.join("b.db").exists());

    // A good one: complete, without the epoch, and the live database keeps its own.
    let good = dir.join("good.db");
    let out = backup_command(&s.tmp.url, &good).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let copy = server::db::open(&format!("sqlite://{}", good.display()), 2)
        .await
        .unwrap();
    assert_ne!(
        server::db::epoch(&copy).await.unwrap(),
        server::db::epoch(&s.db).await.unwrap(),
        "a server on the restored backup has a new epoch"
    );
}

/// A person created after the backup reaches another 民生委員's phone as changes, with its
/// placement; the creator's phone is then lost. After the restore the other phone offers
/// the person again, whole, with the visit only it held: nothing is lost because the one
/// phone that created the record is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_made_after_the_backup_comes_back_from_a_phone_that_did_not_make_it() {
    for backend in backends() {
        let s = TestServer::start(backend).await;
        let o = org(&s.db).await;
        let mut a = s.device("minsei_a").await;
        let mut b = s.device("minsei_b").await;
        a.sync().await;
        b.sync().await;

        let work = std::env::temp_dir().join(format!("mm-placed-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&work).unwrap();
        let backup = work.join("backup");
        let out = backup_command(&s.tmp.url, &backup).await;
        assert!(
            out.status.success(),
            "{backend}: {}",
            String::from_utf8_lossy(&out.stderr)
        );

        a.create_person("p-late", &o.school);
        visit(&mut a, "p-late", "v-a", "made after the backup");
        a.sync().await;
        b.sync().await;
        let got = b.replica.get("p-late").expect("b received the new person");
        assert_eq!(
            got.placement.as_ref().and_then(|p| p.district.clone()),
            Some(o.school.clone()),
            "{backend}: a document created after the cursor arrives with its placement"
        );
        visit(&mut b, "p-late", "v-b", "only on b's phone");
        drop(a); // the creator's phone is lost

        let restored_db = restore_fresh(backend, &backup).await;
        let r = TestServer::on(&restored_db.url).await;
        assert!(!has_doc(&r, "p-late").await, "{backend}: not in the backup");
        b.base = r.base.clone();
        app_sync(&mut b).await;
        app_sync(&mut b).await;
        assert!(
            b.replica.refused.is_empty(),
            "{backend}: b's copy was taken back"
        );

        let mut fresh = r.device("minsei_a").await;
        fresh.sync().await;
        let (p, _) =
            shared::doc::read::<Person, _>(&fresh.replica.get("p-late").expect("back").doc)
                .unwrap();
        let notes: Vec<&str> = p.visits.values().map(|v| v.note.as_str()).collect();
        assert!(
            notes.contains(&"made after the backup") && notes.contains(&"only on b's phone"),
            "{backend}: both visits came back: {notes:?}"
        );
        assert_eq!(
            sorted_heads(&fresh.replica.get("p-late").unwrap().doc),
            sorted_heads(&b.replica.get("p-late").unwrap().doc),
            "{backend}: the phone and the restored server agree"
        );
        let _ = std::fs::remove_dir_all(&work);
        drop(restored_db);
    }
}
