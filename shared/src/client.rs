//! The device side of sync, without I/O: a set of local documents, the changes not yet
//! acknowledged by the server, and the cursor. The app wraps it with IndexedDB and
//! `fetch`; tests drive simulated devices with it over real HTTP.
//!
//! One round: [`Replica::request`] builds the body, the caller POSTs it, and
//! [`Replica::apply`] takes the answer. If the request fails, call
//! [`Replica::request_failed`]; nothing is lost, the next request carries the same changes.

use crate::codes::DocKind;
use crate::crdt::CrdtError;
use crate::doc;
use crate::sync::{
    Bytes, CLIENT_PUSH_BUDGET, DocPush, FallbackMsg, NewDoc, PROTOCOL_VERSION, SyncRequest,
    SyncResponse,
};
use automerge::sync::{Message, State, SyncDoc};
use automerge::transaction::Transaction;
use automerge::{ActorId, Automerge, Change, ChangeHash, ReadDoc};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("no document {0}")]
    NoDocument(String),
    #[error(transparent)]
    Crdt(#[from] CrdtError),
    #[error("automerge: {0}")]
    Automerge(#[from] automerge::AutomergeError),
    #[error("the server sent something unreadable for {doc}: {why}")]
    BadAnswer { doc: String, why: String },
}

/// A document held on the device.
#[derive(Debug, Clone)]
pub struct LocalDoc {
    pub kind: DocKind,
    pub doc: Automerge,
    /// Local changes the server has not acknowledged, oldest first.
    pub outbox: Vec<ChangeHash>,
    /// Where the document belongs, when known (this device created it, or the server said).
    /// Sent with the first push so the server can place it; kept so the document can be
    /// re-created on a server restored from an older backup.
    pub placement: Option<NewDoc>,
    /// True until the server has acknowledged the document's creation.
    pub unplaced: bool,
    /// Present while the document is being reconciled with the Automerge sync protocol.
    fallback: Option<State>,
    /// The next fallback message to send.
    fallback_out: Option<Message>,
    /// Heads at the last [`LocalDoc::take_unsaved`], for incremental persistence.
    saved_heads: Vec<ChangeHash>,
}

impl LocalDoc {
    fn new(kind: DocKind, actor: &ActorId) -> LocalDoc {
        LocalDoc {
            kind,
            doc: Automerge::new().with_actor(actor.clone()),
            outbox: Vec::new(),
            placement: None,
            unplaced: false,
            fallback: None,
            fallback_out: None,
            saved_heads: Vec::new(),
        }
    }

    /// Rebuilds a document from what the app persisted.
    pub fn restore(
        kind: DocKind,
        actor: &ActorId,
        chunks: &[Vec<u8>],
        outbox: Vec<ChangeHash>,
        placement: Option<NewDoc>,
        unplaced: bool,
    ) -> Result<LocalDoc, ClientError> {
        let mut d = LocalDoc::new(kind, actor);
        for c in chunks {
            if !crate::sync::known_chunks(c) {
                return Err(ClientError::BadAnswer {
                    doc: String::new(),
                    why: "stored bytes that are not Automerge chunks".into(),
                });
            }
            d.doc.load_incremental(c)?;
        }
        d.saved_heads = d.doc.get_heads();
        // An outbox entry whose change is missing cannot be sent; it would block nothing,
        // but it is dropped so the count shown to the user stays true.
        d.outbox = outbox
            .into_iter()
            .filter(|h| d.doc.get_change_by_hash(h).is_some())
            .collect();
        d.placement = placement;
        d.unplaced = unplaced;
        Ok(d)
    }

    /// Bytes to append to storage since the last call (`None` if nothing changed).
    pub fn take_unsaved(&mut self) -> Option<Vec<u8>> {
        let heads = self.doc.get_heads();
        if heads == self.saved_heads {
            return None;
        }
        let bytes = self.doc.save_after(&self.saved_heads);
        self.saved_heads = heads;
        Some(bytes)
    }

    /// The whole document, for compacting storage; `None` when Automerge would save it as
    /// bytes it cannot load again ([`crate::sync::checked_save`]): the stored chunks then
    /// stay as they are, and still load.
    pub fn snapshot(&mut self) -> Option<Vec<u8>> {
        let bytes = crate::sync::checked_save(&self.doc).ok()?;
        self.saved_heads = self.doc.get_heads();
        Some(bytes)
    }

    pub fn in_fallback(&self) -> bool {
        self.fallback.is_some()
    }

    fn start_fallback(&mut self) {
        let mut state = State::new();
        self.fallback_out = self.doc.generate_sync_message(&mut state);
        self.fallback = Some(state);
    }
}

/// What one answer changed on the device.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Applied {
    /// Documents whose content changed or that arrived.
    pub changed: BTreeSet<String>,
    /// Documents removed from the device (they left the user's scope).
    pub removed: BTreeSet<String>,
    /// Another round is needed at once (more changes waiting, changes left unsent, or a
    /// reconciliation under way).
    pub again: bool,
}

