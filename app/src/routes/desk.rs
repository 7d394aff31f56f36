//! The coordinator's desk (社協職員 at a PC): the overdue watch board, the follow-up inbox,
//! the reports with their CSV exports and print view, assignments and the roster import.
//! Every figure comes from the server (SQL projections); the last answer of each screen is
//! kept (sealed) so the desk still shows it without signal, saying when it was fetched.

use crate::data::{self, Kept, NetError};
use crate::state::{Ctx, Route, clock, use_ctx};
use crate::ui::ChooseOne;
use leptos::prelude::*;
use serde::Serialize;
use serde::de::DeserializeOwned;
use shared::codes::{Frequency, Referral};
use shared::crdt;
use shared::desk::{
    AssignmentChange, DeskUser, DistrictReport, FollowupInbox, GrantMove, IMPORT_COLUMNS,
    ImportResult, MinseiReport, MinseiRow, OverdueBoard, PersonMove, ProblemItem, SalonReport,
    SalonRow, Unassignment,
};
use shared::i18n::{Msg, code_label};
use shared::model::FollowupDone;
use std::collections::BTreeMap;
use wasm_bindgen::JsCast;

/// The desk's screens.
pub const TABS: [(&str, Msg); 5] = [
    ("overdue", Msg::DeskOverdue),
    ("followups", Msg::DeskFollowups),
    ("reports", Msg::DeskReports),
    ("people", Msg::DeskPeople),
    ("import", Msg::DeskImport),
];

/// A desk screen's server read: `GET path()` as a resource, fetched again when the path
/// changes or `refresh` is bumped; the answer is kept sealed on the phone (under
/// [`Kept::Desk`]) for use without signal. Gives the answer and, when it is a kept one
/// (offline), the time it was fetched; a failure is told once per answer.
fn desk_read<T>(
    ctx: Ctx,
    path: impl Fn() -> Option<String> + 'static,
    refresh: RwSignal<u32>,
) -> (Signal<Option<T>>, Signal<Option<f64>>)
where
    T: DeserializeOwned + Serialize + Clone + Send + Sync + 'static,
{
    let answer = data::server_read::<T>(
        move || {
            refresh.track();
            path()
        },
        Some(Kept::Desk),
    );
    Effect::new(move || {
        if let Some(Some(Err(e))) = answer.get() {
            match e {
                NetError::Api(400, e) => ctx.notify_text(e.message),
                e => tell(ctx, &e),
            }
        }
    });
    // The last good answer stays on screen while a new one is fetched or fails.
    let last = RwSignal::new(None::<data::Fetched<T>>);
    Effect::new(move || {
        if let Some(Some(Ok(f))) = answer.get() {
            last.set(Some(f));
        }
    });
    (
        Signal::derive(move || last.get().map(|f| f.value)),
        Signal::derive(move || last.get().and_then(|f| f.kept_at)),
    )
}

fn tell(ctx: Ctx, e: &NetError) {
    match e {
        NetError::Offline => ctx.notify(Msg::DeskNeedsSignal, false),
        NetError::Api(403, _) => ctx.notify(Msg::DeskNoRight, false),
        _ => ctx.notify(Msg::ErrServer, false),
    }
}

/// "オフライン: 14:05 時点の内容です" when a kept answer is shown.
fn stale_note(ctx: Ctx, at: Signal<Option<f64>>) -> impl IntoView {
    move || {
        at.get().map(|t| {
            view! { <p class="hint" data-testid="desk-stale">{ctx.tf(Msg::DeskStale, &[("time", &clock(t))])}</p> }
        })
    }
}

fn label(kind: &str, code: &str, ctx: Ctx) -> String {
    code_label(kind, code, ctx.lang.get())
        .map(str::to_string)
        .unwrap_or_else(|| code.to_string())
}

#[component]
pub fn Desk(tab: String) -> impl IntoView {
    let ctx = use_ctx();
    let current = tab.clone();
    view! {
        <h1 class="screen-title">{move || ctx.t(Msg::DeskTitle)}</h1>
        <nav class="desk-tabs no-print" aria-label=move || ctx.t(Msg::DeskTabsLabel)>
            {TABS.iter().map(|(t, m)| {
                let (t, m) = (*t, *m);
                let here = if t == current { "page" } else { "false" };
                view! { <a href=Route::Desk(t.to_string()).href() aria-current=here data-testid=format!("desk-{t}")>{move || ctx.t(m)}</a> }
            }).collect_view()}
        </nav>
        {match tab.as_str() {
            "followups" => view! { <Followups/> }.into_any(),
            "reports" => view! { <Reports/> }.into_any(),
            "people" => view! { <People/> }.into_any(),
            "import" => view! { <Import/> }.into_any(),
            _ => view! { <Overdue/> }.into_any(),
        }}
    }
}

