//! Property test of convergence: several devices of one organisation (two 民生委員 of the
//! 地区, a volunteer assigned to some of its people, the salon's two co-leaders) make random
//! edits to person, salon and map documents through the real model paths, over many
//! rounds, and sync with requests duplicated, replayed late, lost before or after the
//! server committed, answers applied out of order, and devices restarted from what the app
//! would have persisted (sometimes crashing before a sync's results were written). With
//! `MIMAMORI_PROP_RESTORE=1`, in half the cases the server is also backed up (`server admin
//! backup`'s code) at one round and lost at a later one: the backup is restored into a fresh
//! database and the devices must give back, through the resync path and under the same
//! chaos, what it lacked. After a
//! final reliable sync every device, a fresh device of each user and the server's stored
//! documents are identical, and every change any device made is there.
//!
//! Seeds: the committed ones of `tests/seeds/convergence_property.txt` (the test command
//! gives the same answer on the same commit); `MIMAMORI_SEED=N` runs that one case;
//! `MIMAMORI_EXPLORE=1` explores with fresh random seeds (8 cases per backend, 200 with
//! `MIMAMORI_LONG=1`, or `MIMAMORI_CASES=N`), each printed. 6 devices and 30 rounds;
//! `MIMAMORI_LONG=1`: 8 devices, 40 rounds. A failure prints its seed and the operation
//! log: add a failing seed to the committed file with its fix.

mod common;
use automerge::{ChangeHash, ReadDoc};
use common::*;
use serde_json::json;
use server::admin;
use shared::client::{LocalDoc, Replica};
use shared::codes::DocKind;
use shared::crdt;
use shared::model::{Person, Salon, SupportMap};
use shared::sync::{NewDoc, SyncRequest};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

// ───────────────────────────── randomness ─────────────────────────────

/// SplitMix64: small, seedable, the same on every platform.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        let n = u64::try_from(n.max(1)).unwrap();
        usize::try_from(self.next() % n).unwrap()
    }
    /// True with probability `pct` percent.
    fn chance(&mut self, pct: usize) -> bool {
        self.below(100) < pct
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        if items.is_empty() {
            None
        } else {
            Some(&items[self.below(items.len())])
        }
    }
}

// ───────────────────────────── sizes ─────────────────────────────

struct Size {
    cases: usize,
    rounds: usize,
    /// Logins of the devices, in order (a login may have several devices).
    devices: Vec<&'static str>,
}

fn size() -> Size {
    if std::env::var("MIMAMORI_LONG").is_ok_and(|v| v == "1") {
        Size {
            cases: 200,
            rounds: 40,
            devices: vec![
                "minsei_a", "minsei_b", "vol", "lead1", "lead2", "minsei_a", "vol", "lead1",
            ],
        }
    } else {
        Size {
            cases: 8,
            rounds: 30,
            devices: vec!["minsei_a", "minsei_b", "vol", "lead1", "lead2", "minsei_a"],
        }
    }
}

/// Whether cases may include a server restored from a backup (`MIMAMORI_PROP_RESTORE=1`).
/// Off by default because a rare case still fails: SQLite seed 232468282 ends with a phone
/// whose map document's heads differ from the server's after it reconciled while others
/// kept editing (docs/operations.md, *Known limits*). The three gaps this switch first
/// found are closed: placement of documents created after the cursor (restore.rs), changes
/// waiting for lost predecessors stored during reconciliation, and the old cursor kept
/// until reconciliation is done (the seeds of `restore_cases_that_once_failed_converge`).
fn restore_cases() -> bool {
    std::env::var("MIMAMORI_PROP_RESTORE").is_ok_and(|v| v == "1")
}

/// The cases a backend runs: the committed seeds (`tests/seeds/convergence_property.txt`),
/// or with `MIMAMORI_EXPLORE=1` `cases` fresh random ones (common::seeds).
fn case_seeds(cases: usize) -> Vec<u64> {
    let cases = std::env::var("MIMAMORI_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(cases);
    seeds("convergence_property", cases)
}

// ───────────────────────────── the operation log ─────────────────────────────

/// Prints the seed and every operation if the case panics.
#[derive(Clone)]
struct Log {
    backend: &'static str,
    seed: u64,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Log {
    fn push(&self, line: String) {
        self.lines.lock().unwrap().push(line);
    }
}

struct PrintOnPanic(Log);

impl Drop for PrintOnPanic {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let lines = self.0.lines.lock().unwrap();
            eprintln!(
                "\n=== convergence property FAILED: backend {} seed {} (rerun with MIMAMORI_SEED={}) — {} operations:",
                self.0.backend,
                self.0.seed,
                self.0.seed,
                lines.len()
            );
            for l in lines.iter() {
                eprintln!("  {l}");
            }
            eprintln!("=== end of log (seed {})\n", self.0.seed);
        }
    }
}

