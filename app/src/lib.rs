//! Mimamori, the field app: Leptos CSR mounted to `<body>`.
//!
//! Everything a user enters is an Automerge change saved durably in IndexedDB first
//! ([`store`]), then sent to the server by [`sync`] when there is signal.

mod crypto;
mod data;
mod idb;
#[cfg(test)]
mod layers;
mod lock;
mod net;
mod routes;
mod state;
mod store;
mod sync;
mod ui;

use leptos::ev;
use leptos::prelude::*;
use shared::i18n::Msg;
use state::{Ctx, Route};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;

/// Minutes between syncs while the app is open and online (besides the event triggers).
const SYNC_EVERY_MS: i32 = 3 * 60 * 1000;
/// How often the idle lock looks at the clock.
const IDLE_CHECK_MS: i32 = 10 * 1000;

#[component]
pub fn App() -> impl IntoView {
    let ctx = Ctx::new();
    provide_context(ctx);

    // The URL hash is the route.
    let hash = window_event_listener(ev::hashchange, move |_| {
        ctx.navigated(Route::parse(&state::current_hash()));
        if let Some(w) = web_sys::window() {
            w.scroll_to_with_x_and_y(0.0, 0.0);
            // Once the new screen is drawn, a screen reader starts at its title.
            let focus = Closure::once_into_js(focus_title);
            let _ = w.set_timeout_with_callback(focus.unchecked_ref());
        }
    });
    let on = window_event_listener(ev::online, move |_| {
        ctx.sync.update(|s| s.online = true);
        sync::request(ctx);
    });
    let off = window_event_listener(ev::offline, move |_| ctx.sync.update(|s| s.online = false));
    let vis = window_event_listener(ev::visibilitychange, move |_| {
        let visible = web_sys::window()
            .and_then(|w| w.document())
            .is_some_and(|d| d.visibility_state() == web_sys::VisibilityState::Visible);
        if visible {
            sync::request(ctx);
        }
    });
    on_cleanup(move || {
        hash.remove();
        on.remove();
        off.remove();
        vis.remove();
    });

    // Text size and language apply to the whole page.
    Effect::new(move |_| {
        let size = ctx.text_size.get();
        let lang = ctx.lang.get();
        if let Some(el) = web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.document_element())
        {
            // A step of the stylesheet (app.css), not an inline size: the percentages there
            // scale the user's own browser text size, which stays in charge.
            let _ = el.set_attribute("data-text-size", &size.to_string());
            let _ = el.set_attribute("lang", lang.code());
        }
    });

    leptos::task::spawn_local(start(ctx));

    view! {
        <div class="app">
            <Show when=move || ctx.update_ready.get()>
                <button class="update" data-testid="update" on:click=move |_| reload()>{move || ctx.t(Msg::UpdateReady)}</button>
            </Show>
            {move || {
                if ctx.other_tab.get() {
                    view! { <main class="shell"><p class="warn" role="alert">{ctx.t(Msg::OtherTab)}</p></main> }.into_any()
                } else if !ctx.ready.get() {
                    view! { <main class="shell"><p role="status">{ctx.t(Msg::Loading)}</p></main> }.into_any()
                } else if ctx.locked.get() {
                    view! { <routes::lock::Unlock/> }.into_any()
                } else if ctx.pin_setup.with(|p| p.is_some()) {
                    view! { <routes::lock::SetPin/> }.into_any()
                } else if !ctx.signed_in.get() {
                    view! { <routes::login::Login/> }.into_any()
                } else {
                    view! {
                        <ui::SyncBar/>
                        <main class=move || if matches!(ctx.route.get(), Route::Desk(_)) { "shell desk" } else { "shell" } id="main">
                            <ui::Notice/>
                            {move || routes::screen(ctx.route.get())}
                        </main>
                        <ui::BottomNav/>
                    }.into_any()
                }
            }}
        </div>
    }
}

/// Moves the keyboard and screen-reader focus to the screen's title (`<h1>`).
fn focus_title() {
    let title = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.query_selector("#main h1").ok().flatten())
        .and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok());
    if let Some(h) = title {
        h.set_tab_index(-1);
        let _ = h.focus();
    }
}

/// A Performance mark, for the app benchmark's breakdown of start-up.
pub(crate) fn mark(name: &str) {
    if let Some(p) = web_sys::window().and_then(|w| w.performance()) {
        let _ = p.mark(name);
    }
}

fn reload() {
    if let Some(w) = web_sys::window() {
        let _ = w.location().reload();
    }
}

