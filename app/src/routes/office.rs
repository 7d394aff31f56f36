//! The evacuation roster (民生委員, 自主防災組織, staff), and two office tools for staff:
//! disaster mode and the audit log.

use crate::data::{self, Kept, NetError};
use crate::state::{Ctx, clock, date_time, use_ctx};
use crate::ui::{ChooseOne, Header, TextField};
use leptos::prelude::*;
use shared::api::{AuditEntry, AuditPage, DisasterMode, DisasterStart, Roster};
use shared::i18n::{Msg, code_label};
use shared::validate::FieldError;

/// 避難支援の名簿: the last copy kept (sealed) on the phone, refreshed when there is signal.
#[component]
pub fn RosterScreen() -> impl IntoView {
    let ctx = use_ctx();
    const PATH: &str = "/api/roster";
    // Fetched when there is signal and kept sealed on the phone; until the answer comes
    // (or without signal) the kept copy is shown.
    let fresh = data::server_read::<Roster>(|| Some(PATH.to_string()), Some(Kept::Roster));
    Effect::new(move |_| {
        if let Some(Some(Err(e))) = fresh.get()
            && !matches!(e, NetError::Offline)
        {
            data::tell(ctx, &e);
        }
    });
    let roster = move || {
        fresh
            .get()
            .flatten()
            .and_then(Result::ok)
            .or_else(|| data::kept_answer::<Roster>(Kept::Roster, PATH))
            .map(|f| f.value)
    };
    let title = Signal::derive(move || ctx.t(Msg::RosterTitle).to_string());
    view! {
        <Header title=title/>
        {move || match roster() {
            None => view! { <p class="hint" data-testid="roster-offline">{ctx.t(Msg::RosterOffline)}</p> }.into_any(),
            Some(r) => {
                let now = data::now_ms() as i64;
                let active: Vec<DisasterMode> = r.disaster.iter().filter(|d| d.active_at(now)).cloned().collect();
                let lang = ctx.lang.get();
                view! {
                    {active.into_iter().map(|d| view! {
                        <p class="banner warn" role="alert" data-testid="disaster-banner">
                            {ctx.tf(Msg::DisasterActive, &[("district", &d.district_name), ("time", &clock(d.ends_at as f64))])}
                        </p>
                    }).collect_view()}
                    <p class="hint">{ctx.t(Msg::RosterHelp)}</p>
                    <p class="sub" data-testid="roster-time">{ctx.tf(Msg::RosterAsOf, &[("time", &clock(r.fetched_at as f64))])}</p>
                    {r.people.is_empty().then(|| view! { <p>{ctx.t(Msg::RosterEmpty)}</p> })}
                    <ul class="cards" data-testid="roster">
                        {r.people.into_iter().map(|p| {
                            let mut contacts = p.contacts.clone();
                            contacts.sort_by_key(|c| c.order);
                            view! {
                                <li class="card" data-testid="roster-entry" data-name=p.name.clone() data-consented=p.consented.to_string()>
                                    <span class="name">{p.name.clone()}</span>
                                    <span class="sub">{p.kana.clone()} " · " {data::district_name(&p.district)}
                                        {p.household.as_ref().map(|h| format!(" · {}", h.label(lang)))}</span>
                                    {(!p.consented).then(|| view! { <span class="badge warn">{ctx.t(Msg::RosterNoConsent)}</span> })}
                                    <span>{p.address.clone()}</span>
                                    {(!p.phone.is_empty()).then(|| view! { <a href=format!("tel:{}", p.phone)>{p.phone.clone()}</a> })}
                                    {(!p.support_needed.is_empty()).then(|| view! { <span>{ctx.t(Msg::RosterSupport)} ": " {p.support_needed.clone()}</span> })}
                                    {(!p.helper.is_empty()).then(|| view! { <span>{ctx.t(Msg::RosterHelper)} ": " {p.helper.clone()}</span> })}
                                    {(!p.shelter.is_empty()).then(|| view! { <span>{ctx.t(Msg::RosterShelter)} ": " {p.shelter.clone()}</span> })}
                                    <ul>
                                        {contacts.into_iter().map(|c| view! {
                                            <li>{c.name} "（" {c.relation} "） " <a href=format!("tel:{}", c.phone)>{c.phone.clone()}</a></li>
                                        }).collect_view()}
                                    </ul>
                                </li>
                            }
                        }).collect_view()}
                    </ul>
                }.into_any()
            }
        }}
    }
}

