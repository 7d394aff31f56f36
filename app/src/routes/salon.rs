//! Salons: the leader's list, a salon's sessions, today's session with the roster as large
//! buttons (present / absent), walk-in guests and helpers as counters, and adding a member
//! on the spot. Two co-leaders' marks merge; a real disagreement is shown to resolve.

use crate::data;
use crate::state::{Route, go, use_ctx};
use crate::ui::{ChooseMany, Header, TextField};
use leptos::prelude::*;
use serde_json::Value;
use shared::codes::{Mark, Program};
use shared::crdt::{self, Conflict};
use shared::i18n::{Msg, code_label};
use shared::model::{Member, Salon, Session};
use shared::validate::FieldError;
use std::rc::Rc;

fn salon(id: &str) -> Option<Rc<(Salon, Vec<Conflict>)>> {
    data::read::<Salon>(id)
}

fn salon_name(id: &str) -> String {
    let from_doc = salon(id)
        .map(|s| s.0.profile.name.clone())
        .filter(|n| !n.is_empty());
    from_doc.unwrap_or_else(|| {
        data::directory(|d| {
            d.salons
                .iter()
                .find(|x| x.doc == id)
                .map(|x| x.name.clone())
        })
        .flatten()
        .unwrap_or_default()
    })
}

fn md(d: shared::Date) -> String {
    format!("{}/{}", d.month(), d.day())
}

#[component]
pub fn SalonList() -> impl IntoView {
    let ctx = use_ctx();
    let list = Memo::new(move |_| {
        ctx.rev.track();
        data::directory(|d| d.salons.clone())
    });
    view! {
        <h1 class="screen-title">{move || ctx.t(Msg::Salons)}</h1>
        {move || list.with(|l| match l {
            None => Some(view! { <p class="empty" role="status" data-testid="first-sync">{ctx.t(Msg::FirstSyncWaiting)}</p> }.into_any()),
            Some(l) if l.is_empty() => Some(view! { <p class="empty">{ctx.t(Msg::NoSalons)}</p> }.into_any()),
            Some(_) => None,
        })}
        <ul class="cards" data-testid="salons">
            {move || list.get().unwrap_or_default().into_iter().map(|s| {
                let lang = ctx.lang.get();
                view! {
                    <li>
                        <a class="card" href=Route::Salon(s.doc.clone()).href() data-testid="salon-card">
                            <span class="name">{s.name.clone()}</span>
                            <span class="sub">{s.salon_type.label(lang).to_string()}</span>
                        </a>
                    </li>
                }
            }).collect_view()}
        </ul>
    }
}

/// Opens (creates) the session of `date` and goes to it.
fn open_session(ctx: crate::state::Ctx, doc: String, date: shared::Date) {
    let exists = salon(&doc).is_some_and(|s| s.0.sessions.contains_key(&date.to_string()));
    let key = date.to_string();
    if exists {
        go(&Route::Session(doc, key));
        return;
    }
    leptos::task::spawn_local(async move {
        let k = key.clone();
        // Sessions are keyed by date: two leaders opening the same day write into one.
        let there = Route::Session(doc.clone(), key.clone());
        if data::save(ctx, &doc, there, None, move |tx| {
            crdt::save_at(tx, &["sessions", &k, "date"], &date)
        })
        .await
        .is_ok()
        {
            go(&Route::Session(doc, key));
        }
    });
}

