//! The sync wire format (docs/sync-protocol.md is the normative description).
//!
//! One `POST /api/sync` carries the device's unacknowledged changes and its cursor; the
//! answer carries every change in the device's scope newer than the cursor, documents that
//! entered or left the scope, and a new cursor. Changes travel in Automerge's binary change
//! encoding (base64 in JSON), so any Automerge implementation can take part.

use crate::codes::DocKind;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub const PROTOCOL_VERSION: u32 = 1;
/// Largest request body the server reads (413 above it).
pub const MAX_REQUEST_BYTES: usize = 4 * 1024 * 1024;
/// What a client packs into one request at most, leaving room for the JSON around it.
pub const CLIENT_PUSH_BUDGET: usize = 2 * 1024 * 1024;
/// Largest single change the server accepts.
pub const MAX_CHANGE_BYTES: usize = 512 * 1024;
/// Roughly how many bytes of changes one answer carries before it says `more`.
pub const RESPONSE_BUDGET: usize = 1024 * 1024;
/// Most documents one request may name.
pub const MAX_DOCS_PER_REQUEST: usize = 5000;

/// Binary data, base64 (standard alphabet, padded) in JSON.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Bytes(pub Vec<u8>);

impl std::fmt::Debug for Bytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Bytes({} bytes)", self.0.len())
    }
}

impl Serialize for Bytes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        STANDARD
            .decode(s.as_bytes())
            .map(Bytes)
            .map_err(|_| serde::de::Error::custom("invalid base64"))
    }
}

impl From<Vec<u8>> for Bytes {
    fn from(v: Vec<u8>) -> Self {
        Bytes(v)
    }
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SyncRequest {
    /// [`PROTOCOL_VERSION`].
    pub v: u32,
    /// The cursor of the last answer this device applied; `null` on first sync.
    pub cursor: Option<String>,
    /// The app's version, shown in the device list.
    #[serde(default)]
    pub app: String,
    /// Changes not yet acknowledged, per document.
    #[serde(default)]
    pub push: Vec<DocPush>,
    /// Automerge sync-protocol messages, for documents whose histories need reconciling.
    #[serde(default)]
    pub fallback: Vec<FallbackMsg>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct DocPush {
    pub doc: String,
    /// Present when this device created the document and the server has not yet
    /// acknowledged it: where the document belongs.
    #[serde(default)]
    pub create: Option<NewDoc>,
    /// Each entry is one change in Automerge's binary encoding.
    pub changes: Vec<Bytes>,
}

/// Where a new document belongs. The server decides whether the user may create it there.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct NewDoc {
    pub kind: DocKind,
    /// The district of a person or map document.
    #[serde(default)]
    pub district: Option<String>,
    /// The salon of a salon document.
    #[serde(default)]
    pub salon: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct FallbackMsg {
    pub doc: String,
    /// An Automerge sync message (`automerge::sync::Message::encode`).
    pub msg: Bytes,
}

/// Why a sync request was refused before anything was written (docs/sync-protocol.md,
/// *What the server does*, step 2).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// 400 `bad_request`: wrong version, a bad document id, a change or sync message that
    /// does not decode.
    #[error("{0}")]
    Bad(String),
    /// 413 `too_large`: too many documents, or a change over [`MAX_CHANGE_BYTES`].
    #[error("{0}")]
    TooLarge(String),
}

/// One pushed document after [`check_request`]: every change with its hash (hex), in the
/// order sent; several entries for the same document are merged.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckedPush {
    pub doc: String,
    pub create: Option<NewDoc>,
    pub changes: Vec<(String, Vec<u8>)>,
}

/// A request that passed [`check_request`]: pushes by document id, and the decoded sync
/// messages in the order sent.
#[derive(Debug)]
pub struct CheckedRequest {
    pub push: Vec<CheckedPush>,
    pub fallback: Vec<(String, automerge::sync::Message)>,
}

