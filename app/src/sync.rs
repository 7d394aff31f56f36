//! Sync with the server: one `POST /api/sync` carries every unsent change; the answer is
//! applied and persisted before the indicator moves. Runs on open, on reconnect, after
//! saves while online, every few minutes while open, and when the service worker's
//! Background Sync asks for it.

use crate::net::{self, NetError};
use crate::state::Ctx;
use crate::store::{self, APP_VERSION};
use leptos::prelude::*;
use shared::access::Access;
use shared::api::{Directory, ReadEvent, ReadReport};
use shared::sync::{SyncRequest, SyncResponse};
use std::cell::Cell;
use std::collections::BTreeSet;

thread_local! {
    static RUNNING: Cell<bool> = const { Cell::new(false) };
    static AGAIN: Cell<bool> = const { Cell::new(false) };
}

/// The server's limit on one `POST /api/reads`.
const MAX_READS_PER_REPORT: usize = 500;

/// At most this many rounds back to back (a large first download says `more`).
const MAX_ROUNDS: usize = 50;

/// What the indicator shows now, from the store.
pub fn refresh_status(ctx: Ctx) {
    let (pending, refused, last) = store::with(|s| match s {
        Some(s) => (
            s.replica.pending(),
            s.replica
                .refused
                .iter()
                .map(|id| s.unsent(id))
                .sum::<usize>(),
            s.last_sync,
        ),
        None => (0, 0, None),
    });
    ctx.sync.update(|st| {
        st.pending = pending;
        st.refused = refused;
        st.last_sync = last;
    });
}

/// Starts a sync unless one is running (then it runs again once the current one ends).
pub fn request(ctx: Ctx) {
    if RUNNING.with(Cell::get) {
        AGAIN.with(|a| a.set(true));
        return;
    }
    leptos::task::spawn_local(async move {
        RUNNING.with(|r| r.set(true));
        loop {
            AGAIN.with(|a| a.set(false));
            run(ctx).await;
            if !AGAIN.with(Cell::get) {
                break;
            }
        }
        RUNNING.with(|r| r.set(false));
    });
}

async fn run(ctx: Ctx) {
    let Some(token) = store::with(|s| s.and_then(|s| s.token())) else {
        return;
    };
    if ctx.sync.with_untracked(|s| s.session_ended) {
        return;
    }
    ctx.sync.update(|s| s.syncing = true);
    let mut changed_any = false;
    let mut result: Result<(), NetError> = Ok(());
    for _ in 0..MAX_ROUNDS {
        match round(&token).await {
            Ok((again, changed, dir_version)) => {
                changed_any |= changed;
                ctx.sync.update(|s| {
                    s.online = true;
                    s.error = None;
                });
                let cached =
                    store::with(|s| s.and_then(|s| s.directory.as_ref().map(|d| d.version)));
                if cached != Some(dir_version) {
                    if let Err(e) = fetch_directory(&token).await {
                        result = Err(e);
                        break;
                    }
                    changed_any = true;
                }
                if !again {
                    break;
                }
            }
            Err(e) => {
                result = Err(e);
                break;
            }
        }
    }
    let reached = result.is_ok();
    match result {
        Ok(()) => {}
        Err(NetError::Offline) => ctx.sync.update(|s| s.online = false),
        // Signed out by the office or by the user from another phone: nothing stays.
        Err(NetError::Api(401, e)) if e.error == "revoked" => {
            crate::wipe_and_restart("revoked").await
        }
        Err(NetError::Api(401, _)) => ctx.sync.update(|s| s.session_ended = true),
        Err(NetError::Api(_, e)) => ctx.sync.update(|s| s.error = Some(e.message)),
        Err(NetError::Storage(e)) => ctx.sync.update(|s| s.error = Some(e)),
    }
    ctx.sync.update(|s| s.syncing = false);
    if reached {
        after_contact(&token).await;
    }
    refresh_status(ctx);
    if changed_any {
        ctx.bump();
    }
}

