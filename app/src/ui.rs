//! Widgets every screen uses: the sync indicator, the save notice, large choice buttons,
//! field errors.

use crate::data::{self, Access, Home};
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
                <button class="small secondary" data-testid="sync-now" on:click=move |_| data::sync_now(ctx)>
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

/// The notice after a save or a failure: it floats over the bottom of the screen (nothing
/// on the page moves), belongs to the screen it was made for (gone when the user goes
/// elsewhere), and after a save that created a record offers 取り消す.
#[component]
pub fn Notice() -> impl IntoView {
    let ctx = use_ctx();
    let undoing = RwSignal::new(false);
    view! {
        <div class="notice-layer" role="status" aria-live="polite">
            {move || ctx.notice.get().map(|n| {
                let text = n.text.clone().unwrap_or_else(|| ctx.t(n.msg).to_string());
                let undo = n.undo.clone();
                view! {
                    <div class=if n.ok { "notice ok" } else { "notice bad" } data-testid="notice-box">
                        <span data-testid="notice">{text}</span>
                        {undo.map(|u| view! {
                            <button class="small secondary" data-testid="undo" disabled=move || undoing.get()
                                on:click=move |_| {
                                    if undoing.get_untracked() { return; }
                                    undoing.set(true);
                                    let u = u.clone();
                                    leptos::task::spawn_local(async move {
                                        crate::data::undo(ctx, u).await;
                                        undoing.set(false);
                                    });
                                }>
                                {move || ctx.t(Msg::Undo)}
                            </button>
                        })}
                    </div>
                }
            })}
        </div>
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
        ctx.rev.track();
        let (visits, salons, map) = data::directory(|d| {
            (
                !d.people.is_empty(),
                !d.salons.is_empty(),
                d.districts.iter().any(|x| x.map_doc.is_some()),
            )
        })
        .unwrap_or_default();
        let mut v = Vec::new();
        // きょう: people to visit; also the first screen of a user whose directory has
        // not come yet, unless their work is a salon.
        if visits || (!salons && data::home() != Home::Salons) {
            v.push((Route::Home, Msg::Today, "nav-today"));
        }
        if salons {
            v.push((Route::Salons, Msg::Salons, "nav-salons"));
        }
        if map {
            v.push((Route::Map(None), Msg::SupportMap, "nav-map"));
        }
        if data::allowed(|u| u.is_staff()) {
            v.push((Route::Desk("overdue".into()), Msg::DeskTitle, "nav-desk"));
        }
        v.push((Route::Settings, Msg::Settings, "nav-settings"));
        v
    };
    view! {
        <nav class="bottomnav" aria-label=move || ctx.t(Msg::MenuLabel)>
            {move || items().into_iter().map(|(r, m, tid)| {
                let r2 = r.clone();
                let current = move || {
                    let cur = ctx.route.get();
                    let same = match (&cur, &r2) {
                        (Route::Home | Route::Person(_) | Route::Visit(_) | Route::EditVisit(..) | Route::Consult(_) | Route::EditConsult(..) | Route::Consent(_), Route::Home) => true,
                        (Route::Salons | Route::Salon(_) | Route::Session(..) | Route::Member(_), Route::Salons) => true,
                        (Route::Home, Route::Salons) => data::home() == Home::Salons,
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