/// Opens the database (after taking the one-tab lock): the log-in screen when nothing is
/// stored, else the PIN screen. Starts what runs for the life of the page.
async fn start(ctx: Ctx) {
    if !tab_lock().await {
        ctx.other_tab.set(true);
        return;
    }
    if let Some(why) = state::pref("wiped") {
        state::clear_pref("wiped");
        ctx.wiped.set(Some(if why == "pin" {
            Msg::WipedPin
        } else {
            Msg::WipedRevoked
        }));
    }
    mark("mimamori-open-start");
    match store::open_db().await {
        Ok(Some(_)) => {
            // The stale-device lock: past its time, the kept secret is dropped first.
            if lock::expire_secret(store::now_ms()) {
                let _ = store::save_lock().await;
            }
            ctx.locked.set(true);
            mark("mimamori-locked");
        }
        Ok(None) => {}
        Err(e) => {
            leptos::logging::error!("could not open the store: {e}");
            ctx.notify(Msg::SaveFailed, false);
            return;
        }
    }
    ctx.ready.set(true);
    ask_persistent_storage(ctx);
    listen_service_worker(ctx);
    watch_idle(ctx);
    // A periodic sync while open, for changes others made.
    let tick = Closure::<dyn FnMut()>::new(move || {
        if navigator_online() {
            sync::request(ctx);
        }
    });
    if let Some(w) = web_sys::window() {
        let _ = w.set_interval_with_callback_and_timeout_and_arguments_0(
            tick.as_ref().unchecked_ref(),
            SYNC_EVERY_MS,
        );
    }
    tick.forget();
}

/// The data key is in memory (PIN entered, or chosen at a first log-in): load every record
/// and sync.
pub(crate) async fn unlocked(ctx: Ctx) -> Result<(), store::StoreError> {
    if !store::with(|s| s.is_some()) {
        store::load().await?;
    }
    mark("mimamori-open-end");
    ctx.signed_in
        .set(store::with(|s| s.is_some_and(|s| s.session.is_some())));
    ctx.locked.set(false);
    ctx.pin_setup.set(None);
    touch();
    sync::refresh_status(ctx);
    sync::request(ctx);
    ctx.bump();
    Ok(())
}

/// Deletes everything on the device and starts again from the log-in screen, telling why.
pub(crate) async fn wipe_and_restart(why: &str) {
    let _ = store::wipe().await;
    if !why.is_empty() {
        state::set_pref("wiped", why);
    }
    reload();
}

thread_local! {
    /// When the user last touched the app (Unix ms).
    static LAST_ACTIVITY: std::cell::Cell<f64> = const { std::cell::Cell::new(0.0) };
}

fn touch() {
    LAST_ACTIVITY.with(|l| l.set(store::now_ms()));
}

/// Locks the app: the page is reloaded, so nothing of the records stays in its memory;
/// it opens again at the PIN screen.
pub(crate) fn lock_now() {
    leptos::task::spawn_local(async {
        crate::routes::lock::keep_draft().await;
        let _ = store::save_lock().await;
        reload();
    });
}

/// Locks after the chosen idle time, and when the stale-device time has come.
fn watch_idle(_ctx: Ctx) {
    touch();
    for name in ["pointerdown", "keydown", "input", "wheel"] {
        let cb = Closure::<dyn FnMut()>::new(touch);
        if let Some(w) = web_sys::window() {
            let _ = w.add_event_listener_with_callback_and_bool(
                name,
                cb.as_ref().unchecked_ref(),
                true,
            );
        }
        cb.forget();
    }
    let check = Closure::<dyn FnMut()>::new(move || {
        if !lock::is_unlocked() {
            return;
        }
        let now = store::now_ms();
        let idle_ms = lock::info().map_or(lock::DEFAULT_IDLE_MINUTES, |i| i.idle_minutes.max(1))
            as f64
            * 60_000.0;
        let idle = now - LAST_ACTIVITY.with(|l| l.get()) >= idle_ms;
        if idle || lock::expire_secret(now) {
            lock_now();
        }
    });
    if let Some(w) = web_sys::window() {
        let _ = w.set_interval_with_callback_and_timeout_and_arguments_0(
            check.as_ref().unchecked_ref(),
            IDLE_CHECK_MS,
        );
        // A phone woken after a long sleep checks at once.
        let cb = check.as_ref().unchecked_ref::<js_sys::Function>().clone();
        let _ = w.add_event_listener_with_callback("visibilitychange", &cb);
        let _ = w.add_event_listener_with_callback("focus", &cb);
    }
    check.forget();
}

/// Called after every durable save: sync now if online; otherwise ask the service worker
/// for a Background Sync when the signal returns.
pub(crate) fn after_save(ctx: Ctx) {
    // The browser's own flag, not the last attempt: a server that was down a minute ago
    // may be back.
    if navigator_online() {
        sync::request(ctx);
    } else {
        register_background_sync();
    }
}

fn navigator_online() -> bool {
    web_sys::window().is_none_or(|w| w.navigator().on_line())
}