// ───────────────────────────── a device and its storage ─────────────────────────────

/// One document as the app keeps it in IndexedDB: appended chunks and its bookkeeping.
struct DiskDoc {
    kind: DocKind,
    chunks: Vec<Vec<u8>>,
    outbox: Vec<ChangeHash>,
    placement: Option<NewDoc>,
    unplaced: bool,
}

/// What survives a restart (app/src/store.rs): documents, cursor, refused set.
#[derive(Default)]
struct Disk {
    cursor: Option<String>,
    refused: BTreeSet<String>,
    docs: BTreeMap<String, DiskDoc>,
}

/// Chunks after which a document is compacted into one snapshot on load (as the app does).
const COMPACT_AFTER: usize = 8;

struct Sim {
    name: String,
    login: &'static str,
    dev: Device,
    disk: Disk,
    /// Every change this device made (each was durable on the device before the user saw
    /// it saved), with its document.
    made: Vec<(String, ChangeHash)>,
    /// A request sent earlier, to be replayed late by the network.
    stale: Option<SyncRequest>,
}

impl Sim {
    /// The app's `persist`: new bytes and bookkeeping of `ids`; documents gone from
    /// memory are deleted from storage.
    fn persist(&mut self, ids: impl IntoIterator<Item = String>) {
        for id in ids {
            match self.dev.replica.get_mut(&id) {
                Some(d) => {
                    let e = self.disk.docs.entry(id).or_insert_with(|| DiskDoc {
                        kind: d.kind.clone(),
                        chunks: Vec::new(),
                        outbox: Vec::new(),
                        placement: None,
                        unplaced: false,
                    });
                    if let Some(b) = d.take_unsaved() {
                        e.chunks.push(b);
                    }
                    e.outbox = d.outbox.clone();
                    e.placement = d.placement.clone();
                    e.unplaced = d.unplaced;
                }
                None => {
                    self.disk.docs.remove(&id);
                }
            }
        }
    }

    /// The app's `after_sync`: the touched documents, the cursor and the refused set.
    fn persist_after_sync(&mut self, touched: BTreeSet<String>) {
        self.persist(touched);
        self.disk.cursor = self.dev.replica.cursor.clone();
        self.disk.refused = self.dev.replica.refused.clone();
    }

    /// The phone restarts: the replica is rebuilt from storage only (the app's `load`),
    /// compacting documents with many chunks.
    fn restart(&mut self) {
        let actor = self.dev.replica.actor().clone();
        let mut r = Replica::new(actor.clone());
        r.cursor = self.disk.cursor.clone();
        r.refused = self.disk.refused.clone();
        for (id, p) in self.disk.docs.iter_mut() {
            let mut d = LocalDoc::restore(
                p.kind.clone(),
                &actor,
                &p.chunks,
                p.outbox.clone(),
                p.placement.clone(),
                p.unplaced,
            )
            .expect("stored document loads");
            // As the app compacts: only a snapshot that loads again replaces the chunks.
            if p.chunks.len() > COMPACT_AFTER
                && let Some(snap) = d.snapshot()
            {
                p.chunks = vec![snap];
            }
            r.insert(id.clone(), d);
        }
        self.dev.replica = r;
    }

    /// One edit, saved durably at once (as the app's forms do).
    fn edit(&mut self, doc: &str, path: &[&str], value: serde_json::Value) {
        let before = self.dev.replica.get(doc).map_or(0, |d| d.outbox.len());
        self.dev
            .replica
            .edit(doc, |tx| crdt::write(tx, path, &value))
            .unwrap_or_else(|e| panic!("{}: edit {doc} {path:?}: {e}", self.name));
        let d = self.dev.replica.get(doc).unwrap();
        if d.outbox.len() > before {
            self.made.push((doc.to_string(), *d.outbox.last().unwrap()));
        }
        self.persist([doc.to_string()]);
    }

    fn create_person(&mut self, id: &str, school: &str) {
        self.dev.create_person(id, school);
        let h = *self.dev.replica.get(id).unwrap().outbox.last().unwrap();
        self.made.push((id.to_string(), h));
        self.persist([id.to_string()]);
    }

