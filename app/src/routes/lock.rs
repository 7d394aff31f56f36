//! The PIN screens: choosing a PIN after the first log-in, and unlocking. Also the draft
//! kept across an automatic lock, so a half-written note survives it.

use crate::data::{self, Kept, Session};
use crate::lock::{self, Unlock as Outcome};
use crate::state::{Ctx, use_ctx};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use shared::api::PIN_ATTEMPTS;
use shared::i18n::Msg;
use wasm_bindgen::JsCast;

/// A PIN input: digits only, hidden, large.
#[component]
pub fn PinInput(id: &'static str, label: Msg, value: RwSignal<String>) -> impl IntoView {
    let ctx = use_ctx();
    view! {
        <div class="field">
            <label for=id>{move || ctx.t(label)}</label>
            <input id=id class="pin" type="password" inputmode="numeric" autocomplete="off"
                maxlength=lock::PIN_MAX.to_string()
                prop:value=move || value.get() on:input=move |ev| value.set(event_target_value(&ev)) />
        </div>
    }
}

/// After a first log-in: choose the PIN that opens this device's data.
#[component]
pub fn SetPin() -> impl IntoView {
    let ctx = use_ctx();
    let pin = RwSignal::new(String::new());
    let again = RwSignal::new(String::new());
    let error = RwSignal::new(None::<Msg>);
    let busy = RwSignal::new(false);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if busy.get_untracked() {
            return;
        }
        let (p, a) = (pin.get_untracked(), again.get_untracked());
        if !lock::pin_ok(&p) {
            error.set(Some(Msg::PinTooEasy));
            return;
        }
        if p != a {
            error.set(Some(Msg::PinMismatch));
            return;
        }
        let Some(login) = ctx.pin_setup.get_untracked() else {
            return;
        };
        busy.set(true);
        error.set(None);
        leptos::task::spawn_local(async move {
            let r = match lock::setup(&p, &login, data::now_ms()).await {
                Ok(_) => data::start_new(Session::from(login))
                    .await
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e),
            };
            match r {
                Ok(()) => {
                    pin.set(String::new());
                    again.set(String::new());
                    crate::state::go(&crate::state::Route::Home);
                    if crate::unlocked(ctx).await.is_err() {
                        error.set(Some(Msg::SaveFailed));
                    }
                }
                Err(e) => {
                    leptos::logging::error!("PIN setup failed: {e}");
                    error.set(Some(Msg::SaveFailed));
                }
            }
            busy.set(false);
        });
    };
    view! {
        <main class="shell login" id="main">
            <h1 class="title">{move || ctx.t(Msg::PinSetupTitle)}</h1>
            <p>{move || ctx.t(Msg::PinSetupHelp)}</p>
            <form autocomplete="off" on:submit=submit novalidate>
                <PinInput id="pin" label=Msg::PinLabel value=pin/>
                <PinInput id="pin2" label=Msg::PinAgain value=again/>
                <Show when=move || error.get().is_some()>
                    <p class="error" role="alert" data-testid="pin-error">{move || error.get().map(|m| ctx.t(m))}</p>
                </Show>
                <button type="submit" class="wide" disabled=move || busy.get()>
                    {move || if busy.get() { ctx.t(Msg::PinWorking) } else { ctx.t(Msg::PinSave) }}
                </button>
            </form>
        </main>
    }
}

