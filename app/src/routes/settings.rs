//! 設定: text size, language, who is signed in, log-out.

use crate::state::{TEXT_SIZES, set_pref, use_ctx};
use crate::store;
use leptos::prelude::*;
use shared::i18n::{Lang, Msg};

#[component]
pub fn Settings() -> impl IntoView {
    let ctx = use_ctx();
    let who = store::with(|s| {
        s.and_then(|s| {
            s.user()
                .map(|u| format!("{}（{}）· {}", u.name, u.login, u.org_name))
        })
    })
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
            if let Some(token) = store::with(|s| s.and_then(|s| s.token())) {
                let _: Result<serde_json::Value, _> =
                    crate::net::json("POST", "/api/logout", Some(&token), None::<&()>).await;
            }
            if store::wipe().await.is_err() {
                ctx.notify(Msg::SaveFailed, false);
                return;
            }
            ctx.signed_in.set(false);
            ctx.notice.set(None);
            crate::sync::refresh_status(ctx);
            ctx.bump();
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
        <button class="big secondary wide" data-testid="logout" on:click=logout>{move || ctx.t(Msg::Logout)}</button>
    }
}