/// 見守りが遅れている人: the overdue board, filtered by district and visitor.
#[component]
fn Overdue() -> impl IntoView {
    let ctx = use_ctx();
    let refresh = RwSignal::new(0u32);
    let (board, stale) =
        desk_read::<OverdueBoard>(ctx, || Some("/api/desk/overdue".into()), refresh);
    let district = RwSignal::new(String::new());
    let visitor = RwSignal::new(String::new());
    let load = move || refresh.update(|n| *n += 1);
    let export = move |sjis: bool| download(ctx, "overdue", String::new(), sjis, false);
    view! {
        {stale_note(ctx, stale)}
        <div class="desk-bar no-print">
            <button class="secondary" data-testid="desk-refresh" on:click=move |_| load()>{move || ctx.t(Msg::DeskRefresh)}</button>
            <button class="secondary" data-testid="csv-utf8" on:click=move |_| export(false)>{move || ctx.t(Msg::CsvUtf8)}</button>
            <button class="secondary" on:click=move |_| export(true)>{move || ctx.t(Msg::CsvSjis)}</button>
            <button class="secondary" on:click=move |_| print()>{move || ctx.t(Msg::Print)}</button>
        </div>
        {move || board.get().map(|b| {
            let districts = b.by_district.clone();
            let visitors = b.by_visitor.clone();
            view! {
                <p data-testid="overdue-count">{ctx.tf(Msg::DeskOverdueCount, &[("n", &b.people.len().to_string()), ("date", &b.as_of.map(|d| d.to_string()).unwrap_or_default())])}</p>
                <div class="filters no-print">
                    <div class="field">
                        <label for="f-district">{ctx.t(Msg::DisasterDistrict)}</label>
                        <select id="f-district" on:change=move |ev| district.set(event_target_value(&ev))>
                            <option value="">{ctx.t(Msg::AuditAll)}</option>
                            {districts.into_iter().map(|d| view! { <option value=d.id.clone()>{format!("{}（{}）", d.name, d.overdue)}</option> }).collect_view()}
                        </select>
                    </div>
                    <div class="field">
                        <label for="f-visitor">{ctx.t(Msg::DeskVisitor)}</label>
                        <select id="f-visitor" on:change=move |ev| visitor.set(event_target_value(&ev))>
                            <option value="">{ctx.t(Msg::AuditAll)}</option>
                            {visitors.into_iter().map(|v| {
                                let name = if v.id.is_empty() { ctx.t(Msg::DeskNobody).to_string() } else { v.name.clone() };
                                view! { <option value=v.id.clone()>{format!("{}（{}）", name, v.overdue)}</option> }
                            }).collect_view()}
                        </select>
                    </div>
                </div>
                <table class="desk-table" data-testid="overdue">
                    <thead><tr>
                        <th>{ctx.t(Msg::DeskName)}</th><th>{ctx.t(Msg::DisasterDistrict)}</th><th>{ctx.t(Msg::DeskVisitor)}</th>
                        <th>{ctx.t(Msg::DeskFrequency)}</th><th>{ctx.t(Msg::DeskLastContact)}</th><th>{ctx.t(Msg::DeskOverdueDays)}</th><th>{ctx.t(Msg::DeskLastVisit)}</th>
                    </tr></thead>
                    <tbody>
                        {move || {
                            let (d, v) = (district.get(), visitor.get());
                            b.people.iter().filter(|p| {
                                (d.is_empty() || p.district.as_deref() == Some(d.as_str()))
                                    && (v.is_empty() || p.visitors.iter().any(|x| x.id == v) || (v.is_empty() && p.visitors.is_empty()))
                            }).cloned().map(|p| {
                                let visitors = if p.visitors.is_empty() { ctx.t(Msg::DeskNobody).to_string() } else { p.visitors.iter().map(|v| v.name.clone()).collect::<Vec<_>>().join("、") };
                                view! {
                                    <tr data-testid="overdue-row" data-doc=p.doc.clone() class:warn-row=p.not_home_warning>
                                        <td class="lead"><a href=Route::Person(p.doc.clone()).href()>{p.name.clone()}</a></td>
                                        <td data-label=ctx.t(Msg::DisasterDistrict)>{p.district_name.clone()}</td>
                                        <td data-label=ctx.t(Msg::DeskVisitor)>{visitors}</td>
                                        <td data-label=ctx.t(Msg::DeskFrequency)>{label("frequency", p.frequency.code(), ctx)}</td>
                                        <td data-label=ctx.t(Msg::DeskLastContact)>{p.last_contact.map(|d| d.to_string()).unwrap_or_else(|| "—".into())}</td>
                                        <td data-label=ctx.t(Msg::DeskOverdueDays)>{(p.overdue_days > 0).then(|| ctx.tf(Msg::DeskDays, &[("n", &p.overdue_days.to_string())]))}
                                            {p.not_home_warning.then(|| view! { <span class="badge warn">{ctx.tf(Msg::NotHomeStreak, &[("n", &p.not_home_streak.to_string())])}</span> })}</td>
                                        <td data-label=ctx.t(Msg::DeskLastVisit)>{p.last_visit.map(|l| format!("{} {} {}", l.date.map(|d| d.to_string()).unwrap_or_default(), label("outcome", l.outcome.code(), ctx), l.note)).unwrap_or_default()}</td>
                                    </tr>
                                }
                            }).collect_view()
                        }}
                    </tbody>
                </table>
            }
        })}
    }
}

