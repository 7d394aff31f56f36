//! `POST /api/sync` (docs/sync-protocol.md): store the device's changes, answer with
//! everything in its scope newer than its cursor.

use crate::AppState;
use crate::auth::{self, Caller};
use crate::db::audit;
use crate::error::{Error, Result, from_json_rejection};
use crate::scope::{self, Scope};
use crate::store::{self, NewRow};
use automerge::Change;
use automerge::sync::{Message, State as SyncState, SyncDoc};
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::{Extension, Json};
use shared::codes::DocKind;
use shared::sync::*;
use sqlx::Row;
use std::collections::{BTreeMap, BTreeSet};

/// A parsed cursor: `1.<epoch>.<seq>` or, while a first sync is paged, `1.<epoch>.<seq>.<doc>`.
#[derive(Debug, PartialEq)]
pub struct Cursor {
    pub epoch: String,
    pub seq: i64,
    /// First sync in progress: documents after this id are still to be sent whole.
    pub after: Option<String>,
}

impl Cursor {
    pub fn parse(s: &str) -> Option<Cursor> {
        let mut it = s.splitn(4, '.');
        if it.next()? != "1" {
            return None;
        }
        let epoch = it.next()?.to_string();
        let seq = it.next()?.parse().ok().filter(|n: &i64| *n >= 0)?;
        let after = it.next().map(str::to_string);
        Some(Cursor { epoch, seq, after })
    }

    pub fn format(&self) -> String {
        match &self.after {
            Some(a) => format!("1.{}.{}.{a}", self.epoch, self.seq),
            None => format!("1.{}.{}", self.epoch, self.seq),
        }
    }
}

/// One pushed document after validation.
type Push = CheckedPush;

pub(crate) use shared::sync::valid_doc_id;

/// The validated request: pushes, and sync messages by document.
type Checked = (Vec<Push>, Vec<(String, Message)>);

/// Checks everything in the request before anything is written
/// (`shared::sync::check_request`, which the fuzz target `sync_request` runs too).
fn validate(req: SyncRequest) -> Result<Checked> {
    let checked = check_request(req).map_err(|e| match e {
        RequestError::Bad(m) => Error::bad(m),
        RequestError::TooLarge(m) => Error::TooLarge(m),
    })?;
    Ok((checked.push, checked.fallback))
}

/// Syncs worked on at once in one process; the others wait their turn, in arrival order.
/// An answer is built in memory (up to [`RESPONSE_BUDGET`] of changes, more as JSON), so
/// without a bound a reconnect storm — every phone of a 社協 syncing the moment the server
/// is back — costs memory in proportion to the phones, and the requests beyond the pool's
/// connections queue for one until its timeout answers them 500. Twice the pool (16) keeps
/// the database busy; tests/storm.rs measures it.
const SYNCS_AT_ONCE: usize = 32;
static SYNC_GATE: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(SYNCS_AT_ONCE);

/// `POST /api/sync`. The device was found from the headers before the body was read
/// (`auth::require_device`, lib.rs).
pub async fn handler(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    body: std::result::Result<Json<SyncRequest>, JsonRejection>,
) -> Result<Json<SyncResponse>> {
    let Json(req) = body.map_err(from_json_rejection)?;
    auth::note_app(&st.db, &caller, &req.app).await?;
    let cursor = req.cursor.clone();
    let (pushes, fallback) = validate(req)?;
    // Taken once the device is known and its request is whole: requests without a valid
    // token or with a broken body never queue ahead of the phones'.
    let _turn = SYNC_GATE.acquire().await.expect("the gate is never closed");

    let mut replies = Vec::new();
    if !pushes.is_empty() || !fallback.is_empty() {
        // Only the documents of this request are looked up: a push costs what it carries.
        let named: Vec<String> = pushes
            .iter()
            .map(|p| p.doc.clone())
            .chain(fallback.iter().map(|(d, _)| d.clone()))
            .collect();
        let sc = scope::of_caller_within(&st.db, &caller, &named).await?;
        let creates = check_access(&st, &caller, &sc, &pushes, &fallback).await?;
        replies = write(&st, &caller, &sc, &pushes, &creates, fallback).await?;
        st.projector.notify_one();
    }

    let mut resp = pull(&st, &caller, cursor.as_deref()).await?;
    resp.fallback = replies;
    Ok(Json(resp))
}

