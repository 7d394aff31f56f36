//! The data layer: the one way screens read records, save, and talk to the server. Screens
//! (`routes/`) import this module, never the storage ([`crate::store`]) or network
//! ([`crate::net`]) modules.
//!
//! - **Who**: the signed-in user and what they may do ([`me`], [`allowed`], [`can_edit`]),
//!   with the role rules of [`shared::access`] that the server checks too.
//! - **Records**: a document read as a memo that follows saves and syncs ([`record`]), or
//!   once ([`read`]); the directory ([`directory`]).
//! - **Saving**: one pipeline ([`save`]): the change is durable in IndexedDB, then the
//!   notice says so (on the screen it belongs to, with 取り消す where a save can be undone),
//!   then sync starts.
//! - **The server**: reads as resources ([`server_read`]) whose answers can be kept sealed
//!   on the phone under a typed name ([`Kept`]) and shown without signal; POSTs as actions
//!   ([`post_action`]) or awaited ([`post`]).

use crate::net;
pub use crate::state::Undo;
use crate::state::{Ctx, Notice, Route};
use crate::store;
use leptos::prelude::*;
use serde::Serialize;
use serde::de::DeserializeOwned;
use shared::api::{Directory, UserInfo};
use shared::crdt::{Conflict, CrdtError};
use shared::i18n::Msg;
use std::collections::BTreeMap;
use std::rc::Rc;

pub use crate::net::NetError;
pub use crate::store::{Kept, StoreError};
pub use shared::access::{Access, Home};

// ───────────────────────────── who ─────────────────────────────

/// The signed-in user (`None` before log-in or while locked).
pub fn me() -> Option<UserInfo> {
    store::with(|s| s.and_then(|s| s.user().cloned()))
}

/// The signed-in user's id (empty before log-in).
pub fn my_id() -> String {
    store::with(|s| s.and_then(|s| s.user().map(|u| u.id.clone()))).unwrap_or_default()
}

/// Whether the signed-in user may do what `rule` says (`false` when nobody is).
pub fn allowed(rule: impl FnOnce(&UserInfo) -> bool) -> bool {
    store::with(|s| s.and_then(|s| s.user()).is_some_and(rule))
}

/// Whether this user may change document `doc`: viewing and editing are separate rights,
/// and the directory says which this user has (the server checks again on every sync).
pub fn can_edit(doc: &str) -> bool {
    store::with(|s| {
        s.and_then(|s| s.directory.as_ref()).is_none_or(|d| {
            d.docs
                .iter()
                .find(|e| e.doc == doc)
                .is_none_or(|e| e.can_edit)
        })
    })
}

/// Reads the directory (`None` before the first sync brought it).
pub fn directory<R>(f: impl FnOnce(&Directory) -> R) -> Option<R> {
    store::with(|s| s.and_then(|s| s.directory.as_ref()).map(f))
}

/// The name of district `id` (its id when the directory does not have it).
pub fn district_name(id: &str) -> String {
    directory(|d| {
        d.districts
            .iter()
            .find(|x| x.id == id)
            .map(|x| x.name.clone())
    })
    .flatten()
    .unwrap_or_else(|| id.to_string())
}

/// The districts of the directory as (id, name), for a choice.
pub fn district_choices() -> Vec<(String, String)> {
    directory(|d| {
        d.districts
            .iter()
            .map(|x| (x.id.clone(), x.name.clone()))
            .collect()
    })
    .unwrap_or_default()
}

/// The colleagues of the directory as (id, name), by name, for a choice.
pub fn user_choices() -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = directory(|d| {
        d.users
            .iter()
            .map(|u| (u.id.clone(), u.name.clone()))
            .collect()
    })
    .unwrap_or_default();
    v.sort_by(|a, b| a.1.cmp(&b.1));
    v
}

/// Where the app opens for this user.
pub fn home() -> Home {
    me().map_or(Home::Today, |u| u.home())
}

/// The people of the directory this user watches over: a volunteer's assigned people; for
/// 民生委員 and staff everyone in scope.
pub fn people_in_my_care() -> Vec<String> {
    directory(|dir| {
        let me = &dir.user;
        let all = me.watches_whole_scope();
        dir.people
            .iter()
            .filter(|p| all || p.visitors.iter().any(|v| v == &me.id))
            .map(|p| p.doc.clone())
            .collect()
    })
    .unwrap_or_default()
}

