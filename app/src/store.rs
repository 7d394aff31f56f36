//! The device's store: every document in memory (a `shared::client::Replica`), mirrored in
//! IndexedDB. A save commits one Automerge change, appends its bytes to IndexedDB and only
//! returns once that transaction has completed: the UI says 保存しました after that.
//!
//! The store lives in a thread-local (the browser's one thread); views read it through
//! [`with`] and re-render when [`Ctx::rev`] moves.

use crate::idb::{self, Write};
use crate::{crypto, lock};
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
    pub replica: Replica,
    pub session: Option<Session>,
    pub directory: Option<Directory>,
    /// Unix ms of the last completed sync.
    pub last_sync: Option<f64>,
    /// Chunks whose IndexedDB write failed: retried with the next write.
    unwritten: Vec<(String, Vec<u8>)>,
    /// Parsed documents, keyed by id, valid while the heads match.
    parsed: RefCell<HashMap<String, Parsed>>,
    /// Small sealed values by name (staff reads to report, the evacuation roster …).
    pub extra: HashMap<String, String>,
}

thread_local! {
    static DB: RefCell<Option<IdbDatabase>> = const { RefCell::new(None) };
    static STORE: RefCell<Option<Store>> = const { RefCell::new(None) };
    /// The last write started: each write waits for the one before, so that writes land
    /// in the order they were built even though sealing them is asynchronous.
    static LAST_WRITE: RefCell<Option<js_sys::Promise>> = const { RefCell::new(None) };
}