/// Every pushed or reconciled document must be one the caller may change (or, if new,
/// may create). One refused document refuses the whole request, audited, with nothing
/// stored: documents out of scope answer 403 `forbidden` (`sync_refused`), documents the
/// caller may only view 403 `read_only` (`write_refused`). Returns the documents to create.
async fn check_access(
    st: &AppState,
    c: &Caller,
    sc: &Scope,
    pushes: &[Push],
    fallback: &[(String, Message)],
) -> Result<Vec<(String, NewDoc)>> {
    let mut refused = BTreeSet::new();
    let mut read_only = BTreeSet::new();
    let mut creates = Vec::new();
    for p in pushes {
        match sc.get(&p.doc) {
            Some(a) if a.can_edit => {}
            Some(_) => {
                // Viewing only: nothing new may be written. Changes the server already
                // has (a retry of an answer lost before the right changed) write nothing.
                for (hash, _) in &p.changes {
                    let known: Option<i64> = sqlx::query_scalar(
                        "SELECT seq FROM changes WHERE doc_id = $1 AND hash = $2",
                    )
                    .bind(p.doc.clone())
                    .bind(hash.clone())
                    .fetch_optional(&st.db)
                    .await?;
                    if known.is_none() {
                        read_only.insert(p.doc.clone());
                        break;
                    }
                }
            }
            None => {
                let exists: Option<String> =
                    sqlx::query_scalar("SELECT id FROM documents WHERE id = $1")
                        .bind(p.doc.clone())
                        .fetch_optional(&st.db)
                        .await?;
                match &p.create {
                    Some(n)
                        if exists.is_none() && scope::may_create(&st.db, c, &p.doc, n).await? =>
                    {
                        creates.push((p.doc.clone(), n.clone()));
                    }
                    _ => {
                        refused.insert(p.doc.clone());
                    }
                }
            }
        }
    }
    for (doc, _) in fallback {
        if !sc.contains_key(doc) {
            refused.insert(doc.clone());
        }
    }
    if refused.is_empty() && read_only.is_empty() {
        return Ok(creates);
    }
    for d in &refused {
        audit(
            &st.db,
            Some(&c.org_id),
            Some(&c.user_id),
            Some(&c.device_id),
            "sync_refused",
            Some(d),
            "out of scope",
        )
        .await?;
    }
    for d in &read_only {
        audit(
            &st.db,
            Some(&c.org_id),
            Some(&c.user_id),
            Some(&c.device_id),
            "write_refused",
            Some(d),
            "view only",
        )
        .await?;
    }
    if refused.is_empty() {
        tracing::warn!(user = %c.login, docs = read_only.len(), "sync refused: documents the user may only view");
        return Err(Error::ReadOnly {
            message: "you may only view these documents; nothing from this request was stored"
                .into(),
            docs: read_only.into_iter().collect(),
        });
    }
    tracing::warn!(user = %c.login, docs = refused.len(), "sync refused: documents out of scope");
    refused.extend(read_only);
    Err(Error::Forbidden {
        message: "you may not change or read these documents; nothing from this request was stored"
            .into(),
        docs: refused.into_iter().collect(),
    })
}

