//! Widgets every screen uses: the sync indicator, the save notice, large choice buttons,
//! field errors.

use crate::state::{Ctx, Route, back, clock, use_ctx};
use leptos::prelude::*;
use shared::i18n::{Msg, code_label};
use shared::validate::FieldError;

/// The bar at the top: where the user is, and the truth about sync (未送信 N件,
/// 最終同期, オフライン).
#[component]
pub fn SyncBar() -> impl IntoView {
    let ctx = use_ctx();
    let s = ctx.sync;
    let pending = move || s.with(|s| s.pending);
    view! {
        <div class="syncbar" role="status" aria-live="polite" data-testid="sync">
            <span class="net" data-online=move || s.with(|s| s.online).to_string()>
                <span class=move || if s.with(|s| s.online) { "dot dot-online" } else { "dot dot-offline" } aria-hidden="true"></span>
                {move || if s.with(|s| s.online) { ctx.t(Msg::Online) } else { ctx.t(Msg::Offline) }}
            </span>
            <span class="pending" data-testid="pending" data-count=move || pending().to_string()>
                {move || if pending() == 0 {
                    ctx.t(Msg::AllSent).to_string()
                } else {
                    ctx.tf(Msg::Unsent, &[("n", &pending().to_string())])
                }}
            </span>
            <span class="last" data-testid="last-sync">
                {move || if s.with(|s| s.syncing) {
                    ctx.t(Msg::Syncing).to_string()
                } else {
                    match s.with(|s| s.last_sync) {
                        Some(t) => ctx.tf(Msg::LastSync, &[("time", &clock(t))]),
                        None => ctx.t(Msg::NeverSynced).to_string(),
                    }
                }}
            </span>
            <Show when=move || { pending() > 0 && !s.with(|s| s.syncing) }>
                <button class="small secondary" data-testid="sync-now" on:click=move |_| crate::sync::request(ctx)>
                    {move || ctx.t(Msg::SyncNow)}
                </button>
            </Show>
            <Show when=move || s.with(|s| s.refused > 0)>
                <p class="warn">{move || ctx.tf(Msg::Refused, &[("n", &s.with(|s| s.refused).to_string())])}</p>
            </Show>
            <Show when=move || s.with(|s| s.session_ended)>
                <p class="warn" data-testid="session-ended">{move || ctx.t(Msg::SessionEnded)}</p>
                // Back to the log-in screen; the data stays (the same user gets it back).
                <button class="small" data-testid="relogin" on:click=move |_| ctx.signed_in.set(false)>
                    {move || ctx.t(Msg::LoginAgain)}
                </button>
            </Show>
        </div>
    }
}

/// The notice after a save; it stays until the next one so nobody misses it.
#[component]
pub fn Notice() -> impl IntoView {
    let ctx = use_ctx();
    view! {
        <Show when=move || ctx.notice.get().is_some()>
            <p class=move || if ctx.notice.get().is_some_and(|n| n.1) { "notice ok" } else { "notice bad" }
               role="alert" data-testid="notice">
                {move || ctx.notice_text.get().or_else(|| ctx.notice.get().map(|(m, _)| ctx.t(m).to_string()))}
            </p>
        </Show>
    }
}

/// A header with a back button and a title.
#[component]
pub fn Header(#[prop(into)] title: Signal<String>) -> impl IntoView {
    let ctx = use_ctx();
    view! {
        <div class="header">
            <button class="back secondary" on:click=move |_| back()>{move || format!("← {}", ctx.t(Msg::Back))}</button>
            <h1 class="screen-title">{move || title.get()}</h1>
        </div>
    }
}

/// One choice among the codes of a list, as large buttons (radio group).
#[component]
pub fn ChooseOne(
    /// The code list (`shared::codes` KIND), for labels.
    kind: &'static str,
    codes: Vec<&'static str>,
    selected: RwSignal<String>,
    label: Msg,
    #[prop(optional)] testid: &'static str,
    #[prop(optional)] allow_none: bool,
) -> impl IntoView {
    let ctx = use_ctx();
    let id = format!("lbl-{kind}-{testid}");
    view! {
        <div class="field">
            <span class="label" id=id.clone()>{move || ctx.t(label)}</span>
            <div class="chips" role="radiogroup" aria-labelledby=id data-testid=testid>
                {codes.into_iter().map(|code| {
                    let on = move || selected.with(|s| s == code);
                    view! {
                        <button type="button" class="chip" role="radio"
                            aria-checked=move || on().to_string()
                            data-code=code
                            on:click=move |_| selected.update(|s| {
                                if allow_none && s == code { s.clear() } else { *s = code.to_string() }
                            })>
                            {move || code_label(kind, code, ctx.lang.get()).unwrap_or(code)}
                        </button>
                    }
                }).collect_view()}
            </div>
        </div>
    }
}