/// What the list screens know while the first sync runs: whether the directory has come,
/// and how many of the documents it lists are on the phone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// No directory yet: the first sync has not answered.
    NoDirectory,
    /// The directory came; `have` of its `of` documents are on the phone.
    Documents { have: usize, of: usize },
}

/// How far the documents of `docs` (ids from the directory) have arrived.
pub fn arrival(docs: &[String]) -> Arrival {
    store::with(|s| {
        let Some(s) = s else {
            return Arrival::NoDirectory;
        };
        if s.directory.is_none() {
            return Arrival::NoDirectory;
        }
        Arrival::Documents {
            have: docs.iter().filter(|d| s.replica.get(d).is_some()).count(),
            of: docs.len(),
        }
    })
}

// ───────────────────────────── records ─────────────────────────────

/// Document `id` read as `T` with its conflicts, once (no tracking).
pub fn read<T: DeserializeOwned + 'static>(id: &str) -> Option<Rc<(T, Vec<Conflict>)>> {
    store::with(|s| s.and_then(|s| s.read::<T>(id)))
}

/// Document `id` read as `T`, as a memo that moves with every save and sync.
pub fn record<T>(ctx: Ctx, id: String) -> Memo<Option<T>>
where
    T: DeserializeOwned + Clone + PartialEq + Send + Sync + 'static,
{
    Memo::new(move |_| {
        ctx.rev.track();
        read::<T>(&id).map(|r| r.0.clone())
    })
}

/// A staff member opened person record `doc`: reported for the audit log with the next
/// sync (also when it was opened offline).
pub fn note_read(doc: &str) {
    crate::sync::note_read(doc);
}

/// Starts a sync (after a change on the server that concerns this phone's documents).
pub fn sync_now(ctx: Ctx) {
    crate::sync::request(ctx);
}

/// Changes of document `id` not yet on the server.
pub fn unsent(id: &str) -> usize {
    store::with(|s| s.map_or(0, |s| s.unsent(id)))
}

/// A small sealed value kept on the phone (`None` when there is none).
pub fn kept(name: Kept) -> Option<String> {
    store::with(|s| s.and_then(|s| s.extra.get(name.key()).cloned()))
}

/// Keeps a small sealed value on the phone.
pub async fn keep(name: Kept, value: String) -> Result<(), StoreError> {
    store::set_extra(name, value).await
}

/// Current time in Unix milliseconds.
pub fn now_ms() -> f64 {
    store::now_ms()
}

/// Today in Japan.
pub fn today() -> shared::Date {
    store::today()
}

/// A new record id: a UUID v7 (time-ordered, so records sort by creation; random tail from
/// WebCrypto, so two phones never collide).
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

// ───────────────────────────── saving ─────────────────────────────