/// Every pushed change must apply to the document as stored: a change that decodes but
/// that Automerge refuses or panics on (fuzz target `sync_binary`, docs/fuzzing.md) is
/// refused (400) before it is stored, where it would break every later load of the
/// document. Then the records the changes touched are read with the model and judged with
/// its rules ([`at_the_door`]). Done before the write transaction, so that the
/// organisation's sequence is not held while documents load.
/// Returns, per document, the predecessors its pushed changes need that the server does not
/// hold ([`refuse_missing_deps`]); those are answered before the records are judged, since
/// changes waiting for predecessors are not applied.
async fn check_applies(
    st: &AppState,
    c: &Caller,
    sc: &Scope,
    pushes: &[Push],
    creates: &[(String, NewDoc)],
) -> Result<Vec<MissingDeps>> {
    let mut conn = None;
    let mut refused = Vec::new();
    let mut missing = Vec::new();
    for p in pushes.iter().filter(|p| !p.changes.is_empty()) {
        let conn = match &mut conn {
            Some(c) => c,
            None => conn.insert(st.db.acquire().await?),
        };
        let (mut am, kind) = match creates.iter().find(|(id, _)| *id == p.doc) {
            Some((_, n)) => (automerge::Automerge::new(), n.kind.clone()),
            None => (
                store::stored(conn, &p.doc).await?.load()?,
                kind_in(sc, &p.doc),
            ),
        };
        let before = shared::check::read(&am);
        let lacked_before = automerge::ReadDoc::get_missing_deps(&am, &[]);
        let decoded = p
            .changes
            .iter()
            .map(|(_, b)| Change::try_from(b.as_slice()))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| Error::bad(e.to_string()))?;
        apply_pushed(&mut am, decoded).map_err(|e| {
            Error::bad(format!(
                "the changes for document {} cannot be applied: {e}",
                p.doc
            ))
        })?;
        let hashes = newly_missing(&am, &lacked_before);
        if !hashes.is_empty() {
            missing.push(MissingDeps {
                doc: p.doc.clone(),
                hashes,
            });
        }
        refused.extend(at_the_door(&p.doc, &kind, &before, &am));
    }
    if !missing.is_empty() || refused.is_empty() {
        return Ok(missing);
    }
    Err(refusal(st, c, refused).await)
}

/// Predecessors `am` lacks now that it did not lack before the push (`lacked_before`).
/// Only those are the push's fault: a document may already hold changes waiting for
/// predecessors (a sync message stores them, see [`write`]), and refusing every later push
/// to it for those would block devices that cannot supply them.
fn newly_missing(
    am: &automerge::Automerge,
    lacked_before: &[automerge::ChangeHash],
) -> Vec<String> {
    automerge::ReadDoc::get_missing_deps(am, &[])
        .into_iter()
        .filter(|h| !lacked_before.contains(h))
        .map(|h| h.to_string())
        .collect()
}

/// A push whose changes wait for predecessors the server lacks is refused whole (409
/// `missing_deps`), audited per document, nothing stored: stored and relayed, such changes
/// would reach other devices that cannot apply them either. The device reconciles these
/// documents with the fallback, which carries the predecessors (sync-protocol.md).
async fn refuse_missing_deps(
    st: &AppState,
    c: &Caller,
    missing: Vec<MissingDeps>,
) -> Result<Error> {
    for m in &missing {
        audit(
            &st.db,
            Some(&c.org_id),
            Some(&c.user_id),
            Some(&c.device_id),
            "sync_missing_deps",
            Some(&m.doc),
            &format!(
                "lacks {} predecessor(s): {}",
                m.hashes.len(),
                m.hashes.join(" ")
            ),
        )
        .await?;
    }
    tracing::warn!(user = %c.login, docs = missing.len(), "sync refused: changes whose predecessors the server lacks");
    Ok(Error::MissingDeps {
        message: "the server lacks predecessors of changes pushed for these documents; \
                  nothing from this request was stored: reconcile them (fallback)"
            .into(),
        missing,
    })
}

/// The records a change left unreadable or breaking a rule (shared::check), judged as of
/// tomorrow in Japan: a phone whose clock runs a few minutes fast near midnight must not
/// have a visit of today refused.
fn at_the_door(
    doc: &str,
    kind: &DocKind,
    before: &serde_json::Value,
    after: &automerge::Automerge,
) -> Vec<RecordError> {
    let after = shared::check::read(after);
    let tomorrow = crate::desk::today().add_days(1);
    shared::check::new_problems(kind, before, &after, tomorrow)
        .into_iter()
        .map(|problem| RecordError {
            doc: doc.to_string(),
            problem,
        })
        .collect()
}