#[component]
pub fn SalonPage(id: String) -> impl IntoView {
    let ctx = use_ctx();
    let doc = id.clone();
    let data = Memo::new(move |_| {
        ctx.rev.track();
        salon(&doc).map(|s| s.0.clone())
    });
    let today = data::today();
    let other = RwSignal::new(today.to_string());
    let name = salon_name(&id);
    let title = Signal::derive(move || name.clone());
    let (id1, id2, id3) = (id.clone(), id.clone(), id.clone());
    let other_err = RwSignal::new(Vec::<FieldError>::new());
    view! {
        <Header title=title/>
        {move || data.get().is_none().then(|| view! { <p class="empty">{ctx.t(Msg::NotOnDevice)}</p> })}
        {move || data.get().map(|s| {
            let lang = ctx.lang.get();
            view! {
                <p class="sub">{s.profile.salon_type.label(lang).to_string()} " · " {s.profile.venue.clone()} " · " {s.profile.schedule.clone()}</p>
            }
        })}
        <div class="actions">
            <button class="big ok" data-testid="open-today" on:click=move |_| open_session(ctx, id1.clone(), today)>
                {move || ctx.t(Msg::OpenToday)}
            </button>
            <a class="button big secondary" href=Route::Member(id3.clone()).href() data-testid="add-member">{move || ctx.t(Msg::AddMember)}</a>
        </div>
        <form class="inline" autocomplete="off" on:submit=move |ev: leptos::ev::SubmitEvent| {
            ev.prevent_default();
            match shared::validate::parse_date_field("session_date", other.get_untracked().trim()) {
                Ok(d) if d <= today => { other_err.set(vec![]); open_session(ctx, id2.clone(), d) }
                Ok(_) => other_err.set(vec![FieldError::new("session_date", Msg::FutureDate)]),
                Err(e) => other_err.set(vec![e]),
            }
        }>
            <TextField label=Msg::OtherDate value=other field="session_date" errors=other_err kind="date" max=today.to_string()/>
            <button type="submit" class="secondary" data-testid="open-date">{move || ctx.t(Msg::OpenThisDay)}</button>
        </form>
        <h2>{move || ctx.t(Msg::PastSessions)}</h2>
        <ul class="history" data-testid="sessions">
            {move || data.get().map(|s| {
                let doc = id.clone();
                let mut list: Vec<(String, Session)> = s.sessions.into_iter().collect();
                list.sort_by(|a, b| b.0.cmp(&a.0));
                list.truncate(24);
                list.into_iter().map(|(k, sess)| {
                    let label = ctx.tf(Msg::SessionLine, &[
                        ("date", &md(sess.date)),
                        ("n", &sess.participants().to_string()),
                        ("h", &sess.helpers.to_string()),
                    ]);
                    view! { <li><a href=Route::Session(doc.clone(), k.clone()).href()>{label}</a></li> }
                }).collect_view()
            })}
        </ul>
    }
}

/// The human-readable text of a conflicting value.
fn value_label(path: &[String], v: &Value, lang: shared::i18n::Lang) -> String {
    match v {
        Value::String(s) if path.len() == 4 && path[2] == "attendance" => {
            code_label("mark", s, lang).unwrap_or(s).to_string()
        }
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null => "—".into(),
        other => other.to_string(),
    }
}

