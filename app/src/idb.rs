//! A small IndexedDB layer over web-sys: open with the schema, run one transaction over
//! several stores, wait for its `complete` (only then is a save reported as saved).
//!
//! Stores (every personal value is sealed by [`crate::crypto`] before it gets here):
//! - `chunks` (auto-increment key): `{doc, bytes}` — sealed Automerge save/incremental
//!   chunks, appended on every save; a document is the merge of its chunks.
//! - `docs` (key: document id): `{kind, meta}` — sealed outbox and placement.
//! - `meta` (key: name): sealed bytes (session, cursor, directory …) or, for the lock
//!   record only, a plain JSON string (salt, wrapped key: what unlocking needs).

use js_sys::{Array, Function, Object, Promise, Reflect, Uint8Array};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    IdbDatabase, IdbObjectStoreParameters, IdbOpenDbRequest, IdbRequest, IdbTransaction,
    IdbTransactionMode,
};

pub const DB_NAME: &str = "mimamori";
const VERSION: u32 = 1;

#[derive(Debug, Clone)]
pub struct IdbError(pub String);

impl From<JsValue> for IdbError {
    fn from(v: JsValue) -> Self {
        IdbError(format!("{v:?}"))
    }
}

impl std::fmt::Display for IdbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

pub type Result<T> = std::result::Result<T, IdbError>;

/// Resolves when `req` succeeds, with its result.
async fn request(req: &IdbRequest) -> Result<JsValue> {
    let req2 = req.clone();
    let p = Promise::new(&mut |resolve: Function, reject: Function| {
        let r = req2.clone();
        let ok = Closure::once_into_js(move || {
            let _ = resolve.call1(&JsValue::NULL, &r.result().unwrap_or(JsValue::UNDEFINED));
        });
        let r = req2.clone();
        let err = Closure::once_into_js(move || {
            let e = r
                .error()
                .ok()
                .flatten()
                .map(JsValue::from)
                .unwrap_or(JsValue::from_str("request failed"));
            let _ = reject.call1(&JsValue::NULL, &e);
        });
        req2.set_onsuccess(Some(ok.unchecked_ref()));
        req2.set_onerror(Some(err.unchecked_ref()));
    });
    Ok(JsFuture::from(p).await?)
}

/// Resolves when the transaction has committed (durable), fails if it aborted.
pub async fn committed(tx: &IdbTransaction) -> Result<()> {
    let tx2 = tx.clone();
    let p = Promise::new(&mut |resolve: Function, reject: Function| {
        let ok = Closure::once_into_js(move || {
            let _ = resolve.call0(&JsValue::NULL);
        });
        let reject2 = reject.clone();
        let t = tx2.clone();
        let err = Closure::once_into_js(move || {
            let e = t
                .error()
                .map(JsValue::from)
                .unwrap_or(JsValue::from_str("transaction aborted"));
            let _ = reject2.call1(&JsValue::NULL, &e);
        });
        let t = tx2.clone();
        let abort = Closure::once_into_js(move || {
            let e = t
                .error()
                .map(JsValue::from)
                .unwrap_or(JsValue::from_str("transaction aborted"));
            let _ = reject.call1(&JsValue::NULL, &e);
        });
        tx2.set_oncomplete(Some(ok.unchecked_ref()));
        tx2.set_onerror(Some(err.unchecked_ref()));
        tx2.set_onabort(Some(abort.unchecked_ref()));
    });
    JsFuture::from(p).await?;
    Ok(())
}