/// Holds a Web Lock for the life of the tab; a second tab of the app gets none and says
/// so, so two tabs never write the same documents at once.
async fn tab_lock() -> bool {
    let Some(w) = web_sys::window() else {
        return true;
    };
    let locks = js_sys::Reflect::get(&w.navigator(), &"locks".into()).unwrap_or(JsValue::UNDEFINED);
    if locks.is_undefined() {
        return true;
    }
    let request = js_sys::Reflect::get(&locks, &"request".into())
        .ok()
        .and_then(|f| f.dyn_into::<js_sys::Function>().ok());
    let Some(request) = request else {
        return true;
    };
    let opts = js_sys::Object::new();
    let _ = js_sys::Reflect::set(&opts, &"ifAvailable".into(), &JsValue::TRUE);
    let (tx, rx) = futures_oneshot();
    let cb = Closure::once_into_js(move |lock: JsValue| -> JsValue {
        tx(!lock.is_null());
        // Never resolves: the lock is held until the tab closes.
        js_sys::Promise::new(&mut |_, _| {}).into()
    });
    if request
        .call3(&locks, &"mimamori-app".into(), &opts, &cb)
        .is_err()
    {
        return true;
    }
    rx.await
}

/// A one-shot boolean channel built on a JS promise (no extra crate).
fn futures_oneshot() -> (impl FnOnce(bool), impl std::future::Future<Output = bool>) {
    let mut resolve_fn: Option<js_sys::Function> = None;
    let p = js_sys::Promise::new(&mut |resolve, _| resolve_fn = Some(resolve));
    let resolve_fn = resolve_fn.expect("Promise runs its executor at once");
    let send = move |v: bool| {
        let _ = resolve_fn.call1(&JsValue::NULL, &JsValue::from_bool(v));
    };
    let recv = async move {
        wasm_bindgen_futures::JsFuture::from(p)
            .await
            .ok()
            .and_then(|v| v.as_bool())
            .unwrap_or(true)
    };
    (send, recv)
}

/// `navigator.storage.persist()`: shown as a warning if the browser may evict the data.
fn ask_persistent_storage(ctx: Ctx) {
    let Some(w) = web_sys::window() else { return };
    let storage = w.navigator().storage();
    leptos::task::spawn_local(async move {
        let persisted = match storage.persist() {
            Ok(p) => wasm_bindgen_futures::JsFuture::from(p)
                .await
                .ok()
                .and_then(|v| v.as_bool())
                .unwrap_or(false),
            Err(_) => false,
        };
        ctx.storage_at_risk.set(!persisted);
    });
}

/// Registers `/sw.js`; when a new version takes over, offers a reload; when the service
/// worker's Background Sync fires, syncs.
fn listen_service_worker(ctx: Ctx) {
    let Some(window) = web_sys::window() else {
        return;
    };
    let container = window.navigator().service_worker();
    // The first controller of a first visit is not an update; any change after one is.
    let had_controller = std::rc::Rc::new(std::cell::Cell::new(container.controller().is_some()));
    let promise = container.register("/sw.js");
    wasm_bindgen_futures::spawn_local(async move {
        if let Err(e) = wasm_bindgen_futures::JsFuture::from(promise).await {
            leptos::logging::warn!("service worker registration failed: {e:?}");
        }
    });
    let on_change = Closure::<dyn FnMut()>::new(move || {
        if had_controller.replace(true) {
            ctx.update_ready.set(true);
        }
    });
    container.set_oncontrollerchange(Some(on_change.as_ref().unchecked_ref()));
    on_change.forget();
    let on_msg =
        Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |e: web_sys::MessageEvent| {
            match e.data().as_string().as_deref() {
                Some("mimamori-sync") => sync::request(ctx),
                // The service worker fetching a map tile asks for the device token (the
                // tile proxy answers signed-in devices only); nothing while locked.
                Some("mimamori-token") => {
                    let token = store::with(|s| s.and_then(|s| s.token())).unwrap_or_default();
                    if let Ok(port) = e.ports().get(0).dyn_into::<web_sys::MessagePort>() {
                        let _ = port.post_message(&wasm_bindgen::JsValue::from_str(&token));
                    }
                }
                _ => {}
            }
        });
    container.set_onmessage(Some(on_msg.as_ref().unchecked_ref()));
    on_msg.forget();
}

fn register_background_sync() {
    let Some(w) = web_sys::window() else { return };
    let ready = w.navigator().service_worker().ready();
    wasm_bindgen_futures::spawn_local(async move {
        let Ok(p) = ready else { return };
        let Ok(reg) = wasm_bindgen_futures::JsFuture::from(p).await else {
            return;
        };
        let sync = js_sys::Reflect::get(&reg, &"sync".into()).unwrap_or(JsValue::UNDEFINED);
        if sync.is_undefined() {
            return;
        }
        if let Ok(f) = js_sys::Reflect::get(&sync, &"register".into())
            .and_then(|f| f.dyn_into::<js_sys::Function>())
            && let Ok(p) = f.call1(&sync, &"mimamori-sync".into())
            && let Ok(p) = p.dyn_into::<js_sys::Promise>()
        {
            let _ = wasm_bindgen_futures::JsFuture::from(p).await;
        }
    });
}

/// Entry point, run by the wasm-bindgen glue's `init()`.
#[wasm_bindgen(start)]
pub fn start_app() {
    std::panic::set_hook(Box::new(|info| {
        leptos::logging::error!("{info}");
    }));
    leptos::mount::mount_to_body(App);
}
