//! The device's store: every document in memory (a `shared::client::Replica`), mirrored in
//! IndexedDB. A save commits one Automerge change, appends its bytes to IndexedDB and only
//! returns once that transaction has completed: the UI says 保存しました after that.
//!
//! The store lives in a thread-local (the browser's one thread); views read it through
//! [`with`] and re-render when [`Ctx::rev`] moves.

use crate::idb::{self, Write};
use automerge::{ActorId, ChangeHash};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use shared::api::{Directory, LoginResponse};
use shared::client::{LocalDoc, Replica};
use shared::codes::DocKind;
use shared::crdt::{Conflict, CrdtError};
use shared::sync::NewDoc;
use std::any::Any;
use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};
use std::rc::Rc;
use web_sys::IdbDatabase;

/// What the app calls itself in the server's device list.
pub const APP_VERSION: &str = concat!("mimamori-pwa/", env!("CARGO_PKG_VERSION"));

/// A compaction is due when a document has more stored chunks than this.
const COMPACT_AFTER: usize = 64;

/// The signed-in user on this device (stored in IndexedDB `meta/session`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Session {
    pub token: String,
    pub device_id: String,
    pub user: shared::api::UserInfo,
}

impl From<LoginResponse> for Session {
    fn from(r: LoginResponse) -> Self {
        Session {
            token: r.token,
            device_id: r.device_id,
            user: r.user,
        }
    }
}

/// Per-document bookkeeping stored beside its chunks.
#[derive(Debug, Default, Serialize, Deserialize)]
struct DocMeta {
    outbox: Vec<String>,
    placement: Option<NewDoc>,
    unplaced: bool,
}

/// A parsed document and the heads it was parsed at.
type Parsed = (Vec<ChangeHash>, Rc<dyn Any>);

pub struct Store {
    db: IdbDatabase,
    pub replica: Replica,
    pub session: Option<Session>,
    pub directory: Option<Directory>,
    /// Unix ms of the last completed sync.
    pub last_sync: Option<f64>,
    /// Chunks whose IndexedDB write failed: retried with the next write.
    unwritten: Vec<(String, Vec<u8>)>,
    /// Parsed documents, keyed by id, valid while the heads match.
    parsed: RefCell<HashMap<String, Parsed>>,
}

thread_local! {
    static STORE: RefCell<Option<Store>> = const { RefCell::new(None) };
}

#[derive(Debug, Clone)]
pub enum StoreError {
    /// IndexedDB refused the write (quota, private mode, another tab upgrading …).
    Storage(String),
    /// The change could not be made to the document.
    Edit(String),
    NotReady,
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::Storage(e) => write!(f, "storage: {e}"),
            StoreError::Edit(e) => write!(f, "edit: {e}"),
            StoreError::NotReady => f.write_str("the store is not open"),
        }
    }
}

impl From<idb::IdbError> for StoreError {
    fn from(e: idb::IdbError) -> Self {
        StoreError::Storage(e.0)
    }
}

/// Runs `f` with the store (`None` before it has opened).
pub fn with<R>(f: impl FnOnce(Option<&Store>) -> R) -> R {
    STORE.with(|s| f(s.borrow().as_ref()))
}

fn with_mut<R>(f: impl FnOnce(&mut Store) -> R) -> Result<R, StoreError> {
    STORE.with(|s| match s.borrow_mut().as_mut() {
        Some(st) => Ok(f(st)),
        None => Err(StoreError::NotReady),
    })
}

/// Runs `f` with the replica (`None` before the store has opened).
pub fn with_replica<R>(f: impl FnOnce(&mut Replica) -> R) -> Option<R> {
    with_mut(|s| f(&mut s.replica)).ok()
}

fn db() -> Result<IdbDatabase, StoreError> {
    with(|s| s.map(|s| s.db.clone())).ok_or(StoreError::NotReady)
}

fn meta_json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