#[component]
pub fn SessionPage(id: String, date: String) -> impl IntoView {
    let ctx = use_ctx();
    let (doc, key) = (id.clone(), date.clone());
    let data = Memo::new(move |_| {
        ctx.rev.track();
        salon(&doc).map(|s| (*s).clone())
    });
    let editable = data::can_edit(&id);
    let name = salon_name(&id);
    let key2 = key.clone();
    let title = Signal::derive(move || {
        let d = shared::Date::parse(&key2).map(md).unwrap_or_default();
        format!("{name} {d}")
    });
    let session = {
        let key = key.clone();
        Memo::new(move |_| data.with(|d| d.as_ref().and_then(|d| d.0.sessions.get(&key).cloned())))
    };

    // Saves one value of this session (attendance, counts, …).
    let set = {
        let (id, key) = (id.clone(), key.clone());
        move |path: Vec<String>, value: Value, resolve: bool| {
            let (id, key) = (id.clone(), key.clone());
            leptos::task::spawn_local(async move {
                let mut full: Vec<String> = vec!["sessions".into(), key];
                full.extend(path);
                // A mark or a count shows itself once durable; a notice would cover 出席 N人.
                let _ = data::save_quietly(ctx, &id, move |tx| {
                    let p: Vec<&str> = full.iter().map(String::as_str).collect();
                    if resolve {
                        crdt::resolve(tx, &p, &value)
                    } else if value.is_null() {
                        // Nothing there: a mark taken back.
                        crdt::delete(tx, &p)
                    } else {
                        crdt::write(tx, &p, &value)
                    }
                })
                .await;
            });
        }
    };

    let program = RwSignal::new(Vec::<String>::new());
    let note = RwSignal::new(String::new());
    let guest_names = RwSignal::new(String::new());
    let helper_names = RwSignal::new(String::new());
    let errors = RwSignal::new(Vec::<FieldError>::new());
    // Fill the text fields once the session is there (not on every save: keep typing).
    let filled = RwSignal::new(false);
    Effect::new(move |_| {
        if let Some(s) = session.get()
            && !filled.get_untracked()
        {
            program.set(s.program.iter().map(|p| p.code().to_string()).collect());
            note.set(s.note.clone());
            guest_names.set(s.guest_names.clone());
            helper_names.set(s.helper_names.clone());
            filled.set(true);
        }
    });

    let set_details = set.clone();
    let save_details = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let Some(mut s) = session.get_untracked() else {
            return;
        };
        s.program = program
            .get_untracked()
            .iter()
            .map(|p| Program::from_code(p))
            .collect();
        s.note = note.get_untracked();
        s.guest_names = guest_names.get_untracked();
        s.helper_names = helper_names.get_untracked();
        if let Err(e) = s.validate(data::today()) {
            errors.set(e);
            ctx.notify(Msg::FixErrors, false);
            return;
        }
        errors.set(vec![]);
        for (k, v) in [
            (
                "program",
                serde_json::to_value(&s.program).unwrap_or(Value::Null),
            ),
            ("note", Value::String(s.note.clone())),
            ("guest_names", Value::String(s.guest_names.clone())),
            ("helper_names", Value::String(s.helper_names.clone())),
        ] {
            set_details(vec![k.to_string()], v, false);
        }
    };

    let set_conf = set.clone();
    let set_mark = set.clone();
    let set_count = set.clone();
    let key3 = key.clone();
    let id_open = id.clone();
    view! {
        <Header title=title/>
        <Show when=move || session.with(|s| s.is_none())>
            <p class="empty">{move || ctx.t(Msg::NoSessionYet)}</p>
            {
                let id = id_open.clone();
                let key = key3.clone();
                view! {
                    <button class="big ok" on:click=move |_| {
                        if let Ok(d) = shared::Date::parse(&key) { open_session(ctx, id.clone(), d) }
                    }>{move || ctx.t(Msg::OpenThisDay)}</button>
                }
            }
        </Show>
        // Disagreements between two phones: shown until a person picks.
        {
            let key = key.clone();
            move || {
                let (s, conflicts) = data.get()?;
                let mine: Vec<Conflict> = conflicts.into_iter().filter(|c| c.is_under(&["sessions", &key])).collect();
                if mine.is_empty() { return None; }
                let lang = ctx.lang.get();
                let set = set_conf.clone();
                Some(view! {
                    <section class="conflicts" role="alert" data-testid="conflicts">
                        <h2>{ctx.t(Msg::ConflictTitle)}</h2>
                        <p>{ctx.t(Msg::ConflictHelp)}</p>
                        {mine.into_iter().map(|c| {
                            let what = if c.path.len() == 4 && c.path[2] == "attendance" {
                                s.members.get(&c.path[3]).map(|m| m.name.clone()).unwrap_or_else(|| c.path[3].clone())
                            } else {
                                c.path.last().and_then(|f| field_label(f)).map(|m| ctx.t(m).to_string()).unwrap_or_default()
                            };
                            let set = set.clone();
                            let sub: Vec<String> = c.path[2..].to_vec();
                            view! {
                                <div class="conflict" data-testid="conflict">
                                    <strong>{what}</strong>
                                    <div class="chips">
                                        {c.values.iter().map(|v| {
                                            let label = value_label(&c.path, v, lang);
                                            let set = set.clone();
                                            let (sub, v) = (sub.clone(), v.clone());
                                            view! {
                                                <button class="chip" data-testid="resolve" on:click=move |_| set(sub.clone(), v.clone(), true)>
                                                    {ctx.tf(Msg::KeepThis, &[("v", &label)])}
                                                </button>
                                            }
                                        }).collect_view()}
                                    </div>
                                </div>
                            }
                        }).collect_view()}
                    </section>
                })
            }
        }
        <Show when=move || session.with(|s| s.is_some())>
            {
                let set_mark = set_mark.clone();
                let set_count = set_count.clone();
                move || {
                    let (s, _) = data.get()?;
                    let sess = session.get()?;
                    let day = sess.date;
                    let mut members: Vec<(String, Member)> = s.members.into_iter()
                        .filter(|(_, m)| m.left_on.is_none_or(|l| l > day))
                        .collect();
                    members.sort_by_key(|m| (m.1.kana.clone(), m.1.name.clone()));
                    let present = sess.present();
                    let set_mark = set_mark.clone();
                    let set_g = set_count.clone();
                    let set_h = set_count.clone();
                    let (g, h) = (sess.guests, sess.helpers);
                    let n = members.len();
                    Some(view! {
                        <ul class="roster" data-testid="roster">
                            {members.into_iter().map(|(mid, m)| {
                                let mark = sess.attendance.get(&mid).cloned();
                                let set_p = set_mark.clone();
                                let set_a = set_mark.clone();
                                let (mid_p, mid_a) = (mid.clone(), mid.clone());
                                let is_p = mark == Some(Mark::Present);
                                let is_a = mark == Some(Mark::Absent);
                                view! {
                                    <li class="member" data-testid="member" data-name=m.name.clone()>
                                        <span class="name">{m.name.clone()}
                                            {(!m.note.is_empty()).then(|| view! { <span class="sub">{m.note.clone()}</span> })}
                                        </span>
                                        // One tap marks 出席; a second tap takes the mark back.
                                        <button class="mark present" aria-pressed=is_p.to_string() disabled=!editable
                                            data-testid="present"
                                            on:click=move |_| set_p(vec!["attendance".into(), mid_p.clone()], if is_p { Value::Null } else { Value::String("present".into()) }, false)>
                                            {ctx.t(Msg::Present)}
                                        </button>
                                        <button class="mark absent" aria-pressed=is_a.to_string() disabled=!editable
                                            data-testid="absent"
                                            on:click=move |_| set_a(vec!["attendance".into(), mid_a.clone()], Value::String("absent".into()), false)>
                                            {ctx.t(Msg::Absent)}
                                        </button>
                                    </li>
                                }
                            }).collect_view()}
                        </ul>
                        // After the list, and sticky: in view above the bottom bar while the
                        // roster scrolls under it.
                        <p class="summary" role="status" data-testid="summary">{ctx.tf(Msg::AttendanceSummary, &[
                            ("p", &present.to_string()), ("n", &n.to_string()),
                            ("g", &g.to_string()), ("h", &h.to_string())])}</p>
                        <div class="counters">
                            <Counter label=Msg::Guests value=g testid="guests" on_set=move |n| set_g(vec!["guests".into()], Value::from(n), false) enabled=editable/>
                            <Counter label=Msg::Helpers value=h testid="helpers" on_set=move |n| set_h(vec!["helpers".into()], Value::from(n), false) enabled=editable/>
                        </div>
                    })
                }
            }
            <form class="form" autocomplete="off" on:submit=save_details.clone() novalidate data-testid="session-details">
                <ChooseMany kind="program" codes=Program::ALL.iter().map(|p| p.code()).collect() selected=program label=Msg::ProgramLabel testid="program"/>
                <TextField label=Msg::GuestNames value=guest_names field="guest_names" errors=errors/>
                <TextField label=Msg::HelperNames value=helper_names field="helper_names" errors=errors/>
                <TextField label=Msg::Note value=note field="note" errors=errors multiline=true/>
                <button type="submit" class="big wide" data-testid="save-details" disabled=!editable>{move || ctx.t(Msg::Save)}</button>
            </form>
        </Show>
    }
}