pub async fn open() -> Result<IdbDatabase> {
    let factory = web_sys::window()
        .ok_or_else(|| IdbError("no window".into()))?
        .indexed_db()?
        .ok_or_else(|| IdbError("IndexedDB is not available".into()))?;
    let req: IdbOpenDbRequest = factory.open_with_u32(DB_NAME, VERSION)?;
    let upgrade = Closure::<dyn FnMut(web_sys::IdbVersionChangeEvent)>::new(
        move |e: web_sys::IdbVersionChangeEvent| {
            let Some(req) = e
                .target()
                .and_then(|t| t.dyn_into::<IdbOpenDbRequest>().ok())
            else {
                return;
            };
            let Ok(db) = req.result().and_then(|r| r.dyn_into::<IdbDatabase>()) else {
                return;
            };
            let names = db.object_store_names();
            if !names.contains("chunks") {
                let p = IdbObjectStoreParameters::new();
                p.set_auto_increment(true);
                if let Ok(store) = db.create_object_store_with_optional_parameters("chunks", &p) {
                    let _ = store.create_index_with_str("doc", "doc");
                }
            }
            if !names.contains("docs") {
                let _ = db.create_object_store("docs");
            }
            if !names.contains("meta") {
                let _ = db.create_object_store("meta");
            }
        },
    );
    req.set_onupgradeneeded(Some(upgrade.as_ref().unchecked_ref()));
    let db = request(&req).await?;
    drop(upgrade);
    Ok(db.dyn_into::<IdbDatabase>()?)
}

/// Deletes the whole database (log-out).
pub async fn delete() -> Result<()> {
    let factory = web_sys::window()
        .ok_or_else(|| IdbError("no window".into()))?
        .indexed_db()?
        .ok_or_else(|| IdbError("no IndexedDB".into()))?;
    let req = factory.delete_database(DB_NAME)?;
    request(&req).await?;
    Ok(())
}

pub fn tx(db: &IdbDatabase, stores: &[&str], write: bool) -> Result<IdbTransaction> {
    let names = Array::new();
    for s in stores {
        names.push(&JsValue::from_str(s));
    }
    let mode = if write {
        IdbTransactionMode::Readwrite
    } else {
        IdbTransactionMode::Readonly
    };
    Ok(db.transaction_with_str_sequence_and_mode(&names, mode)?)
}

/// One write in a transaction (not awaited: the transaction's completion is).
pub enum Write<'a> {
    /// A sealed chunk of document `doc`.
    Chunk {
        doc: &'a str,
        bytes: &'a [u8],
    },
    /// A document's kind and its sealed bookkeeping.
    Doc {
        id: &'a str,
        kind: &'a str,
        meta: &'a [u8],
    },
    DeleteDoc {
        id: &'a str,
    },
    /// A sealed value.
    Meta {
        key: &'a str,
        value: &'a [u8],
    },
    /// A value kept in the clear (only the lock record).
    PlainMeta {
        key: &'a str,
        value: &'a str,
    },
    DeleteMeta {
        key: &'a str,
    },
}

