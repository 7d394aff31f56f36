//! ログイン: the first log-in needs signal; after it the device works offline.

use crate::data::{self, APP_VERSION, NetError, Session};
use crate::state::use_ctx;
use leptos::prelude::*;
use shared::api::{LoginRequest, LoginResponse};
use shared::i18n::Msg;

#[component]
pub fn Login() -> impl IntoView {
    let ctx = use_ctx();
    let login = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let busy = RwSignal::new(false);
    let error = RwSignal::new(None::<Msg>);

    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if busy.get_untracked() {
            return;
        }
        if login.get_untracked().trim().is_empty() || password.get_untracked().is_empty() {
            error.set(Some(Msg::Required));
            return;
        }
        busy.set(true);
        error.set(None);
        leptos::task::spawn_local(async move {
            let req = LoginRequest {
                login: login.get_untracked().trim().to_string(),
                password: password.get_untracked(),
                device_name: device_name(),
                app: APP_VERSION.to_string(),
            };
            let r: Result<LoginResponse, NetError> = data::sign_in(&req).await;
            match r {
                Ok(resp) => {
                    // Signed in again on a phone that is open (the password was changed
                    // elsewhere): the same user keeps their data, wrapped for the new sign-in.
                    let unlocked_as = data::me().map(|u| u.id);
                    if unlocked_as.as_deref() == Some(resp.user.id.as_str()) {
                        let now = data::now_ms();
                        let ok = crate::lock::rewrap(&resp, now).await.is_ok()
                            && data::save_lock().await.is_ok()
                            && data::set_session(Session::from(resp)).await.is_ok();
                        if ok {
                            password.set(String::new());
                            ctx.sync.update(|s| s.session_ended = false);
                            ctx.signed_in.set(true);
                            data::sync_now(ctx);
                        } else {
                            error.set(Some(Msg::SaveFailed));
                        }
                        busy.set(false);
                        return;
                    }
                    if unlocked_as.is_some() {
                        // Another user's data never stays on a device someone else signs
                        // in to; their unsent records would go with it: ask.
                        let unsent = data::pending();
                        if unsent > 0 {
                            let text = ctx.tf(Msg::LoginWipesUnsent, &[("n", &unsent.to_string())]);
                            let ok = web_sys::window()
                                .is_some_and(|w| w.confirm_with_message(&text).unwrap_or(false));
                            if !ok {
                                busy.set(false);
                                return;
                            }
                        }
                    }
                    // A first sign-in on this phone (or after someone else): nothing of
                    // anyone else stays; then the PIN that will open this user's data.
                    if data::wipe().await.is_err() {
                        error.set(Some(Msg::SaveFailed));
                        busy.set(false);
                        return;
                    }
                    password.set(String::new());
                    ctx.signed_in.set(false);
                    ctx.pin_setup.set(Some(resp));
                }
                Err(NetError::Offline) => error.set(Some(Msg::LoginNeedsSignal)),
                Err(NetError::Api(429, e)) if e.error == "busy" => error.set(Some(Msg::ErrBusy)),
                Err(NetError::Api(429, _)) => error.set(Some(Msg::ErrThrottled)),
                Err(NetError::Api(408, _)) => error.set(Some(Msg::ErrTimeout)),
                Err(NetError::Api(401 | 403, _)) => error.set(Some(Msg::ErrLogin)),
                Err(_) => error.set(Some(Msg::ErrServer)),
            }
            busy.set(false);
        });
    };

    view! {
        <main class="shell login">
            <h1 class="title">{move || ctx.t(Msg::AppName)}</h1>
            <p class="subtitle">{move || ctx.t(Msg::AppTagline)}</p>
            <form on:submit=submit novalidate>
                <h2>{move || ctx.t(Msg::LoginTitle)}</h2>
                <Show when=move || ctx.wiped.get().is_some()>
                    <p class="warn" role="alert" data-testid="wiped">{move || ctx.wiped.get().map(|m| ctx.t(m))}</p>
                </Show>
                <div class="field">
                    <label for="login">{move || ctx.t(Msg::LoginId)}</label>
                    <input id="login" name="login" autocomplete="off" autocapitalize="none"
                        prop:value=move || login.get() on:input=move |ev| login.set(event_target_value(&ev)) />
                </div>
                <div class="field">
                    <label for="password">{move || ctx.t(Msg::Password)}</label>
                    <input id="password" name="password" type="password" autocomplete="current-password"
                        prop:value=move || password.get() on:input=move |ev| password.set(event_target_value(&ev)) />
                </div>
                <Show when=move || error.get().is_some()>
                    <p class="error" role="alert" data-testid="login-error">{move || error.get().map(|m| ctx.t(m))}</p>
                </Show>
                <button type="submit" class="wide" disabled=move || busy.get()>
                    {move || if busy.get() { ctx.t(Msg::LoggingIn) } else { ctx.t(Msg::LoginButton) }}
                </button>
            </form>
        </main>
    }
}

/// A name for the device list, from the browser's own description.
fn device_name() -> String {
    web_sys::window()
        .and_then(|w| w.navigator().user_agent().ok())
        .map(|ua| {
            let kind = if ua.contains("iPhone") {
                "iPhone"
            } else if ua.contains("Android") {
                "Android"
            } else if ua.contains("iPad") {
                "iPad"
            } else {
                "PC"
            };
            kind.to_string()
        })
        .unwrap_or_default()
}
