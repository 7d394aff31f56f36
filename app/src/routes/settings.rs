//! 設定: text size, language, who is signed in, log-out.

use crate::data::{self, Access, NetError};
use crate::routes::lock::PinInput;
use crate::state::{TEXT_SIZES, set_pref, use_ctx};
use crate::ui::TextField;
use leptos::prelude::*;
use shared::api::{MIN_PASSWORD_CHARS, PasswordChange, PasswordChanged};
use shared::i18n::{Lang, Msg};
use shared::validate::FieldError;

#[component]
pub fn Settings() -> impl IntoView {
    let ctx = use_ctx();
    let who = data::me()
        .map(|u| format!("{}（{}）· {}", u.name, u.login, u.org_name))
        .unwrap_or_default();
    let logout = move |_| {
        let pending = ctx.sync.with_untracked(|s| s.pending);
        if pending > 0 {
            let text = ctx.tf(Msg::LogoutLosesUnsent, &[("n", &pending.to_string())]);
            let ok =
                web_sys::window().is_some_and(|w| w.confirm_with_message(&text).unwrap_or(false));
            if !ok {
                return;
            }
        }
        leptos::task::spawn_local(async move {
            if data::me().is_some() {
                let _: Result<serde_json::Value, _> = data::post("/api/logout", None::<&()>).await;
            }
            // Everything goes, and the page starts afresh (nothing left in its memory).
            crate::wipe_and_restart("").await;
        });
    };
    view! {
        <h1 class="screen-title">{move || ctx.t(Msg::Settings)}</h1>
        <p data-testid="who">{who}</p>
        <div class="field">
            <span class="label" id="lbl-size">{move || ctx.t(Msg::TextSize)}</span>
            <div class="chips" role="radiogroup" aria-labelledby="lbl-size">
                {TEXT_SIZES.iter().map(|(size, m)| {
                    let (size, m) = (*size, *m);
                    view! {
                        <button class="chip" role="radio" aria-checked=move || (ctx.text_size.get() == size).to_string()
                            on:click=move |_| { ctx.text_size.set(size); set_pref("text_size", &size.to_string()); }>
                            {move || ctx.t(m)}
                        </button>
                    }
                }).collect_view()}
            </div>
        </div>
        <div class="field">
            <span class="label" id="lbl-lang">{move || ctx.t(Msg::Language)}</span>
            <div class="chips" role="radiogroup" aria-labelledby="lbl-lang">
                {[(Lang::Ja, "日本語"), (Lang::En, "English")].into_iter().map(|(l, name)| view! {
                    <button class="chip" role="radio" aria-checked=move || (ctx.lang.get() == l).to_string()
                        data-testid=format!("lang-{}", l.code())
                        on:click=move |_| { ctx.lang.set(l); set_pref("lang", l.code()); }>
                        {name}
                    </button>
                }).collect_view()}
            </div>
        </div>
        <Show when=move || ctx.storage_at_risk.get()>
            <p class="hint">{move || ctx.t(Msg::StorageMayBeCleared)}</p>
        </Show>
        {data::allowed(|u| u.is_staff()).then(|| view! {
            <section class="office" data-testid="office">
                <h2>{move || ctx.t(Msg::OfficeTools)}</h2>
                <a class="button secondary wide" href=crate::state::Route::Disaster.href() data-testid="open-disaster">{move || ctx.t(Msg::DisasterTitle)}</a>
                <a class="button secondary wide" href=crate::state::Route::Audit.href() data-testid="open-audit">{move || ctx.t(Msg::AuditTitle)}</a>
                <a class="button secondary wide" href=crate::state::Route::UserDevices.href() data-testid="open-user-devices">{move || ctx.t(Msg::UserDevicesTitle)}</a>
            </section>
        })}
        <LockSettings/>
        <PasswordForm/>
        <crate::routes::devices::Devices/>
        <button class="big secondary wide" data-testid="logout" on:click=logout>{move || ctx.t(Msg::Logout)}</button>
    }
}