/// フォローが必要なこと: open items, oldest first; recording what was done closes one.
#[component]
fn Followups() -> impl IntoView {
    let ctx = use_ctx();
    let refresh = RwSignal::new(0u32);
    let (inbox, stale) =
        desk_read::<FollowupInbox>(ctx, || Some("/api/desk/followups".into()), refresh);
    let load = move || refresh.update(|n| *n += 1);
    let open = RwSignal::new(None::<String>);
    let note = RwSignal::new(String::new());
    // Done on this phone but not yet on the server's list: hidden at once.
    let done_here = move |doc: &str, source: &str| {
        ctx.rev.track();
        data::read::<shared::model::Person>(doc).is_some_and(|p| p.0.followups.contains_key(source))
    };
    let record = move |doc: String, source: String| {
        let n = note.get_untracked();
        if n.trim().is_empty() {
            ctx.notify(Msg::Required, false);
            return;
        }
        let done = FollowupDone {
            on: data::today(),
            by: data::my_id(),
            note: n.trim().to_string(),
        };
        leptos::task::spawn_local(async move {
            let src = source.clone();
            if data::save_here(ctx, &doc, None, move |tx| {
                crdt::save_at(tx, &["followups", &src], &done)
            })
            .await
            .is_ok()
            {
                open.set(None);
                note.set(String::new());
            }
        });
    };
    let export = move |sjis: bool| download(ctx, "followups", String::new(), sjis, false);
    view! {
        {stale_note(ctx, stale)}
        <div class="desk-bar no-print">
            <button class="secondary" data-testid="desk-refresh" on:click=move |_| load()>{move || ctx.t(Msg::DeskRefresh)}</button>
            <button class="secondary" on:click=move |_| export(false)>{move || ctx.t(Msg::CsvUtf8)}</button>
            <button class="secondary" on:click=move |_| export(true)>{move || ctx.t(Msg::CsvSjis)}</button>
            <button class="secondary" on:click=move |_| print()>{move || ctx.t(Msg::Print)}</button>
        </div>
        <table class="desk-table" data-testid="followups">
            <thead><tr>
                <th>{move || ctx.t(Msg::DeskRaised)}</th><th>{move || ctx.t(Msg::DeskName)}</th><th>{move || ctx.t(Msg::DisasterDistrict)}</th>
                <th>{move || ctx.t(Msg::DeskWhat)}</th><th>{move || ctx.t(Msg::DeskOwner)}</th><th class="no-print"></th>
            </tr></thead>
            <tbody>
                {move || inbox.get().map(|b| b.items.into_iter().filter(|i| !done_here(&i.doc, &i.source)).map(|i| {
                    let (doc, source) = (i.doc.clone(), i.source.clone());
                    let key = format!("{doc}/{source}");
                    let key2 = key.clone();
                    let referrals: Vec<String> = i.referrals.iter().map(|r: &Referral| label("referral", r.code(), ctx)).collect();
                    view! {
                        <tr data-testid="followup" data-doc=doc.clone() data-source=source.clone()>
                            <td data-label=ctx.t(Msg::DeskRaised)>{i.raised_on.map(|d| d.to_string()).unwrap_or_default()} " " <span class="sub">{ctx.tf(Msg::DeskAge, &[("n", &i.age_days.to_string())])}</span></td>
                            <td class="lead"><a href=Route::Person(doc.clone()).href()>{i.person_name.clone()}</a></td>
                            <td data-label=ctx.t(Msg::DisasterDistrict)>{i.district_name.clone()}</td>
                            <td data-label=ctx.t(Msg::DeskWhat)>{i.what.clone()} {(!referrals.is_empty()).then(|| format!(" → {}", referrals.join("、")))}</td>
                            <td data-label=ctx.t(Msg::DeskOwner)>{i.owner.map(|o| o.name).unwrap_or_default()}</td>
                            <td class="no-print">
                                <Show when=move || open.get().as_deref() != Some(key.as_str()) fallback={
                                    let (doc, source) = (doc.clone(), source.clone());
                                    move || {
                                        let (doc, source) = (doc.clone(), source.clone());
                                        view! {
                                            <div class="field">
                                                <label for="done-note">{ctx.t(Msg::DeskDoneNote)}</label>
                                                <textarea id="done-note" rows="2" autocomplete="off" prop:value=move || note.get() on:input=move |ev| note.set(event_target_value(&ev))></textarea>
                                            </div>
                                            <button data-testid="save-done" on:click=move |_| record(doc.clone(), source.clone())>{ctx.t(Msg::Save)}</button>
                                        }
                                    }
                                }>
                                    {let k = key2.clone(); view! { <button class="secondary" data-testid="record-done" on:click=move |_| open.set(Some(k.clone()))>{ctx.t(Msg::DeskRecordDone)}</button> }}
                                </Show>
                            </td>
                        </tr>
                    }
                }).collect_view())}
            </tbody>
        </table>
    }
}

fn print() {
    if let Some(w) = web_sys::window() {
        let _ = w.print();
    }
}

/// Downloads export `name` for `query` (`month=…` or `fy=…`), as Excel opens it.
fn download(ctx: Ctx, name: &'static str, query: String, sjis: bool, wareki: bool) {
    let mut q = vec![format!("encoding={}", if sjis { "sjis" } else { "utf8" })];
    q.push(format!("era={}", if wareki { "wareki" } else { "seireki" }));
    if !query.is_empty() {
        q.push(query);
    }
    let path = format!("/api/export/{name}?{}", q.join("&"));
    leptos::task::spawn_local(async move {
        if let Err(e) = data::download(&path, &format!("{name}.csv")).await {
            tell(ctx, &e);
        }
    });
}