/// The kind of a document in the caller's scope (the SQL row is the authority).
fn kind_in(sc: &Scope, doc: &str) -> DocKind {
    sc.get(doc)
        .map_or_else(|| DocKind::Other(String::new()), |a| a.kind.clone())
}

/// The refusal of a request whose changes left records wrong (422 `invalid_record`,
/// nothing stored), with one audit row per document.
async fn refusal(st: &AppState, c: &Caller, refused: Vec<RecordError>) -> Error {
    let docs: BTreeSet<String> = refused.iter().map(|r| r.doc.clone()).collect();
    for d in &docs {
        let what: Vec<String> = refused
            .iter()
            .filter(|r| &r.doc == d)
            .map(|r| {
                format!(
                    "{} {} {}",
                    r.problem.path.join("/"),
                    r.problem.field,
                    r.problem.rule
                )
            })
            .collect();
        if let Err(e) = audit(
            &st.db,
            Some(&c.org_id),
            Some(&c.user_id),
            Some(&c.device_id),
            "record_refused",
            Some(d),
            &what.join("; "),
        )
        .await
        {
            return e.into();
        }
    }
    tracing::warn!(user = %c.login, records = refused.len(), "sync refused: invalid records");
    Error::InvalidRecord {
        message: "a record in these changes cannot be read or breaks a rule \
                  (docs/schema/records.schema.json); nothing from this request was stored"
            .into(),
        docs: docs.into_iter().collect(),
        records: refused,
    }
}

