//! The server process is killed (SIGKILL) while devices sync: right after it acknowledges
//! a sync, and at random moments with requests in flight. After each restart on the same
//! database every acknowledged change is there, nothing is stored twice, the database is
//! intact, and every device converges.

mod common;
use common::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use shared::codes::DocKind;
use shared::sync::NewDoc;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_changes_survive_kill_9() {
    for backend in backends() {
        let tmp = temp_db(backend).await;
        let pool = server::db::open(&tmp.url, 2).await.unwrap();
        let o = org(&pool).await;

        let mut srv = ServerProcess::start(&tmp.url).await;
        let mut phone = TestServer::at(&srv.base, &tmp.url, &pool)
            .device("minsei_a")
            .await;
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
            srv.kill9();
            phone.replica.apply(&req, resp).unwrap();
            assert_eq!(phone.replica.pending(), 0);
            acked += 3;

            srv.restart().await;
            phone.base = srv.base.clone();
            // A new device of another 民生委員 of the district sees every acknowledged visit.
            let mut fresh = TestServer::at(&srv.base, &tmp.url, &pool)
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
        srv.kill9();
        check_storage(&pool, &tmp.url, backend).await;
        pool.close().await;
    }
}

/// What the devices and the killer share while the run lasts.
struct Run {
    /// Every (document, change hash) some device got a 200 for.
    acked: Mutex<BTreeSet<(String, String)>>,
    /// The server's address (it may move to another port on a restart).
    base: Mutex<String>,
    /// A device just had a change acknowledged.
    ack: tokio::sync::Notify,
    in_flight: AtomicUsize,
    lost: AtomicUsize,
    rounds: AtomicUsize,
    stop: AtomicBool,
}