/// 報告: the 民生委員 活動記録, the salon report and the district view, for a month or a
/// fiscal year; on screen, as CSV, or printed.
#[component]
fn Reports() -> impl IntoView {
    let ctx = use_ctx();
    let today = data::today();
    let kind = RwSignal::new("minsei".to_string());
    let by_year = RwSignal::new(false);
    let month = RwSignal::new(today.month_key());
    let fy = RwSignal::new(today.fiscal_year().to_string());
    let wareki = RwSignal::new(false);
    let query = move || {
        if by_year.get_untracked() {
            format!("fy={}", fy.get_untracked().trim())
        } else {
            format!("month={}", month.get_untracked().trim())
        }
    };
    // The report asked for (its kind and path): each kind is a resource that fetches only
    // while it is the one asked for; 表示 asks again (fresh figures for the same period).
    let asked = RwSignal::new((String::new(), String::new()));
    let refresh = RwSignal::new(0u32);
    let show = move || {
        let k = kind.get_untracked();
        asked.set((k.clone(), format!("/api/reports/{k}?{}", query())));
        refresh.update(|n| *n += 1);
    };
    let path_for =
        move |k: &'static str| move || asked.with(|(kind, path)| (kind == k).then(|| path.clone()));
    let (minsei, minsei_at) = desk_read::<MinseiReport>(ctx, path_for("minsei"), refresh);
    let (salons, salons_at) = desk_read::<SalonReport>(ctx, path_for("salons"), refresh);
    let (districts, districts_at) =
        desk_read::<DistrictReport>(ctx, path_for("districts"), refresh);
    let stale = Signal::derive(move || match kind.get().as_str() {
        "salons" => salons_at.get(),
        "districts" => districts_at.get(),
        _ => minsei_at.get(),
    });
    show();
    let export = move |sjis: bool, second: bool| {
        let name: &'static str = match (kind.get_untracked().as_str(), second) {
            ("salons", false) => "salons",
            ("salons", true) => "salon_types",
            ("districts", _) => "districts",
            (_, false) => "minsei",
            (_, true) => "minsei_councils",
        };
        download(ctx, name, query(), sjis, wareki.get_untracked());
    };
    view! {
        <form class="filters no-print" autocomplete="off" data-testid="report-form" on:submit=move |ev| { ev.prevent_default(); show(); }>
            <div class="field">
                <label for="r-kind">{move || ctx.t(Msg::DeskReportKind)}</label>
                <select id="r-kind" on:change=move |ev| { kind.set(event_target_value(&ev)); show(); }>
                    <option value="minsei">{move || ctx.t(Msg::ReportMinsei)}</option>
                    <option value="salons">{move || ctx.t(Msg::ReportSalons)}</option>
                    <option value="districts">{move || ctx.t(Msg::ReportDistricts)}</option>
                </select>
            </div>
            <div class="field">
                <label for="r-period">{move || ctx.t(Msg::DeskPeriod)}</label>
                <select id="r-period" on:change=move |ev| by_year.set(event_target_value(&ev) == "fy")>
                    <option value="month">{move || ctx.t(Msg::DeskMonth)}</option>
                    <option value="fy">{move || ctx.t(Msg::DeskFiscalYear)}</option>
                </select>
            </div>
            <Show when=move || !by_year.get() fallback=move || view! {
                <div class="field">
                    <label for="r-fy">{ctx.t(Msg::DeskFiscalYearStart)}</label>
                    <input id="r-fy" inputmode="numeric" autocomplete="off" prop:value=move || fy.get() on:input=move |ev| fy.set(event_target_value(&ev))/>
                </div>
            }>
                <div class="field">
                    <label for="r-month">{move || ctx.t(Msg::DeskMonthLabel)}</label>
                    <input id="r-month" type="month" autocomplete="off" prop:value=move || month.get() on:input=move |ev| month.set(event_target_value(&ev))/>
                </div>
            </Show>
            <label class="check"><input type="checkbox" prop:checked=move || wareki.get() on:change=move |ev| wareki.set(event_target_checked(&ev))/>{move || ctx.t(Msg::DeskWareki)}</label>
            <button type="submit" data-testid="report-show">{move || ctx.t(Msg::AuditShow)}</button>
        </form>
        <div class="desk-bar no-print">
            <button class="secondary" data-testid="report-csv" on:click=move |_| export(false, false)>{move || ctx.t(Msg::CsvUtf8)}</button>
            <button class="secondary" data-testid="report-csv-sjis" on:click=move |_| export(true, false)>{move || ctx.t(Msg::CsvSjis)}</button>
            <Show when=move || kind.get() != "districts">
                <button class="secondary" on:click=move |_| export(false, true)>{move || if kind.get() == "salons" { ctx.t(Msg::CsvSalonTypes) } else { ctx.t(Msg::CsvCouncils) }}</button>
            </Show>
            <button class="secondary" on:click=move |_| print()>{move || ctx.t(Msg::Print)}</button>
        </div>
        {stale_note(ctx, stale)}
        {move || match kind.get().as_str() {
            "salons" => salons.get().map(|r| salon_table(ctx, r, wareki.get())).into_any(),
            "districts" => districts.get().map(|r| district_table(ctx, r, wareki.get())).into_any(),
            _ => minsei.get().map(|r| minsei_table(ctx, r, wareki.get())).into_any(),
        }}
    }
}