/// Stores pushed changes and reconciliation messages in one transaction.
async fn write(
    st: &AppState,
    c: &Caller,
    sc: &Scope,
    pushes: &[Push],
    creates: &[(String, NewDoc)],
    fallback: Vec<(String, Message)>,
) -> Result<Vec<FallbackMsg>> {
    let missing = check_applies(st, c, sc, pushes, creates).await?;
    if !missing.is_empty() {
        return Err(refuse_missing_deps(st, c, missing).await?);
    }
    let mut tx = st.db.begin().await?;
    let base = store::lock_seq(&mut tx, &c.org_id).await?;
    let mut next = base + 1;
    for (id, n) in creates {
        let activity = n.kind == DocKind::Activity;
        store::insert_doc(
            &mut tx,
            &NewRow {
                id,
                org: &c.org_id,
                kind: n.kind.code(),
                district: if activity {
                    None
                } else {
                    n.district.as_deref()
                },
                salon: None,
                owner: activity.then_some(c.user_id.as_str()),
                created_by: Some(&c.user_id),
            },
        )
        .await?;
        audit(
            &mut *tx,
            Some(&c.org_id),
            Some(&c.user_id),
            Some(&c.device_id),
            "doc_created",
            Some(id),
            n.kind.code(),
        )
        .await?;
    }
    if !creates.is_empty() {
        // The directory lists the people in scope: its version tells devices to fetch it.
        crate::admin::bump_directory(&mut tx, &c.org_id).await?;
    }
    for p in pushes {
        let changes: Vec<(String, &[u8])> = p
            .changes
            .iter()
            .map(|(h, b)| (h.clone(), b.as_slice()))
            .collect();
        (next, _) = store::append(
            &mut tx,
            &c.org_id,
            &p.doc,
            Some(&c.device_id),
            &changes,
            next,
        )
        .await?;
    }
    let mut replies = Vec::new();
    for (doc, msg) in fallback {
        let stored = store::stored(&mut tx, &doc).await?;
        let mut am = stored.load()?;
        let before = am.get_heads();
        let before_records = shared::check::read(&am);
        let mut state = SyncState::new();
        let carried = shared::sync::carried_changes(&msg);
        receive_untrusted(&mut am, &mut state, msg).map_err(|e| {
            Error::bad(format!(
                "the sync message for document {doc} cannot be applied: {e}"
            ))
        })?;
        let mut new = am.get_changes(&before);
        // Changes the message carried that wait for predecessors this server lacks (it was
        // restored from an older backup) are stored too, as pushed ones are. Otherwise the
        // next round, on a fresh sync state, asks for the same predecessors again while the
        // device, which has sent them, waits: the reconciliation stalls.
        for ch in carried {
            let h = ch.hash();
            if let Err(why) = shared::sync::check_change(&ch, ch.raw_bytes()) {
                return Err(Error::bad(format!(
                    "a change in the sync message for document {doc} {why}"
                )));
            }
            if automerge::ReadDoc::get_change_by_hash(&am, &h).is_none()
                && !new.iter().any(|n| n.hash() == h)
            {
                new.push(ch);
            }
        }
        if !new.is_empty() {
            // What a sync message brought must leave a document that saves and loads
            // again, as a push must (shared::sync::apply_pushed).
            shared::sync::reloads_the_same(&am).map_err(|e| {
                Error::bad(format!(
                    "the sync message for document {doc} cannot be stored: {e}"
                ))
            })?;
            let wrong = at_the_door(&doc, &kind_in(sc, &doc), &before_records, &am);
            if !wrong.is_empty() {
                tx.rollback().await?;
                return Err(refusal(st, c, wrong).await);
            }
            if !sc.get(&doc).is_some_and(|a| a.can_edit) {
                // Nothing of this request is kept: roll back before the audit row.
                tx.rollback().await?;
                audit(
                    &st.db,
                    Some(&c.org_id),
                    Some(&c.user_id),
                    Some(&c.device_id),
                    "write_refused",
                    Some(&doc),
                    "view only (sync message)",
                )
                .await?;
                return Err(Error::ReadOnly {
                    message:
                        "you may only view this document; nothing from this request was stored"
                            .into(),
                    docs: vec![doc],
                });
            }
            let changes: Vec<(String, &[u8])> = new
                .iter()
                .map(|ch| (store::hash_of(ch), ch.raw_bytes()))
                .collect();
            (next, _) =
                store::append(&mut tx, &c.org_id, &doc, Some(&c.device_id), &changes, next).await?;
        }
        if let Some(reply) = am.generate_sync_message(&mut state) {
            replies.push(FallbackMsg {
                doc,
                msg: Bytes(reply.encode()),
            });
        }
    }
    if next - 1 > base {
        store::set_seq(&mut tx, &c.org_id, next - 1).await?;
    }
    tx.commit().await?;
    Ok(replies)
}

/// A whole document, with where it belongs.
pub async fn full_state(st: &AppState, doc: &str) -> Result<DocUpdate> {
    let row = sqlx::query("SELECT kind, district_id, salon_id FROM documents WHERE id = $1")
        .bind(doc.to_string())
        .fetch_one(&st.db)
        .await?;
    let kind = DocKind::from_code(&row.get::<String, _>(0));
    let placement = NewDoc {
        kind: kind.clone(),
        district: row.get(1),
        salon: row.get(2),
    };
    let mut conn = st.db.acquire().await?;
    let stored = store::stored(&mut conn, doc).await?;
    Ok(DocUpdate {
        doc: doc.to_string(),
        kind,
        placement: Some(placement),
        chunks: stored.chunks().into_iter().map(Bytes).collect(),
    })
}

