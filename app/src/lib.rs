//! Mimamori app shell: Leptos CSR, mounted to `<body>`.
//!
//! For now this is only the shell: title, online/offline status and service-worker
//! registration. UI text is inline here until screens use `shared::i18n`.

use leptos::ev;
use leptos::prelude::*;
use wasm_bindgen::prelude::*;

/// Whether the browser says it is online (`navigator.onLine`).
fn navigator_online() -> bool {
    web_sys::window()
        .map(|w| w.navigator().on_line())
        .unwrap_or(true)
}

/// Registers `/sw.js` so the app loads with no network after the first visit.
fn register_service_worker() {
    let Some(window) = web_sys::window() else {
        return;
    };
    let container = window.navigator().service_worker();
    let promise = container.register("/sw.js");
    wasm_bindgen_futures::spawn_local(async move {
        if let Err(e) = wasm_bindgen_futures::JsFuture::from(promise).await {
            leptos::logging::warn!("service worker registration failed: {e:?}");
        }
    });
}

#[component]
pub fn App() -> impl IntoView {
    let (online, set_online) = signal(navigator_online());
    // Handles live as long as the app (the shell is never unmounted).
    let on = window_event_listener(ev::online, move |_| set_online.set(true));
    let off = window_event_listener(ev::offline, move |_| set_online.set(false));
    on_cleanup(move || {
        on.remove();
        off.remove();
    });

    view! {
        <main class="shell">
            <h1 class="title" lang="ja">"みまもり"</h1>
            <p class="subtitle">
                <span lang="ja">"地域の見守り・訪問記録"</span>
                <span class="en" lang="en">"Community watch-over and visit log"</span>
            </p>
            <p class="status" role="status" aria-live="polite" data-online=move || online.get().to_string()>
                {move || if online.get() {
                    view! {
                        <span class="dot dot-online" aria-hidden="true"></span>
                        <span lang="ja">"オンライン"</span>
                        <span class="en" lang="en">"Online"</span>
                    }.into_any()
                } else {
                    view! {
                        <span class="dot dot-offline" aria-hidden="true"></span>
                        <span lang="ja">"オフライン（記録は端末に保存されます）"</span>
                        <span class="en" lang="en">"Offline (records are kept on this device)"</span>
                    }.into_any()
                }}
            </p>
        </main>
    }
}

/// Entry point, run by the wasm-bindgen glue's `init()`.
#[wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook_lite();
    register_service_worker();
    leptos::mount::mount_to_body(App);
}

/// Sends panics to the console (without pulling in another crate).
fn console_error_panic_hook_lite() {
    std::panic::set_hook(Box::new(|info| {
        leptos::logging::error!("{info}");
    }));
}
