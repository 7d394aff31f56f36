//! Several devices edit the same person and the same salon session offline, then sync in
//! every order, with requests duplicated, answers reordered and answers lost: every
//! device and the server end with identical documents and heads.

mod common;
use common::*;
use serde_json::json;
use shared::codes::DocKind;
use shared::crdt;
use shared::model::{Person, Salon};
use shared::sync::NewDoc;

/// How a device's sync misbehaves in one run.
#[derive(Clone, Copy, Debug)]
enum Chaos {
    Clean,
    /// The same request is sent twice; the first answer is applied.
    Duplicate,
    /// The answer is lost (connection dropped after the server committed); retried.
    DropAnswer,
    /// Two requests go out; their answers are applied newest first.
    Reorder,
}

async fn chaotic_sync(d: &mut Device, chaos: Chaos) {
    match chaos {
        Chaos::Clean => {}
        Chaos::Duplicate => {
            let req = d.replica.request("test");
            let first = d.post(&req).await;
            let _second = d.post(&req).await;
            if let Answer::Ok(r) = first {
                d.replica.apply(&req, r).unwrap();
            }
        }
        Chaos::DropAnswer => {
            let req = d.replica.request("test");
            let _lost = d.post(&req).await;
            d.replica.request_failed();
        }
        Chaos::Reorder => {
            let r1 = d.replica.request("test");
            let r2 = d.replica.request("test");
            let a1 = d.post(&r1).await;
            let a2 = d.post(&r2).await;
            if let Answer::Ok(a) = a2 {
                d.replica.apply(&r2, a).unwrap();
            }
            if let Answer::Ok(a) = a1 {
                d.replica.apply(&r1, a).unwrap();
            }
        }
    }
    d.sync().await;
}

fn heads(d: &Device, doc: &str) -> Vec<String> {
    let mut h: Vec<String> = d
        .replica
        .get(doc)
        .unwrap()
        .doc
        .get_heads()
        .iter()
        .map(|h| h.to_string())
        .collect();
    h.sort();
    h
}