/// Opens IndexedDB and loads every document into memory.
pub async fn open() -> Result<(), StoreError> {
    let db = idb::open().await?;
    let loaded = idb::load_all(&db).await?;
    let meta: HashMap<String, String> = loaded.meta.into_iter().collect();

    let actor = match meta.get("actor").and_then(|a| hex_decode(a)) {
        Some(bytes) => ActorId::from(bytes),
        None => {
            let a = ActorId::random();
            idb::write_all(
                &db,
                &[Write::Meta {
                    key: "actor",
                    value: &a.to_hex_string(),
                }],
            )
            .await?;
            a
        }
    };
    let mut replica = Replica::new(actor.clone());
    replica.cursor = meta
        .get("cursor")
        .and_then(|c| serde_json::from_str(c).ok());
    if let Some(r) = meta
        .get("refused")
        .and_then(|r| serde_json::from_str::<BTreeSet<String>>(r).ok())
    {
        replica.refused = r;
    }
    let mut compact = Vec::new();
    for (id, kind, m, chunks, keys) in loaded.docs {
        let m: DocMeta = serde_json::from_str(&m).unwrap_or_default();
        let outbox = m.outbox.iter().filter_map(|h| h.parse().ok()).collect();
        match LocalDoc::restore(
            DocKind::from_code(&kind),
            &actor,
            &chunks,
            outbox,
            m.placement,
            m.unplaced,
        ) {
            Ok(d) => {
                if keys.len() > COMPACT_AFTER {
                    compact.push((id.clone(), keys));
                }
                replica.insert(id, d);
            }
            // A document that cannot be read stays in storage untouched (nothing is
            // deleted); it is left out of memory so the rest of the app works.
            Err(e) => leptos::logging::warn!("document {id} could not be loaded: {e}"),
        }
    }
    let store = Store {
        db: db.clone(),
        replica,
        session: meta
            .get("session")
            .and_then(|s| serde_json::from_str(s).ok()),
        directory: meta
            .get("directory")
            .and_then(|s| serde_json::from_str(s).ok()),
        last_sync: meta.get("last_sync").and_then(|s| s.parse().ok()),
        unwritten: Vec::new(),
        parsed: RefCell::new(HashMap::new()),
    };
    STORE.with(|s| *s.borrow_mut() = Some(store));

    // Compaction: one snapshot replaces many small chunks, atomically.
    for (id, keys) in compact {
        let snap = with_mut(|s| s.replica.get_mut(&id).map(|d| d.snapshot()))?;
        if let Some(snap) = snap {
            idb::compact(&db, &id, &snap, &keys).await?;
        }
    }
    Ok(())
}