fn period_label(p: &shared::desk::Period, wareki: bool) -> String {
    if wareki { p.label_wareki() } else { p.label() }
}

fn counts(kind: &str, m: &BTreeMap<String, i64>, ctx: Ctx) -> String {
    m.iter()
        .filter(|(_, n)| **n > 0)
        .map(|(c, n)| format!("{} {n}", label(kind, c, ctx)))
        .collect::<Vec<_>>()
        .join("・")
}

fn minsei_table(ctx: Ctx, r: MinseiReport, wareki: bool) -> impl IntoView {
    let row = move |m: &MinseiRow, council: bool| {
        let who = if council {
            format!(
                "{}（{}）",
                m.district_name,
                ctx.tf(Msg::DeskMembers, &[("n", &m.members.to_string())])
            )
        } else {
            m.user.as_ref().map(|u| u.name.clone()).unwrap_or_default()
        };
        view! {
            <tr data-testid=if council { "council-row" } else { "minsei-row" }>
                <td class="lead">{who}</td>
                <td data-label=ctx.t(Msg::DisasterDistrict)>{(!council).then(|| m.district_name.clone())}</td>
                <td class="num" data-label=ctx.t(Msg::ColConsultations)>{m.consultations}</td>
                <td data-label=ctx.t(Msg::ColByField)>{counts("consult_field", &m.by_field, ctx)}</td>
                <td class="num" data-label=ctx.t(Msg::ColVisits)>{m.visits}</td>
                <td class="num" data-label=ctx.t(Msg::ColLiaisonMembers)>{m.liaison_members}</td>
                <td class="num" data-label=ctx.t(Msg::ColLiaisonAgencies)>{m.liaison_agencies}</td>
                <td class="num" data-label=ctx.t(Msg::ColDays)>{m.activity_days}</td>
            </tr>
        }
    };
    let head = move || {
        view! {
            <thead><tr>
                <th>{ctx.t(Msg::DeskName)}</th><th>{ctx.t(Msg::DisasterDistrict)}</th><th>{ctx.t(Msg::ColConsultations)}</th><th>{ctx.t(Msg::ColByField)}</th>
                <th>{ctx.t(Msg::ColVisits)}</th><th>{ctx.t(Msg::ColLiaisonMembers)}</th><th>{ctx.t(Msg::ColLiaisonAgencies)}</th><th>{ctx.t(Msg::ColDays)}</th>
            </tr></thead>
        }
    };
    view! {
        <h2>{ctx.t(Msg::ReportMinsei)} " " {period_label(&r.period, wareki)}</h2>
        <table class="desk-table" data-testid="minsei-report">
            {head()}
            <tbody>{r.members.iter().map(|m| row(m, false)).collect_view()}</tbody>
        </table>
        <h2>{ctx.t(Msg::DeskCouncils)}</h2>
        <table class="desk-table" data-testid="council-report">
            {head()}
            <tbody>{r.councils.iter().map(|m| row(m, true)).collect_view()}</tbody>
        </table>
        {corrections(ctx, r.needs_correction)}
    }
}

fn salon_table(ctx: Ctx, r: SalonReport, wareki: bool) -> impl IntoView {
    let row = move |s: &SalonRow, total: bool| {
        view! {
            <tr data-testid=if total { "salon-type-row" } else { "salon-row" }>
                <td class="lead">{if total { label("salon_type", s.salon_type.code(), ctx) } else { s.name.clone() }}</td>
                <td data-label=ctx.t(Msg::DisasterDistrict)>{if total { ctx.tf(Msg::DeskSalonCount, &[("n", &s.salons.to_string())]) } else { s.district_name.clone() }}</td>
                <td class="num" data-label=ctx.t(Msg::ColSessions)>{s.sessions}</td>
                <td class="num" data-label=ctx.t(Msg::ColParticipants)>{s.participants}</td>
                <td class="num" data-label=ctx.t(Msg::ColDistinct)>{s.distinct_members}</td>
                <td class="num" data-label=ctx.t(Msg::ColGuests)>{s.guests}</td>
                <td class="num" data-label=ctx.t(Msg::ColHelpers)>{s.helpers}</td>
            </tr>
        }
    };
    let head = move || {
        view! {
            <thead><tr>
                <th>{ctx.t(Msg::DeskSalon)}</th><th>{ctx.t(Msg::DisasterDistrict)}</th><th>{ctx.t(Msg::ColSessions)}</th><th>{ctx.t(Msg::ColParticipants)}</th>
                <th>{ctx.t(Msg::ColDistinct)}</th><th>{ctx.t(Msg::ColGuests)}</th><th>{ctx.t(Msg::ColHelpers)}</th>
            </tr></thead>
        }
    };
    view! {
        <h2>{ctx.t(Msg::ReportSalons)} " " {period_label(&r.period, wareki)}</h2>
        <table class="desk-table" data-testid="salon-report">
            {head()}
            <tbody>{r.salons.iter().map(|s| row(s, false)).collect_view()}</tbody>
        </table>
        <h2>{ctx.t(Msg::CsvSalonTypes)}</h2>
        <table class="desk-table">
            {head()}
            <tbody>{r.types.iter().map(|s| row(s, true)).collect_view()}</tbody>
        </table>
        {corrections(ctx, r.needs_correction)}
    }
}