/// A document id: `[A-Za-z0-9_-]{1,64}`.
pub fn valid_doc_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// What a decoded change must also be before it is stored; the error completes "change N
/// of document D …".
pub fn check_change(c: &automerge::Change, bytes: &[u8]) -> Result<(), String> {
    // Automerge does not check a change's checksum when decoding one on its own, only when
    // loading it into a document: a change with a wrong one would be stored, then break
    // the document's snapshot and every phone's load.
    if bytes.get(4..8) != Some(&c.hash().0[..4]) {
        return Err("has a wrong checksum".into());
    }
    // A change Automerge would encode differently gets another hash once it is part of a
    // saved document: the server's snapshot of the document would no longer load (its
    // heads differ). Only the canonical encoding is taken. (Automerge 0.12 panics
    // expanding a change whose operations name an actor it does not list: that change is
    // not a valid one either.)
    let again = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        automerge::Change::from(c.decode()).hash()
    }));
    if again.as_ref().ok() != Some(&c.hash()) {
        return Err("is not in Automerge's canonical encoding".into());
    }
    Ok(())
}

/// One change as sent, decoded. Only change chunks (types 1 and 2) are parsed: Automerge
/// 0.12 panics parsing some malformed bundle chunks (type 3; fuzz target `doc_load`), and
/// on some malformed changes (an actor index past `u32`; fuzz target `sync_request`),
/// which here are errors.
pub fn decode_change(bytes: &[u8]) -> Result<automerge::Change, String> {
    if !matches!(bytes.get(8), Some(1 | 2)) {
        return Err("not a change chunk".into());
    }
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        automerge::Change::try_from(bytes)
    }))
    .map_err(|_| "Automerge cannot read it".to_string())?
    .map_err(|e| e.to_string())
}

/// The chunks of a run of Automerge chunks, each as its type and its whole bytes (magic,
/// checksum, type, uLEB128 length, data); `None` when `bytes` is not such a run.
fn chunks(bytes: &[u8]) -> Option<Vec<(u8, &[u8])>> {
    const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
    let mut out = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        if rest.len() < 9 || rest[..4] != MAGIC {
            return None;
        }
        let (mut len, mut shift, mut at) = (0u64, 0u32, 9usize);
        loop {
            let &b = rest.get(at)?;
            if shift > 56 {
                return None;
            }
            len |= u64::from(b & 0x7f) << shift;
            shift += 7;
            at += 1;
            if b & 0x80 == 0 {
                break;
            }
        }
        let end = usize::try_from(len)
            .ok()
            .and_then(|n| at.checked_add(n))
            .filter(|e| *e <= rest.len())?;
        out.push((rest[8], &rest[..end]));
        rest = &rest[end..];
    }
    Some(out)
}

/// Whether `bytes` is a run of Automerge chunks of the kinds Mimamori stores and sends:
/// documents (type 0) and changes (1, 2). Checked before `load` / `load_incremental`,
/// because Automerge 0.12 panics parsing some malformed bundle chunks (type 3; fuzz
/// target `doc_load`), and in the app (wasm) a panic cannot be caught.
pub fn known_chunks(bytes: &[u8]) -> bool {
    chunks(bytes).is_some_and(|c| c.iter().all(|(kind, _)| *kind <= 2))
}

/// The changes a sync message carries, each on its own, decoded as [`decode_change`] does
/// (so malformed ones are left out, never a panic): a V1 message lists change chunks, a V2
/// message concatenates them into one. A whole saved document (a V2 message to a peer
/// with nothing) is left out: it holds its whole history, so nothing of it waits for a
/// predecessor. The server stores these even when they wait for predecessors it lost.
pub fn carried_changes(msg: &automerge::sync::Message) -> Vec<automerge::Change> {
    msg.changes
        .iter()
        .filter_map(chunks)
        .flatten()
        .filter(|(kind, _)| matches!(kind, 1 | 2))
        .filter_map(|(_, bytes)| decode_change(bytes).ok())
        .collect()
}

/// Most probes a Bloom filter of a sync message may ask for (Automerge writes 7).
const MAX_BLOOM_PROBES: u64 = 64;

/// Why the encoded Bloom filter of a sync message's `have` would make Automerge 0.12 fail
/// when it answers (found by the fuzz target `sync_binary`): with no bits it divides by
/// zero, and it allocates four bytes per probe, as many as the message says.
fn bloom_problem(bytes: &[u8]) -> Option<&'static str> {
    fn leb128(b: &mut &[u8]) -> Option<u64> {
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let (&byte, rest) = b.split_first()?;
            *b = rest;
            v |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }
    if bytes.is_empty() {
        return None; // no filter
    }
    let mut b = bytes;
    let (Some(_entries), Some(_bits_per_entry), Some(probes)) =
        (leb128(&mut b), leb128(&mut b), leb128(&mut b))
    else {
        return Some("a malformed Bloom filter");
    };
    if b.is_empty() {
        return Some("a Bloom filter without bits");
    }
    if probes == 0 || probes > MAX_BLOOM_PROBES {
        return Some("a Bloom filter with too many probes");
    }
    None
}