    fn docs_of(&self, kind: &DocKind) -> Vec<String> {
        self.dev
            .replica
            .docs()
            .filter(|(id, d)| &d.kind == kind && !self.dev.replica.refused.contains(*id))
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// Takes an answer, as the app's `round` does, and persists (unless the phone dies
    /// before the write: `persist = false`).
    fn take(&mut self, req: &SyncRequest, answer: Answer, persist: bool) -> bool {
        match answer {
            Answer::Ok(resp) => {
                let mut touched: BTreeSet<String> =
                    req.push.iter().map(|p| p.doc.clone()).collect();
                let a = self
                    .dev
                    .replica
                    .apply(req, resp)
                    .unwrap_or_else(|e| panic!("{}: apply: {e}", self.name));
                touched.extend(a.changed);
                touched.extend(a.removed);
                if persist {
                    self.persist_after_sync(touched);
                }
                a.again
            }
            Answer::Err(s, e) if s.as_u16() == 403 && !e.docs.is_empty() => {
                // As the app does: keep the refused documents' changes, stop sending them
                // (the final checks then fail: nothing here should be refused).
                self.dev.replica.refuse(&e.docs);
                if persist {
                    self.persist_after_sync(BTreeSet::new());
                }
                true
            }
            Answer::Err(s, e) if is_missing_deps(s, &e) => {
                // As the app does: reconcile those documents, push them once it is done.
                self.dev.replica.missing_deps(&e.docs);
                true
            }
            Answer::Err(s, e) => panic!("{}: sync refused: {s} {e:?}", self.name),
        }
    }

    async fn clean_round(&mut self) -> bool {
        let req = self.dev.replica.request("prop");
        let answer = self.dev.post(&req).await;
        self.stale = Some(req.clone());
        self.take(&req, answer, true)
    }

    /// Syncs until nothing is left to exchange.
    async fn settle(&mut self) {
        if !self.settle_within(60).await {
            panic!(
                "{}: sync did not settle in 60 rounds; {}",
                self.name,
                self.stuck()
            );
        }
    }

    /// At most `max` rounds (as the app's sync loop); true if the last answer left
    /// nothing to do.
    async fn settle_within(&mut self, max: usize) -> bool {
        for _ in 0..max {
            if !self.clean_round().await {
                return true;
            }
        }
        false
    }

    /// What keeps this device syncing, for failure messages.
    fn stuck(&self) -> String {
        let r = &self.dev.replica;
        let stuck: Vec<String> = r
            .docs()
            .filter(|(_, d)| d.in_fallback() || !d.outbox.is_empty())
            .map(|(id, d)| {
                format!(
                    "{id}: outbox {}, fallback {}, unplaced {}, missing deps {:?}",
                    d.outbox.len(),
                    d.in_fallback(),
                    d.unplaced,
                    d.doc.get_missing_deps(&[])
                )
            })
            .collect();
        format!("{}: refused {:?}, stuck {stuck:?}", self.name, r.refused)
    }
}

#[derive(Clone, Copy, Debug)]
enum Net {
    /// One ordinary round.
    Clean,
    /// The request reaches the server twice; the first answer is applied.
    Duplicate,
    /// The request reaches the server twice; the second answer is applied.
    DuplicateApplySecond,
    /// The server commits, the answer is lost: `request_failed`, retried later.
    AnswerLost,
    /// The request never reaches the server.
    RequestLost,
    /// Two requests go out; their answers are applied newest first.
    Reorder,
    /// A request sent earlier arrives again now; its answer goes nowhere.
    StaleReplay,
    /// The answer is applied, then the phone dies before writing it to storage.
    CrashBeforePersist,
}

const NETS: [Net; 8] = [
    Net::Clean,
    Net::Duplicate,
    Net::DuplicateApplySecond,
    Net::AnswerLost,
    Net::RequestLost,
    Net::Reorder,
    Net::StaleReplay,
    Net::CrashBeforePersist,
];

async fn chaotic_sync(sim: &mut Sim, net: Net) {
    match net {
        Net::Clean => {
            sim.clean_round().await;
        }
        Net::Duplicate | Net::DuplicateApplySecond => {
            let req = sim.dev.replica.request("prop");
            let first = sim.dev.post(&req).await;
            let second = sim.dev.post(&req).await;
            let answer = if matches!(net, Net::Duplicate) {
                first
            } else {
                second
            };
            sim.take(&req, answer, true);
        }
        Net::AnswerLost => {
            let req = sim.dev.replica.request("prop");
            let _lost = sim.dev.post(&req).await;
            sim.dev.replica.request_failed();
            sim.stale = Some(req);
        }
        Net::RequestLost => {
            let _req = sim.dev.replica.request("prop");
            sim.dev.replica.request_failed();
        }
        Net::Reorder => {
            let r1 = sim.dev.replica.request("prop");
            let r2 = sim.dev.replica.request("prop");
            let a1 = sim.dev.post(&r1).await;
            let a2 = sim.dev.post(&r2).await;
            sim.take(&r2, a2, true);
            sim.take(&r1, a1, true);
        }
        Net::StaleReplay => {
            if let Some(old) = sim.stale.take() {
                let _ignored = sim.dev.post(&old).await;
            }
            sim.clean_round().await;
        }
        Net::CrashBeforePersist => {
            let req = sim.dev.replica.request("prop");
            let answer = sim.dev.post(&req).await;
            sim.take(&req, answer, false);
            sim.restart();
        }
    }
}

// ───────────────────────────── random edits ─────────────────────────────

const DATES: [&str; 5] = [
    "2026-11-02",
    "2026-11-09",
    "2026-11-16",
    "2026-11-23",
    "2026-11-30",
];
/// The session both co-leaders mark differently while offline (not touched otherwise).
const CONFLICT_DATE: &str = "2026-10-05";

/// Record ids each case expects to find at the end: (document, collection, id).
type Expect = BTreeSet<(String, &'static str, String)>;

/// Makes one random edit on `sim`; returns a description, or `None` if it holds nothing
/// it may edit.
fn random_edit(sim: &mut Sim, rng: &mut Rng, n: &mut usize, expect: &mut Expect) -> Option<String> {
    *n += 1;
    let tag = format!("{}-{}", sim.name, *n);
    let mut kinds = Vec::new();
    for k in [DocKind::Person, DocKind::Salon, DocKind::Map] {
        if !sim.docs_of(&k).is_empty() {
            kinds.push(k);
        }
    }
    let kind = rng.pick(&kinds)?.clone();
    let docs = sim.docs_of(&kind);
    let doc = rng.pick(&docs)?.clone();
    let read = |sim: &Sim| {
        crdt::read_doc(&sim.dev.replica.get(&doc).unwrap().doc)
            .unwrap()
            .0
    };
    let what = match kind {
        DocKind::Person => match rng.below(6) {
            0 | 1 => {
                let outcome = ["met", "not_home", "family"][rng.below(3)];
                let v = json!({
                    "date": DATES[rng.below(DATES.len())], "kind": "visit",
                    "outcome": outcome,
                    "note": format!("訪問 {tag}"), "recorded_by": sim.dev.user_id,
                });
                sim.edit(&doc, &["visits", &tag], v);
                expect.insert((doc.clone(), "visits", tag.clone()));
                format!("visit {doc}/visits/{tag}")
            }
            2 => {
                let c = json!({
                    "date": DATES[rng.below(DATES.len())], "field": "elderly",
                    "topics": ["health"], "summary": format!("相談 {tag}"),
                });
                sim.edit(&doc, &["consultations", &tag], c);
                expect.insert((doc.clone(), "consultations", tag.clone()));
                format!("consultation {doc}/consultations/{tag}")
            }
            3 => {
                let fields = ["phone", "note", "address"];
                let field = fields[rng.below(3)];
                // Values the record rules accept (a phone number is digits and dashes).
                let value = match field {
                    "phone" => format!("000-000-{}", rng.below(4)),
                    _ => format!("{field}-{}", rng.below(4)),
                };
                sim.edit(&doc, &["profile", field], json!(value));
                format!("profile {doc}/profile/{field} = {value}")
            }
            4 => {
                let note = format!("午前中 {}", rng.below(3));
                sim.edit(
                    &doc,
                    &["watch"],
                    json!({"note": note, "frequency": "weekly"}),
                );
                format!("watch {doc} note {note}")
            }
            _ => {
                // Withdraw a visit this device can see.
                let v = read(sim);
                let ids: Vec<String> = v["visits"]
                    .as_object()
                    .map(|m| m.keys().cloned().collect())
                    .unwrap_or_default();
                let id = rng.pick(&ids)?.clone();
                sim.edit(&doc, &["visits", &id, "withdrawn"], json!(true));
                format!("withdraw {doc}/visits/{id}")
            }
        },
        DocKind::Salon => {
            let v = read(sim);
            let members: Vec<String> = v["members"]
                .as_object()
                .map(|m| m.keys().cloned().collect())
                .unwrap_or_default();
            match rng.below(4) {
                0 => {
                    sim.edit(
                        &doc,
                        &["members", &tag],
                        json!({"name": format!("会員 {tag}"), "area": "東"}),
                    );
                    expect.insert((doc.clone(), "members", tag.clone()));
                    format!("member {doc}/members/{tag}")
                }
                1 => {
                    let date = DATES[rng.below(DATES.len())];
                    let guests = rng.below(5);
                    sim.edit(
                        &doc,
                        &["sessions", date],
                        json!({"date": date, "guests": guests, "note": format!("回 {tag}")}),
                    );
                    expect.insert((doc.clone(), "sessions", date.to_string()));
                    format!("session {doc}/sessions/{date} guests {guests}")
                }
                _ => {
                    let m = rng.pick(&members)?.clone();
                    let date = DATES[rng.below(DATES.len())];
                    let mark = if rng.chance(50) { "present" } else { "absent" };
                    sim.edit(
                        &doc,
                        &["sessions", date],
                        json!({"date": date, "attendance": {m.as_str(): mark}}),
                    );
                    expect.insert((doc.clone(), "sessions", date.to_string()));
                    format!("attendance {doc}/sessions/{date}/attendance/{m} = {mark}")
                }
            }
        }
        DocKind::Map => {
            let v = read(sim);
            let places: Vec<String> = v["places"]
                .as_object()
                .map(|m| m.keys().cloned().collect())
                .unwrap_or_default();
            match rng.below(3) {
                0 => {
                    let lat = 35.0 + f64::from(u32::try_from(rng.below(1000)).unwrap()) / 10_000.0;
                    sim.edit(
                        &doc,
                        &["places", &tag],
                        json!({"kind": "household", "lat": lat, "lng": 139.5,
                               "label": format!("宅 {tag}"), "created_by": sim.dev.user_id}),
                    );
                    expect.insert((doc.clone(), "places", tag.clone()));
                    format!("place {doc}/places/{tag}")
                }
                1 => {
                    let from = rng.pick(&places)?.clone();
                    let others: Vec<String> =
                        places.iter().filter(|p| **p != from).cloned().collect();
                    let to = rng.pick(&others)?.clone();
                    sim.edit(
                        &doc,
                        &["links", &tag],
                        json!({"from": from, "to": to, "kind": "watch"}),
                    );
                    expect.insert((doc.clone(), "links", tag.clone()));
                    format!("link {doc}/links/{tag} {from}->{to}")
                }
                _ => {
                    let p = rng.pick(&places)?.clone();
                    let label = format!("ラベル {}", rng.below(3));
                    sim.edit(&doc, &["places", &p, "label"], json!(label));
                    format!("label {doc}/places/{p} = {label}")
                }
            }
        }
        DocKind::Activity | DocKind::Other(_) => return None,
    };
    Some(what)
}

// ───────────────────────────── one case ─────────────────────────────

async fn run_case(backend: &'static str, seed: u64, size: &Size, restores: bool) {
    let log = Log {
        backend,
        seed,
        lines: Arc::default(),
    };
    let _guard = PrintOnPanic(log.clone());
    let mut rng = Rng(seed);
    let mut s = TestServer::start(backend).await;
    // In half the cases the server is backed up at one round and lost at a later one; the
    // backup (`server admin backup`'s code) is restored into a fresh database.
    let restore_at = (restores && rng.chance(50)).then(|| {
        let b = 1 + rng.below(size.rounds / 2);
        (b, b + 1 + rng.below(size.rounds / 2 - 1))
    });
    let work = std::env::temp_dir().join(format!("mm_prop_{}", uuid::Uuid::new_v4().simple()));
    let mut retired: Vec<(TestServer, Option<TempDb>)> = Vec::new();
    let o = org(&s.db).await;
    let mut sims = Vec::new();
    for (i, login) in size.devices.iter().enumerate() {
        let dev = s.device(login).await;
        sims.push(Sim {
            name: format!("d{i}:{login}"),
            login,
            dev,
            disk: Disk::default(),
            made: Vec::new(),
            stale: None,
        });
    }
    let mut expect = Expect::new();
    let mut n = 0usize;
    let mut persons: Vec<String> = Vec::new();
    let mut assigned: BTreeSet<String> = BTreeSet::new();

    // Start: two people known to the server, the first assigned to the volunteer; a
    // roster of two; everyone has synced once.
    {
        let a = sims.iter().position(|x| x.login == "minsei_a").unwrap();
        for k in 0..2 {
            let id = format!("p{seed}-{k}");
            let school = if k == 0 { &o.school } else { &o.other_school };
            sims[a].create_person(&id, school);
            log.push(format!("setup {}: create person {id}", sims[a].name));
            persons.push(id);
        }
        sims[a].settle().await;
        admin::assign(&s.db, &o.users["vol"], &persons[0])
            .await
            .unwrap();
        assigned.insert(persons[0].clone());
        log.push(format!("setup: assign vol {}", persons[0]));
        let l = sims.iter().position(|x| x.login == "lead1").unwrap();
        sims[l].settle().await;
        for m in ["m0", "m1"] {
            sims[l].edit(&o.salon_doc, &["members", m], json!({"name": m}));
            expect.insert((o.salon_doc.clone(), "members", m.to_string()));
        }
        log.push(format!("setup {}: members m0, m1", sims[l].name));
        for sim in sims.iter_mut() {
            sim.settle().await;
        }
        // Offline, the co-leaders mark the same member differently in the same session.
        for (i, sim) in sims
            .iter_mut()
            .filter(|x| x.login.starts_with("lead"))
            .enumerate()
        {
            let mark = if i % 2 == 0 { "present" } else { "absent" };
            sim.edit(
                &o.salon_doc,
                &["sessions", CONFLICT_DATE],
                json!({"date": CONFLICT_DATE, "attendance": {"m0": mark}}),
            );
            log.push(format!(
                "setup {}: offline {CONFLICT_DATE} m0 = {mark}",
                sim.name
            ));
        }
        expect.insert((o.salon_doc.clone(), "sessions", CONFLICT_DATE.to_string()));
    }

    for round in 0..size.rounds {
        if let Some((b, l)) = restore_at {
            if round == b {
                std::fs::create_dir_all(&work).unwrap();
                let said = admin::backup(&s.tmp.url, &work.join("backup"))
                    .await
                    .unwrap_or_else(|e| panic!("seed {seed}: backup: {e:#}"));
                log.push(format!("r{round} office: {said}"));
            }
            if round == l {
                let db = restore_fresh(backend, &work.join("backup")).await;
                let r = TestServer::on(&db.url).await;
                for sim in sims.iter_mut() {
                    sim.dev.base = r.base.clone();
                }
                log.push(format!(
                    "r{round} office: server lost, backup restored into a fresh database"
                ));
                let old = std::mem::replace(&mut s, r);
                retired.push((old, Some(db)));
            }
        }
        let mut order: Vec<usize> = (0..sims.len()).collect();
        for i in (1..order.len()).rev() {
            order.swap(i, rng.below(i + 1));
        }
        for &i in &order {
            let sim = &mut sims[i];
            // Edits (offline or not).
            if rng.chance(60) {
                for _ in 0..=rng.below(3) {
                    if let Some(what) = random_edit(sim, &mut rng, &mut n, &mut expect) {
                        log.push(format!("r{round} {}: {what}", sim.name));
                    }
                }
            }
            if sim.login.starts_with("minsei") && rng.chance(8) {
                let id = format!("p{seed}-{}", persons.len());
                let school = if rng.chance(50) {
                    o.school.clone()
                } else {
                    o.other_school.clone()
                };
                sim.create_person(&id, &school);
                log.push(format!("r{round} {}: create person {id}", sim.name));
                persons.push(id);
            }
            if rng.chance(45) {
                let net = NETS[rng.below(NETS.len())];
                log.push(format!("r{round} {}: sync {net:?}", sim.name));
                chaotic_sync(sim, net).await;
                for _ in 0..rng.below(3) {
                    log.push(format!("r{round} {}: sync Clean", sim.name));
                    sim.clean_round().await;
                }
            }
            if rng.chance(8) {
                log.push(format!("r{round} {}: restart", sim.name));
                sim.restart();
            }
        }
        // Two devices sync at the same moment.
        if rng.chance(30) {
            let a = rng.below(sims.len());
            let b = (a + 1 + rng.below(sims.len() - 1)) % sims.len();
            let (lo, hi) = (a.min(b), a.max(b));
            let (left, right) = sims.split_at_mut(hi);
            let (x, y) = (&mut left[lo], &mut right[0]);
            log.push(format!("r{round} {} + {}: concurrent sync", x.name, y.name));
            tokio::join!(x.clean_round(), y.clean_round());
        }
        // The office assigns the volunteer to another person the server has.
        let in_window = restore_at.is_some_and(|(b, l)| round >= b && round < l);
        if rng.chance(15) && !in_window {
            let known: Vec<String> = {
                let mut out = Vec::new();
                for p in persons.iter().filter(|p| !assigned.contains(*p)) {
                    let exists: i64 =
                        sqlx::query_scalar("SELECT COUNT(*) FROM documents WHERE id = $1")
                            .bind(p.clone())
                            .fetch_one(&s.db)
                            .await
                            .unwrap();
                    if exists == 1 {
                        out.push(p.clone());
                    }
                }
                out
            };
            if let Some(p) = rng.pick(&known) {
                admin::assign(&s.db, &o.users["vol"], p).await.unwrap();
                log.push(format!("r{round} office: assign vol {p}"));
                assigned.insert(p.clone());
            }
        }
    }

    // Final reliable sync: until nobody has anything pending and a whole pass changes
    // nothing anywhere.
    log.push("final sync".into());
    let snapshot = |sims: &[Sim]| -> BTreeMap<(usize, String), Vec<String>> {
        let mut m = BTreeMap::new();
        for (i, x) in sims.iter().enumerate() {
            for (id, d) in x.dev.replica.docs() {
                m.insert((i, id.clone()), sorted_heads(&d.doc));
            }
        }
        m
    };
    // Each device syncs at most 10 rounds in a row, as the app does: one may be waiting
    // for a change only another device can give back (after a restore).
    let mut settled = false;
    for _ in 0..30 {
        let before = snapshot(&sims);
        let mut all_done = true;
        for sim in sims.iter_mut() {
            all_done &= sim.settle_within(10).await;
        }
        let quiet = sims.iter().all(|x| {
            x.dev.replica.pending() == 0 && x.dev.replica.docs().all(|(_, d)| !d.in_fallback())
        });
        if all_done && quiet && snapshot(&sims) == before {
            settled = true;
            break;
        }
    }
    let mut stuck: Vec<String> = sims.iter().map(Sim::stuck).collect();
    if !settled {
        let mut conn = s.db.acquire().await.unwrap();
        for x in &sims {
            for (id, d) in x.dev.replica.docs().filter(|(_, d)| d.in_fallback()) {
                let sd = server::store::stored(&mut conn, id)
                    .await
                    .map(|st| st.load());
                let server = match sd {
                    Ok(Ok(doc)) => format!(
                        "server heads {:?} missing {:?} of which this device has {:?}",
                        sorted_heads(&doc),
                        doc.get_missing_deps(&[]),
                        doc.get_missing_deps(&[])
                            .iter()
                            .filter(|h| d.doc.get_change_by_hash(h).is_some())
                            .collect::<Vec<_>>()
                    ),
                    other => format!("server: {other:?}"),
                };
                stuck.push(format!(
                    "{} {id}: heads {:?}; {server}",
                    x.name,
                    sorted_heads(&d.doc)
                ));
            }
        }
    }
    assert!(
        settled,
        "seed {seed}: the final sync did not settle: {stuck:#?}"
    );

    // Everything checked below on the server's stored documents.
    let mut conn = s.db.acquire().await.unwrap();
    let mut server_docs: BTreeMap<String, automerge::Automerge> = BTreeMap::new();
    let all: BTreeSet<String> = sims
        .iter()
        .flat_map(|x| x.dev.replica.ids().cloned())
        .collect();
    for id in &all {
        let d = server::store::stored(&mut conn, id)
            .await
            .unwrap_or_else(|e| panic!("seed {seed}: {id} is not on the server: {e}"))
            .load()
            .unwrap();
        server_docs.insert(id.clone(), d);
    }
    drop(conn);

    // A fresh device of each user sees exactly what that user's devices hold.
    let mut fresh: BTreeMap<&'static str, Device> = BTreeMap::new();
    for login in size.devices.iter() {
        if !fresh.contains_key(login) {
            let mut d = s.device(login).await;
            d.sync().await;
            fresh.insert(login, d);
        }
    }

    for x in &sims {
        let r = &x.dev.replica;
        assert!(
            r.refused.is_empty(),
            "seed {seed}: {} has refused documents {:?}",
            x.name,
            r.refused
        );
        assert_eq!(
            r.pending(),
            0,
            "seed {seed}: {} has pending changes",
            x.name
        );
        let f = &fresh[x.login].replica;
        let mine: BTreeSet<&String> = r.ids().collect();
        let theirs: BTreeSet<&String> = f.ids().collect();
        assert_eq!(
            mine, theirs,
            "seed {seed}: {} holds other documents than a fresh device of {}",
            x.name, x.login
        );
        for (id, d) in r.docs() {
            let server_doc = &server_docs[id];
            let fd = &f.get(id).unwrap().doc;
            assert_eq!(
                sorted_heads(&d.doc),
                sorted_heads(server_doc),
                "seed {seed}: {} {id}: heads differ from the server's",
                x.name
            );
            assert_eq!(
                sorted_heads(fd),
                sorted_heads(server_doc),
                "seed {seed}: fresh {} {id}: heads differ from the server's",
                x.login
            );
            let ours = crdt::read_doc(&d.doc).unwrap();
            assert_eq!(
                ours,
                crdt::read_doc(server_doc).unwrap(),
                "seed {seed}: {} {id}: content differs from the server's",
                x.name
            );
            assert_eq!(
                ours,
                crdt::read_doc(fd).unwrap(),
                "seed {seed}: {} {id}: content differs from a fresh device's",
                x.name
            );
            // Hydrated records, as the app shows them.
            match d.kind {
                DocKind::Person => assert_eq!(
                    shared::doc::read::<Person, _>(&d.doc).unwrap(),
                    shared::doc::read::<Person, _>(server_doc).unwrap(),
                    "seed {seed}: {} {id}: person",
                    x.name
                ),
                DocKind::Salon => assert_eq!(
                    shared::doc::read::<Salon, _>(&d.doc).unwrap(),
                    shared::doc::read::<Salon, _>(server_doc).unwrap(),
                    "seed {seed}: {} {id}: salon",
                    x.name
                ),
                DocKind::Map => assert_eq!(
                    shared::doc::read::<SupportMap, _>(&d.doc).unwrap(),
                    shared::doc::read::<SupportMap, _>(server_doc).unwrap(),
                    "seed {seed}: {} {id}: map",
                    x.name
                ),
                _ => {}
            }
        }
    }

    // Nothing any device made is missing, and every record written is readable.
    for x in &sims {
        for (doc, h) in &x.made {
            let server_doc = server_docs.get(doc).unwrap_or_else(|| {
                panic!("seed {seed}: {doc} (edited on {}) is on no device", x.name)
            });
            assert!(
                server_doc.get_change_by_hash(h).is_some(),
                "seed {seed}: change {h} of {} to {doc} is missing on the server",
                x.name
            );
        }
    }
    for p in &persons {
        assert!(
            server_docs.contains_key(p),
            "seed {seed}: person {p} never reached the devices"
        );
    }
    for (doc, coll, id) in &expect {
        let d = &server_docs[doc];
        let found = match *coll {
            "visits" => shared::doc::read::<Person, _>(d)
                .unwrap()
                .0
                .visits
                .contains_key(id),
            "consultations" => shared::doc::read::<Person, _>(d)
                .unwrap()
                .0
                .consultations
                .contains_key(id),
            "members" => shared::doc::read::<Salon, _>(d)
                .unwrap()
                .0
                .members
                .contains_key(id),
            "sessions" => shared::doc::read::<Salon, _>(d)
                .unwrap()
                .0
                .sessions
                .contains_key(id),
            "places" => shared::doc::read::<SupportMap, _>(d)
                .unwrap()
                .0
                .places
                .contains_key(id),
            "links" => shared::doc::read::<SupportMap, _>(d)
                .unwrap()
                .0
                .links
                .contains_key(id),
            other => unreachable!("{other}"),
        };
        assert!(
            found,
            "seed {seed}: {doc}/{coll}/{id} is missing or unreadable"
        );
    }

    // The co-leaders' present/absent is shown as a conflict on every device, not decided.
    let (_, conflicts) = shared::doc::read::<Salon, _>(&server_docs[&o.salon_doc]).unwrap();
    let c = conflicts
        .iter()
        .find(|c| c.is_under(&["sessions", CONFLICT_DATE, "attendance", "m0"]))
        .unwrap_or_else(|| panic!("seed {seed}: no conflict on m0: {conflicts:?}"));
    assert_eq!(c.values.len(), 2, "seed {seed}: both marks kept: {c:?}");

    // Every change is stored once, however often it was sent.
    let dupes: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM (SELECT doc_id, hash FROM changes GROUP BY doc_id, hash HAVING COUNT(*) > 1) x",
    )
    .fetch_one(&s.db)
    .await
    .unwrap();
    assert_eq!(dupes, 0, "seed {seed}: a change is stored twice");
    let _ = std::fs::remove_dir_all(&work);
    // The servers' tasks live on; their connections must not (PostgreSQL's limit).
    s.db.close().await;
    for (old, _) in &retired {
        old.db.close().await;
    }
    drop(retired);
    let total: usize = sims.iter().map(|x| x.made.len()).sum();
    log.push(format!("ok: {total} changes, {} documents", all.len()));
    println!(
        "{backend} seed {seed}: ok ({} rounds, {} devices, {total} changes, {} documents, {} log lines, restore {restore_at:?})",
        size.rounds,
        sims.len(),
        all.len(),
        log.lines.lock().unwrap().len()
    );
}

async fn run(backend: &'static str) {
    if !backends().contains(&backend) {
        eprintln!("{backend}: not configured, skipped");
        return;
    }
    let size = size();
    for seed in case_seeds(size.cases) {
        let start = std::time::Instant::now();
        run_case(backend, seed, &size, restore_cases()).await;
        println!("{backend} seed {seed}: {:?}", start.elapsed());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_edits_and_unreliable_syncs_converge_on_sqlite() {
    run("sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_edits_and_unreliable_syncs_converge_on_postgres() {
    run("postgres").await;
}

/// Cases with a restore that once failed, kept as regressions whatever the switch says:
/// 281346964 stalled reconciling changes whose predecessors the restored server had lost;
/// 428483778 left a phone stuck in reconciliation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_cases_that_once_failed_converge() {
    let size = size();
    for backend in backends() {
        for seed in [281_346_964, 428_483_778] {
            run_case(backend, seed, &size, true).await;
        }
    }
}