fn field_label(f: &str) -> Option<Msg> {
    Some(match f {
        "guests" => Msg::Guests,
        "helpers" => Msg::Helpers,
        "note" => Msg::Note,
        "program" => Msg::ProgramLabel,
        "guest_names" => Msg::GuestNames,
        "helper_names" => Msg::HelperNames,
        _ => return None,
    })
}

/// A number with large − and + buttons.
#[component]
fn Counter(
    label: Msg,
    value: u32,
    testid: &'static str,
    on_set: impl Fn(u32) + Clone + 'static,
    enabled: bool,
) -> impl IntoView {
    let ctx = use_ctx();
    let dec = on_set.clone();
    view! {
        <div class="counter" data-testid=testid>
            <span class="label">{move || ctx.t(label)}</span>
            <button class="secondary" aria-label=move || format!("{} −1", ctx.t(label)) disabled={!enabled || value == 0}
                data-testid="minus" on:click=move |_| dec(value.saturating_sub(1))>"−"</button>
            <span class="count" data-testid="count" aria-live="polite">{value}</span>
            <button class="secondary" aria-label=move || format!("{} +1", ctx.t(label)) disabled={!enabled || value >= 999}
                data-testid="plus" on:click=move |_| on_set(value + 1)>"+"</button>
        </div>
    }
}