#[derive(Debug, Clone)]
pub enum StoreError {
    /// IndexedDB refused the write (quota, private mode, another tab upgrading …).
    Storage(String),
    /// The change could not be made to the document.
    Edit(String),
    /// The app is locked (no data key in memory) or the store is not open.
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

impl From<crypto::CryptoError> for StoreError {
    fn from(e: crypto::CryptoError) -> Self {
        StoreError::Storage(e.0)
    }
}

/// Runs `f` with the store (`None` while locked or before it has opened).
pub fn with<R>(f: impl FnOnce(Option<&Store>) -> R) -> R {
    STORE.with(|s| f(s.borrow().as_ref()))
}

fn with_mut<R>(f: impl FnOnce(&mut Store) -> R) -> Result<R, StoreError> {
    STORE.with(|s| match s.borrow_mut().as_mut() {
        Some(st) => Ok(f(st)),
        None => Err(StoreError::NotReady),
    })
}

/// Runs `f` with the replica (`None` while locked or before the store has opened).
pub fn with_replica<R>(f: impl FnOnce(&mut Replica) -> R) -> Option<R> {
    with_mut(|s| f(&mut s.replica)).ok()
}

fn db() -> Result<IdbDatabase, StoreError> {
    DB.with(|d| d.borrow().clone()).ok_or(StoreError::NotReady)
}

fn key() -> Result<web_sys::CryptoKey, StoreError> {
    lock::data_key().ok_or(StoreError::NotReady)
}

fn meta_json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

// What each sealed value is bound to (AES-GCM additional data): a value moved to another
// place in the database does not open.
fn chunk_aad(doc: &str) -> Vec<u8> {
    format!("chunk:{doc}").into_bytes()
}
fn doc_aad(doc: &str) -> Vec<u8> {
    format!("doc:{doc}").into_bytes()
}
fn meta_aad(key: &str) -> Vec<u8> {
    format!("meta:{key}").into_bytes()
}

const LOCK_KEY: &str = "lock";

/// Opens IndexedDB and reads the lock record (nothing else can be read before unlock).
/// Data without a lock record cannot be opened by anyone: it is deleted.
pub async fn open_db() -> Result<Option<lock::LockInfo>, StoreError> {
    let db = idb::open().await?;
    let mut info = idb::get_plain(&db, LOCK_KEY)
        .await?
        .and_then(|s| serde_json::from_str::<lock::LockInfo>(&s).ok());
    // The sealed data key lives in the keyring: without it nothing can be opened.
    if let Some(i) = info.as_mut()
        && !lock::load_keyring(i).await
    {
        info = None;
    }
    if info.is_none() && !idb::is_empty(&db).await? {
        db.close();
        idb::delete().await?;
        let db = idb::open().await?;
        DB.with(|d| *d.borrow_mut() = Some(db));
    } else {
        DB.with(|d| *d.borrow_mut() = Some(db));
    }
    if info.is_none() {
        lock::delete_keyring().await;
    }
    lock::set_info(info.clone());
    Ok(info)
}

/// Stores the lock record as it is in memory.
pub async fn save_lock() -> Result<(), StoreError> {
    let Some(info) = lock::info() else {
        return Ok(());
    };
    let v = meta_json(&info);
    ordered_write(
        Vec::new(),
        Vec::new(),
        vec![(LOCK_KEY.to_string(), None, Some(v))],
    )
    .await
}

/// Unlocked: loads and opens every document and value into memory.
pub async fn load() -> Result<(), StoreError> {
    let db = db()?;
    let key = key()?;
    let loaded = idb::load_all(&db).await?;

    // Start every decryption at once (the browser runs them off the main thread), then
    // collect them in order.
    let metas: Vec<_> = loaded
        .sealed
        .iter()
        .map(|(k, v)| crypto::start_open(&key, &meta_aad(k), v))
        .collect();
    let docs: Vec<_> = loaded
        .docs
        .iter()
        .map(|(id, _, m, chunks, _)| {
            let aad = chunk_aad(id);
            (
                crypto::start_open(&key, &doc_aad(id), m),
                chunks
                    .iter()
                    .map(|c| crypto::start_open(&key, &aad, c))
                    .collect::<Vec<_>>(),
            )
        })
        .collect();
    let mut meta: HashMap<String, String> = HashMap::new();
    for ((k, _), p) in loaded.sealed.iter().zip(metas) {
        match crypto::finish_open(p).await {
            Ok(v) => {
                meta.insert(k.clone(), String::from_utf8(v).unwrap_or_default());
            }
            Err(e) => leptos::logging::warn!("value {k} could not be opened: {e}"),
        }
    }

    let actor = match meta.get("actor").and_then(|a| crypto::unhex(a)) {
        Some(bytes) => ActorId::from(bytes),
        None => {
            let a = ActorId::random();
            seal_write(vec![("actor".into(), a.to_hex_string())]).await?;
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
    'docs: for ((id, kind, _, _, keys), (mp, cps)) in loaded.docs.into_iter().zip(docs) {
        let m: DocMeta = match crypto::finish_open(mp).await {
            Ok(m) => serde_json::from_slice(&m).unwrap_or_default(),
            Err(e) => {
                leptos::logging::warn!("document {id} could not be opened: {e}");
                continue;
            }
        };
        let mut chunks = Vec::with_capacity(cps.len());
        for p in cps {
            match crypto::finish_open(p).await {
                Ok(c) => chunks.push(c),
                // A chunk that does not open stays in storage untouched (nothing is
                // deleted); the document is left out of memory so the rest works.
                Err(e) => {
                    leptos::logging::warn!("document {id} could not be opened: {e}");
                    continue 'docs;
                }
            }
        }
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
            Err(e) => leptos::logging::warn!("document {id} could not be loaded: {e}"),
        }
    }
    let take = |k: &str| meta.get(k).cloned();
    let store = Store {
        replica,
        session: take("session").and_then(|s| serde_json::from_str(&s).ok()),
        directory: take("directory").and_then(|s| serde_json::from_str(&s).ok()),
        last_sync: take("last_sync").and_then(|s| s.parse().ok()),
        unwritten: Vec::new(),
        parsed: RefCell::new(HashMap::new()),
        extra: meta
            .iter()
            .filter(|(k, _)| k.starts_with("x."))
            .map(|(k, v)| (k[2..].to_string(), v.clone()))
            .collect(),
    };
    STORE.with(|s| *s.borrow_mut() = Some(store));

    // Compaction: one snapshot replaces many small chunks, atomically.
    for (id, keys) in compact {
        let snap = with_mut(|s| s.replica.get_mut(&id).and_then(|d| d.snapshot()))?;
        if let Some(snap) = snap {
            let sealed = crypto::seal(&key, &chunk_aad(&id), &snap).await?;
            idb::compact(&db, &id, &sealed, &keys).await?;
        }
    }
    Ok(())
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

/// A sealed document write: (id, Some((kind, sealed chunk or empty, sealed meta))) or
/// (id, None) to delete it.
type SealedDoc = (String, Option<(String, Vec<u8>, Vec<u8>)>);
/// A meta write: (key, sealed value, plain value); neither means delete.
type MetaWrite = (String, Option<Vec<u8>>, Option<String>);
/// Everything one write carries, sealed: extra chunks, documents, meta values.
type SealedWrite = (Vec<(String, Vec<u8>)>, Vec<SealedDoc>, Vec<MetaWrite>);

/// Writes in the order callers started them (see `LAST_WRITE`), in one transaction.
async fn ordered_write(
    chunks: Vec<(String, Vec<u8>)>,
    docs: Vec<SealedDoc>,
    meta: Vec<MetaWrite>,
) -> Result<(), StoreError> {
    ordered(async move {
        let db = db()?;
        let mut writes = Vec::new();
        for (doc, bytes) in &chunks {
            writes.push(Write::Chunk { doc, bytes });
        }
        for (id, d) in &docs {
            match d {
                Some((kind, chunk, m)) => {
                    if !chunk.is_empty() {
                        writes.push(Write::Chunk {
                            doc: id,
                            bytes: chunk,
                        });
                    }
                    writes.push(Write::Doc { id, kind, meta: m });
                }
                None => writes.push(Write::DeleteDoc { id }),
            }
        }
        for (k, sealed, plain) in &meta {
            writes.push(match (sealed, plain) {
                (Some(v), _) => Write::Meta { key: k, value: v },
                (None, Some(v)) => Write::PlainMeta { key: k, value: v },
                (None, None) => Write::DeleteMeta { key: k },
            });
        }
        Ok(idb::write_all(&db, &writes).await?)
    })
    .await
}

/// Runs `f` after every write started before it has finished.
async fn ordered<F: std::future::Future<Output = Result<(), StoreError>>>(
    f: F,
) -> Result<(), StoreError> {
    let mut resolve: Option<js_sys::Function> = None;
    let mine = js_sys::Promise::new(&mut |r, _| resolve = Some(r));
    let before = LAST_WRITE.with(|l| l.borrow_mut().replace(mine));
    if let Some(p) = before {
        let _ = wasm_bindgen_futures::JsFuture::from(p).await;
    }
    let r = f.await;
    if let Some(done) = resolve {
        let _ = done.call0(&wasm_bindgen::JsValue::NULL);
    }
    r
}

/// Seals meta values and writes them.
async fn seal_write(meta: Vec<(String, String)>) -> Result<(), StoreError> {
    let key = key()?;
    let started: Vec<_> = meta
        .iter()
        .map(|(k, v)| crypto::start_seal(&key, &meta_aad(k), v.as_bytes()))
        .collect::<Result<_, _>>()?;
    let mut out = Vec::new();
    for ((k, _), s) in meta.into_iter().zip(started) {
        out.push((k, Some(crypto::finish_seal(s).await?), None));
    }
    ordered_write(Vec::new(), Vec::new(), out).await
}

/// Writes documents `ids` and the given meta entries in one IndexedDB transaction, every
/// value sealed with the data key; the lock record's unsent count goes with them.
async fn persist(
    ids: BTreeSet<String>,
    meta: Vec<(&'static str, String)>,
) -> Result<(), StoreError> {
    let key = key()?;
    let (docs, retry, unsent) = with_mut(|s| {
        let docs = persist_writes(s, &ids);
        (docs, std::mem::take(&mut s.unwritten), s.replica.pending())
    })?;
    lock::update(|i| i.unsent = unsent);
    let lock_value = lock::info().map(|i| meta_json(&i));
    // Seal everything, all at once.
    let result: Result<SealedWrite, StoreError> = async {
        let mut started = Vec::new();
        for (doc, bytes) in &retry {
            started.push((
                doc.clone(),
                crypto::start_seal(&key, &chunk_aad(doc), bytes)?,
            ));
        }
        let mut sealed_docs = Vec::new();
        for (id, d) in &docs {
            sealed_docs.push(match d {
                Some((kind, bytes, m)) => Some((
                    kind.clone(),
                    if bytes.is_empty() {
                        None
                    } else {
                        Some(crypto::start_seal(&key, &chunk_aad(id), bytes)?)
                    },
                    crypto::start_seal(&key, &doc_aad(id), m.as_bytes())?,
                )),
                None => None,
            });
        }
        let metas: Vec<_> = meta
            .iter()
            .map(|(k, v)| crypto::start_seal(&key, &meta_aad(k), v.as_bytes()))
            .collect::<Result<_, _>>()?;
        // Chunks that failed to store before: extra chunks of their documents.
        let mut out_chunks = Vec::new();
        for (doc, s) in started {
            out_chunks.push((doc, crypto::finish_seal(s).await?));
        }
        let mut out_docs: Vec<SealedDoc> = Vec::new();
        for ((id, _), d) in docs.iter().zip(sealed_docs) {
            out_docs.push(match d {
                Some((kind, chunk, m)) => {
                    let chunk = match chunk {
                        Some(c) => crypto::finish_seal(c).await?,
                        None => Vec::new(),
                    };
                    (
                        id.clone(),
                        Some((kind, chunk, crypto::finish_seal(m).await?)),
                    )
                }
                None => (id.clone(), None),
            });
        }
        let mut out_meta: Vec<MetaWrite> = Vec::new();
        for ((k, _), s) in meta.iter().zip(metas) {
            out_meta.push((k.to_string(), Some(crypto::finish_seal(s).await?), None));
        }
        if let Some(v) = &lock_value {
            out_meta.push((LOCK_KEY.to_string(), None, Some(v.clone())));
        }
        Ok((out_chunks, out_docs, out_meta))
    }
    .await;
    let written = match result {
        Ok((c, d, m)) => ordered_write(c, d, m).await,
        Err(e) => Err(e),
    };
    if written.is_err() {
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
    }
    written
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

/// An empty store for a user who has just set their PIN (the data key is in memory).
pub async fn start_new(session: Session) -> Result<(), StoreError> {
    save_lock().await?;
    load().await?;
    set_session(Some(session)).await
}

/// Stores the session after a log-in.
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

/// The small sealed values kept on the phone beside the documents, each under its own
/// name: a typed name, so a value nobody stores can not be asked for (the desk's offline
/// copy was once refused by a list of strings it was missing from, and the error dropped).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kept {
    /// Staff reads of person records, waiting to be reported for the audit log.
    Reads,
    /// The last evacuation roster fetched (避難支援の名簿).
    Roster,
    /// The form being typed when the idle lock came.
    Draft,
    /// The coordinator's desk: the latest answers of its screens.
    Desk,
}

impl Kept {
    /// Its name in `Store::extra`; in IndexedDB it is stored as `x.<name>`.
    pub fn key(self) -> &'static str {
        match self {
            Kept::Reads => "reads",
            Kept::Roster => "roster",
            Kept::Draft => "draft",
            Kept::Desk => "desk",
        }
    }

    /// Its key in IndexedDB's `meta` store.
    fn meta_key(self) -> &'static str {
        match self {
            Kept::Reads => "x.reads",
            Kept::Roster => "x.roster",
            Kept::Draft => "x.draft",
            Kept::Desk => "x.desk",
        }
    }
}

/// Keeps a small sealed value (in memory in `Store::extra` too).
pub async fn set_extra(name: Kept, value: String) -> Result<(), StoreError> {
    with_mut(|s| s.extra.insert(name.key().to_string(), value.clone()))?;
    persist(BTreeSet::new(), vec![(name.meta_key(), value)]).await
}

/// After a sync round: persist what changed, the cursor and the refused set; the server
/// was reached, so the stale-device lock moves on.
pub async fn after_sync(touched: BTreeSet<String>, now: f64) -> Result<(), StoreError> {
    let (cursor, refused) = with_mut(|s| {
        s.last_sync = Some(now);
        (meta_json(&s.replica.cursor), meta_json(&s.replica.refused))
    })?;
    lock::touched_server(now);
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

/// Deletes everything of this device (log-out, revocation, too many PINs): the keys in
/// memory, the documents, IndexedDB and the tile cache. What is left on the disk of the
/// deleted database was sealed with a key that no longer exists anywhere.
pub async fn wipe() -> Result<(), StoreError> {
    STORE.with(|s| *s.borrow_mut() = None);
    lock::forget();
    if let Some(db) = DB.with(|d| d.borrow_mut().take()) {
        db.close();
    }
    // The keyring first: from then on nothing left of the database can be opened.
    lock::delete_keyring().await;
    idb::delete().await?;
    // The map tiles this user looked at hint at where they work: they go too.
    if let Some(caches) = web_sys::window().and_then(|w| w.caches().ok()) {
        let _ = wasm_bindgen_futures::JsFuture::from(caches.delete("mimamori-tiles")).await;
    }
    open_db().await.map(|_| ())
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

/// Current time in Unix milliseconds.
pub fn now_ms() -> f64 {
    js_sys::Date::now()
}

/// Today in Japan.
pub fn today() -> shared::Date {
    shared::Date::from_unix_ms_jst(now_ms() as i64).unwrap_or_default()
}
