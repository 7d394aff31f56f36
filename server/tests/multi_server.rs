//! Two server processes on one PostgreSQL database; eight devices switch between them on
//! every sync while editing the same people and the same salon. Midway one process is
//! killed (SIGKILL) with requests in flight; the devices fail over to the other, and it is
//! restarted later. At the end every device, a fresh device and the database hold the
//! same heads for every document, every acknowledged change is stored, and none twice.
//! PostgreSQL only: several processes share a database only there (operations.md).

mod common;
use common::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use shared::codes::DocKind;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

struct Run {
    acked: Mutex<BTreeSet<(String, String)>>,
    /// The two processes' addresses.
    bases: Mutex<[String; 2]>,
    /// Requests under way to each process.
    in_flight: [AtomicUsize; 2],
    rounds: AtomicUsize,
    lost: AtomicUsize,
}

/// `rounds` rounds of: one edit of a shared document, one sync through the other process
/// than last time (retried through the other on a lost request).
async fn work(
    mut d: Device,
    i: usize,
    docs: Vec<String>,
    rounds: usize,
    seed: u64,
    run: Arc<Run>,
) -> Device {
    let mut rng = StdRng::seed_from_u64(seed ^ (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut server = i % 2;
    for k in 0..rounds {
        let doc = &docs[rng.random_range(0..docs.len())];
        let kind = d
            .replica
            .get(doc)
            .expect("the device holds the document")
            .kind
            .clone();
        if kind == DocKind::Salon {
            let date = format!("2026-11-{:02}", rng.random_range(1..4));
            let member = format!("m{}", rng.random_range(1..4));
            let mark = if rng.random_bool(0.5) {
                "present"
            } else {
                "absent"
            };
            let session = json!({"date": date, "attendance": {member: mark}, "guests": rng.random_range(0..5)});
            d.replica
                .edit(doc, |tx| {
                    shared::crdt::write(tx, &["sessions", &date], &session)
                })
                .unwrap();
        } else if rng.random_bool(0.7) {
            let visit = json!({"date": "2026-11-21", "kind": "visit", "outcome": "met", "note": format!("device {i} round {k}")});
            d.replica
                .edit(doc, |tx| {
                    shared::crdt::write(tx, &["visits", &format!("d{i}-{k}")], &visit)
                })
                .unwrap();
        } else {
            // Everyone overwrites the same field: a conflict, kept.
            let profile = json!({"phone": format!("0{i}-{k}")});
            d.replica
                .edit(doc, |tx| shared::crdt::write(tx, &["profile"], &profile))
                .unwrap();
        }
        let mut lost_here = 0;
        loop {
            d.base = run.bases.lock().unwrap()[server].clone();
            run.in_flight[server].fetch_add(1, Ordering::SeqCst);
            let r = d.try_round().await;
            run.in_flight[server].fetch_sub(1, Ordering::SeqCst);
            run.rounds.fetch_add(1, Ordering::SeqCst);
            server = 1 - server;
            match r {
                Round::Acked { acked, again } => {
                    run.acked.lock().unwrap().extend(acked);
                    if !again {
                        break;
                    }
                }
                Round::Lost(_) => {
                    run.lost.fetch_add(1, Ordering::SeqCst);
                    lost_here += 1;
                    assert!(lost_here < 100, "device {i}: both servers unreachable");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                Round::Refused(s, e) => panic!("device {i}: sync refused: {s} {e:?}"),
            }
        }
        tokio::time::sleep(Duration::from_millis(rng.random_range(0..10))).await;
    }
    d
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devices_fail_over_between_two_server_processes() {
    if !backends().contains(&"postgres") {
        println!(
            "multi_server: skipped, MIMAMORI_TEST_PG is not set (two processes need PostgreSQL)"
        );
        return;
    }
    let seed = seed("devices_fail_over_between_two_server_processes");
    let rounds = if long() { 300 } else { 60 };
    let started = Instant::now();
    let mut rng = StdRng::seed_from_u64(seed);
    let tmp = temp_db("postgres").await;
    let pool = server::db::open(&tmp.url, 2).await.unwrap();
    let o = org(&pool).await;
    let mut servers = [
        ServerProcess::start(&tmp.url).await,
        ServerProcess::start(&tmp.url).await,
    ];
    let c = TestServer::at(&servers[0].base, &tmp.url, &pool);

    // Three people every 民生委員 device edits, and the salon both co-leaders edit.
    let who = [
        "minsei_a", "minsei_a", "minsei_a", "minsei_b", "minsei_b", "lead1", "lead1", "lead2",
    ];
    let mut devices = Vec::new();
    for login in who {
        let mut d = c.device(login).await;
        d.sync().await;
        devices.push(d);
    }
    let people: Vec<String> = (0..3).map(|n| format!("shared-{n}")).collect();
    for p in &people {
        devices[0].create_person(p, &o.school);
    }
    devices[0].sync().await;
    for d in devices.iter_mut() {
        d.sync().await;
    }

    let run = Arc::new(Run {
        acked: Mutex::new(BTreeSet::new()),
        bases: Mutex::new([servers[0].base.clone(), servers[1].base.clone()]),
        in_flight: [AtomicUsize::new(0), AtomicUsize::new(0)],
        rounds: AtomicUsize::new(0),
        lost: AtomicUsize::new(0),
    });
    let tasks: Vec<_> = devices
        .into_iter()
        .enumerate()
        .map(|(i, d)| {
            let docs = if who[i].starts_with("lead") {
                vec![o.salon_doc.clone()]
            } else {
                people.clone()
            };
            tokio::spawn(work(d, i, docs, rounds, seed, run.clone()))
        })
        .collect();

    // Midway, kill one process while requests to it are under way.
    let victim = rng.random_range(0..2);
    let total = rounds * who.len();
    let wait_for = |n: usize| {
        let run = run.clone();
        async move {
            let until = Instant::now() + Duration::from_secs(60);
            while run.rounds.load(Ordering::SeqCst) < n && Instant::now() < until {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
    };
    wait_for(total / 3).await;
    let until = Instant::now() + Duration::from_secs(5);
    while run.in_flight[victim].load(Ordering::SeqCst) == 0 && Instant::now() < until {
        tokio::task::yield_now().await;
    }
    let cut = run.in_flight[victim].load(Ordering::SeqCst);
    servers[victim].kill9();
    let lost_before = run.lost.load(Ordering::SeqCst);
    wait_for(total * 2 / 3).await;
    // Back later (on the same port when it is still free).
    servers[victim].restart().await;
    run.bases.lock().unwrap()[victim] = servers[victim].base.clone();

    let mut devices = Vec::new();
    for t in tasks {
        devices.push(t.await.expect("a device task panicked"));
    }
    let lost_after_kill = run.lost.load(Ordering::SeqCst) - lost_before;

    // Everyone sends what is left and catches up, through both processes.
    let mut acked = run.acked.lock().unwrap().clone();
    for pass in 0..2 {
        for (i, d) in devices.iter_mut().enumerate() {
            d.base = servers[(i + pass) % 2].base.clone();
            // A pooled connection to a killed process may fail once more.
            d.sync_retrying(&mut acked, 3).await;
            assert_eq!(d.replica.pending(), 0);
        }
    }
    for (n, login) in ["minsei_b", "lead2"].into_iter().enumerate() {
        let mut fresh = TestServer::at(&servers[n].base, &tmp.url, &pool)
            .device(login)
            .await;
        fresh.sync().await;
        devices.push(fresh);
    }
    for s in servers.iter_mut() {
        s.kill9();
    }

    let what = format!("seed {seed}");
    check_acknowledged(&pool, &tmp.url, &acked, &what).await;
    let mut docs = people.clone();
    docs.push(o.salon_doc.clone());
    for doc in &docs {
        let want = db_heads(&pool, doc).await;
        let holders: Vec<usize> = (0..devices.len())
            .filter(|&n| devices[n].replica.get(doc).is_some())
            .collect();
        assert!(
            holders.len() >= 4,
            "{what}: {doc} is on every device that may see it"
        );
        for n in holders {
            assert_eq!(devices[n].heads_of(doc), want, "{what}: device {n}, {doc}");
        }
    }
    println!(
        "multi_server ({what}): {} devices × {rounds} edits, {} rounds, process {victim} killed with {cut} requests in flight, \
         {lost_after_kill} requests lost after the kill and retried through the other, {} changes acknowledged, {:.1} s",
        who.len(),
        run.rounds.load(Ordering::SeqCst),
        acked.len(),
        started.elapsed().as_secs_f64()
    );
    pool.close().await;
}