/// The locked app: PIN to open, limited attempts, and a way out for a forgotten PIN.
#[component]
pub fn Unlock() -> impl IntoView {
    let ctx = use_ctx();
    let info = lock::info().unwrap_or_default();
    let unsent = info.unsent;
    let pin = RwSignal::new(String::new());
    let busy = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    // Before the last try, the user is told what a wrong PIN would delete.
    let left = RwSignal::new(PIN_ATTEMPTS.saturating_sub(info.failures));
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if busy.get_untracked() || pin.get_untracked().is_empty() {
            return;
        }
        busy.set(true);
        error.set(None);
        leptos::task::spawn_local(async move {
            crate::mark("mimamori-unlock-start");
            let outcome = lock::unlock(&pin.get_untracked(), data::now_ms()).await;
            crate::mark("mimamori-unlock-end");
            pin.set(String::new());
            match outcome {
                Outcome::Opened => {
                    let _ = data::save_lock().await;
                    match crate::unlocked(ctx).await {
                        Ok(()) => restore_draft(ctx),
                        Err(e) => error.set(Some(format!("{}: {e}", ctx.t(Msg::SaveFailed)))),
                    }
                }
                Outcome::Wrong(n) => {
                    let _ = data::save_lock().await;
                    left.set(n);
                    error.set(Some(ctx.tf(Msg::PinWrong, &[("n", &n.to_string())])));
                }
                Outcome::Wipe => crate::wipe_and_restart("pin").await,
                Outcome::Revoked => crate::wipe_and_restart("revoked").await,
                Outcome::NeedsSignal => error.set(Some(ctx.t(Msg::UnlockNeedsSignal).to_string())),
                Outcome::Failed(e) => {
                    leptos::logging::error!("unlock failed: {e}");
                    error.set(Some(ctx.t(Msg::ErrServer).to_string()));
                }
            }
            busy.set(false);
        });
    };
    let forgot = move |_| {
        let text = ctx.tf(Msg::ForgotPinConfirm, &[("n", &unsent.to_string())]);
        if web_sys::window().is_some_and(|w| w.confirm_with_message(&text).unwrap_or(false)) {
            leptos::task::spawn_local(crate::wipe_and_restart(""));
        }
    };
    view! {
        <main class="shell login" id="main">
            <h1 class="title">{move || ctx.t(Msg::LockedTitle)}</h1>
            <p data-testid="locked-hello">{move || ctx.t(Msg::LockedHello)}</p>
            <form autocomplete="off" on:submit=submit novalidate>
                <div class="field">
                    <label for="unlock-pin">{move || ctx.t(Msg::PinLabel)}</label>
                    <input id="unlock-pin" class="pin" type="password" inputmode="numeric" autocomplete="off"
                        maxlength=lock::PIN_MAX.to_string()
                        prop:value=move || pin.get() on:input=move |ev| pin.set(event_target_value(&ev)) />
                </div>
                <Show when=move || error.get().is_some()>
                    <p class="error" role="alert" data-testid="unlock-error">{move || error.get()}</p>
                </Show>
                <Show when=move || left.get() == 1>
                    <p class="warn" role="alert" data-testid="last-try">{move || ctx.tf(Msg::PinLastTry, &[("n", &unsent.to_string())])}</p>
                </Show>
                <button type="submit" class="wide" disabled=move || busy.get()>
                    {move || if busy.get() { ctx.t(Msg::Unlocking) } else { ctx.t(Msg::UnlockButton) }}
                </button>
            </form>
            <button class="textlink" data-testid="forgot-pin" on:click=forgot>{move || ctx.t(Msg::ForgotPin)}</button>
        </main>
    }
}

/// What was typed on the screen when the app locked itself.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Draft {
    hash: String,
    fields: Vec<(String, String)>,
}

fn document() -> Option<web_sys::Document> {
    web_sys::window()?.document()
}

/// Keeps (sealed, like every record) the text typed into the open screen's fields.
pub async fn keep_draft() {
    let Some(doc) = document() else { return };
    let Ok(list) = doc.query_selector_all("#main input[id], #main textarea[id]") else {
        return;
    };
    let mut fields = Vec::new();
    for i in 0..list.length() {
        let Some(node) = list.item(i) else { continue };
        let (id, value) = if let Some(t) = node.dyn_ref::<web_sys::HtmlTextAreaElement>() {
            (t.id(), t.value())
        } else if let Some(e) = node.dyn_ref::<web_sys::HtmlInputElement>() {
            if !matches!(
                e.type_().as_str(),
                "text" | "date" | "time" | "tel" | "number" | ""
            ) {
                continue;
            }
            (e.id(), e.value())
        } else {
            continue;
        };
        if !value.is_empty() {
            fields.push((id, value));
        }
    }
    if fields.is_empty() {
        return;
    }
    let d = Draft {
        hash: crate::state::current_hash(),
        fields,
    };
    let _ = data::keep(Kept::Draft, serde_json::to_string(&d).unwrap_or_default()).await;
}

/// After an unlock: puts a kept draft back into the same screen's fields.
fn restore_draft(ctx: Ctx) {
    let Some(d) = data::kept(Kept::Draft).and_then(|d| serde_json::from_str::<Draft>(&d).ok())
    else {
        return;
    };
    leptos::task::spawn_local(async move {
        let _ = data::keep(Kept::Draft, String::new()).await;
        if d.hash != crate::state::current_hash() {
            return;
        }
        // Once the screen is drawn.
        let _ = wasm_bindgen_futures::JsFuture::from(js_sys::Promise::new(&mut |r, _| {
            if let Some(w) = web_sys::window() {
                let _ = w.set_timeout_with_callback_and_timeout_and_arguments_0(&r, 200);
            }
        }))
        .await;
        let Some(doc) = document() else { return };
        let mut restored = false;
        for (id, value) in d.fields {
            let Some(el) = doc.get_element_by_id(&id) else {
                continue;
            };
            if let Some(t) = el.dyn_ref::<web_sys::HtmlTextAreaElement>() {
                t.set_value(&value);
            } else if let Some(i) = el.dyn_ref::<web_sys::HtmlInputElement>() {
                i.set_value(&value);
            } else {
                continue;
            }
            if let Ok(ev) = web_sys::Event::new_with_event_init_dict("input", &{
                let init = web_sys::EventInit::new();
                init.set_bubbles(true);
                init
            }) {
                let _ = el.dispatch_event(&ev);
            }
            restored = true;
        }
        if restored {
            ctx.notify(Msg::DraftRestored, true);
        }
    });
}