fn district_table(ctx: Ctx, r: DistrictReport, wareki: bool) -> impl IntoView {
    view! {
        <h2>{ctx.t(Msg::ReportDistricts)} " " {period_label(&r.period, wareki)}</h2>
        <table class="desk-table" data-testid="district-report">
            <thead><tr>
                <th>{ctx.t(Msg::DisasterDistrict)}</th><th>{ctx.t(Msg::ColPeople)}</th><th>{ctx.t(Msg::ColSalons)}</th><th>{ctx.t(Msg::ColSessions)}</th>
                <th>{ctx.t(Msg::ColParticipants)}</th><th>{ctx.t(Msg::ColVisits)}</th><th>{ctx.t(Msg::ColReached)}</th><th>{ctx.t(Msg::ColConsultations)}</th><th>{ctx.t(Msg::ColFollowupsOpen)}</th>
            </tr></thead>
            <tbody>
                {r.districts.iter().map(|d| view! {
                    <tr data-testid="district-row">
                        <td class="lead">{d.name.clone()} " " <span class="sub">{d.level.clone()}</span></td>
                        <td class="num" data-label=ctx.t(Msg::ColPeople)>{d.people}</td><td class="num" data-label=ctx.t(Msg::ColSalons)>{d.salons}</td><td class="num" data-label=ctx.t(Msg::ColSessions)>{d.sessions}</td>
                        <td class="num" data-label=ctx.t(Msg::ColParticipants)>{d.participants}</td><td class="num" data-label=ctx.t(Msg::ColVisits)>{d.visits}</td><td class="num" data-label=ctx.t(Msg::ColReached)>{d.visits_reached}</td>
                        <td class="num" data-label=ctx.t(Msg::ColConsultations)>{d.consultations}</td><td class="num" data-label=ctx.t(Msg::ColFollowupsOpen)>{d.followups_open}</td>
                    </tr>
                }).collect_view()}
            </tbody>
        </table>
        {corrections(ctx, r.needs_correction)}
    }
}

/// 直してほしい記録: the records of the report's area that cannot be read or break a rule
/// (shared::check), which may be missing from its figures until someone corrects them.
fn corrections(ctx: Ctx, items: Vec<ProblemItem>) -> impl IntoView {
    (!items.is_empty()).then(|| {
        let ja = ctx.lang.get_untracked() == shared::i18n::Lang::Ja;
        view! {
            <section class="corrections" data-testid="needs-correction">
                <h2>{ctx.tf(Msg::NeedsCorrectionCount, &[("n", &items.len().to_string())])}</h2>
                <p class="hint">{ctx.t(Msg::NeedsCorrectionHint)}</p>
                <ul class="cards">
                    {items.into_iter().map(|p| {
                        let name = if p.name.is_empty() { p.doc.clone() } else { p.name.clone() };
                        let href = match p.kind.as_str() {
                            "person" => Some(Route::Person(p.doc.clone()).href()),
                            "salon" => Some(Route::Salon(p.doc.clone()).href()),
                            _ => None,
                        };
                        let what = if ja && !p.message_ja.is_empty() { p.message_ja.clone() } else { p.message.clone() };
                        let field = if p.field.is_empty() { String::new() } else { format!("（{}）", p.field) };
                        view! {
                            <li class="card" data-testid="correction" data-doc=p.doc.clone()>
                                <strong>{match href {
                                    Some(h) => view! { <a href=h>{name}</a> }.into_any(),
                                    None => view! { <span>{name}</span> }.into_any(),
                                }}</strong>
                                " " <span class="sub">{p.district_name.clone()}</span>
                                <p>{what}{field}</p>
                                <p class="sub">{p.path.clone()}</p>
                            </li>
                        }
                    }).collect_view()}
                </ul>
            </section>
        }
    })
}

