//! きょうの訪問: the people this user watches over, most overdue first.

use crate::data::{self, Access, Arrival};
use crate::state::{Route, use_ctx};
use leptos::prelude::*;
use shared::codes::PersonStatus;
use shared::i18n::Msg;
use shared::model::Person;
use shared::search;
use shared::watch::{self, Due, WatchStatus};
use std::collections::{BTreeMap, BTreeSet};

/// One line of the list.
#[derive(Clone, PartialEq)]
struct Row {
    doc: String,
    name: String,
    kana: String,
    status: WatchStatus,
    active: bool,
    unsent: usize,
}

fn rows(ids: &[String]) -> Vec<Row> {
    let today = data::today();
    let mut rows: Vec<Row> = ids
        .iter()
        .filter_map(|id| {
            let p = data::read::<Person>(id)?;
            let person = &p.0;
            Some(Row {
                doc: id.clone(),
                name: person.profile.name.clone(),
                kana: person.profile.kana.clone(),
                status: watch::status(person, today),
                active: person.profile.status == PersonStatus::Active,
                unsent: data::unsent(id),
            })
        })
        .collect();
    // Most overdue first, then soonest due, then the rest; people not currently watched
    // over (in hospital, moved) last.
    rows.sort_by(|a, b| {
        let key = |r: &Row| {
            (
                !r.active,
                -r.status.overdue_days,
                r.status
                    .due
                    .map(|d| d.days_since_epoch())
                    .unwrap_or(i64::MAX),
                r.kana.clone(),
            )
        };
        key(a).cmp(&key(b))
    });
    rows
}