/// 災害モード (staff): open a district's roster to its responders for a limited time.
#[component]
pub fn DisasterScreen() -> impl IntoView {
    let ctx = use_ctx();
    let districts: Vec<(String, String)> = data::district_choices();
    let district = RwSignal::new(districts.first().map(|d| d.0.clone()).unwrap_or_default());
    let hours = RwSignal::new("24".to_string());
    let reason = RwSignal::new(String::new());
    let errors = RwSignal::new(Vec::<FieldError>::new());
    let modes = data::server_read::<Vec<DisasterMode>>(|| Some("/api/disaster".into()), None);
    Effect::new(move |_| {
        if let Some(Some(Err(e))) = modes.get() {
            tell(ctx, &e);
        }
    });
    // Starting and ending a mode are actions; each refetches the list when it is done.
    let start = data::post_action::<DisasterStart, DisasterMode>();
    let end = Action::new_local(|id: &String| {
        let path = format!("/api/disaster/{id}/end");
        async move { data::post::<(), DisasterMode>(&path, None).await }
    });
    Effect::new(move |_| match start.value().get() {
        Some(Ok(_)) => {
            reason.set(String::new());
            ctx.notify(Msg::DisasterStarted, true);
            modes.refetch();
        }
        Some(Err(e)) => tell(ctx, &e),
        None => {}
    });
    Effect::new(move |_| match end.value().get() {
        Some(Ok(_)) => {
            ctx.notify(Msg::DisasterEnded, true);
            modes.refetch();
        }
        Some(Err(e)) => tell(ctx, &e),
        None => {}
    });
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if start.pending().get_untracked() {
            return;
        }
        let r = reason.get_untracked();
        if r.trim().is_empty() {
            errors.set(vec![FieldError::new("reason", Msg::Required)]);
            ctx.notify(Msg::FixErrors, false);
            return;
        }
        errors.set(Vec::new());
        let d = district.get_untracked();
        let text = ctx.tf(
            Msg::DisasterConfirm,
            &[("district", &data::district_name(&d))],
        );
        if !web_sys::window().is_some_and(|w| w.confirm_with_message(&text).unwrap_or(false)) {
            return;
        }
        let body = DisasterStart {
            district: d,
            hours: hours.get_untracked().parse().unwrap_or(24),
            reason: r.trim().to_string(),
        };
        start.dispatch(("/api/disaster".to_string(), body));
    };
    let title = Signal::derive(move || ctx.t(Msg::DisasterTitle).to_string());
    view! {
        <Header title=title/>
        <p class="hint">{move || ctx.t(Msg::DisasterHelp)}</p>
        <form class="form" autocomplete="off" on:submit=submit novalidate data-testid="disaster-form">
            <div class="field">
                <label for="disaster-district">{move || ctx.t(Msg::DisasterDistrict)}</label>
                <select id="disaster-district" on:change=move |ev| district.set(event_target_value(&ev))>
                    {districts.iter().map(|(id, name)| view! {
                        <option value=id.clone() selected=*id == district.get_untracked()>{name.clone()}</option>
                    }).collect_view()}
                </select>
            </div>
            <ChooseOne kind="hours" codes=vec!["6", "24", "72"] selected=hours label=Msg::DisasterHours testid="hours"/>
            <TextField label=Msg::DisasterReason value=reason field="reason" errors=errors/>
            <button type="submit" class="big wide warn-button" data-testid="start-disaster" disabled=move || start.pending().get()>{move || ctx.t(Msg::DisasterStart)}</button>
        </form>
        <h2>{move || ctx.t(Msg::DisasterList)}</h2>
        {move || {
            let now = data::now_ms() as i64;
            let list = modes.get().flatten().and_then(Result::ok).map(|f| f.value).unwrap_or_default();
            if list.is_empty() {
                return view! { <p>{ctx.t(Msg::DisasterNone)}</p> }.into_any();
            }
            view! {
                <ul class="cards" data-testid="disasters">
                    {list.into_iter().map(|m| {
                        let active = m.active_at(now);
                        let id = m.id.clone();
                        let until = m.ended_at.unwrap_or(m.ends_at);
                        view! {
                            <li class="card" data-testid="disaster" data-active=active.to_string()>
                                <span class="name">{m.district_name.clone()} " — " {m.reason.clone()}</span>
                                <span class="sub">{ctx.tf(Msg::DisasterUntil, &[("start", &clock(m.started_at as f64)), ("end", &clock(until as f64)), ("by", &m.started_by)])}</span>
                                {active.then(|| view! {
                                    <button class="secondary" data-testid="end-disaster" on:click=move |_| { end.dispatch(id.clone()); }>{ctx.t(Msg::DisasterEnd)}</button>
                                })}
                            </li>
                        }
                    }).collect_view()}
                </ul>
            }.into_any()
        }}
    }
}