fn permutations(n: usize) -> Vec<Vec<usize>> {
    if n == 1 {
        return vec![vec![0]];
    }
    let mut out = Vec::new();
    for p in permutations(n - 1) {
        for i in 0..n {
            let mut q = p.clone();
            q.insert(i, n - 1);
            out.push(q);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devices_converge_in_every_order_under_duplication_reordering_and_loss() {
    for backend in backends() {
        let s = TestServer::start(backend).await;
        let o = org(&s.db).await;
        // Two devices of one 民生委員, one of another, and the two salon co-leaders.
        let mut minsei = vec![
            s.device("minsei_a").await,
            s.device("minsei_a").await,
            s.device("minsei_b").await,
        ];
        let mut leaders = [s.device("lead1").await, s.device("lead2").await];
        for d in minsei.iter_mut().chain(leaders.iter_mut()) {
            d.sync().await;
            assert!(
                d.replica.get(&o.salon_doc).is_some() == leaders_has_salon(&d.user_id, &o),
                "first sync scope"
            );
        }

        // The salon roster has one member; both leaders know it.
        leaders[0]
            .replica
            .edit(&o.salon_doc, |tx| {
                crdt::write(tx, &["members", "m1"], &json!({"name": "佐藤 ハナ"}))
            })
            .unwrap();
        leaders[0].sync().await;
        leaders[1].sync().await;

        let chaos = [
            Chaos::Clean,
            Chaos::Duplicate,
            Chaos::DropAnswer,
            Chaos::Reorder,
        ];
        for (run, order) in permutations(3).into_iter().enumerate() {
            // A new person, created on the first device and known to all.
            let person = format!("person-{backend}-{run}");
            minsei[0]
                .replica
                .create(
                    &person,
                    NewDoc {
                        kind: DocKind::Person,
                        district: Some(o.school.clone()),
                        salon: None,
                    },
                )
                .unwrap();
            minsei[0].sync().await;
            for d in minsei.iter_mut().skip(1) {
                d.sync().await;
                assert!(
                    d.replica.get(&person).is_some(),
                    "{backend}: the new person reached every 民生委員 device"
                );
            }

            // Offline: everyone records a visit, and all set the same phone number differently.
            for (i, d) in minsei.iter_mut().enumerate() {
                let visit = json!({"date": "2026-11-20", "kind": "visit", "outcome": "met", "note": format!("device {i}")});
                d.replica
                    .edit(&person, |tx| {
                        crdt::write(tx, &["visits", &format!("v{run}-{i}")], &visit)
                    })
                    .unwrap();
                d.replica
                    .edit(&person, |tx| {
                        crdt::write(
                            tx,
                            &["profile"],
                            &json!({"name": "佐藤 花子", "phone": format!("000-{i}")}),
                        )
                    })
                    .unwrap();
            }
            // Offline: the co-leaders mark the same member differently in the same session.
            let date = format!("2026-11-{:02}", run + 1);
            for (i, d) in leaders.iter_mut().enumerate() {
                let mark = if i == 0 { "present" } else { "absent" };
                let session = json!({"date": date, "attendance": {"m1": mark}, "guests": i + 1});
                d.replica
                    .edit(&o.salon_doc, |tx| {
                        crdt::write(tx, &["sessions", &date], &session)
                    })
                    .unwrap();
            }

            // Back online, in this run's order, each with its own misbehaviour.
            for (k, &i) in order.iter().enumerate() {
                chaotic_sync(&mut minsei[i], chaos[(run + k) % chaos.len()]).await;
            }
            chaotic_sync(&mut leaders[run % 2], chaos[run % chaos.len()]).await;
            chaotic_sync(&mut leaders[(run + 1) % 2], chaos[(run + 1) % chaos.len()]).await;
            // Everyone catches up.
            for d in minsei.iter_mut().chain(leaders.iter_mut()) {
                d.sync().await;
            }

            // Identical heads and contents everywhere, and on the server.
            let server_doc = server::store::stored(&mut s.db.acquire().await.unwrap(), &person)
                .await
                .unwrap()
                .load()
                .unwrap();
            let mut server_heads: Vec<String> = server_doc
                .get_heads()
                .iter()
                .map(|h| h.to_string())
                .collect();
            server_heads.sort();
            for d in &minsei {
                assert_eq!(
                    heads(d, &person),
                    server_heads,
                    "{backend} run {run} order {order:?}: person heads"
                );
                assert_eq!(d.replica.pending(), 0);
            }
            let (p, conflicts) =
                shared::doc::read::<Person, _>(&minsei[0].replica.get(&person).unwrap().doc)
                    .unwrap();
            assert_eq!(
                p.visits.len(),
                3,
                "{backend} run {run}: every device's visit is kept"
            );
            assert!(
                conflicts
                    .iter()
                    .any(|c| c.path.last().is_some_and(|f| f == "phone")),
                "{backend}: the phone conflict is reported"
            );
            for d in &minsei[1..] {
                let (q, _) =
                    shared::doc::read::<Person, _>(&d.replica.get(&person).unwrap().doc).unwrap();
                assert_eq!(q, p, "{backend} run {run}: same person on every device");
            }

            let server_salon =
                server::store::stored(&mut s.db.acquire().await.unwrap(), &o.salon_doc)
                    .await
                    .unwrap()
                    .load()
                    .unwrap();
            let mut salon_heads: Vec<String> = server_salon
                .get_heads()
                .iter()
                .map(|h| h.to_string())
                .collect();
            salon_heads.sort();
            assert_eq!(
                heads(&leaders[0], &o.salon_doc),
                salon_heads,
                "{backend} run {run}: salon heads"
            );
            assert_eq!(
                heads(&leaders[1], &o.salon_doc),
                salon_heads,
                "{backend} run {run}: salon heads"
            );
            let (salon, conflicts) =
                shared::doc::read::<Salon, _>(&leaders[1].replica.get(&o.salon_doc).unwrap().doc)
                    .unwrap();
            assert!(salon.sessions.contains_key(&date));
            assert!(
                conflicts
                    .iter()
                    .any(|c| c.path.last().is_some_and(|f| f == "m1")),
                "{backend} run {run}: present/absent is shown as a conflict, not silently decided: {conflicts:?}"
            );
        }

        // Every change is stored once, however often it was sent.
        let dupes: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM (SELECT doc_id, hash FROM changes GROUP BY doc_id, hash HAVING COUNT(*) > 1) x")
            .fetch_one(&s.db)
            .await
            .unwrap();
        assert_eq!(dupes, 0);
        let _ = o.users.len();
    }
}

fn leaders_has_salon(user: &str, o: &Org) -> bool {
    user == o.users["lead1"] || user == o.users["lead2"]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devices_syncing_through_two_server_processes_converge() {
    for backend in backends() {
        let s = TestServer::start(backend).await;
        let o = org(&s.db).await;
        let second = s.another().await;
        let mut a = s.device("minsei_a").await;
        let mut b = s.device("minsei_b").await;
        b.base = second.clone();
        a.sync().await;
        b.sync().await;
        a.replica
            .create(
                "p-two",
                NewDoc {
                    kind: DocKind::Person,
                    district: Some(o.school.clone()),
                    salon: None,
                },
            )
            .unwrap();
        a.sync().await;
        b.sync().await;
        // Both write at once, each through its own server, many times.
        for i in 0..10 {
            let va = json!({"date": "2026-11-01", "outcome": "met", "note": format!("a{i}")});
            let vb = json!({"date": "2026-11-02", "outcome": "not_home", "note": format!("b{i}")});
            a.replica
                .edit("p-two", |tx| {
                    crdt::write(tx, &["visits", &format!("a{i}")], &va)
                })
                .unwrap();
            b.replica
                .edit("p-two", |tx| {
                    crdt::write(tx, &["visits", &format!("b{i}")], &vb)
                })
                .unwrap();
            let (ra, rb) = (a.replica.request("t"), b.replica.request("t"));
            let (xa, xb) = tokio::join!(a.post(&ra), b.post(&rb));
            let (Answer::Ok(xa), Answer::Ok(xb)) = (xa, xb) else {
                panic!("{backend}: sync failed")
            };
            a.replica.apply(&ra, xa).unwrap();
            b.replica.apply(&rb, xb).unwrap();
            // Switch servers halfway.
            if i == 5 {
                std::mem::swap(&mut a.base, &mut b.base);
            }
        }
        a.sync().await;
        b.sync().await;
        a.sync().await;
        assert_eq!(heads(&a, "p-two"), heads(&b, "p-two"), "{backend}");
        let (p, _) = shared::doc::read::<Person, _>(&b.replica.get("p-two").unwrap().doc).unwrap();
        assert_eq!(p.visits.len(), 20, "{backend}");
        let stored = server::store::stored(&mut s.db.acquire().await.unwrap(), "p-two")
            .await
            .unwrap()
            .load()
            .unwrap();
        let mut server_heads: Vec<String> =
            stored.get_heads().iter().map(|h| h.to_string()).collect();
        server_heads.sort();
        assert_eq!(
            heads(&a, "p-two"),
            server_heads,
            "{backend}: the database holds what both devices hold"
        );
    }
}