/// The save pipeline: runs `f` in one transaction on document `doc`, waits until the
/// change is durable in IndexedDB, then shows 保存しました on `shown_on` (the screen the
/// user will see; with 取り消す when `undo` is given), then starts a sync. On a failure
/// the notice says so and nothing is reported as saved.
pub async fn save<R>(
    ctx: Ctx,
    doc: &str,
    shown_on: Route,
    undo: Option<Undo>,
    f: impl FnOnce(&mut automerge::transaction::Transaction<'_>) -> Result<R, CrdtError>,
) -> Result<R, StoreError> {
    save_with(ctx, doc, Some(Notice::saved(shown_on, undo)), f).await
}

/// [`save`] without a notice on success, where the screen itself shows the saved state at
/// once and a notice would cover what the user looks at next (a salon's attendance marks
/// and counters: the mark changes only once the change is durable). A failure is still
/// told.
pub async fn save_quietly<R>(
    ctx: Ctx,
    doc: &str,
    f: impl FnOnce(&mut automerge::transaction::Transaction<'_>) -> Result<R, CrdtError>,
) -> Result<R, StoreError> {
    save_with(ctx, doc, None, f).await
}

/// Durable → `done` (if any) → sync; on a failure, 保存できませんでした.
async fn save_with<R>(
    ctx: Ctx,
    doc: &str,
    done: Option<Notice>,
    f: impl FnOnce(&mut automerge::transaction::Transaction<'_>) -> Result<R, CrdtError>,
) -> Result<R, StoreError> {
    match store::save(doc, f).await {
        Ok(r) => {
            ctx.bump();
            crate::sync::refresh_status(ctx);
            if let Some(n) = done {
                ctx.show(n);
            }
            crate::after_save(ctx);
            Ok(r)
        }
        Err(e) => {
            leptos::logging::error!("save failed: {e}");
            ctx.show(Notice::bad(ctx.route.get_untracked(), Msg::SaveFailed));
            Err(e)
        }
    }
}

/// [`save`] with the notice on the screen the user is on, and 取り消す when the save
/// created the record at `created` (a path in `doc`).
pub async fn save_here<R>(
    ctx: Ctx,
    doc: &str,
    created: Option<Vec<String>>,
    f: impl FnOnce(&mut automerge::transaction::Transaction<'_>) -> Result<R, CrdtError>,
) -> Result<R, StoreError> {
    let undo = created.map(|path| Undo {
        doc: doc.to_string(),
        path,
    });
    save(ctx, doc, ctx.route.get_untracked(), undo, f).await
}

/// 取り消す: removes the record a save created. The removal is a change like any other: it
/// merges, syncs, and leaves the record in the document's history.
pub async fn undo(ctx: Ctx, u: Undo) {
    let path: Vec<&str> = u.path.iter().map(String::as_str).collect();
    let done = Notice::ok(ctx.route.get_untracked(), Msg::Undone);
    let _ = save_with(ctx, &u.doc, Some(done), |tx| {
        shared::crdt::delete(tx, &path)
    })
    .await;
}

// ───────────────────────────── the server ─────────────────────────────

/// An answer from the server, or the copy kept on the phone when there is no signal.
#[derive(Debug, Clone, PartialEq)]
pub struct Fetched<T> {
    pub value: T,
    /// When the kept copy was fetched (`None`: it is fresh from the server).
    pub kept_at: Option<f64>,
}

/// Kept answers under one name: path → (fetched at, JSON).
type KeptAnswers = BTreeMap<String, (f64, String)>;

/// How many answers one name keeps (the latest of a few screens).
const KEEP_ANSWERS: usize = 12;

fn kept_answers(name: Kept) -> KeptAnswers {
    kept(name)
        .and_then(|d| serde_json::from_str(&d).ok())
        .unwrap_or_default()
}

fn token() -> Option<String> {
    store::with(|s| s.and_then(|s| s.token()))
}

/// `GET path`. With `keep`, a fresh answer is kept sealed on the phone under that name and
/// given back, with its time, when there is no signal.
pub async fn get<T: DeserializeOwned + Serialize>(
    path: &str,
    keep_as: Option<Kept>,
) -> Result<Fetched<T>, NetError> {
    let Some(t) = token() else {
        return Err(NetError::Offline);
    };
    match net::json::<T>("GET", path, Some(&t), None::<&()>).await {
        Ok(v) => {
            if let Some(name) = keep_as {
                let mut k = kept_answers(name);
                k.insert(
                    path.to_string(),
                    (now_ms(), serde_json::to_string(&v).unwrap_or_default()),
                );
                while k.len() > KEEP_ANSWERS {
                    let oldest = k
                        .iter()
                        .min_by(|a, b| a.1.0.total_cmp(&b.1.0))
                        .map(|(p, _)| p.clone());
                    match oldest {
                        Some(p) => k.remove(&p),
                        None => break,
                    };
                }
                if let Err(e) = keep(name, serde_json::to_string(&k).unwrap_or_default()).await {
                    leptos::logging::error!("could not keep {path}: {e}");
                }
            }
            Ok(Fetched {
                value: v,
                kept_at: None,
            })
        }
        Err(NetError::Offline) => keep_as
            .and_then(|name| kept_answer(name, path))
            .ok_or(NetError::Offline),
        Err(e) => Err(e),
    }
}

/// The copy of `path`'s answer kept under `name`, if there is one.
pub fn kept_answer<T: DeserializeOwned>(name: Kept, path: &str) -> Option<Fetched<T>> {
    let raw = kept(name)?;
    match serde_json::from_str::<KeptAnswers>(&raw) {
        Ok(k) => {
            let (at, v) = k.get(path)?;
            Some(Fetched {
                value: serde_json::from_str(v).ok()?,
                kept_at: Some(*at),
            })
        }
        // The copy an earlier version kept (the evacuation roster was the value itself):
        // still shown without signal after an update, until the next answer replaces it.
        Err(_) => Some(Fetched {
            value: serde_json::from_str(&raw).ok()?,
            kept_at: Some(0.0),
        }),
    }
}

/// A server read as a resource: fetched again whenever `path` (a reactive closure) changes;
/// `None` from `path` fetches nothing.
pub fn server_read<T>(
    path: impl Fn() -> Option<String> + 'static,
    keep_as: Option<Kept>,
) -> LocalResource<Option<Result<Fetched<T>, NetError>>>
where
    T: DeserializeOwned + Serialize + Clone + 'static,
{
    LocalResource::new(move || {
        let p = path();
        async move {
            match p {
                Some(p) => Some(get::<T>(&p, keep_as).await),
                None => None,
            }
        }
    })
}

/// `POST path` with a JSON body (`None`: no body), JSON back.
pub async fn post<B: Serialize, T: DeserializeOwned>(
    path: &str,
    body: Option<&B>,
) -> Result<T, NetError> {
    let t = token();
    net::json::<T>("POST", path, t.as_deref(), body).await
}

/// `POST`s a file's bytes as they are (a CSV roster), JSON back.
pub async fn post_file<T: DeserializeOwned>(
    path: &str,
    bytes: &[u8],
    content_type: &str,
) -> Result<T, NetError> {
    let t = token().ok_or(NetError::Offline)?;
    net::post_bytes::<T>(path, &t, bytes, content_type).await
}

/// Downloads `path` as a file (CSV exports).
pub async fn download(path: &str, fallback_name: &str) -> Result<(), NetError> {
    let t = token().ok_or(NetError::Offline)?;
    net::download(path, &t, fallback_name).await
}

/// A POST as an action: `dispatch((path, body))` sends it; `value()` holds the answer.
pub fn post_action<B, T>() -> Action<(String, B), Result<T, NetError>>
where
    B: Serialize + Clone + 'static,
    T: DeserializeOwned + Clone + 'static,
{
    Action::new_local(|(path, body): &(String, B)| {
        let (path, body) = (path.clone(), body.clone());
        async move { post::<B, T>(&path, Some(&body)).await }
    })
}

/// What the user is told about a failed server call: the server's own words when it gave
/// them (they are Japanese for the desk's refusals), else no signal or a server error.
pub fn tell(ctx: Ctx, e: &NetError) {
    let here = ctx.route.get_untracked();
    match e {
        NetError::Offline => ctx.show(Notice::bad(here, Msg::NeedsSignal)),
        NetError::Api(_, a) if !a.message.is_empty() => {
            ctx.show(Notice::text(here, a.message.clone()))
        }
        _ => ctx.show(Notice::bad(here, Msg::ErrServer)),
    }
}

// ───────────────────────────── the device's session ─────────────────────────────

pub use crate::store::{APP_VERSION, Session};

/// `POST /api/login` (no token: this is how one is got).
pub async fn sign_in(
    req: &shared::api::LoginRequest,
) -> Result<shared::api::LoginResponse, NetError> {
    net::json("POST", "/api/login", None, Some(req)).await
}

/// The signed-in user's token, for the PIN and unlock calls of [`crate::lock`].
pub fn token_for_lock() -> Option<String> {
    token()
}

/// Changes on this device not yet on the server, over every document.
pub fn pending() -> usize {
    store::with(|s| s.map_or(0, |s| s.replica.pending()))
}

/// Stores the lock record (PIN, idle minutes) after a change to it.
pub async fn save_lock() -> Result<(), StoreError> {
    store::save_lock().await
}

/// Stores the session after a log-in.
pub async fn set_session(session: Session) -> Result<(), StoreError> {
    store::set_session(Some(session)).await
}

/// An empty store for a user who has just chosen their PIN.
pub async fn start_new(session: Session) -> Result<(), StoreError> {
    store::start_new(session).await
}

/// Deletes everything of this device (before another user signs in).
pub async fn wipe() -> Result<(), StoreError> {
    store::wipe().await
}