/// One device's part: edit, sync, retry what was lost, until told to stop.
async fn work(
    mut d: Device,
    i: usize,
    leader: bool,
    school: String,
    salon: String,
    seed: u64,
    run: Arc<Run>,
) -> Device {
    let mut rng = StdRng::seed_from_u64(seed ^ (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut k = 0;
    while !run.stop.load(Ordering::SeqCst) {
        k += 1;
        if leader {
            // The co-leaders mark attendance in the same few sessions.
            let date = format!("2026-11-{:02}", rng.random_range(1..6));
            let member = format!("m{}", rng.random_range(1..4));
            let mark = if rng.random_bool(0.5) {
                "present"
            } else {
                "absent"
            };
            let session = json!({"date": date, "attendance": {member: mark}, "guests": rng.random_range(0..5)});
            d.replica
                .edit(&salon, |tx| {
                    shared::crdt::write(tx, &["sessions", &date], &session)
                })
                .unwrap();
        } else {
            let people: Vec<String> = d
                .replica
                .docs()
                .filter(|(_, l)| l.kind == DocKind::Person)
                .map(|(id, _)| id.clone())
                .collect();
            if people.is_empty() || rng.random_bool(0.1) {
                d.create_person(&format!("p{i}-{k}"), &school);
            } else {
                let p = &people[rng.random_range(0..people.len())];
                if rng.random_bool(0.8) {
                    let visit = json!({"date": "2026-11-20", "kind": "visit", "outcome": "met", "note": format!("device {i} edit {k}")});
                    d.replica
                        .edit(p, |tx| {
                            shared::crdt::write(tx, &["visits", &format!("d{i}-{k}")], &visit)
                        })
                        .unwrap();
                } else {
                    let phone = json!({"phone": format!("0{i}-{k}")});
                    d.replica
                        .edit(p, |tx| shared::crdt::write(tx, &["profile"], &phone))
                        .unwrap();
                }
            }
        }
        d.base = run.base.lock().unwrap().clone();
        run.in_flight.fetch_add(1, Ordering::SeqCst);
        let r = d.try_round().await;
        run.in_flight.fetch_sub(1, Ordering::SeqCst);
        run.rounds.fetch_add(1, Ordering::SeqCst);
        match r {
            Round::Acked { acked, .. } => {
                run.acked.lock().unwrap().extend(acked);
                run.ack.notify_waiters();
                tokio::time::sleep(Duration::from_millis(rng.random_range(0..20))).await;
            }
            Round::Lost(_) => {
                run.lost.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(rng.random_range(10..60))).await;
            }
            Round::Refused(s, e) => panic!("device {i}: sync refused: {s} {e:?}"),
        }
    }
    d
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_devices_survive_repeated_kill_9() {
    let seed = seed("many_devices_survive_repeated_kill_9");
    let kills = if long() { 40 } else { 8 };
    for backend in backends() {
        let started = Instant::now();
        let mut rng = StdRng::seed_from_u64(seed);
        let tmp = temp_db(backend).await;
        let pool = server::db::open(&tmp.url, 2).await.unwrap();
        let o = org(&pool).await;
        let mut srv = ServerProcess::start(&tmp.url).await;

        // Six devices: two phones each of two 民生委員 of the district, and the salon's
        // two co-leaders.
        let who = [
            "minsei_a", "minsei_a", "minsei_b", "minsei_b", "lead1", "lead2",
        ];
        let c = TestServer::at(&srv.base, &tmp.url, &pool);
        let mut devices = Vec::new();
        for login in who {
            let mut d = c.device(login).await;
            d.sync().await;
            devices.push(d);
        }
        let run = Arc::new(Run {
            acked: Mutex::new(BTreeSet::new()),
            base: Mutex::new(srv.base.clone()),
            ack: tokio::sync::Notify::new(),
            in_flight: AtomicUsize::new(0),
            lost: AtomicUsize::new(0),
            rounds: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
        });
        let tasks: Vec<_> = devices
            .into_iter()
            .enumerate()
            .map(|(i, d)| {
                tokio::spawn(work(
                    d,
                    i,
                    who[i].starts_with("lead"),
                    o.school.clone(),
                    o.salon_doc.clone(),
                    seed,
                    run.clone(),
                ))
            })
            .collect();

        let (mut after_ack, mut mid_request) = (0, 0);
        for _ in 0..kills {
            tokio::time::sleep(Duration::from_millis(rng.random_range(100..500))).await;
            if rng.random_bool(0.5) {
                // Right after an answer: the acknowledged change must be durable already.
                let _ = tokio::time::timeout(Duration::from_secs(5), run.ack.notified()).await;
                srv.kill9();
                after_ack += 1;
            } else {
                // At a random moment, while a request is under way.
                let until = Instant::now() + Duration::from_secs(5);
                while run.in_flight.load(Ordering::SeqCst) == 0 && Instant::now() < until {
                    tokio::task::yield_now().await;
                }
                tokio::time::sleep(Duration::from_micros(rng.random_range(0..20_000))).await;
                if run.in_flight.load(Ordering::SeqCst) > 0 {
                    mid_request += 1;
                }
                srv.kill9();
            }
            // Down for a moment: the devices' requests fail and are retried.
            tokio::time::sleep(Duration::from_millis(rng.random_range(0..300))).await;
            srv.restart().await;
            *run.base.lock().unwrap() = srv.base.clone();
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        run.stop.store(true, Ordering::SeqCst);
        let mut devices = Vec::new();
        for t in tasks {
            devices.push(t.await.expect("a device task panicked"));
        }

        // Everyone sends what is left and catches up (twice: the first pass of the early
        // devices misses what the later ones send).
        let mut acked = run.acked.lock().unwrap().clone();
        for _ in 0..2 {
            for d in devices.iter_mut() {
                d.base = srv.base.clone();
                // A pooled connection to a killed process may fail once more.
                d.sync_retrying(&mut acked, 3).await;
                assert_eq!(d.replica.pending(), 0, "{backend}: everything sent");
            }
        }
        let c = TestServer::at(&srv.base, &tmp.url, &pool);
        for login in ["minsei_a", "lead1"] {
            let mut fresh = c.device(login).await;
            fresh.sync().await;
            devices.push(fresh);
        }
        srv.kill9();

        let what = format!("{backend} (seed {seed})");
        // Every acknowledged change is in the database, once.
        check_acknowledged(&pool, &tmp.url, &acked, &what).await;

        // Every device holds what the database holds, with the same heads; devices of the
        // same people hold the same documents.
        let mut people_docs: Option<BTreeSet<String>> = None;
        for (n, d) in devices.iter().enumerate() {
            for id in d.replica.ids() {
                assert_eq!(
                    d.heads_of(id),
                    db_heads(&pool, id).await,
                    "{what}: device {n}, document {id}"
                );
            }
            if d.replica.get(&o.salon_doc).is_none() {
                let ids: BTreeSet<String> = d.replica.ids().cloned().collect();
                match &people_docs {
                    None => people_docs = Some(ids),
                    Some(p) => assert_eq!(p, &ids, "{what}: device {n} holds other documents"),
                }
            }
        }
        let people = people_docs.map_or(0, |p| p.len());
        println!(
            "{what}: {kills} kills ({after_ack} right after an answer, {mid_request} with requests in flight), \
             {} rounds, {} requests lost and retried, {} changes acknowledged, {people} people, {:.1} s",
            run.rounds.load(Ordering::SeqCst),
            run.lost.load(Ordering::SeqCst),
            acked.len(),
            started.elapsed().as_secs_f64()
        );
        assert!(
            people > 0 && acked.len() > 50,
            "{what}: the devices did work"
        );
        pool.close().await;
    }
}