/// A document created after the cursor arrives as changes; its placement comes with it, as
/// with a document sent whole, so that every device holding it can offer it again to a
/// server restored from an older backup (sync-protocol.md, *resync*) — not only the device
/// that created it. Asked only about the documents of this answer.
async fn place_new_documents(
    st: &AppState,
    docs: &mut BTreeMap<String, DocUpdate>,
    cursor: i64,
) -> Result<()> {
    let unplaced: Vec<String> = docs
        .values()
        .filter(|u| u.placement.is_none())
        .map(|u| u.doc.clone())
        .collect();
    for part in unplaced.chunks(500) {
        let sql = format!(
            "SELECT d.id, d.kind, d.district_id, d.salon_id FROM documents d \
             WHERE (SELECT MIN(c.seq) FROM changes c WHERE c.doc_id = d.id) > $1{}",
            scope::only_clause("d.id", 2, Some(part))
        );
        let rows = scope::bind_only(sqlx::query(&sql).bind(cursor), Some(part))
            .fetch_all(&st.db)
            .await?;
        for r in rows {
            if let Some(u) = docs.get_mut(&r.get::<String, _>(0)) {
                u.placement = Some(NewDoc {
                    kind: DocKind::from_code(&r.get::<String, _>(1)),
                    district: r.get(2),
                    salon: r.get(3),
                });
            }
        }
    }
    Ok(())
}

fn size(u: &DocUpdate) -> usize {
    u.chunks.iter().map(|c| c.0.len()).sum::<usize>() + 100
}

/// The caller's scope as it is now, grants included. [`pull`] reads it only *after* the
/// organisation's counter: a scope read earlier (the one the write checked access with, or
/// with the grants read at authentication) can miss a document another device created, or
/// a grant changed, in between — its change or scope event is numbered at or below the
/// counter, so it would be skipped as out of scope and the cursor would pass it for good
/// (the device never gets that document). Found by tests/crash.rs, six devices syncing.
async fn scope_now(st: &AppState, c: &Caller) -> Result<Scope> {
    let mut conn = st.db.acquire().await?;
    let grants = auth::grants(&mut *conn, &c.user_id).await?;
    Ok(scope::scope(&mut conn, &c.org_id, &c.user_id, &grants).await?)
}

/// The caller's scope as far as one answer needs it. A small scope (a volunteer's people,
/// a salon) is read whole. A wide one (a district's, the organisation's: thousands of
/// documents) is asked only about the documents that changed after the cursor, so that
/// catching up costs what changed, not what is in scope (DESIGN.md §7, growth; measured by
/// `cargo xtask bench`).
/// Grants are read again after the organisation's counter (not taken from the caller):
/// a grant given in between comes with scope events numbered up to the counter, which a
/// stale scope would skip for good.
struct PullScope {
    grants: Vec<auth::Membership>,
    known: Scope,
    /// For a wide scope, the documents already asked about.
    asked: Option<BTreeSet<String>>,
}

impl PullScope {
    async fn new(st: &AppState, c: &Caller) -> Result<PullScope> {
        let mut conn = st.db.acquire().await?;
        let grants = auth::grants(&mut *conn, &c.user_id).await?;
        if scope::is_wide(&grants) {
            return Ok(PullScope {
                grants,
                known: Scope::new(),
                asked: Some(BTreeSet::new()),
            });
        }
        let known = scope::scope(&mut conn, &c.org_id, &c.user_id, &grants).await?;
        Ok(PullScope {
            grants,
            known,
            asked: None,
        })
    }

    /// The whole scope, when it was read whole.
    fn whole(&self) -> Option<&Scope> {
        self.asked.is_none().then_some(&self.known)
    }

    /// Learns whether each of `docs` is in scope (nothing to do for a whole scope).
    async fn ask<'a>(
        &mut self,
        st: &AppState,
        c: &Caller,
        docs: impl Iterator<Item = &'a String>,
    ) -> Result<()> {
        let Some(asked) = &mut self.asked else {
            return Ok(());
        };
        let new: Vec<String> = docs
            .filter(|d| asked.insert((*d).clone()))
            .cloned()
            .collect();
        if !new.is_empty() {
            let mut conn = st.db.acquire().await?;
            let sc =
                scope::scope_within(&mut conn, &c.org_id, &c.user_id, &self.grants, &new).await?;
            self.known.extend(sc);
        }
        Ok(())
    }
}