/// Applies `writes` in one transaction and waits until it has committed.
pub async fn write_all(db: &IdbDatabase, writes: &[Write<'_>]) -> Result<()> {
    let t = tx(db, &["chunks", "docs", "meta"], true)?;
    let chunks = t.object_store("chunks")?;
    let docs = t.object_store("docs")?;
    let meta = t.object_store("meta")?;
    for w in writes {
        match w {
            Write::Chunk { doc, bytes } => {
                let o = Object::new();
                Reflect::set(&o, &"doc".into(), &JsValue::from_str(doc))?;
                Reflect::set(&o, &"bytes".into(), &Uint8Array::from(*bytes))?;
                chunks.add(&o)?;
            }
            Write::Doc { id, kind, meta: m } => {
                let o = Object::new();
                Reflect::set(&o, &"kind".into(), &JsValue::from_str(kind))?;
                Reflect::set(&o, &"meta".into(), &Uint8Array::from(*m))?;
                docs.put_with_key(&o, &JsValue::from_str(id))?;
            }
            Write::DeleteDoc { id } => {
                docs.delete(&JsValue::from_str(id))?;
                let idx = chunks.index("doc")?;
                let keys = request(&idx.get_all_keys_with_key(&JsValue::from_str(id))?).await?;
                for k in Array::from(&keys).iter() {
                    chunks.delete(&k)?;
                }
            }
            Write::Meta { key, value } => {
                meta.put_with_key(&Uint8Array::from(*value), &JsValue::from_str(key))?;
            }
            Write::PlainMeta { key, value } => {
                meta.put_with_key(&JsValue::from_str(value), &JsValue::from_str(key))?;
            }
            Write::DeleteMeta { key } => {
                meta.delete(&JsValue::from_str(key))?;
            }
        }
    }
    committed(&t).await
}

/// One stored document: (id, kind, sealed meta, sealed chunks, the chunks' keys).
pub type StoredDoc = (String, String, Vec<u8>, Vec<Vec<u8>>, Vec<JsValue>);

/// Everything stored, for unlocking: documents, sealed meta values, plain meta values.
pub struct Loaded {
    pub docs: Vec<StoredDoc>,
    pub sealed: Vec<(String, Vec<u8>)>,
    pub plain: Vec<(String, String)>,
}

fn bytes_of(v: &JsValue) -> Vec<u8> {
    if v.is_instance_of::<Uint8Array>() || v.is_instance_of::<js_sys::ArrayBuffer>() {
        Uint8Array::new(v).to_vec()
    } else {
        Vec::new()
    }
}

pub async fn load_all(db: &IdbDatabase) -> Result<Loaded> {
    let t = tx(db, &["chunks", "docs", "meta"], false)?;
    let chunks = t.object_store("chunks")?;
    let ckeys = Array::from(&request(&chunks.get_all_keys()?).await?);
    let cvals = Array::from(&request(&chunks.get_all()?).await?);
    let docs = t.object_store("docs")?;
    let dkeys = Array::from(&request(&docs.get_all_keys()?).await?);
    let dvals = Array::from(&request(&docs.get_all()?).await?);
    let meta = t.object_store("meta")?;
    let mkeys = Array::from(&request(&meta.get_all_keys()?).await?);
    let mvals = Array::from(&request(&meta.get_all()?).await?);

    let mut by_doc: std::collections::HashMap<String, (Vec<Vec<u8>>, Vec<JsValue>)> =
        Default::default();
    for (k, v) in ckeys.iter().zip(cvals.iter()) {
        let doc = Reflect::get(&v, &"doc".into())?
            .as_string()
            .unwrap_or_default();
        let bytes = bytes_of(&Reflect::get(&v, &"bytes".into())?);
        let e = by_doc.entry(doc).or_default();
        e.0.push(bytes);
        e.1.push(k);
    }
    let mut out = Loaded {
        docs: vec![],
        sealed: vec![],
        plain: vec![],
    };
    for (k, v) in dkeys.iter().zip(dvals.iter()) {
        let id = k.as_string().unwrap_or_default();
        let kind = Reflect::get(&v, &"kind".into())?
            .as_string()
            .unwrap_or_default();
        let m = bytes_of(&Reflect::get(&v, &"meta".into())?);
        let (chunks, keys) = by_doc.remove(&id).unwrap_or_default();
        out.docs.push((id, kind, m, chunks, keys));
    }
    for (k, v) in mkeys.iter().zip(mvals.iter()) {
        let k = k.as_string().unwrap_or_default();
        match v.as_string() {
            Some(text) => out.plain.push((k, text)),
            None => out.sealed.push((k, bytes_of(&v))),
        }
    }
    Ok(out)
}

/// One plain meta value (the lock record), without loading anything else.
pub async fn get_plain(db: &IdbDatabase, key: &str) -> Result<Option<String>> {
    let t = tx(db, &["meta"], false)?;
    let v = request(&t.object_store("meta")?.get(&JsValue::from_str(key))?).await?;
    Ok(v.as_string())
}

/// Whether anything at all is stored (documents or meta values).
pub async fn is_empty(db: &IdbDatabase) -> Result<bool> {
    let t = tx(db, &["chunks", "docs", "meta"], false)?;
    for name in ["chunks", "docs", "meta"] {
        let n = request(&t.object_store(name)?.count()?).await?;
        if n.as_f64().unwrap_or(0.0) > 0.0 {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Replaces the chunks with `keys` by one snapshot chunk (compaction), atomically.
pub async fn compact(db: &IdbDatabase, doc: &str, snapshot: &[u8], keys: &[JsValue]) -> Result<()> {
    let t = tx(db, &["chunks"], true)?;
    let chunks = t.object_store("chunks")?;
    let o = Object::new();
    Reflect::set(&o, &"doc".into(), &JsValue::from_str(doc))?;
    Reflect::set(&o, &"bytes".into(), &Uint8Array::from(snapshot))?;
    chunks.add(&o)?;
    for k in keys {
        chunks.delete(k)?;
    }
    committed(&t).await
}