fn hex_decode(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// A document's new bytes and bookkeeping: (kind, chunk, meta JSON).
type DocWrite = (String, Vec<u8>, String);

/// The writes that persist documents `ids` as they are in memory now: new chunks and their
/// bookkeeping. Documents no longer in memory are deleted from storage.
fn persist_writes(s: &mut Store, ids: &BTreeSet<String>) -> Vec<(String, Option<DocWrite>)> {
    let mut out = Vec::new();
    for id in ids {
        match s.replica.get_mut(id) {
            Some(d) => {
                let bytes = d.take_unsaved().unwrap_or_default();
                let meta = DocMeta {
                    outbox: d.outbox.iter().map(|h| h.to_string()).collect(),
                    placement: d.placement.clone(),
                    unplaced: d.unplaced,
                };
                out.push((
                    id.clone(),
                    Some((d.kind.code().to_string(), bytes, meta_json(&meta))),
                ));
            }
            None => out.push((id.clone(), None)),
        }
    }
    out
}

/// Writes documents `ids` and the given meta entries in one IndexedDB transaction.
async fn persist(
    ids: BTreeSet<String>,
    meta: Vec<(&'static str, String)>,
) -> Result<(), StoreError> {
    let db = db()?;
    let (docs, retry) = with_mut(|s| {
        let docs = persist_writes(s, &ids);
        (docs, std::mem::take(&mut s.unwritten))
    })?;
    let mut writes = Vec::new();
    for (doc, bytes) in &retry {
        writes.push(Write::Chunk { doc, bytes });
    }
    for (id, d) in &docs {
        match d {
            Some((kind, bytes, m)) => {
                if !bytes.is_empty() {
                    writes.push(Write::Chunk { doc: id, bytes });
                }
                writes.push(Write::Doc { id, kind, meta: m });
            }
            None => writes.push(Write::DeleteDoc { id }),
        }
    }
    for (k, v) in &meta {
        writes.push(Write::Meta { key: k, value: v });
    }
    match idb::write_all(&db, &writes).await {
        Ok(()) => Ok(()),
        Err(e) => {
            // Keep the bytes in memory so that the next write carries them.
            let mut lost: Vec<(String, Vec<u8>)> = retry;
            for (id, d) in docs {
                if let Some((_, bytes, _)) = d
                    && !bytes.is_empty()
                {
                    lost.push((id, bytes));
                }
            }
            let _ = with_mut(|s| {
                lost.append(&mut s.unwritten);
                s.unwritten = lost;
            });
            Err(e.into())
        }
    }
}

/// Runs `f` in one transaction on document `id` and waits until the change is durable.
pub async fn save<R>(
    id: &str,
    f: impl FnOnce(&mut automerge::transaction::Transaction<'_>) -> Result<R, CrdtError>,
) -> Result<R, StoreError> {
    let perf = web_sys::window().and_then(|w| w.performance());
    if let Some(p) = &perf {
        let _ = p.mark("mimamori-save-start");
    }
    let r = with_mut(|s| {
        s.replica
            .edit(id, f)
            .map_err(|e| StoreError::Edit(e.to_string()))
    })??;
    persist(BTreeSet::from([id.to_string()]), Vec::new()).await?;
    // Save-to-durable time, as a Performance entry the benchmark reads.
    if let Some(p) = &perf {
        let _ = p.measure_with_start_mark("mimamori-save", "mimamori-save-start");
    }
    Ok(r)
}

/// Stores the session and directory after a log-in.
pub async fn set_session(session: Option<Session>) -> Result<(), StoreError> {
    let v = meta_json(&session);
    with_mut(|s| s.session = session)?;
    persist(BTreeSet::new(), vec![("session", v)]).await
}

pub async fn set_directory(dir: Directory) -> Result<(), StoreError> {
    let v = meta_json(&dir);
    with_mut(|s| s.directory = Some(dir))?;
    persist(BTreeSet::new(), vec![("directory", v)]).await
}

/// After a sync round: persist what changed, the cursor and the refused set.
pub async fn after_sync(touched: BTreeSet<String>, now: f64) -> Result<(), StoreError> {
    let (cursor, refused) = with_mut(|s| {
        s.last_sync = Some(now);
        (meta_json(&s.replica.cursor), meta_json(&s.replica.refused))
    })?;
    persist(
        touched,
        vec![
            ("cursor", cursor),
            ("refused", refused),
            ("last_sync", now.to_string()),
        ],
    )
    .await
}

/// Deletes everything of this device (log-out): memory, IndexedDB and the tile cache.
pub async fn wipe() -> Result<(), StoreError> {
    let db = db()?;
    STORE.with(|s| *s.borrow_mut() = None);
    db.close();
    idb::delete().await?;
    // The map tiles this user looked at hint at where they work: they go too.
    if let Some(caches) = web_sys::window().and_then(|w| w.caches().ok()) {
        let _ = wasm_bindgen_futures::JsFuture::from(caches.delete("mimamori-tiles")).await;
    }
    open().await
}

impl Store {
    pub fn user(&self) -> Option<&shared::api::UserInfo> {
        self.session.as_ref().map(|s| &s.user)
    }

    pub fn token(&self) -> Option<String> {
        self.session.as_ref().map(|s| s.token.clone())
    }

    /// Reads document `id` as `T` with its conflicts; parsed once per set of heads.
    pub fn read<T: DeserializeOwned + 'static>(&self, id: &str) -> Option<Rc<(T, Vec<Conflict>)>> {
        let d = self.replica.get(id)?;
        let heads = d.doc.get_heads();
        if let Some((h, v)) = self.parsed.borrow().get(id)
            && *h == heads
            && let Ok(v) = v.clone().downcast::<(T, Vec<Conflict>)>()
        {
            return Some(v);
        }
        let v: Rc<(T, Vec<Conflict>)> = Rc::new(shared::doc::read(&d.doc).ok()?);
        self.parsed
            .borrow_mut()
            .insert(id.to_string(), (heads, v.clone() as Rc<dyn Any>));
        Some(v)
    }

    /// Whether the document has changes not yet on the server.
    pub fn unsent(&self, id: &str) -> usize {
        self.replica.get(id).map_or(0, |d| d.outbox.len())
    }
}

/// The signed-in user's id (empty before log-in).
pub fn my_id() -> String {
    with(|s| s.and_then(|s| s.user().map(|u| u.id.clone()))).unwrap_or_default()
}

/// Whether this user may change document `doc`: viewing and editing are separate rights,
/// and the directory says which this user has (the server checks again on every sync).
pub fn can_edit(doc: &str) -> bool {
    with(|s| {
        s.and_then(|s| s.directory.as_ref()).is_none_or(|d| {
            d.docs
                .iter()
                .find(|e| e.doc == doc)
                .is_none_or(|e| e.can_edit)
        })
    })
}

/// Current time in Unix milliseconds.
pub fn now_ms() -> f64 {
    js_sys::Date::now()
}

/// Today in Japan.
pub fn today() -> shared::Date {
    shared::Date::from_unix_ms_jst(now_ms() as i64).unwrap_or_default()
}

/// A new record id: UUID v7 layout (time-ordered, random tail) from WebCrypto.
pub fn new_id() -> String {
    let mut b = [0u8; 16];
    let ok = web_sys::window()
        .and_then(|w| w.crypto().ok())
        .is_some_and(|c| c.get_random_values_with_u8_array(&mut b).is_ok());
    if !ok {
        for x in b.iter_mut() {
            *x = (js_sys::Math::random() * 256.0) as u8;
        }
    }
    let ms = now_ms() as u64;
    b[..6].copy_from_slice(&ms.to_be_bytes()[2..]);
    b[6] = (b[6] & 0x0f) | 0x70;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}