/// All documents on one device and their sync state.
#[derive(Debug, Clone)]
pub struct Replica {
    actor: ActorId,
    pub cursor: Option<String>,
    docs: BTreeMap<String, LocalDoc>,
    /// Documents the server refused to take changes for (403 out of scope or view only,
    /// 422 a wrong record). Their unsent changes stay on the device and are counted, but
    /// are not retried automatically — until the document is edited again.
    pub refused: BTreeSet<String>,
    /// Refused documents a resync has offered again (see [`Replica::apply`]); not
    /// persisted, so at most one more refusal per start of the app.
    reoffered: BTreeSet<String>,
}

impl Replica {
    pub fn new(actor: ActorId) -> Replica {
        Replica {
            actor,
            cursor: None,
            docs: BTreeMap::new(),
            refused: BTreeSet::new(),
            reoffered: BTreeSet::new(),
        }
    }

    pub fn actor(&self) -> &ActorId {
        &self.actor
    }

    /// Adds a document restored from storage.
    pub fn insert(&mut self, id: String, doc: LocalDoc) {
        self.docs.insert(id, doc);
    }

    pub fn get(&self, id: &str) -> Option<&LocalDoc> {
        self.docs.get(id)
    }

    pub fn get_mut(&mut self, id: &str) -> Option<&mut LocalDoc> {
        self.docs.get_mut(id)
    }

    pub fn ids(&self) -> impl Iterator<Item = &String> {
        self.docs.keys()
    }

    pub fn docs(&self) -> impl Iterator<Item = (&String, &LocalDoc)> {
        self.docs.iter()
    }

    /// Changes not yet on the server (what the sync indicator counts: 未送信 N件).
    pub fn pending(&self) -> usize {
        self.docs.values().map(|d| d.outbox.len()).sum()
    }

    /// Creates a new document with its header and skeleton.
    pub fn create(&mut self, id: &str, placement: NewDoc) -> Result<(), ClientError> {
        let mut d = LocalDoc::new(placement.kind.clone(), &self.actor);
        d.placement = Some(placement.clone());
        d.unplaced = true;
        self.docs.insert(id.to_string(), d);
        self.edit(id, |tx| doc::init(tx, &placement.kind))?;
        Ok(())
    }