fn tell(ctx: Ctx, e: &NetError) {
    match e {
        NetError::Offline => ctx.notify(Msg::NeedsSignal2, false),
        NetError::Api(429, _) => ctx.notify(Msg::ErrThrottled, false),
        _ => ctx.notify(Msg::ErrServer, false),
    }
}

/// 監査ログ (staff): filter by action, person and day; newest first, page by page.
#[component]
pub fn AuditScreen() -> impl IntoView {
    let ctx = use_ctx();
    let users: Vec<(String, String)> = data::user_choices();
    let action = RwSignal::new(String::new());
    let user = RwSignal::new(String::new());
    let since = RwSignal::new(String::new());
    let entries = RwSignal::new(Vec::<AuditEntry>::new());
    let actions = RwSignal::new(Vec::<String>::new());
    let next = RwSignal::new(None::<i64>);
    let loaded = RwSignal::new(false);
    let errors = RwSignal::new(Vec::<FieldError>::new());
    // A page is fetched by an action: the first page replaces the list, 「もっと見る」
    // appends the next.
    let page = Action::new_local(|(path, _more): &(String, bool)| {
        let path = path.clone();
        async move { data::get::<AuditPage>(&path, None).await }
    });
    Effect::new(move |_| {
        let more = page
            .input()
            .with_untracked(|i| i.as_ref().is_some_and(|(_, m)| *m));
        match page.value().get() {
            Some(Ok(p)) => {
                let p = p.value;
                if more {
                    entries.update(|e| e.extend(p.entries));
                } else {
                    entries.set(p.entries);
                }
                next.set(p.next_before);
                actions.set(p.actions);
                loaded.set(true);
            }
            Some(Err(e)) => tell(ctx, &e),
            None => {}
        }
    });
    let fetch = move |before: Option<i64>| {
        let mut q = vec!["limit=100".to_string()];
        let enc = |s: &str| String::from(js_sys::encode_uri_component(s));
        let a = action.get_untracked();
        if !a.is_empty() {
            q.push(format!("action={}", enc(&a)));
        }
        let u = user.get_untracked();
        if !u.is_empty() {
            q.push(format!("user={}", enc(&u)));
        }
        let s = since.get_untracked();
        if !s.trim().is_empty() {
            match shared::validate::parse_date_field("since", s.trim()) {
                Ok(d) => q.push(format!("since={}", d.start_unix_ms_jst())),
                Err(e) => {
                    errors.set(vec![e]);
                    return;
                }
            }
        }
        errors.set(Vec::new());
        if let Some(b) = before {
            q.push(format!("before={b}"));
        }
        let path = format!("/api/audit?{}", q.join("&"));
        page.dispatch((path, before.is_some()));
    };
    fetch(None);
    let label = move |code: &str| {
        code_label("audit", code, ctx.lang.get())
            .map(str::to_string)
            .unwrap_or_else(|| code.to_string())
    };
    let title = Signal::derive(move || ctx.t(Msg::AuditTitle).to_string());
    view! {
        <Header title=title/>
        <form class="form filters" data-testid="audit-filters" on:submit=move |ev| { ev.prevent_default(); fetch(None); }>
            <div class="field">
                <label for="audit-action">{move || ctx.t(Msg::AuditAction)}</label>
                <select id="audit-action" on:change=move |ev| action.set(event_target_value(&ev))>
                    <option value="">{move || ctx.t(Msg::AuditAll)}</option>
                    {move || actions.get().into_iter().map(|a| {
                        let text = label(&a);
                        let selected = a == action.get_untracked();
                        view! { <option value=a selected=selected>{text}</option> }
                    }).collect_view()}
                </select>
            </div>
            <div class="field">
                <label for="audit-user">{move || ctx.t(Msg::AuditUser)}</label>
                <select id="audit-user" on:change=move |ev| user.set(event_target_value(&ev))>
                    <option value="">{move || ctx.t(Msg::AuditAll)}</option>
                    {users.into_iter().map(|(id, name)| view! { <option value=id>{name}</option> }).collect_view()}
                </select>
            </div>
            <TextField label=Msg::AuditSince value=since field="since" errors=errors kind="date"/>
            <button type="submit" class="big wide" data-testid="audit-show">{move || ctx.t(Msg::AuditShow)}</button>
        </form>
        <Show when=move || loaded.get() && entries.with(Vec::is_empty)>
            <p>{move || ctx.t(Msg::AuditEmpty)}</p>
        </Show>
        <ul class="cards audit" data-testid="audit">
            {move || entries.get().into_iter().map(|e| view! {
                <li class="card" data-testid="audit-entry" data-action=e.action.clone()>
                    <span class="name">{label(&e.action)}</span>
                    <span class="sub" data-testid="audit-time">{date_time(e.at as f64)} " · " {e.user_name.clone().unwrap_or_else(|| "—".into())}
                        {e.doc_id.as_ref().map(|d| format!(" · {}", &d[..d.len().min(8)]))}</span>
                    {(!e.detail.is_empty()).then(|| view! { <span class="sub">{e.detail.clone()}</span> })}
                </li>
            }).collect_view()}
        </ul>
        <Show when=move || next.get().is_some()>
            <button class="secondary wide" data-testid="audit-more" on:click=move |_| fetch(next.get_untracked())>{move || ctx.t(Msg::AuditMore)}</button>
        </Show>
    }
}

/// 利用者の端末 (staff): any user's devices, and signing one out (a lost phone).
#[component]
pub fn UserDevicesScreen() -> impl IntoView {
    let ctx = use_ctx();
    let users: Vec<(String, String)> = data::user_choices();
    let user = RwSignal::new(users.first().map(|u| u.0.clone()).unwrap_or_default());
    let title = Signal::derive(move || ctx.t(Msg::UserDevicesTitle).to_string());
    view! {
        <Header title=title/>
        <div class="field">
            <label for="devices-user">{move || ctx.t(Msg::AuditUser)}</label>
            <select id="devices-user" on:change=move |ev| user.set(event_target_value(&ev))>
                {users.into_iter().map(|(id, name)| view! { <option value=id>{name}</option> }).collect_view()}
            </select>
        </div>
        <crate::routes::devices::Devices of=user/>
    }
}
