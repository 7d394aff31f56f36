//! Reconnect storm: after an outage, hundreds of phones that synced before, each holding a
//! change or two made while the server was down, all sync at the same moment against the
//! restarted server process. Every one of them gets its 200 (a lost connection or a 5xx
//! may be retried, and is counted; a 429 fails the test: no legitimate request is
//! rate-limited away), every change is stored, and the server's peak memory stays bounded.

mod common;
use common::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reqwest::StatusCode;
use serde_json::json;
use shared::client::Replica;
use shared::codes::{DocKind, Role};
use shared::sync::NewDoc;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// People in the 小学校区; every volunteer visits two of them.
const PEOPLE: usize = 90;
/// Phones per volunteer and per 民生委員 (many phones per user keeps the user count, and
/// the setup, small; the server treats each device on its own).
const VOLUNTEER_PHONES: usize = 5;
const MINSEI_PHONES: usize = 10;

/// Peak resident memory allowed to the server process through the storm (it is restarted
/// just before, so its VmHWM is the start plus the storm). Measured on the 2-core
/// development machine, debug build, 500 phones: 15 MiB after the start, a peak of 32 MiB
/// (PostgreSQL) to 46 MiB (SQLite) through the storm; 1000 phones (MIMAMORI_LONG=1): 43 and
/// 62 MiB — what remains in proportion to the phones is each open connection's buffers and
/// its parsed request, about 35 KiB, while at most `sync::SYNCS_AT_ONCE` answers are built
/// at once. (Before that bound: 53 and 105 MiB on SQLite, and the slowest request of the
/// 1000 took 30 s, the pool's acquire timeout.) 128 MiB is about 3× the 500-phone peak:
/// room for allocator noise and a slower machine, while a server that built every phone's
/// answer at once, or leaked per request, crosses it.
const MAX_HWM_KIB: u64 = 128 * 1024;