    /// Runs `f` in one transaction on document `id`; the change (if any) joins the outbox.
    pub fn edit<R>(
        &mut self,
        id: &str,
        f: impl FnOnce(&mut Transaction<'_>) -> Result<R, CrdtError>,
    ) -> Result<R, ClientError> {
        let d = self
            .docs
            .get_mut(id)
            .ok_or_else(|| ClientError::NoDocument(id.to_string()))?;
        // A document refused for a wrong record (422) may pass once corrected: an edit
        // offers it again. (One refused for scope is refused again, once.)
        self.refused.remove(id);
        let mut tx = d.doc.transaction();
        match f(&mut tx) {
            Ok(r) => {
                let (hash, _) = tx.commit();
                if let Some(h) = hash {
                    d.outbox.push(h);
                }
                Ok(r)
            }
            Err(e) => {
                tx.rollback();
                Err(e.into())
            }
        }
    }

    /// The body of the next sync request.
    pub fn request(&mut self, app: &str) -> SyncRequest {
        let mut push = Vec::new();
        let mut budget = CLIENT_PUSH_BUDGET;
        let mut fallback = Vec::new();
        for (id, d) in self.docs.iter_mut() {
            if let Some(msg) = d.fallback_out.take() {
                fallback.push(FallbackMsg {
                    doc: id.clone(),
                    msg: Bytes(msg.encode()),
                });
            }
            // A document being reconciled is not pushed: the fallback carries every change
            // the server lacks, and a push beside it may wait for predecessors the fallback
            // has not delivered yet (409 `missing_deps`). Its outbox stays, and is sent (and
            // acknowledged) once the reconciliation has finished.
            if d.outbox.is_empty()
                || self.refused.contains(id)
                || d.fallback.is_some()
                || budget == 0
            {
                continue;
            }
            let mut changes = Vec::new();
            for h in &d.outbox {
                let Some(c) = d.doc.get_change_by_hash(h) else {
                    continue;
                };
                let bytes = c.raw_bytes().to_vec();
                // Base64 grows bytes by a third.
                let cost = bytes.len() * 4 / 3 + 8;
                if cost > budget && !changes.is_empty() {
                    budget = 0;
                    break;
                }
                budget = budget.saturating_sub(cost);
                changes.push(Bytes(bytes));
            }
            let create = if d.unplaced {
                d.placement.clone()
            } else {
                None
            };
            push.push(DocPush {
                doc: id.clone(),
                create,
                changes,
            });
        }
        SyncRequest {
            v: PROTOCOL_VERSION,
            cursor: self.cursor.clone(),
            app: app.to_string(),
            push,
            fallback,
        }
    }

    /// The request did not get an answer: reconciliations start their exchange again.
    pub fn request_failed(&mut self) {
        for d in self.docs.values_mut() {
            if d.fallback.is_some() {
                d.start_fallback();
            }
        }
    }

    /// The server refused these documents (403): keep their changes, stop sending them.
    /// Nothing of the refused request was stored, so reconciliations whose messages went
    /// with it start their exchange again, as after a lost request.
    pub fn refuse(&mut self, docs: &[String]) {
        self.refused.extend(docs.iter().cloned());
        self.request_failed();
    }

    /// The server lacks predecessors of the changes pushed for these documents (409
    /// `missing_deps`; nothing of the request was stored): reconcile them with the fallback,
    /// which carries the predecessors. They are not pushed while it runs ([`Replica::request`]);
    /// their outbox is kept and sent once it has finished. Reconciliations whose messages went
    /// with the refused request start again, as after a lost request.
    pub fn missing_deps(&mut self, docs: &[String]) {
        self.request_failed();
        for id in docs {
            if let Some(d) = self.docs.get_mut(id)
                && d.fallback.is_none()
            {
                d.start_fallback();
            }
        }
    }

    /// Takes the server's answer to `sent`.
    pub fn apply(
        &mut self,
        sent: &SyncRequest,
        resp: SyncResponse,
    ) -> Result<Applied, ClientError> {
        let mut out = Applied::default();

        // Everything sent is stored on the server (the answer comes after the commit).
        for p in &sent.push {
            if let Some(d) = self.docs.get_mut(&p.doc) {
                let acked: BTreeSet<ChangeHash> = p
                    .changes
                    .iter()
                    .filter_map(|b| Change::try_from(b.0.as_slice()).ok().map(|c| c.hash()))
                    .collect();
                d.outbox.retain(|h| !acked.contains(h));
                d.unplaced = false;
            }
        }

        for u in resp.docs {
            let actor = self.actor.clone();
            let d = self
                .docs
                .entry(u.doc.clone())
                .or_insert_with(|| LocalDoc::new(u.kind.clone(), &actor));
            if d.placement.is_none() {
                d.placement = u.placement.clone();
            }
            let before = d.doc.get_heads();
            for chunk in &u.chunks {
                if !crate::sync::known_chunks(&chunk.0) {
                    return Err(ClientError::BadAnswer {
                        doc: u.doc.clone(),
                        why: "a chunk that is not an Automerge document or change".into(),
                    });
                }
                d.doc
                    .load_incremental(&chunk.0)
                    .map_err(|e| ClientError::BadAnswer {
                        doc: u.doc.clone(),
                        why: e.to_string(),
                    })?;
            }
            if d.doc.get_heads() != before {
                out.changed.insert(u.doc.clone());
            }
            // Changes whose dependencies never arrived: reconcile this document.
            if d.fallback.is_none() && !d.doc.get_missing_deps(&[]).is_empty() {
                d.start_fallback();
            }
        }

        for id in resp.removed {
            self.remove_unless_pending(&id, &mut out);
        }

        let resynced = resp.resync.is_some();
        // The heads the server listed, checked once the answer is applied.
        let mut listed_heads: Vec<(String, Vec<String>)> = Vec::new();
        if let Some(scope) = resp.resync {
            let listed: BTreeSet<&str> = scope.iter().map(|e| e.doc.as_str()).collect();
            let gone: Vec<String> = self
                .docs
                .keys()
                .filter(|k| !listed.contains(k.as_str()))
                .cloned()
                .collect();
            for id in gone {
                let d = self.docs.get_mut(&id).expect("listed above");
                if d.placement.is_some() {
                    // The server may have lost it (restored from an older backup): offer it
                    // again, whole. If the server refuses, it stays here as refused work.
                    d.unplaced = true;
                    d.outbox = d.doc.get_changes(&[]).iter().map(Change::hash).collect();
                    // A refusal that came before this answer may only mean that the server
                    // no longer had the document: the first request to a restored server
                    // pushes changes made offline to it without `create`, and is refused
                    // (403) before the server can say it was restored. Offer it once more,
                    // now with its placement; a real refusal comes back the same way.
                    if self.refused.contains(&id) && self.reoffered.insert(id.clone()) {
                        self.refused.remove(&id);
                    }
                } else {
                    self.remove_unless_pending(&id, &mut out);
                }
            }
            for e in scope {
                // Listed, the document is in the user's scope on this server: a refusal
                // that came before may only mean that the server had lost it (another
                // device has since given it back). Offer it once more, as above.
                if self.refused.contains(&e.doc) && self.reoffered.insert(e.doc.clone()) {
                    self.refused.remove(&e.doc);
                }
                let actor = self.actor.clone();
                let d = self
                    .docs
                    .entry(e.doc.clone())
                    .or_insert_with(|| LocalDoc::new(e.kind.clone(), &actor));
                let mut mine: Vec<String> =
                    d.doc.get_heads().iter().map(|h| h.to_string()).collect();
                let mut theirs = e.heads.clone();
                mine.sort();
                theirs.sort();
                // A reconciliation already under way goes on: the resync is answered again
                // while the old cursor is kept, and starting over each time would never get
                // past the first message of the exchange.
                if mine != theirs && d.fallback.is_none() {
                    d.start_fallback();
                }
                listed_heads.push((e.doc.clone(), e.heads.clone()));
            }
        }

        for m in resp.fallback {
            let Some(d) = self.docs.get_mut(&m.doc) else {
                continue;
            };
            let msg = Message::decode(&m.msg.0).map_err(|e| ClientError::BadAnswer {
                doc: m.doc.clone(),
                why: e.to_string(),
            })?;
            let before = d.doc.get_heads();
            let state = d.fallback.get_or_insert_with(State::new);
            d.doc.receive_sync_message(state, msg)?;
            if d.doc.get_heads() != before {
                out.changed.insert(m.doc.clone());
            }
        }

        // Every document under reconciliation says what it still needs; one that has
        // nothing more to say is reconciled.
        for d in self.docs.values_mut() {
            if let Some(state) = d.fallback.as_mut()
                && d.fallback_out.is_none()
            {
                match d.doc.generate_sync_message(state) {
                    Some(msg) => d.fallback_out = Some(msg),
                    None if !state.in_flight => d.fallback = None,
                    None => {}
                }
            }
        }

        // After a resync the new cursor is taken only once reconciliation has finished. The
        // sync states of a reconciliation are not kept across a restart: a device closed in
        // the middle then still sends the old cursor, is answered with the resync again, and
        // finishes giving back what the restored server lacks.
        // Nor while a document lacks a head the server listed: a change stored after the
        // server answered a reconciliation, but before it read its counter, would
        // otherwise lie behind the new cursor, never to be sent.
        let reconciling = self
            .docs
            .iter()
            .any(|(id, d)| d.fallback.is_some() && !self.refused.contains(id));
        let mut behind = false;
        for (id, heads) in &listed_heads {
            let Some(d) = self.docs.get_mut(id) else {
                continue;
            };
            let lacks = heads.iter().any(|h| {
                h.parse::<ChangeHash>()
                    .map_or(true, |h| d.doc.get_change_by_hash(&h).is_none())
            });
            if lacks {
                behind = true;
                if d.fallback.is_none() {
                    d.start_fallback();
                }
            }
        }
        if !(resynced && (reconciling || behind)) {
            self.cursor = Some(resp.cursor);
        }
        let unsent = self.docs.iter().any(|(id, d)| {
            !d.outbox.is_empty() && !self.refused.contains(id) && d.fallback.is_none()
        });
        out.again = resp.more || unsent || self.docs.values().any(|d| d.fallback_out.is_some());
        Ok(out)
    }

    fn remove_unless_pending(&mut self, id: &str, out: &mut Applied) {
        let keep = self.docs.get(id).is_some_and(|d| !d.outbox.is_empty());
        if keep {
            // Unsent work is never thrown away: it stays, refused, for a person to see.
            self.refused.insert(id.to_string());
        } else if self.docs.remove(id).is_some() {
            out.removed.insert(id.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person() -> NewDoc {
        NewDoc {
            kind: DocKind::Person,
            district: Some("d".into()),
            salon: None,
        }
    }

    #[test]
    fn a_document_refused_for_missing_predecessors_is_reconciled_not_pushed() {
        let mut r = Replica::new(ActorId::random());
        r.create("p", person()).unwrap();
        r.create("q", person()).unwrap();
        r.get_mut("p").unwrap().unplaced = false;
        r.missing_deps(&["p".to_string()]);
        let req = r.request("test");
        assert_eq!(
            req.push.iter().map(|p| p.doc.as_str()).collect::<Vec<_>>(),
            ["q"],
            "only the other document is pushed"
        );
        assert_eq!(req.fallback.len(), 1);
        assert_eq!(req.fallback[0].doc, "p");
        // Nothing is dropped: the outbox waits for the end of the reconciliation.
        assert_eq!(r.get("p").unwrap().outbox.len(), 1);
        assert!(r.get("p").unwrap().in_fallback());
    }

    #[test]
    fn a_refused_document_that_a_resync_lists_is_offered_once_more() {
        // An answer of a restored server whose resync lists "p".
        let listing_p = || SyncResponse {
            v: PROTOCOL_VERSION,
            cursor: "c".into(),
            resync: Some(vec![crate::sync::ScopeEntry {
                doc: "p".into(),
                kind: DocKind::Person,
                heads: vec![],
            }]),
            ..Default::default()
        };
        // A restored server had lost "p" and refused a push to it (403); another device
        // then gave it back, so the resync lists it: the refusal was not a real one.
        let mut r = Replica::new(ActorId::random());
        r.create("p", person()).unwrap();
        r.get_mut("p").unwrap().unplaced = false;
        let sent = r.request("test");
        r.refuse(&["p".to_string()]);
        assert!(r.request("test").push.is_empty(), "refused: not pushed");
        r.apply(&sent, listing_p()).unwrap();
        assert!(!r.refused.contains("p"), "offered again");
        // A second refusal is a real one: it stays.
        r.refuse(&["p".to_string()]);
        r.apply(&sent, listing_p()).unwrap();
        assert!(r.refused.contains("p"), "refused for good");
    }
}