fn truncate(s: &str, max_chars: usize) -> String {
    s.chars().take(max_chars).collect()
}

/// Checks everything in a parsed `POST /api/sync` body before anything is written: the
/// version, the number of documents, every document id, every change (size, and that it
/// decodes as an Automerge change), every sync message. The server calls exactly this.
pub fn check_request(req: SyncRequest) -> Result<CheckedRequest, RequestError> {
    use std::collections::BTreeMap;
    if req.v != PROTOCOL_VERSION {
        return Err(RequestError::Bad(format!(
            "protocol version {} is not supported (this server speaks {PROTOCOL_VERSION})",
            req.v
        )));
    }
    if req.push.len() + req.fallback.len() > MAX_DOCS_PER_REQUEST {
        return Err(RequestError::TooLarge(format!(
            "at most {MAX_DOCS_PER_REQUEST} documents per request"
        )));
    }
    let mut pushes: BTreeMap<String, CheckedPush> = BTreeMap::new();
    for p in req.push {
        if !valid_doc_id(&p.doc) {
            return Err(RequestError::Bad(format!(
                "invalid document id {:?}",
                truncate(&p.doc, 80)
            )));
        }
        let entry = pushes.entry(p.doc.clone()).or_insert_with(|| CheckedPush {
            doc: p.doc.clone(),
            create: None,
            changes: vec![],
        });
        if p.create.is_some() {
            entry.create = p.create;
        }
        for (i, b) in p.changes.into_iter().enumerate() {
            if b.0.len() > MAX_CHANGE_BYTES {
                return Err(RequestError::TooLarge(format!(
                    "change {i} of document {} is over {MAX_CHANGE_BYTES} bytes",
                    p.doc
                )));
            }
            let c = decode_change(&b.0).map_err(|e| {
                RequestError::Bad(format!(
                    "change {i} of document {} is not an Automerge change: {e}",
                    p.doc
                ))
            })?;
            check_change(&c, &b.0).map_err(|why| {
                RequestError::Bad(format!("change {i} of document {} {why}", p.doc))
            })?;
            entry.changes.push((c.hash().to_string(), b.0));
        }
    }
    let mut fallback = Vec::new();
    for f in req.fallback {
        if !valid_doc_id(&f.doc) {
            return Err(RequestError::Bad(format!(
                "invalid document id {:?}",
                truncate(&f.doc, 80)
            )));
        }
        let m = automerge::sync::Message::decode(&f.msg.0).map_err(|e| {
            RequestError::Bad(format!(
                "the sync message for document {} cannot be read: {e}",
                f.doc
            ))
        })?;
        if let Some(why) = m
            .have
            .iter()
            .find_map(|h| bloom_problem(&h.bloom.to_bytes()))
        {
            return Err(RequestError::Bad(format!(
                "the sync message for document {} cannot be read: {why}",
                f.doc
            )));
        }
        fallback.push((f.doc, m));
    }
    Ok(CheckedRequest {
        push: pushes.into_values().collect(),
        fallback,
    })
}

/// Applies changes that came from outside (a device's push, a stored tail) to `doc`.
/// Automerge 0.12 panics on some changes that decode but reference an actor or an object
/// the document does not have (found by the fuzz targets `sync_request` and
/// `sync_binary`). Where panics unwind (the server) such a panic is caught here and
/// becomes an error; after an error `doc` must be dropped.
pub fn apply_untrusted(
    doc: &mut automerge::Automerge,
    changes: Vec<automerge::Change>,
) -> Result<(), String> {
    use std::panic::{AssertUnwindSafe, catch_unwind};
    match catch_unwind(AssertUnwindSafe(|| doc.apply_changes(changes))) {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("Automerge cannot apply them to the document".into()),
    }
}