/// Everything in the caller's scope after `cursor`.
async fn pull(st: &AppState, c: &Caller, cursor: Option<&str>) -> Result<SyncResponse> {
    let row = sqlx::query("SELECT change_seq, directory_version FROM organisations WHERE id = $1")
        .bind(c.org_id.clone())
        .fetch_one(&st.db)
        .await?;
    let counter: i64 = row.get(0);
    let mut resp = SyncResponse {
        v: PROTOCOL_VERSION,
        directory: row.get(1),
        ..Default::default()
    };
    let at = |seq: i64, after: Option<String>| {
        Cursor {
            epoch: st.epoch.clone(),
            seq,
            after,
        }
        .format()
    };

    let parsed = match cursor {
        None => Some(Cursor {
            epoch: st.epoch.clone(),
            seq: counter,
            after: Some(String::new()),
        }),
        Some(s) => Cursor::parse(s).filter(|p| p.epoch == st.epoch && p.seq <= counter),
    };
    let Some(cur) = parsed else {
        // A cursor this database did not give (restored backup, another database): list
        // every document with our heads; the device reconciles the ones that differ.
        let sc = scope_now(st, c).await?;
        let mut list = Vec::with_capacity(sc.len());
        let mut conn = st.db.acquire().await?;
        for (id, a) in sc {
            let doc = store::stored(&mut conn, &id).await?.load()?;
            list.push(ScopeEntry {
                doc: id,
                kind: a.kind,
                heads: doc.get_heads().iter().map(|h| h.to_string()).collect(),
            });
        }
        resp.resync = Some(list);
        resp.cursor = at(counter, None);
        return Ok(resp);
    };
    if cur.after.is_none() && cur.seq == counter {
        // Nothing new: the common case costs two indexed reads.
        resp.cursor = at(counter, None);
        return Ok(resp);
    }
    if let Some(after) = cur.after {
        // First sync, paged: every document in scope, whole, in id order.
        let sc = scope_now(st, c).await?;
        let mut budget = 0;
        let ids: Vec<&String> = sc.keys().filter(|k| k.as_str() > after.as_str()).collect();
        for (i, id) in ids.iter().enumerate() {
            let u = full_state(st, id).await?;
            budget += size(&u);
            resp.docs.push(u);
            // A page cut after the last document would leave an empty page to fetch.
            if budget > RESPONSE_BUDGET && i + 1 < ids.len() {
                resp.more = true;
                resp.cursor = at(cur.seq, Some(id.to_string()));
                return Ok(resp);
            }
        }
        resp.more = cur.seq < counter;
        resp.cursor = at(cur.seq, None);
        return Ok(resp);
    }

    // Scope events and changes after the cursor, merged in sequence order.
    let events = sqlx::query(
        "SELECT seq, doc_id, entered FROM scope_events WHERE org_id = $1 AND user_id = $2 AND seq > $3 AND seq <= $4 ORDER BY seq",
    )
    .bind(c.org_id.clone())
    .bind(c.user_id.clone())
    .bind(cur.seq)
    .bind(counter)
    .fetch_all(&st.db)
    .await?;
    let events: Vec<(i64, String, bool)> = events
        .iter()
        .map(|r| {
            (
                r.get::<i64, _>(0),
                r.get::<String, _>(1),
                r.get::<i64, _>(2) == 1,
            )
        })
        .collect();
    let mut sc = PullScope::new(st, c).await?;
    sc.ask(st, c, events.iter().map(|e| &e.1)).await?;
    let mut events = events.into_iter().peekable();
    let mut docs: BTreeMap<String, DocUpdate> = BTreeMap::new();
    let mut whole: BTreeSet<String> = BTreeSet::new();
    let mut removed: BTreeSet<String> = BTreeSet::new();
    let mut budget = 0usize;
    let mut done = cur.seq;
    const BATCH: i64 = 500;
    // A small scope (a volunteer's few people) reads only its own documents' changes,
    // through the (doc_id, seq) index, rather than every change of the organisation since
    // the cursor: rows of other documents are skipped below anyway, so the answer is the
    // same. Without it, a reconnect storm costs phones × changes rows (tests/storm.rs).
    const SMALL_SCOPE: usize = 64;
    let mut sql = String::from(
        "SELECT seq, doc_id, bytes, device_id FROM changes WHERE org_id = $1 AND seq > $2 AND seq <= $3",
    );
    let only: Option<Vec<String>> = sc
        .whole()
        .filter(|w| w.len() <= SMALL_SCOPE)
        .map(|w| w.keys().cloned().collect());
    sql.push_str(&scope::only_clause("doc_id", 5, only.as_deref()));
    sql.push_str(" ORDER BY seq LIMIT $4");
    'outer: loop {
        let q = sqlx::query(&sql)
            .bind(c.org_id.clone())
            .bind(done)
            .bind(counter)
            .bind(BATCH);
        let rows = scope::bind_only(q, only.as_deref())
            .fetch_all(&st.db)
            .await?;
        let changed: Vec<String> = rows.iter().map(|r| r.get::<String, _>(1)).collect();
        sc.ask(st, c, changed.iter()).await?;
        let last_batch = (rows.len() as i64) < BATCH;
        let batch_end = if last_batch {
            counter
        } else {
            rows.last().map(|r| r.get::<i64, _>(0)).unwrap_or(counter)
        };
        let mut rows = rows.into_iter().peekable();
        loop {
            let next_change = rows.peek().map(|r| r.get::<i64, _>(0));
            let next_event = events.peek().map(|e| e.0).filter(|s| *s <= batch_end);
            let seq = match (next_change, next_event) {
                (None, None) => break,
                (Some(a), Some(b)) => a.min(b),
                (Some(a), None) => a,
                (None, Some(b)) => b,
            };
            if next_event == Some(seq) {
                let (_, doc, entered) = events.next().expect("peeked");
                if entered && sc.known.contains_key(&doc) {
                    removed.remove(&doc);
                    if whole.insert(doc.clone()) {
                        let u = full_state(st, &doc).await?;
                        budget += size(&u);
                        docs.insert(doc, u);
                    }
                } else if !entered && !sc.known.contains_key(&doc) {
                    docs.remove(&doc);
                    whole.remove(&doc);
                    removed.insert(doc);
                }
            } else {
                let r = rows.next().expect("peeked");
                let doc: String = r.get(1);
                let device: Option<String> = r.get(3);
                if let Some(a) = sc.known.get(&doc)
                    && device.as_deref() != Some(c.device_id.as_str())
                    && !whole.contains(&doc)
                {
                    let bytes: Vec<u8> = r.get(2);
                    budget += bytes.len();
                    docs.entry(doc.clone())
                        .or_insert_with(|| DocUpdate {
                            doc,
                            kind: a.kind.clone(),
                            placement: None,
                            chunks: vec![],
                        })
                        .chunks
                        .push(Bytes(bytes));
                }
            }
            done = seq;
            if budget > RESPONSE_BUDGET && done < counter {
                resp.more = true;
                break 'outer;
            }
        }
        done = done.max(batch_end);
        if last_batch || done >= counter {
            break;
        }
    }
    place_new_documents(st, &mut docs, cur.seq).await?;
    resp.docs = docs.into_values().collect();
    resp.removed = removed.into_iter().collect();
    resp.cursor = at(done, None);
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_none() {
        let c = Cursor {
            epoch: "e-1".into(),
            seq: 42,
            after: None,
        };
        assert_eq!(Cursor::parse(&c.format()), Some(c));
        let c = Cursor {
            epoch: "e".into(),
            seq: 0,
            after: Some("doc-1".into()),
        };
        assert_eq!(Cursor::parse(&c.format()), Some(c));
        for bad in ["", "2.e.1", "1.e", "1.e.x", "1.e.-4"] {
            assert_eq!(Cursor::parse(bad), None, "{bad}");
        }
    }
}