/// 名簿に追加: a new roster member, on the spot.
#[component]
pub fn MemberForm(id: String) -> impl IntoView {
    let ctx = use_ctx();
    let name = RwSignal::new(String::new());
    let kana = RwSignal::new(String::new());
    let area = RwSignal::new(String::new());
    let note = RwSignal::new(String::new());
    let errors = RwSignal::new(Vec::<FieldError>::new());
    let busy = RwSignal::new(false);
    let sname = salon_name(&id);
    let title = Signal::derive(move || format!("{sname} — {}", ctx.t(Msg::AddMember)));
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if busy.get_untracked() {
            return;
        }
        let m = Member {
            name: name.get_untracked().trim().to_string(),
            kana: kana.get_untracked().trim().to_string(),
            area: area.get_untracked().trim().to_string(),
            note: note.get_untracked(),
            joined_on: Some(data::today()),
            left_on: None,
        };
        if let Err(e) = m.validate() {
            errors.set(e);
            ctx.notify(Msg::FixErrors, false);
            return;
        }
        errors.set(vec![]);
        busy.set(true);
        let doc = id.clone();
        leptos::task::spawn_local(async move {
            let mid = data::new_id();
            let there = Route::Salon(doc.clone());
            if data::save(ctx, &doc, there, None, move |tx| {
                crdt::save_at(tx, &["members", &mid], &m)
            })
            .await
            .is_ok()
            {
                crate::state::back();
            }
            busy.set(false);
        });
    };
    view! {
        <Header title=title/>
        <form class="form" autocomplete="off" on:submit=submit novalidate data-testid="member-form">
            <TextField label=Msg::MemberName value=name field="name" errors=errors/>
            <TextField label=Msg::Kana value=kana field="kana" errors=errors/>
            <TextField label=Msg::Area value=area field="area" errors=errors/>
            <TextField label=Msg::MemberNote value=note field="note" errors=errors multiline=true/>
            <button type="submit" class="big wide" data-testid="save" disabled=move || busy.get()>{move || ctx.t(Msg::Save)}</button>
        </form>
    }
}