/// What the server does with a device's pushed changes before storing them: applies them
/// to the document as stored ([`apply_untrusted`]), then saves the result and loads it
/// again, which must give the same heads. Automerge 0.12 applies some changes (a key put
/// twice in one change, found by the fuzz target `sync_binary`) that it then saves as a
/// document it cannot load (`MissingOps`): stored, such a change would have broken the
/// server's next snapshot of the document, and the phones' own compaction.
pub fn apply_pushed(
    doc: &mut automerge::Automerge,
    changes: Vec<automerge::Change>,
) -> Result<(), String> {
    apply_untrusted(doc, changes)?;
    reloads_the_same(doc)
}

/// Whether `doc`, saved and loaded again, has the same heads (the second half of
/// [`apply_pushed`]; the server also asks it of a document after a sync message).
pub fn reloads_the_same(doc: &automerge::Automerge) -> Result<(), String> {
    checked_save(doc)
        .map(|_| ())
        .map_err(|e| format!("the document saved with them {e}"))
}

/// `doc` saved whole, for a snapshot that replaces the chunks or changes it was made from —
/// only if the bytes load again with the same heads. Automerge 0.12 loads some documents
/// that it then saves as bytes it cannot load (`MismatchingHeads`, `MissingOps`; fuzz
/// targets `sync_binary` and `doc_load`): written over what it was made from, such a
/// snapshot would lose the document. On an error the caller keeps what it has. The error
/// completes "the document …".
pub fn checked_save(doc: &automerge::Automerge) -> Result<Vec<u8>, String> {
    use std::panic::{AssertUnwindSafe, catch_unwind};
    let heads = doc.get_heads();
    let saved = doc.save();
    let again = catch_unwind(AssertUnwindSafe(|| {
        automerge::Automerge::load(&saved).map(|d| d.get_heads())
    }));
    match again {
        Ok(Ok(h)) if h == heads => Ok(saved),
        Ok(Ok(_)) => Err("loads with other heads once saved".into()),
        Ok(Err(e)) => Err(format!("does not load once saved: {e}")),
        Err(_) => Err("does not load once saved".into()),
    }
}