/// 担当の割り当て: who visits whom (edit or view only), and moving a person to another
/// district. Needs signal (the server checks and records every change).
#[component]
fn People() -> impl IntoView {
    let ctx = use_ctx();
    let (users, _) =
        desk_read::<Vec<DeskUser>>(ctx, || Some("/api/desk/users".into()), RwSignal::new(0));
    let users = Signal::derive(move || users.get().unwrap_or_default());
    // People on this device, by name.
    let mut people: Vec<(String, String)> =
        data::directory(|d| d.people.iter().map(|p| p.doc.clone()).collect::<Vec<_>>())
            .unwrap_or_default()
            .into_iter()
            .filter_map(|doc| {
                let name = data::read::<shared::model::Person>(&doc)?
                    .0
                    .profile
                    .name
                    .clone();
                Some((doc, name))
            })
            .collect();
    people.sort_by(|a, b| a.1.cmp(&b.1));
    let districts: Vec<(String, String)> = data::district_choices();
    let person = RwSignal::new(people.first().map(|p| p.0.clone()).unwrap_or_default());
    let user = RwSignal::new(String::new());
    let view_only = RwSignal::new(false);
    let to = RwSignal::new(districts.first().map(|d| d.0.clone()).unwrap_or_default());
    let post = move |path: &'static str, body: serde_json::Value, done: Msg| {
        leptos::task::spawn_local(async move {
            match data::post::<_, serde_json::Value>(path, Some(&body)).await {
                Ok(_) => {
                    ctx.notify(done, true);
                    data::sync_now(ctx);
                }
                Err(NetError::Api(_, e)) if !e.message.is_empty() => ctx.notify_text(e.message),
                Err(e) => tell(ctx, &e),
            }
        });
    };
    let assign = move |_| {
        let b = AssignmentChange {
            person: person.get_untracked(),
            user: user.get_untracked(),
            can_edit: !view_only.get_untracked(),
        };
        if b.user.is_empty() {
            ctx.notify(Msg::Required, false);
            return;
        }
        post(
            "/api/desk/assign",
            serde_json::to_value(b).unwrap_or_default(),
            Msg::DeskAssigned,
        );
    };
    let unassign = move |_| {
        let b = Unassignment {
            person: person.get_untracked(),
            user: user.get_untracked(),
        };
        post(
            "/api/desk/unassign",
            serde_json::to_value(b).unwrap_or_default(),
            Msg::DeskUnassigned,
        );
    };
    let move_person = move |_| {
        let b = PersonMove {
            person: person.get_untracked(),
            district: to.get_untracked(),
            effective_on: None,
        };
        post(
            "/api/desk/people/move",
            serde_json::to_value(b).unwrap_or_default(),
            Msg::DeskMoved,
        );
    };
    // 見守りの頻度: written into the person's record (it syncs like any edit).
    let frequency = RwSignal::new(String::new());
    let save_frequency = move |_| {
        let f = frequency.get_untracked();
        if f.is_empty() {
            ctx.notify(Msg::Required, false);
            return;
        }
        let doc = person.get_untracked();
        leptos::task::spawn_local(async move {
            let f = Frequency::from_code(&f);
            let _ = data::save_here(ctx, &doc, None, move |tx| {
                crdt::save_at(tx, &["watch", "frequency"], &f)
            })
            .await;
        });
    };
    // A volunteer's or 民生委員's district moves with them.
    let mover = RwSignal::new(String::new());
    let grant_to = RwSignal::new(String::new());
    let district_grant = move || {
        let id = mover.get();
        users.with(|us| {
            us.iter()
                .find(|u| u.id == id)
                .and_then(|u| u.grants.iter().find(|g| g.district.is_some()).cloned())
        })
    };
    let move_grant = move |_| {
        let Some(g) = district_grant() else {
            ctx.notify(Msg::Required, false);
            return;
        };
        let b = GrantMove {
            user: mover.get_untracked(),
            role: g.role,
            from: g.district.unwrap_or_default(),
            to: grant_to.get_untracked(),
        };
        if b.to.is_empty() {
            ctx.notify(Msg::Required, false);
            return;
        }
        post(
            "/api/desk/grants/move",
            serde_json::to_value(b).unwrap_or_default(),
            Msg::DeskMoved,
        );
    };
    let districts2 = districts.clone();
    let district_name = move |id: &str| {
        districts2
            .iter()
            .find(|(d, _)| d == id)
            .map(|(_, n)| n.clone())
            .unwrap_or_default()
    };
    let districts3 = districts.clone();
    view! {
        <div class="field">
            <label for="p-person">{move || ctx.t(Msg::DeskName)}</label>
            <select id="p-person" on:change=move |ev| person.set(event_target_value(&ev))>
                {people.into_iter().map(|(id, name)| view! { <option value=id>{name}</option> }).collect_view()}
            </select>
        </div>
        <section class="card">
            <h2>{move || ctx.t(Msg::DeskAssignTitle)}</h2>
            <div class="field">
                <label for="p-user">{move || ctx.t(Msg::DeskVisitor)}</label>
                <select id="p-user" on:change=move |ev| user.set(event_target_value(&ev))>
                    <option value="">"—"</option>
                    {move || users.get().into_iter().filter(|u| !u.disabled && u.grants.iter().any(|g| g.role.works_on_people() && !g.role.is_staff())).map(|u| {
                        view! { <option value=u.id.clone()>{format!("{}（{}・{}）", u.name, u.login, ctx.tf(Msg::DeskAssignedCount, &[("n", &u.assigned.to_string())]))}</option> }
                    }).collect_view()}
                </select>
            </div>
            <label class="check"><input type="checkbox" prop:checked=move || view_only.get() on:change=move |ev| view_only.set(event_target_checked(&ev))/>{move || ctx.t(Msg::DeskViewOnly)}</label>
            <div class="desk-bar">
                <button data-testid="assign" on:click=assign>{move || ctx.t(Msg::DeskAssign)}</button>
                <button class="secondary" data-testid="unassign" on:click=unassign>{move || ctx.t(Msg::DeskUnassign)}</button>
            </div>
        </section>
        <section class="card">
            <h2>{move || ctx.t(Msg::DeskMoveTitle)}</h2>
            <div class="field">
                <label for="p-district">{move || ctx.t(Msg::DeskMoveTo)}</label>
                <select id="p-district" on:change=move |ev| to.set(event_target_value(&ev))>
                    {districts.into_iter().map(|(id, name)| view! { <option value=id>{name}</option> }).collect_view()}
                </select>
            </div>
            <button data-testid="move-person" on:click=move_person>{move || ctx.t(Msg::DeskMove)}</button>
        </section>
        <section class="card">
            <h2>{move || ctx.t(Msg::DeskFrequency)}</h2>
            <ChooseOne kind="frequency" codes=Frequency::ALL.iter().map(|f| f.code()).collect() selected=frequency label=Msg::DeskFrequency testid="frequency"/>
            <button data-testid="save-frequency" on:click=save_frequency>{move || ctx.t(Msg::Save)}</button>
        </section>
        <section class="card">
            <h2>{move || ctx.t(Msg::DeskMoveGrantTitle)}</h2>
            <div class="field">
                <label for="g-user">{move || ctx.t(Msg::AuditUser)}</label>
                <select id="g-user" on:change=move |ev| mover.set(event_target_value(&ev))>
                    <option value="">"—"</option>
                    {move || users.get().into_iter().filter(|u| u.grants.iter().any(|g| g.district.is_some())).map(|u| {
                        view! { <option value=u.id.clone()>{format!("{}（{}）", u.name, u.login)}</option> }
                    }).collect_view()}
                </select>
            </div>
            <p>{move || district_grant().map(|g| format!("{} · {} →", label("role", g.role.code(), ctx), district_name(g.district.as_deref().unwrap_or_default())))}</p>
            <div class="field">
                <label for="g-to">{move || ctx.t(Msg::DeskMoveTo)}</label>
                <select id="g-to" on:change=move |ev| grant_to.set(event_target_value(&ev))>
                    <option value="">"—"</option>
                    {districts3.into_iter().map(|(id, name)| view! { <option value=id>{name}</option> }).collect_view()}
                </select>
            </div>
            <button data-testid="move-grant" on:click=move_grant>{move || ctx.t(Msg::DeskMove)}</button>
        </section>
    }
}

