//! きょうの訪問: the people this user watches over, most overdue first.

use crate::state::{Route, use_ctx};
use crate::store;
use leptos::prelude::*;
use shared::codes::{PersonStatus, Role};
use shared::i18n::Msg;
use shared::model::Person;
use shared::watch::{self, WatchStatus};

/// One line of the list.
#[derive(Clone, PartialEq)]
struct Row {
    doc: String,
    name: String,
    kana: String,
    address: String,
    status: WatchStatus,
    active: bool,
    unsent: usize,
}

/// The people of the directory this user watches over: a volunteer's assigned people; for
/// 民生委員 and staff everyone in scope.
pub fn my_people() -> Vec<String> {
    store::with(|s| {
        let Some(s) = s else { return Vec::new() };
        let Some(dir) = &s.directory else {
            return Vec::new();
        };
        let me = &dir.user;
        let sees_all =
            me.has_role(&Role::Minsei) || me.has_role(&Role::Staff) || me.has_role(&Role::Admin);
        dir.people
            .iter()
            .filter(|p| sees_all || p.visitors.iter().any(|v| v == &me.id))
            .map(|p| p.doc.clone())
            .collect()
    })
}

fn rows() -> Vec<Row> {
    let today = store::today();
    let ids = my_people();
    let mut rows: Vec<Row> = store::with(|s| {
        let Some(s) = s else { return Vec::new() };
        ids.iter()
            .filter_map(|id| {
                let p = s.read::<Person>(id)?;
                let person = &p.0;
                Some(Row {
                    doc: id.clone(),
                    name: person.profile.name.clone(),
                    kana: person.profile.kana.clone(),
                    address: person.profile.address.clone(),
                    status: watch::status(person, today),
                    active: person.profile.status == PersonStatus::Active,
                    unsent: s.unsent(id),
                })
            })
            .collect()
    });
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
    let list = Memo::new(move |_| {
        ctx.rev.track();
        let r = rows();
        crate::mark("mimamori-list-built");
        r
    });
    let today = store::today();
    view! {
        <h1 class="screen-title">{move || ctx.t(Msg::Today)}</h1>
        {crate::routes::office::sees_roster().then(|| view! {
            <a class="button secondary wide" href=crate::state::Route::Roster.href() data-testid="open-roster">{move || ctx.t(Msg::RosterTitle)}</a>
        })}
        <Show when=move || ctx.storage_at_risk.get()>
            <p class="hint">{move || ctx.t(Msg::StorageMayBeCleared)}</p>
        </Show>
        <Show when=move || list.with(|l| l.is_empty())>
            <p class="empty">{move || ctx.t(Msg::NobodyAssigned)}</p>
        </Show>
        <ul class="cards" data-testid="people">
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
                        Some(d) => ctx.tf(Msg::LastContact, &[("date", &format!("{}/{}", d.month(), d.day()))]),
                        None => ctx.t(Msg::NeverMet).to_string(),
                    };
                    let streak = r.status.not_home_streak;
                    let warn = r.status.streak_warning();
                    let overdue = r.status.overdue_days > 0 && r.active;
                    view! {
                        <li>
                            <a class="card" class:overdue=overdue href=Route::Person(r.doc.clone()).href() data-testid="person-card">
                                <span class="name">{r.name.clone()}</span>
                                <span class="kana">{r.kana.clone()}</span>
                                <span class="due" class:warn=overdue>{due_text}</span>
                                <span class="sub">{last}</span>
                                <span class="sub">{r.address.clone()}</span>
                                {warn.then(|| view! { <span class="badge warn">{move || ctx.tf(Msg::NotHomeStreak, &[("n", &streak.to_string())])}</span> })}
                                {(r.unsent > 0).then(|| view! { <span class="badge">{move || ctx.tf(Msg::Unsent, &[("n", &r.unsent.to_string())])}</span> })}
                            </a>
                        </li>
                    }
                }
            </For>
        </ul>
    }
}