#[component]
pub fn Today() -> impl IntoView {
    let ctx = use_ctx();
    let mine = Memo::new(move |_| {
        ctx.rev.track();
        data::people_in_my_care()
    });
    let all = Memo::new(move |_| {
        let r = mine.with(|ids| rows(ids));
        crate::mark("mimamori-list-built");
        r
    });
    // While the first sync runs the list says so; "nobody assigned" only when the
    // directory says nobody is.
    let arrival = Memo::new(move |_| mine.with(|ids| data::arrival(ids)));
    let today = data::today();

    // Narrowing a long list: by name or ふりがな, by when a contact is due, by 小学校区.
    let query = RwSignal::new(String::new());
    let due = RwSignal::new(Due::All);
    let area = RwSignal::new(String::new());
    let areas = Memo::new(move |_| {
        ctx.rev.track();
        let ids: BTreeSet<String> = mine.with(|m| m.iter().cloned().collect());
        let mut a: Vec<(String, String)> = data::directory(|d| {
            d.people
                .iter()
                .filter(|p| ids.contains(&p.doc))
                .map(|p| p.district.clone())
                .collect::<BTreeSet<_>>()
        })
        .unwrap_or_default()
        .into_iter()
        .map(|id| {
            let name = data::district_name(&id);
            (id, name)
        })
        .collect();
        a.sort_by(|x, y| x.1.cmp(&y.1));
        a
    });
    let district_of = Memo::new(move |_| {
        ctx.rev.track();
        data::directory(|d| {
            d.people
                .iter()
                .map(|p| (p.doc.clone(), p.district.clone()))
                .collect::<BTreeMap<_, _>>()
        })
        .unwrap_or_default()
    });
    let list = Memo::new(move |_| {
        let (q, f, a) = (query.get(), due.get(), area.get());
        all.with(|rows| {
            rows.iter()
                .filter(|r| search::finds(&q, &[&r.name, &r.kana]))
                .filter(|r| f == Due::All || (r.active && f.keeps(&r.status, today)))
                .filter(|r| a.is_empty() || district_of.with(|d| d.get(&r.doc) == Some(&a)))
                .cloned()
                .collect::<Vec<_>>()
        })
    });
    let narrowed = move || {
        !query.with(String::is_empty) || due.get() != Due::All || !area.with(String::is_empty)
    };
    view! {
        <h1 class="screen-title list-title">
            {move || ctx.t(Msg::Today)}
            <Show when=move || all.with(|a| a.len() > 1)>
                <span class="count" data-testid="count">
                    {move || {
                        let n = list.with(Vec::len);
                        if narrowed() {
                            ctx.tf(Msg::PeopleCountOf, &[("n", &n.to_string()), ("of", &all.with(Vec::len).to_string())])
                        } else {
                            ctx.tf(Msg::PeopleCount, &[("n", &n.to_string())])
                        }
                    }}
                </span>
            </Show>
        </h1>

        {move || match arrival.get() {
            Arrival::NoDirectory => Some(view! {
                <p class="empty" role="status" data-testid="first-sync">{ctx.t(Msg::FirstSyncWaiting)}</p>
            }.into_any()),
            Arrival::Documents { of: 0, .. } => Some(view! {
                <p class="empty" data-testid="nobody">{ctx.t(Msg::NobodyAssigned)}</p>
            }.into_any()),
            Arrival::Documents { have, of } if have < of => Some(view! {
                <p class="empty" role="status" data-testid="first-sync">
                    {ctx.tf(Msg::FirstSyncProgress, &[("have", &have.to_string()), ("of", &of.to_string())])}
                </p>
            }.into_any()),
            Arrival::Documents { .. } => None,
        }}
        <Show when=move || all.with(|a| a.len() > 1)>
            <div class="finder" data-testid="finder">
                <div class="finder-line">
                    <input type="search" class="search" data-testid="search" autocomplete="off"
                        aria-label=move || ctx.t(Msg::SearchPeople) placeholder=move || ctx.t(Msg::SearchPeople)
                        prop:value=move || query.get() on:input=move |ev| query.set(event_target_value(&ev)) />
                    <select class="due-filter" data-testid="due-filter" aria-label=move || ctx.t(Msg::FilterLabel)
                        on:change=move |ev| {
                            let v = event_target_value(&ev);
                            due.set(Due::ALL.into_iter().find(|f| due_code(*f) == v).unwrap_or(Due::All));
                        }>
                        {Due::ALL.into_iter().map(|f| view! {
                            <option value=due_code(f) selected=move || due.get() == f>{move || ctx.t(due_label(f))}</option>
                        }).collect_view()}
                    </select>
                </div>
                <Show when=move || areas.with(|a| a.len() > 1)>
                    <select class="area" data-testid="area-filter" aria-label=move || ctx.t(Msg::FilterArea)
                        on:change=move |ev| area.set(event_target_value(&ev))>
                        <option value="">{move || ctx.t(Msg::AreaAll)}</option>
                        {move || areas.get().into_iter().map(|(id, name)| view! { <option value=id>{name}</option> }).collect_view()}
                    </select>
                </Show>
            </div>
        </Show>
        <Show when=move || narrowed() && list.with(Vec::is_empty)>
            <p class="empty" data-testid="no-match">{move || ctx.t(Msg::NoMatch)}</p>
        </Show>
        <ul class="rows" data-testid="people">
            <For each=move || list.get() key=|r| format!("{}|{:?}|{}|{}", r.doc, r.status, r.unsent, r.name) let:r>
                {
                    let st = r.status.clone();
                    let due_text = move || {
                        if !r.active {
                            return ctx.t(Msg::NotWatchedNow).to_string();
                        }
                        match st.due {
                            _ if st.overdue_days > 0 => ctx.tf(Msg::Overdue, &[("n", &st.overdue_days.to_string())]),
                            Some(d) if d == today => ctx.t(Msg::DueToday).to_string(),
                            Some(d) => ctx.tf(Msg::DueOn, &[("date", &format!("{}/{}", d.month(), d.day()))]),
                            None => ctx.t(Msg::NoPlan).to_string(),
                        }
                    };
                    let st2 = r.status.clone();
                    let last = move || match st2.last_contact {
                        Some(d) => ctx.tf(Msg::LastContactShort, &[("date", &format!("{}/{}", d.month(), d.day()))]),
                        None => ctx.t(Msg::NeverMet).to_string(),
                    };
                    let streak = r.status.not_home_streak;
                    let warn = r.status.streak_warning();
                    let overdue = r.status.overdue_days > 0 && r.active;
                    view! {
                        <li>
                            <a class="row-card" class:overdue=overdue href=Route::Person(r.doc.clone()).href() data-testid="person-card">
                                <span class="line">
                                    <span class="name">{r.name.clone()}</span>
                                    <span class="due" class:warn=overdue>{due_text}</span>
                                </span>
                                <span class="line sub">
                                    <span class="kana">{r.kana.clone()}</span>
                                    <span>{last}</span>
                                    {warn.then(|| view! { <span class="badge warn">{move || ctx.tf(Msg::NotHomeStreak, &[("n", &streak.to_string())])}</span> })}
                                    {(r.unsent > 0).then(|| view! { <span class="badge">{move || ctx.tf(Msg::Unsent, &[("n", &r.unsent.to_string())])}</span> })}
                                </span>
                            </a>
                        </li>
                    }
                }
            </For>
        </ul>
        {data::allowed(|u| u.sees_roster()).then(|| view! {
            <a class="button secondary wide after-list" href=crate::state::Route::Roster.href() data-testid="open-roster">{move || ctx.t(Msg::RosterTitle)}</a>
        })}
        // After the list: the people come first on the first screen.
        <Show when=move || ctx.storage_at_risk.get()>
            <p class="hint after-list"><a href=Route::Settings.href()>{move || ctx.t(Msg::StorageMayBeCleared)}</a></p>
        </Show>
    }
}

fn due_code(f: Due) -> &'static str {
    match f {
        Due::All => "all",
        Due::Overdue => "overdue",
        Due::ByToday => "today",
        Due::ThisWeek => "week",
        Due::NotHomeStreak => "not_home",
    }
}

fn due_label(f: Due) -> Msg {
    match f {
        Due::All => Msg::FilterAll,
        Due::Overdue => Msg::FilterOverdue,
        Due::ByToday => Msg::FilterByToday,
        Due::ThisWeek => Msg::FilterThisWeek,
        Due::NotHomeStreak => Msg::FilterNotHome,
    }
}