/// 名簿の取り込み: a CSV from Excel (Shift_JIS or UTF-8); all rows or none.
#[component]
fn Import() -> impl IntoView {
    let ctx = use_ctx();
    let result = RwSignal::new(None::<ImportResult>);
    let errors = RwSignal::new(Vec::<shared::desk::ImportRowError>::new());
    let busy = RwSignal::new(false);
    let send = move |ev: leptos::ev::Event| {
        let Some(input) = ev
            .target()
            .and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok())
        else {
            return;
        };
        let Some(file) = input.files().and_then(|f| f.get(0)) else {
            return;
        };
        busy.set(true);
        result.set(None);
        errors.set(Vec::new());
        leptos::task::spawn_local(async move {
            let bytes = match wasm_bindgen_futures::JsFuture::from(file.array_buffer()).await {
                Ok(b) => js_sys::Uint8Array::new(&b).to_vec(),
                Err(_) => {
                    ctx.notify(Msg::ErrServer, false);
                    busy.set(false);
                    return;
                }
            };
            match data::post_file::<ImportResult>("/api/desk/import", &bytes, "text/csv").await {
                Ok(r) => {
                    ctx.notify(Msg::DeskImported, true);
                    result.set(Some(r));
                    data::sync_now(ctx);
                }
                Err(NetError::Api(_, e)) if !e.rows.is_empty() => {
                    ctx.notify_text(e.message.clone());
                    errors.set(e.rows);
                }
                Err(NetError::Api(_, e)) => ctx.notify_text(e.message),
                Err(e) => tell(ctx, &e),
            }
            input.set_value("");
            busy.set(false);
        });
    };
    view! {
        <p>{move || ctx.t(Msg::DeskImportHelp)}</p>
        <table class="desk-table">
            <thead><tr><th>{move || ctx.t(Msg::DeskColumn)}</th><th>{move || ctx.t(Msg::DeskRequired)}</th></tr></thead>
            <tbody>{IMPORT_COLUMNS.iter().map(|(h, req, _)| view! { <tr><td class="lead">{*h}</td><td data-label=ctx.t(Msg::DeskRequired)>{req.then_some("●")}</td></tr> }).collect_view()}</tbody>
        </table>
        <div class="field">
            <label for="import-file">{move || ctx.t(Msg::DeskChooseFile)}</label>
            <input id="import-file" type="file" accept=".csv,text/csv" disabled=move || busy.get() on:change=send/>
        </div>
        {move || result.get().map(|r| view! { <p class="ok" data-testid="import-done">{ctx.tf(Msg::DeskImportedN, &[("n", &r.created.to_string()), ("a", &r.assigned.to_string())])}</p> })}
        <Show when=move || !errors.with(Vec::is_empty)>
            <table class="desk-table" data-testid="import-errors">
                <thead><tr><th>{ctx.t(Msg::DeskRow)}</th><th>{ctx.t(Msg::DeskColumn)}</th><th>{ctx.t(Msg::DeskProblem)}</th></tr></thead>
                <tbody>{move || errors.get().into_iter().map(|e| view! {
                    <tr data-testid="import-error" data-row=e.row.to_string()><td data-label=ctx.t(Msg::DeskRow)>{e.row}</td><td data-label=ctx.t(Msg::DeskColumn)>{e.column}</td><td data-label=ctx.t(Msg::DeskProblem)>{e.message}</td></tr>
                }).collect_view()}</tbody>
            </table>
        </Show>
    }
}