/// The app lock: lock now, the idle time, and a new PIN.
#[component]
fn LockSettings() -> impl IntoView {
    let ctx = use_ctx();
    let idle = RwSignal::new(
        crate::lock::info().map_or(crate::lock::DEFAULT_IDLE_MINUTES, |i| i.idle_minutes),
    );
    let set_idle = move |m: u32| {
        idle.set(m);
        crate::lock::update(|i| i.idle_minutes = m);
        leptos::task::spawn_local(async {
            let _ = data::save_lock().await;
        });
    };
    let current = RwSignal::new(String::new());
    let new = RwSignal::new(String::new());
    let again = RwSignal::new(String::new());
    let error = RwSignal::new(None::<Msg>);
    let busy = RwSignal::new(false);
    let change = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if busy.get_untracked() {
            return;
        }
        let (c, n, a) = (
            current.get_untracked(),
            new.get_untracked(),
            again.get_untracked(),
        );
        if c.is_empty() {
            error.set(Some(Msg::PinWrongPlain));
            return;
        }
        if !crate::lock::pin_ok(&n) {
            error.set(Some(Msg::PinTooEasy));
            return;
        }
        if n != a {
            error.set(Some(Msg::PinMismatch));
            return;
        }
        busy.set(true);
        error.set(None);
        leptos::task::spawn_local(async move {
            let token = data::token_for_lock();
            match crate::lock::change_pin(&c, &n, token).await {
                Ok(true) => {
                    if data::save_lock().await.is_ok() {
                        for s in [current, new, again] {
                            s.set(String::new());
                        }
                        ctx.notify(Msg::PinChanged, true);
                    } else {
                        ctx.notify(Msg::SaveFailed, false);
                    }
                }
                Ok(false) => error.set(Some(Msg::PinWrongPlain)),
                Err(e) => {
                    leptos::logging::error!("PIN change failed: {e}");
                    ctx.notify(Msg::SaveFailed, false);
                }
            }
            busy.set(false);
        });
    };
    view! {
        <button class="big wide" data-testid="lock-now" on:click=move |_| crate::lock_now()>{move || ctx.t(Msg::LockNow)}</button>
        <div class="field">
            <span class="label" id="lbl-idle">{move || ctx.t(Msg::IdleLock)}</span>
            <div class="chips" role="radiogroup" aria-labelledby="lbl-idle">
                {crate::lock::IDLE_CHOICES.into_iter().map(|m| view! {
                    <button class="chip" role="radio" data-testid=format!("idle-{m}")
                        aria-checked=move || (idle.get() == m).to_string()
                        on:click=move |_| set_idle(m)>
                        {move || ctx.tf(Msg::Minutes, &[("n", &m.to_string())])}
                    </button>
                }).collect_view()}
            </div>
        </div>
        <details class="pin-change">
            <summary>{move || ctx.t(Msg::ChangePin)}</summary>
            <form class="form" autocomplete="off" on:submit=change novalidate data-testid="pin-form">
                <PinInput id="pin-current" label=Msg::CurrentPin value=current/>
                <PinInput id="pin-new" label=Msg::NewPin value=new/>
                <PinInput id="pin-new2" label=Msg::PinAgain value=again/>
                <Show when=move || error.get().is_some()>
                    <p class="error" role="alert">{move || error.get().map(|m| ctx.t(m))}</p>
                </Show>
                <button type="submit" class="big wide" disabled=move || busy.get()>{move || ctx.t(Msg::ChangeButton)}</button>
            </form>
        </details>
    }
}

/// パスワードを変える: needs signal; the server signs out the user's other devices.
#[component]
fn PasswordForm() -> impl IntoView {
    let ctx = use_ctx();
    let current = RwSignal::new(String::new());
    let new = RwSignal::new(String::new());
    let again = RwSignal::new(String::new());
    let errors = RwSignal::new(Vec::<FieldError>::new());
    let busy = RwSignal::new(false);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if busy.get_untracked() {
            return;
        }
        let (cur, n, a) = (
            current.get_untracked(),
            new.get_untracked(),
            again.get_untracked(),
        );
        let mut errs = Vec::new();
        if cur.is_empty() {
            errs.push(FieldError::new("current_password", Msg::Required));
        }
        if n.chars().count() < MIN_PASSWORD_CHARS {
            errs.push(FieldError::new("new_password", Msg::PasswordTooShort));
        } else if n == cur {
            errs.push(FieldError::new("new_password", Msg::PasswordSame));
        }
        if a != n {
            errs.push(FieldError::new("new_password_again", Msg::PasswordMismatch));
        }
        errors.set(errs);
        if !errors.with_untracked(Vec::is_empty) {
            ctx.notify(Msg::FixErrors, false);
            return;
        }
        busy.set(true);
        leptos::task::spawn_local(async move {
            let body = PasswordChange {
                current: cur,
                new: n,
            };
            let r: Result<PasswordChanged, NetError> =
                data::post("/api/password", Some(&body)).await;
            match r {
                Ok(_) => {
                    for s in [current, new, again] {
                        s.set(String::new());
                    }
                    ctx.notify(Msg::PasswordChangedDone, true);
                }
                Err(NetError::Offline) => ctx.notify(Msg::PasswordNeedsSignal, false),
                Err(NetError::Api(401, _)) => {
                    errors.set(vec![FieldError::new(
                        "current_password",
                        Msg::PasswordWrong,
                    )]);
                    ctx.notify(Msg::FixErrors, false);
                }
                Err(NetError::Api(429, _)) => ctx.notify(Msg::ErrThrottled, false),
                Err(_) => ctx.notify(Msg::ErrServer, false),
            }
            busy.set(false);
        });
    };
    view! {
        <details class="password">
            <summary>{move || ctx.t(Msg::PasswordChangeTitle)}</summary>
            <form class="form" autocomplete="off" on:submit=submit novalidate data-testid="password-form">
                <TextField label=Msg::CurrentPassword value=current field="current_password" errors=errors kind="password"/>
                <TextField label=Msg::NewPassword value=new field="new_password" errors=errors kind="password"/>
                <TextField label=Msg::NewPasswordAgain value=again field="new_password_again" errors=errors kind="password"/>
                <button type="submit" class="big wide" disabled=move || busy.get()>{move || ctx.t(Msg::ChangeButton)}</button>
            </form>
        </details>
    }
}