/// Any number of codes of a list, as toggle buttons.
#[component]
pub fn ChooseMany(
    kind: &'static str,
    codes: Vec<&'static str>,
    selected: RwSignal<Vec<String>>,
    label: Msg,
    #[prop(optional)] testid: &'static str,
) -> impl IntoView {
    let ctx = use_ctx();
    let id = format!("lbl-{kind}-{testid}");
    view! {
        <div class="field">
            <span class="label" id=id.clone()>{move || ctx.t(label)}</span>
            <div class="chips" role="group" aria-labelledby=id data-testid=testid>
                {codes.into_iter().map(|code| {
                    let on = move || selected.with(|s| s.iter().any(|c| c == code));
                    view! {
                        <button type="button" class="chip" aria-pressed=move || on().to_string()
                            data-code=code
                            on:click=move |_| selected.update(|s| {
                                if let Some(i) = s.iter().position(|c| c == code) { s.remove(i); } else { s.push(code.to_string()); }
                            })>
                            {move || code_label(kind, code, ctx.lang.get()).unwrap_or(code)}
                        </button>
                    }
                }).collect_view()}
            </div>
        </div>
    }
}

/// The error text for `field` among `errors`, in the current language.
pub fn field_error(
    ctx: Ctx,
    errors: RwSignal<Vec<FieldError>>,
    field: &'static str,
) -> impl IntoView {
    move || {
        errors.with(|es| {
            es.iter().find(|e| e.field == field).map(|e| {
                view! { <p class="error" role="alert" data-testid=format!("error-{field}")>{e.text(ctx.lang.get())}</p> }
            })
        })
    }
}

/// A text input bound to a signal, with its label and error.
#[component]
pub fn TextField(
    label: Msg,
    value: RwSignal<String>,
    field: &'static str,
    errors: RwSignal<Vec<FieldError>>,
    #[prop(optional)] kind: &'static str,
    #[prop(optional)] multiline: bool,
    #[prop(optional)] max: Option<String>,
) -> impl IntoView {
    let ctx = use_ctx();
    let id = format!("f-{field}");
    let invalid = move || {
        errors
            .with(|es| es.iter().any(|e| e.field == field))
            .to_string()
    };
    let input = if multiline {
        view! {
            <textarea id=id.clone() name=field rows="4" autocomplete="off" aria-invalid=invalid
                prop:value=move || value.get()
                on:input=move |ev| value.set(event_target_value(&ev))></textarea>
        }
        .into_any()
    } else {
        view! {
            <input id=id.clone() name=field autocomplete="off" type=if kind.is_empty() { "text" } else { kind }
                max=max aria-invalid=invalid
                prop:value=move || value.get()
                on:input=move |ev| value.set(event_target_value(&ev)) />
        }
        .into_any()
    };
    view! {
        <div class="field">
            <label for=id>{move || ctx.t(label)}</label>
            {input}
            {field_error(ctx, errors, field)}
        </div>
    }
}

/// The navigation at the bottom: large buttons for the screens this user has.
#[component]
pub fn BottomNav() -> impl IntoView {
    let ctx = use_ctx();
    let items = move || {
        let (visits, salons, map) = crate::store::with(|s| {
            let d = s.and_then(|s| s.directory.as_ref());
            (
                d.is_some_and(|d| !d.people.is_empty()),
                d.is_some_and(|d| !d.salons.is_empty()),
                d.is_some_and(|d| d.districts.iter().any(|x| x.map_doc.is_some())),
            )
        });
        ctx.rev.track();
        let mut v = Vec::new();
        if visits || !salons {
            v.push((Route::Home, Msg::Today, "nav-today"));
        }
        if salons {
            v.push((Route::Salons, Msg::Salons, "nav-salons"));
        }
        if map {
            v.push((Route::Map(None), Msg::SupportMap, "nav-map"));
        }
        if crate::routes::office::is_staff() {
            v.push((Route::Desk("overdue".into()), Msg::DeskTitle, "nav-desk"));
        }
        v.push((Route::Settings, Msg::Settings, "nav-settings"));
        v
    };
    view! {
        <nav class="bottomnav" aria-label="menu">
            {move || items().into_iter().map(|(r, m, tid)| {
                let r2 = r.clone();
                let current = move || {
                    let cur = ctx.route.get();
                    let same = match (&cur, &r2) {
                        (Route::Home | Route::Person(_) | Route::Visit(_) | Route::Consult(_) | Route::Consent(_), Route::Home) => true,
                        (Route::Salons | Route::Salon(_) | Route::Session(..) | Route::Member(_), Route::Salons) => true,
                        (Route::Map(_), Route::Map(_)) => true,
                        (Route::Desk(_), Route::Desk(_)) => true,
                        (a, b) => a == b,
                    };
                    if same { "page" } else { "false" }
                };
                view! {
                    <a href=r.href() data-testid=tid aria-current=current>{move || ctx.t(m)}</a>
                }
            }).collect_view()}
        </nav>
    }
}

/// Saves through the store and tells the user: 保存しました only once it is durable.
pub async fn save_and_tell<R>(
    ctx: Ctx,
    doc: &str,
    f: impl FnOnce(&mut automerge::transaction::Transaction<'_>) -> Result<R, shared::crdt::CrdtError>,
) -> bool {
    match crate::store::save(doc, f).await {
        Ok(_) => {
            ctx.notify(Msg::Saved, true);
            ctx.bump();
            crate::sync::refresh_status(ctx);
            crate::after_save(ctx);
            true
        }
        Err(e) => {
            leptos::logging::error!("save failed: {e}");
            ctx.notify(Msg::SaveFailed, false);
            false
        }
    }
}