/// One request and its answer. Returns (sync again, anything changed, directory version).
async fn round(token: &str) -> Result<(bool, bool, i64), NetError> {
    let req = build_request().ok_or(NetError::Offline)?;
    let answer: Result<SyncResponse, NetError> =
        net::json("POST", "/api/sync", Some(token), Some(&req)).await;
    let resp = match answer {
        Ok(r) => r,
        Err(NetError::Api(403 | 422, e)) if !e.docs.is_empty() => {
            // Out-of-scope documents (403), or changes leaving a record the server cannot
            // read or that breaks a rule (422 `invalid_record`; the app checks the same
            // rules before it saves, so only a clock far ahead or an older app gets here):
            // keep their changes on the device, stop sending them until they are edited.
            let docs = e.docs.clone();
            apply_refusal(&docs).await?;
            return Ok((true, false, current_dir_version()));
        }
        Err(NetError::Api(409, e)) if e.error == "missing_deps" => {
            // The server lacks predecessors of changes pushed for these documents and
            // stored nothing: reconcile them (the fallback carries the predecessors); their
            // changes stay in the outbox and go once that is done. Nothing to persist: a
            // reconciliation is not kept across a restart, and the next push asks again.
            store::with_replica(|r| r.missing_deps(&e.docs));
            return Ok((true, false, current_dir_version()));
        }
        Err(e) => {
            fail_request();
            return Err(e);
        }
    };
    let dir_version = resp.directory;
    let mut touched: BTreeSet<String> = req.push.iter().map(|p| p.doc.clone()).collect();
    let applied = apply(&req, resp)?;
    touched.extend(applied.changed.iter().cloned());
    touched.extend(applied.removed.iter().cloned());
    store::after_sync(touched, store::now_ms())
        .await
        .map_err(|e| NetError::Storage(e.to_string()))?;
    let changed = !applied.changed.is_empty() || !applied.removed.is_empty();
    Ok((applied.again, changed, dir_version))
}

fn build_request() -> Option<SyncRequest> {
    store::with_replica(|r| r.request(APP_VERSION))
}

fn fail_request() {
    store::with_replica(|r| r.request_failed());
}

fn current_dir_version() -> i64 {
    store::with(|s| s.and_then(|s| s.directory.as_ref().map(|d| d.version))).unwrap_or(-1)
}

fn apply(req: &SyncRequest, resp: SyncResponse) -> Result<shared::client::Applied, NetError> {
    store::with_replica(|r| r.apply(req, resp).map_err(|e| e.to_string()))
        .ok_or(NetError::Offline)?
        .map_err(NetError::Storage)
}

async fn apply_refusal(docs: &[String]) -> Result<(), NetError> {
    store::with_replica(|r| r.refuse(docs));
    store::after_sync(BTreeSet::new(), store::now_ms())
        .await
        .map_err(|e| NetError::Storage(e.to_string()))
}

async fn fetch_directory(token: &str) -> Result<(), NetError> {
    let dir: Directory = net::json("GET", "/api/directory", Some(token), None::<&()>).await?;
    store::set_directory(dir)
        .await
        .map_err(|e| NetError::Storage(e.to_string()))
}

/// After a sync that reached the server: the PIN proof if the server does not have it
/// yet, and staff reads of person records to record. (The lock record's new deadline was
/// written with the sync's own results.)
async fn after_contact(token: &str) {
    if crate::lock::info().is_some_and(|i| !i.pin_registered)
        && crate::lock::register_pin(token).await
    {
        crate::lock::update(|i| i.pin_registered = true);
        let _ = store::save_lock().await;
    }
    report_reads(token).await;
}

/// Person records a staff member opened on this phone, to be recorded in the audit log.
pub fn note_read(doc: &str) {
    let staff = store::with(|s| {
        s.and_then(|s| s.user())
            .is_some_and(|u| u.reads_are_audited())
    });
    if !staff {
        return;
    }
    let mut reads = queued_reads();
    reads.reads.push(ReadEvent {
        doc: doc.to_string(),
        at: store::now_ms() as i64,
    });
    let v = serde_json::to_string(&reads).unwrap_or_default();
    leptos::task::spawn_local(async move {
        let _ = store::set_extra(store::Kept::Reads, v).await;
    });
}

fn queued_reads() -> ReadReport {
    store::with(|s| {
        s.and_then(|s| s.extra.get(store::Kept::Reads.key()))
            .and_then(|r| serde_json::from_str(r).ok())
    })
    .unwrap_or_default()
}

async fn report_reads(token: &str) {
    let mut reads = queued_reads();
    if reads.reads.is_empty() {
        return;
    }
    // The server takes at most this many per report; the rest go with the next contact.
    reads.reads.truncate(MAX_READS_PER_REPORT);
    let sent = reads.reads.len();
    let r: Result<serde_json::Value, NetError> =
        net::json("POST", "/api/reads", Some(token), Some(&reads)).await;
    // Sent (or refused for good): drop what was sent, keep what came in meanwhile.
    if matches!(r, Ok(_) | Err(NetError::Api(400 | 403, _))) {
        let mut now = queued_reads();
        now.reads.drain(..sent.min(now.reads.len()));
        let _ = store::set_extra(
            store::Kept::Reads,
            serde_json::to_string(&now).unwrap_or_default(),
        )
        .await;
    }
}