/// A device registered directly (`auth::register_device`, what `POST /api/login` does
/// once the password is right): signing 500 phones in over HTTP would spend minutes on
/// Argon2 password checks, and no production limit is touched.
async fn register_device(db: &server::db::Db, user: &str, n: usize) -> String {
    server::auth::register_device(db, user, &format!("phone {n}"), "test")
        .await
        .unwrap()
        .token
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnect_storm_of_phones_after_an_outage() {
    let seed = seed("reconnect_storm_of_phones_after_an_outage");
    let phones = if long() { 1000 } else { 500 };
    for backend in backends() {
        storm(backend, phones, seed).await;
    }
}

async fn storm(backend: &str, phones: usize, seed: u64) {
    let started = Instant::now();
    let mut rng = StdRng::seed_from_u64(seed);
    let tmp = temp_db(backend).await;
    let pool = server::db::open(&tmp.url, 4).await.unwrap();
    let o = org(&pool).await;
    let mut srv = ServerProcess::start(&tmp.url).await;

    // The people, created by one 民生委員's phone.
    let mut office = TestServer::at(&srv.base, &tmp.url, &pool)
        .device("minsei_a")
        .await;
    office.sync().await;
    let people: Vec<String> = (0..PEOPLE).map(|n| format!("person-{n}")).collect();
    for p in &people {
        office
            .replica
            .create(
                p,
                NewDoc {
                    kind: DocKind::Person,
                    district: Some(o.school.clone()),
                    salon: None,
                },
            )
            .unwrap();
    }
    office.sync().await;

    // Users: 民生委員 of the 地区 (they see every person) and volunteers (two people each).
    let hash = server::auth::hash_password(PASSWORD).unwrap();
    let minsei_users = (phones / 10).div_ceil(MINSEI_PHONES);
    let volunteer_users = (phones - minsei_users * MINSEI_PHONES).div_ceil(VOLUNTEER_PHONES);
    let mut owners: Vec<(String, Vec<String>)> = Vec::new(); // (user, the people they edit)
    for m in 0..minsei_users {
        let u = server::admin::create_user(&pool, &o.id, &format!("storm_m{m}"), "民生委員", &hash)
            .await
            .unwrap();
        server::admin::grant(&pool, &u, &Role::Minsei, Some(&o.district), None)
            .await
            .unwrap();
        for _ in 0..MINSEI_PHONES {
            owners.push((u.clone(), people.clone()));
        }
    }
    for v in 0..volunteer_users {
        let u =
            server::admin::create_user(&pool, &o.id, &format!("storm_v{v}"), "ボランティア", &hash)
                .await
                .unwrap();
        server::admin::grant(&pool, &u, &Role::Volunteer, None, None)
            .await
            .unwrap();
        let mine = vec![people[v % PEOPLE].clone(), people[(v + 1) % PEOPLE].clone()];
        for p in &mine {
            server::admin::assign(&pool, &u, p).await.unwrap();
        }
        for _ in 0..VOLUNTEER_PHONES {
            owners.push((u.clone(), mine.clone()));
        }
    }
    owners.truncate(phones);

    // One HTTP client for all the phones, allowed as many connections as they need.
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(phones)
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap();
    let mut devices = Vec::with_capacity(phones);
    for (n, (user, _)) in owners.iter().enumerate() {
        devices.push(Device {
            base: srv.base.clone(),
            http: http.clone(),
            token: register_device(&pool, user, n).await,
            device_id: String::new(),
            user_id: user.clone(),
            replica: Replica::new(automerge::ActorId::random()),
        });
    }
    let setup = started.elapsed();

    // Each phone synced once before (a few at a time, as phones do on an ordinary day).
    let first = Instant::now();
    let gate = Arc::new(tokio::sync::Semaphore::new(16));
    let mut set = tokio::task::JoinSet::new();
    for (n, mut d) in devices.into_iter().enumerate() {
        let gate = gate.clone();
        set.spawn(async move {
            let _permit = gate.acquire().await.unwrap();
            d.sync().await;
            (n, d)
        });
    }
    let mut devices: Vec<Option<Device>> = (0..phones).map(|_| None).collect();
    while let Some(r) = set.join_next().await {
        let (n, d) = r.expect("a first sync failed");
        devices[n] = Some(d);
    }
    let mut devices: Vec<Device> = devices.into_iter().map(Option::unwrap).collect();
    let first = first.elapsed();

    // The outage: the server goes down; every phone records a visit or two meanwhile.
    srv.kill9();
    let mut offline: BTreeSet<(String, String)> = BTreeSet::new();
    for (n, d) in devices.iter_mut().enumerate() {
        let mine = &owners[n].1;
        for k in 0..rng.random_range(1..=2) {
            let p = &mine[rng.random_range(0..mine.len())];
            let visit = json!({"date": "2026-11-25", "kind": "visit", "outcome": "met", "note": format!("phone {n} visit {k}")});
            d.replica
                .edit(p, |tx| {
                    shared::crdt::write(tx, &["visits", &format!("n{n}-{k}")], &visit)
                })
                .unwrap();
        }
        assert!(d.replica.cursor.is_some(), "phone {n} has a cursor");
        offline.extend(hashes_of(&d.replica.request("test")));
    }
    srv.restart().await;
    let base_rss = srv.vm_rss_kib();

    // The storm: every phone at once.
    let t0 = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for (n, mut d) in devices.into_iter().enumerate() {
        d.base = srv.base.clone();
        set.spawn(async move {
            let mut acked = Vec::new();
            let mut retries = 0usize;
            let mut slowest = Duration::ZERO;
            let mut jitter = StdRng::seed_from_u64(n as u64);
            loop {
                let t = Instant::now();
                let r = d.try_round().await;
                slowest = slowest.max(t.elapsed());
                match r {
                    Round::Acked { acked: a, again } => {
                        acked.extend(a);
                        if !again {
                            break;
                        }
                    }
                    Round::Lost(why) => {
                        retries += 1;
                        assert!(
                            retries <= 20,
                            "phone {n}: {retries} lost requests, last: {why}"
                        );
                        let pause = jitter.random_range(100..400);
                        tokio::time::sleep(Duration::from_millis(pause)).await;
                    }
                    Round::Refused(s, e) if s == StatusCode::TOO_MANY_REQUESTS => {
                        panic!("phone {n}: rate-limited (429) during the storm: {e:?}")
                    }
                    Round::Refused(s, e) => panic!("phone {n}: sync refused: {s} {e:?}"),
                }
            }
            (d, acked, retries, slowest)
        });
    }
    let mut acked: BTreeSet<(String, String)> = BTreeSet::new();
    let (mut retries, mut slowest) = (0, Duration::ZERO);
    let mut devices = Vec::with_capacity(phones);
    while let Some(r) = set.join_next().await {
        let (d, a, n, s) = r.expect("a phone failed in the storm");
        acked.extend(a);
        retries += n;
        slowest = slowest.max(s);
        devices.push(d);
    }
    let storm = t0.elapsed();
    let hwm = srv.vm_hwm_kib();

    // Afterwards every phone catches up (one more sync, a few at a time) and holds what the
    // database holds, for every document it has.
    let gate = Arc::new(tokio::sync::Semaphore::new(16));
    let mut set = tokio::task::JoinSet::new();
    for mut d in devices {
        let gate = gate.clone();
        set.spawn(async move {
            let _permit = gate.acquire().await.unwrap();
            d.sync().await;
            d
        });
    }
    let mut devices = Vec::with_capacity(phones);
    while let Some(r) = set.join_next().await {
        devices.push(r.expect("a phone failed to catch up"));
    }
    srv.kill9();
    let mut want = std::collections::BTreeMap::new();
    for p in &people {
        want.insert(p.clone(), db_heads(&pool, p).await);
    }
    for d in &devices {
        for id in d.replica.ids() {
            if let Some(w) = want.get(id) {
                assert_eq!(&d.heads_of(id), w, "{backend}: a phone's {id} differs");
            }
        }
    }

    for d in &devices {
        assert_eq!(
            d.replica.pending(),
            0,
            "{backend}: a phone still holds unsent changes"
        );
    }
    let missing: Vec<_> = offline.difference(&acked).collect();
    assert!(
        missing.is_empty(),
        "{backend}: {} offline changes were never acknowledged",
        missing.len()
    );
    check_acknowledged(&pool, &tmp.url, &acked, backend).await;
    println!(
        "storm {backend}: {phones} phones ({minsei_users} 民生委員 × {MINSEI_PHONES}, {volunteer_users} volunteers × {VOLUNTEER_PHONES}), \
         {} offline changes; setup {:.1} s, first syncs {:.1} s; storm {:.2} s (slowest request {:.2} s), \
         {retries} retries; server RSS after restart {} MiB, VmHWM through the storm {} MiB (limit {} MiB)",
        offline.len(),
        setup.as_secs_f64(),
        first.as_secs_f64(),
        storm.as_secs_f64(),
        slowest.as_secs_f64(),
        base_rss / 1024,
        hwm / 1024,
        MAX_HWM_KIB / 1024
    );
    assert!(
        hwm <= MAX_HWM_KIB,
        "{backend}: the server's peak memory {hwm} KiB is over {MAX_HWM_KIB} KiB"
    );
    pool.close().await;
}
