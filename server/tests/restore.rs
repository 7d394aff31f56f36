//! The server's database is restored from an older backup: devices notice that their
//! cursor is from the future, reconcile through the Automerge sync protocol, and give the
//! server back what the backup lacked.

mod common;
use common::*;
use serde_json::json;
use shared::codes::DocKind;
use shared::crdt;
use shared::model::Person;
use shared::sync::NewDoc;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_restore_devices_give_back_what_the_backup_lacked() {
    let s = TestServer::start("sqlite").await;
    let o = org(&s.db).await;
    let mut a = s.device("minsei_a").await;
    let mut b = s.device("minsei_b").await;
    a.sync().await;
    a.replica
        .create(
            "p-r",
            NewDoc {
                kind: DocKind::Person,
                district: Some(o.school.clone()),
                salon: None,
            },
        )
        .unwrap();
    a.replica
        .edit("p-r", |tx| {
            crdt::write(
                tx,
                &["visits", "v1"],
                &json!({"date": "2026-11-01", "outcome": "met"}),
            )
        })
        .unwrap();
    a.sync().await;

    // Backup taken here.
    let backup_dir = s.tmp.dir.clone().unwrap();
    let backup = backup_dir.join("backup.db");
    sqlx::query(&format!("VACUUM INTO '{}'", backup.display()))
        .execute(&s.db)
        .await
        .unwrap();

    // Work after the backup: a second visit, and a person created after it.
    a.replica
        .edit("p-r", |tx| {
            crdt::write(
                tx,
                &["visits", "v2"],
                &json!({"date": "2026-11-02", "outcome": "not_home"}),
            )
        })
        .unwrap();
    a.replica
        .create(
            "p-new",
            NewDoc {
                kind: DocKind::Person,
                district: Some(o.school.clone()),
                salon: None,
            },
        )
        .unwrap();
    a.sync().await;
    b.sync().await;
    assert_eq!(b.replica.ids().filter(|d| d.starts_with("p-")).count(), 2);

    // The server is restored from the backup.
    let restored = TestServer::on(&format!("sqlite://{}", backup.display())).await;
    a.base = restored.base.clone();
    b.base = restored.base.clone();
    a.sync().await;
    b.sync().await;
    a.sync().await;

    // A fresh device on the restored server sees everything again.
    let mut c = restored.device("minsei_b").await;
    c.sync().await;
    let (p, _) = shared::doc::read::<Person, _>(&c.replica.get("p-r").expect("p-r").doc).unwrap();
    assert_eq!(
        p.visits.len(),
        2,
        "the visit made after the backup came back from the devices"
    );
    assert!(
        c.replica.get("p-new").is_some(),
        "the person created after the backup was re-created"
    );
    for d in [&a, &b] {
        assert_eq!(
            d.replica.get("p-r").unwrap().doc.get_heads(),
            c.replica.get("p-r").unwrap().doc.get_heads(),
            "devices and server agree"
        );
    }
}