/// [`apply_untrusted`] for a sync message: `doc` receives `msg` with `state`.
pub fn receive_untrusted(
    doc: &mut automerge::Automerge,
    state: &mut automerge::sync::State,
    msg: automerge::sync::Message,
) -> Result<(), String> {
    use automerge::sync::SyncDoc;
    use std::panic::{AssertUnwindSafe, catch_unwind};
    match catch_unwind(AssertUnwindSafe(|| doc.receive_sync_message(state, msg))) {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("Automerge cannot apply it to the document".into()),
    }
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SyncResponse {
    pub v: u32,
    /// Give this back in the next request.
    pub cursor: String,
    /// More changes are waiting: sync again at once.
    #[serde(default)]
    pub more: bool,
    /// Changes (or whole documents) for documents in scope.
    #[serde(default)]
    pub docs: Vec<DocUpdate>,
    /// Documents that left the device's scope: remove them from the device.
    #[serde(default)]
    pub removed: Vec<String>,
    #[serde(default)]
    pub fallback: Vec<FallbackMsg>,
    /// Set when the server cannot trust the cursor (a restored database, another server):
    /// every document in scope with the server's heads. The device reconciles each
    /// document whose heads differ through the sync protocol.
    #[serde(default)]
    pub resync: Option<Vec<ScopeEntry>>,
    /// The version of the directory (users, districts, salons, assignments); fetch
    /// `GET /api/directory` when it differs from the cached one.
    #[serde(default)]
    pub directory: i64,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct DocUpdate {
    pub doc: String,
    pub kind: DocKind,
    /// Where the document belongs; sent with whole documents (first delivery), so that any
    /// device holding it can offer it again to a server restored from an older backup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placement: Option<NewDoc>,
    /// Automerge chunks: single changes, or a whole saved document. Apply each with
    /// `load_incremental`.
    pub chunks: Vec<Bytes>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ScopeEntry {
    pub doc: String,
    pub kind: DocKind,
    /// The server's heads, as hex change hashes.
    pub heads: Vec<String>,
}

/// Every error answer of the API: `{"error": code, "message": text}`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ApiError {
    /// A stable code: `unauthorized`, `forbidden`, `bad_request`, `too_large`, `throttled`,
    /// `not_found`, `conflict`, `bad_gateway` (map tiles), `server`; for 401 also
    /// `revoked` (the device was signed out by its user or the office, or by too many wrong
    /// PINs: the device must wipe its local data) and `signed_out` (the password was changed
    /// elsewhere: sign in again, local data is kept); `wrong_pin` (403) for an unlock;
    /// `read_only` (403) for a push to a document the user may only view; `bad_rows` (400)
    /// for a roster import with broken rows (nothing imported; `rows` lists them);
    /// `invalid_record` (422) for a sync whose changes leave a record that cannot be read
    /// or breaks a rule (nothing stored; `records` lists them).
    /// `missing_deps` (409) for a push of changes whose predecessors the server lacks
    /// (nothing stored; `docs` and `missing` name them).
    pub error: String,
    pub message: String,
    /// For `forbidden` answers to a sync: the documents the user may not write or read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub docs: Vec<String>,
    /// For `wrong_pin` answers to an unlock: PIN attempts left before the device is wiped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempts_left: Option<u32>,
    /// For `bad_rows` answers to a roster import: each broken row, column and why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rows: Vec<crate::desk::ImportRowError>,
    /// For `invalid_record` answers to a sync: each record refused, where and why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub records: Vec<RecordError>,
    /// For `missing_deps` answers to a sync (409): per document, the predecessors of its
    /// pushed changes that the server does not hold.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<MissingDeps>,
}

/// A record a sync was refused for (`invalid_record`): the document, then where the
/// record is in it, the field, the rule and what is wrong ([`crate::check::Problem`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordError {
    pub doc: String,
    #[serde(flatten)]
    pub problem: crate::check::Problem,
}

/// The predecessors a push for `doc` lacks on the server (hex change hashes).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MissingDeps {
    pub doc: String,
    pub hashes: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_are_base64_and_garbage_is_an_error() {
        let r = DocPush {
            doc: "d".into(),
            create: None,
            changes: vec![Bytes(vec![0, 1, 2, 255])],
        };
        let s = serde_json::to_string(&r).unwrap();
        assert!(s.contains("\"AAEC/w==\""), "{s}");
        assert_eq!(serde_json::from_str::<DocPush>(&s).unwrap(), r);
        assert!(serde_json::from_str::<DocPush>(r#"{"doc":"d","changes":["***"]}"#).is_err());
    }

    #[test]
    fn a_minimal_request_parses() {
        let r: SyncRequest = serde_json::from_str(r#"{"v":1,"cursor":null}"#).unwrap();
        assert!(r.push.is_empty() && r.cursor.is_none());
    }

    /// Gives a change chunk the checksum its contents have (what the fuzz target
    /// `sync_binary` does), so that a test reaches the checks after the checksum's.
    fn fix_checksum(c: &mut [u8]) {
        let hash = automerge::Change::try_from(&*c).unwrap().hash();
        c[4..8].copy_from_slice(&hash.0[..4]);
    }

    fn from_hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// Found by the fuzz target `sync_binary` (fuzz/regressions/sync_binary-unknown-actor.bin):
    /// a change that decodes, passes `check_request`, and makes Automerge 0.12 panic when it
    /// is applied (an actor the document does not know). Stored, it would have made the
    /// document unloadable on the server and crashed every phone it reached.
    #[test]
    fn a_change_automerge_panics_on_is_an_error() {
        let mut change = from_hex(concat!(
            "856f4a83a2e433b001a701007761746368090909090909090909feffff1f0909090101000000080106",
            "020615603401420456055707700200057f00000500057f05000575046b696e6406736368656d610763",
            "6f6e73656e740d636f6e73756c746174696f6e7309656d657267656e63ad20e4b880e9838e32303236",
            "2d31312d3238e5a489e30909010100000008010602061500040801020205151b344142055609572970",
            "00856f4a83a2e40233b0010500a7",
        ));
        // With its checksum made right (the fuzz target `sync_binary` does the same), so
        // that it passes `check_request`.
        let hash = automerge::Change::try_from(change.as_slice())
            .unwrap()
            .hash();
        change[4..8].copy_from_slice(&hash.0[..4]);
        let req = SyncRequest {
            v: PROTOCOL_VERSION,
            push: vec![DocPush {
                doc: "doc-1".into(),
                create: None,
                changes: vec![Bytes(change.clone())],
            }],
            ..Default::default()
        };
        let checked = check_request(req).unwrap();
        assert_eq!(checked.push[0].changes.len(), 1);
        let c = automerge::Change::try_from(change.as_slice()).unwrap();
        let mut doc = automerge::Automerge::new();
        assert!(apply_untrusted(&mut doc, vec![c]).is_err());
    }

    #[test]
    fn good_changes_and_messages_apply() {
        use automerge::sync::SyncDoc;
        let mut a = automerge::Automerge::new();
        let mut tx = a.transaction();
        crate::doc::init(&mut tx, &DocKind::Person).unwrap();
        tx.commit();
        let mut b = automerge::Automerge::new();
        apply_untrusted(&mut b, a.get_changes(&[])).unwrap();
        assert_eq!(a.get_heads(), b.get_heads());
        let msg = a
            .generate_sync_message(&mut automerge::sync::State::new())
            .unwrap();
        receive_untrusted(&mut b, &mut automerge::sync::State::new(), msg).unwrap();
    }

    fn a_real_change() -> Vec<u8> {
        let mut d = automerge::Automerge::new();
        let mut tx = d.transaction();
        crate::doc::init(&mut tx, &DocKind::Person).unwrap();
        tx.commit();
        d.get_changes(&[])[0].raw_bytes().to_vec()
    }

    fn push(changes: Vec<Vec<u8>>) -> SyncRequest {
        SyncRequest {
            v: PROTOCOL_VERSION,
            push: vec![DocPush {
                doc: "doc-1".into(),
                create: None,
                changes: changes.into_iter().map(Bytes).collect(),
            }],
            ..Default::default()
        }
    }

    /// Found by the fuzz target `sync_request`
    /// (fuzz/regressions/sync_request-wrong-checksum-breaks-snapshot.json): a change whose
    /// checksum does not match decodes and applies, but the document saved with it no
    /// longer loads (the server's compaction) and a phone's `load_incremental` refuses it.
    #[test]
    fn a_change_with_a_wrong_checksum_is_refused() {
        let good = a_real_change();
        assert!(check_request(push(vec![good.clone()])).is_ok());
        let mut bad = good.clone();
        bad[4] ^= 1;
        let err = check_request(push(vec![bad])).unwrap_err();
        assert!(
            matches!(&err, RequestError::Bad(m) if m.contains("checksum")),
            "{err:?}"
        );
    }

    /// Found by the fuzz target `sync_binary`
    /// (fuzz/regressions/sync_binary-bloom-filter-without-bits.bin): a sync message whose
    /// Bloom filter has entries but no bits decodes, and Automerge 0.12 divides by zero
    /// when it answers it. Too many probes would make it allocate gigabytes.
    #[test]
    fn a_sync_message_with_a_broken_bloom_filter_is_refused() {
        let msg = from_hex(concat!(
            "4201195feee93016f4f023b9801320c8da4b1de485c70e3a4bfffefffb0239f1c5b40001000602",
            "00000000000000000000c5b400010084",
        ));
        let m = automerge::sync::Message::decode(&msg).unwrap();
        assert!(!m.have.is_empty());
        let req = SyncRequest {
            v: PROTOCOL_VERSION,
            fallback: vec![FallbackMsg {
                doc: "doc-1".into(),
                msg: Bytes(msg),
            }],
            ..Default::default()
        };
        let err = check_request(req).unwrap_err();
        assert!(
            matches!(&err, RequestError::Bad(m) if m.contains("Bloom")),
            "{err:?}"
        );
        assert_eq!(
            bloom_problem(&[1, 10, 0xff, 0xff, 0xff, 0xff, 0x0f, 0]),
            Some("a Bloom filter with too many probes")
        );
        assert_eq!(bloom_problem(&[]), None);
        assert_eq!(bloom_problem(&[1, 10, 7, 0, 0]), None);
    }

    /// Found by the fuzz target `sync_binary`
    /// (fuzz/regressions/sync_binary-non-canonical-change-breaks-snapshot.bin): two changes
    /// with right checksums that apply, but one is not encoded as Automerge encodes it;
    /// saved in a document it gets another hash, and the saved document no longer loads
    /// (mismatching heads): the server's snapshot would have broken the document.
    #[test]
    fn a_change_not_in_canonical_encoding_is_refused() {
        let mut changes = vec![
            from_hex(concat!(
                "856f4a83a2e433b001a7010010090909090909090909090909090909090101000000080106020615",
                "603401420456055707700200057f00000500057f05000575046b696e6406736368656d6107636f6e",
                "73656e740d6f636e73756c746174696f6e7309656d657267656e637908636f6e74616374730a6576",
                "61636c6174696f6e09666f6c6c6f777570730770726f66696c65067669736974730577617463680b",
                "020109007e62140900706572736f6e010b00",
            )),
            from_hex(concat!(
                "856f4a83195feee901a40101a2e433b0828fffdaba9a2a7554adecdce20cedec33274cb13ced73de",
                "4d58267f1009090909090909090909090909090909020c0000000801020205151b34014205560957",
                "29700205007e090a030d7b046e616d650276320464617465046e6f7465076f7574636f6d65057e01",
                "0003017bd60100a601f60136e794b0e4b8ad20e4b880e9838e323032362d31312d3238e5a489e382",
                "8fe3828ae381aae381976d65740500",
            )),
        ];
        changes.iter_mut().for_each(|c| fix_checksum(c));
        let err = check_request(push(changes)).unwrap_err();
        assert!(
            matches!(&err, RequestError::Bad(m) if m.contains("canonical")),
            "{err:?}"
        );
    }

    /// Found by the fuzz target `sync_binary`
    /// (fuzz/regressions/sync_binary-decode-unknown-actor-index.bin): a change whose
    /// operations name an actor index its actor table does not have. Expanding it (the
    /// canonical-encoding check) panicked in Automerge 0.12; it is refused instead.
    #[test]
    fn a_change_naming_an_unlisted_actor_is_refused() {
        let mut changes = vec![
            from_hex(concat!(
                "856f4a83a2e433b001a7010010090909090909090909090909090909090101000000080106020615",
                "603401420456055707700200057f00000500057f05000575046b696e6406736368656d6107636f6e",
                "73656e740d636f6e73756c746174696f6e7309656d657267656e637908636f6e74616374730a6576",
                "6163756174696f6e09666f6c6c6f777570730776697369747365067669736974730577617463680b",
                "020109007e66140900706572736f6e010b00",
            )),
            from_hex(concat!(
                "856f4a83195feee901a40101a2e401000028ffdaba9a2a7554adecdce20cedec33274cb13ced73de",
                "4d58267f1009090909090909090909090909090909020c0000000801020205151b34014205560957",
                "297002052a7e090a030d7b046e616d650276310464617465046e6f7465076f7574636f6d65057e01",
                "0003017bd60100a601f60136e794b0e4b8ad20e4b880e9838e323032362d31312d3238e5a489e382",
                "8fe3828ae381aae381976d65740500",
            )),
        ];
        changes.iter_mut().for_each(|c| fix_checksum(c));
        let err = check_request(push(changes)).unwrap_err();
        assert!(matches!(err, RequestError::Bad(_)), "{err:?}");
    }

    /// Found by the fuzz target `sync_request`
    /// (fuzz/regressions/sync_request-change-decode-actor-overflow.json): decoding one of
    /// its changes panicked inside Automerge 0.12 (`OpId::new`, an actor index past u32).
    #[test]
    fn a_change_automerge_panics_decoding_is_refused() {
        let body =
            include_bytes!("../../fuzz/regressions/sync_request-change-decode-actor-overflow.json");
        let req: SyncRequest = serde_json::from_slice(body).unwrap();
        assert!(matches!(check_request(req), Err(RequestError::Bad(_))));
    }

    /// Found by the fuzz target `doc_load` (fuzz/regressions/doc_load-bundle-chunk-panics.bin):
    /// Automerge 0.12 panics parsing this bundle chunk; as a pushed change it is refused
    /// before Automerge parses it.
    #[test]
    fn a_bundle_chunk_is_not_a_change() {
        let input = include_bytes!("../../fuzz/regressions/doc_load-bundle-chunk-panics.bin");
        assert!(decode_change(&input[1..]).is_err());
        assert!(!known_chunks(&input[1..]));
        assert!(decode_change(&a_real_change()).is_ok());
    }

    /// Found by the fuzz target `doc_load`
    /// (fuzz/regressions/doc_load-mismatching-heads-after-save.bin): a document that
    /// Automerge 0.12 loads, but saves as bytes that no longer load (`MismatchingHeads`).
    /// Compacted into such a snapshot, the server's changes or the phone's stored chunks
    /// would have been replaced by an unloadable document; the snapshot is refused and the
    /// chunks it would have replaced still load.
    #[test]
    fn a_document_that_saves_unloadable_is_not_compacted() {
        let input =
            include_bytes!("../../fuzz/regressions/doc_load-mismatching-heads-after-save.bin");
        let end = input
            .windows(4)
            .position(|w| w == b"MMFZ")
            .unwrap_or(input.len());
        let chunk = input[1..end].to_vec();
        assert!(known_chunks(&chunk));
        let doc = automerge::Automerge::load(&chunk).expect("Automerge loads it");
        assert!(automerge::Automerge::load(&doc.save()).is_err());
        let err = checked_save(&doc).unwrap_err();
        assert!(err.contains("does not load once saved"), "{err}");
        assert!(reloads_the_same(&doc).is_err());

        let actor = automerge::ActorId::from(&[1u8; 16][..]);
        let chunks = vec![chunk];
        let kind = crate::codes::DocKind::Person;
        let mut d =
            crate::client::LocalDoc::restore(kind.clone(), &actor, &chunks, vec![], None, false)
                .expect("the phone restores it from its chunks");
        assert_eq!(d.snapshot(), None, "no snapshot to compact into");
        let again = crate::client::LocalDoc::restore(kind, &actor, &chunks, vec![], None, false)
            .expect("the chunks, kept, still restore");
        assert_eq!(again.doc.get_heads(), d.doc.get_heads());

        let mut fine = automerge::Automerge::new();
        fine.apply_changes([automerge::Change::try_from(a_real_change().as_slice()).unwrap()])
            .unwrap();
        let saved = checked_save(&fine).expect("an ordinary document saves");
        assert_eq!(
            automerge::Automerge::load(&saved).unwrap().get_heads(),
            fine.get_heads()
        );
    }

    /// Found by the fuzz target `sync_binary`
    /// (fuzz/regressions/sync_binary-panic-cannot-unwind.bin): its first piece is a change
    /// that makes Automerge 0.12 panic while decoding (`OpId::new`, an actor index past
    /// `u32`). The fuzz target's own checksum repair decoded it unguarded and crashed; every
    /// decoder of outside changes goes through [`decode_change`], which refuses it.
    #[test]
    fn a_change_that_panics_automerge_decoding_is_an_error() {
        let input = include_bytes!("../../fuzz/regressions/sync_binary-panic-cannot-unwind.bin");
        let end = input.windows(4).position(|w| w == b"MMFZ").unwrap();
        let change = &input[1..end];
        assert!(
            std::panic::catch_unwind(|| automerge::Change::try_from(change)).is_err(),
            "Automerge 0.12 panics decoding it"
        );
        assert!(decode_change(change).is_err());
        assert!(matches!(
            check_request(push(vec![change.to_vec()])),
            Err(RequestError::Bad(_))
        ));
    }

    /// Found by the fuzz target `sync_binary`
    /// (fuzz/regressions/sync_binary-saved-document-missing-ops.bin): changes that
    /// Automerge applies, but the document saved with them no longer loads (`MissingOps`).
    #[test]
    fn changes_that_break_the_saved_document_are_refused() {
        let input =
            include_bytes!("../../fuzz/regressions/sync_binary-saved-document-missing-ops.bin");
        let mut pieces = Vec::new();
        let mut rest: &[u8] = input;
        while let Some(i) = rest.windows(4).position(|w| w == b"MMFZ") {
            pieces.push(&rest[..i]);
            rest = &rest[i + 4..];
        }
        pieces.push(rest);
        let mut changes = Vec::new();
        for piece in pieces {
            if piece.first() == Some(&0) {
                let mut c = piece[1..].to_vec();
                fix_checksum(&mut c);
                changes.push(c);
            }
        }
        let checked = check_request(push(changes)).unwrap();
        let decoded: Vec<_> = checked.push[0]
            .changes
            .iter()
            .map(|(_, b)| automerge::Change::try_from(b.as_slice()).unwrap())
            .collect();
        // Applying alone succeeds; the round trip is what fails.
        let mut plain = automerge::Automerge::new();
        apply_untrusted(&mut plain, decoded.clone()).unwrap();
        let mut doc = automerge::Automerge::new();
        let err = apply_pushed(&mut doc, decoded).unwrap_err();
        assert!(
            err.contains("does not load") || err.contains("other heads"),
            "{err}"
        );
        // Real changes pass.
        let good = automerge::Change::try_from(a_real_change().as_slice()).unwrap();
        apply_pushed(&mut automerge::Automerge::new(), vec![good]).unwrap();
    }
}
