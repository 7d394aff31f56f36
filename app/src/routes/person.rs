//! A person's page (recent visits, 緊急連絡先, worries), the quick visit buttons, the
//! detailed visit form, and the 民生委員's consultation (相談) form.

use crate::data::{self, Access, Undo};
use crate::state::{Route, go, now_hm, use_ctx};
use crate::ui::{ChooseMany, ChooseOne, Header, TextField, field_error};
use leptos::prelude::*;
use shared::codes::*;
use shared::crdt;
use shared::i18n::{Msg, code_label};
use shared::model::{Consent, Consultation, Person, Visit};
use shared::validate::FieldError;
use shared::watch;
use std::rc::Rc;

fn person(id: &str) -> Option<Rc<(Person, Vec<crdt::Conflict>)>> {
    data::read::<Person>(id)
}

fn md(d: shared::Date) -> String {
    format!("{}/{}", d.month(), d.day())
}

/// Saves a quick visit record on the person's document; 取り消す removes it again.
async fn save_visit(ctx: crate::state::Ctx, doc: String, v: Visit) -> bool {
    let id = data::new_id();
    let undo = Undo {
        doc: doc.clone(),
        path: vec!["visits".into(), id.clone()],
    };
    data::save(
        ctx,
        &doc,
        Route::Person(doc.clone()),
        Some(undo),
        move |tx| crdt::save_at(tx, &["visits", &id], &v),
    )
    .await
    .is_ok()
}

/// The end of every form on a person: shows the errors (keeping what was typed), or saves
/// `value` at `path` of the person's document and returns to the person's page (where the
/// notice is, with 取り消す when the form made a new record).
#[allow(clippy::too_many_arguments)]
fn save_form<T: serde::Serialize + 'static>(
    ctx: crate::state::Ctx,
    errors: RwSignal<Vec<FieldError>>,
    busy: RwSignal<bool>,
    errs: Vec<FieldError>,
    doc: String,
    path: Vec<String>,
    value: T,
    new_record: bool,
) {
    if !errs.is_empty() {
        errors.set(errs);
        ctx.notify(Msg::FixErrors, false);
        return;
    }
    errors.set(Vec::new());
    busy.set(true);
    leptos::task::spawn_local(async move {
        let undo = new_record.then(|| Undo {
            doc: doc.clone(),
            path: path.clone(),
        });
        let saved = data::save(ctx, &doc, Route::Person(doc.clone()), undo, move |tx| {
            let path: Vec<&str> = path.iter().map(String::as_str).collect();
            crdt::save_at(tx, &path, &value)
        })
        .await
        .is_ok();
        if saved {
            go(&Route::Person(doc));
        }
        busy.set(false);
    });
}

/// 取り下げる: the record stays (its history too) but no longer counts in reports or the
/// visit plan. Asked first; a change like any other, so it merges and syncs.
fn withdraw(ctx: crate::state::Ctx, doc: String, collection: &'static str, record: String) {
    let ok = web_sys::window().is_some_and(|w| {
        w.confirm_with_message(ctx.t(Msg::WithdrawConfirm))
            .unwrap_or(false)
    });
    if !ok {
        return;
    }
    leptos::task::spawn_local(async move {
        let done = data::save_here(ctx, &doc, None, move |tx| {
            crdt::write(
                tx,
                &[collection, &record, "withdrawn"],
                &serde_json::Value::Bool(true),
            )
        })
        .await;
        if done.is_ok() {
            ctx.notify(Msg::WithdrawnDone, true);
        }
    });
}

/// 相談の記録: the person's latest consultations (withdrawn ones marked), for those who
/// record consultations; each corrected or withdrawn from here by its author or staff.
fn consultations(
    ctx: crate::state::Ctx,
    id: &str,
    p: &Person,
    editable: bool,
) -> impl IntoView + use<> {
    let me = data::me();
    let shown =
        me.as_ref().is_some_and(|u| u.records_consultations()) && !p.consultations.is_empty();
    shown.then(|| {
        let lang = ctx.lang.get();
        let mut list: Vec<(String, Consultation)> =
            p.consultations.iter().map(|(k, c)| (k.clone(), c.clone())).collect();
        list.sort_by(|a, b| (b.1.date, b.1.recorded_at).cmp(&(a.1.date, a.1.recorded_at)));
        list.truncate(10);
        let id = id.to_string();
        view! {
            <section>
                <h2>{ctx.t(Msg::RecentConsultations)}</h2>
                <ul class="history" data-testid="consultations">
                    {list.into_iter().map(|(cid, c)| {
                        let correctable = editable && !c.withdrawn
                            && me.as_ref().is_some_and(|u| shared::access::may_correct(u, &c.recorded_by));
                        let edit = Route::EditConsult(id.clone(), cid.clone()).href();
                        let rid = cid.clone();
                        let topics: Vec<&str> = c.topics.iter().map(|t| t.label(lang)).collect();
                        view! {
                            <li data-testid="consultation" data-record=rid class:withdrawn=c.withdrawn>
                                <strong>{md(c.date)}</strong> " " {c.field.label(lang).to_string()}
                                {(!topics.is_empty()).then(|| format!(" · {}", topics.join("、")))}
                                {(!c.summary.is_empty()).then(|| view! { <span class="note">{c.summary.clone()}</span> })}
                                {record_end(ctx, c.wants_followup(), c.withdrawn, correctable.then(|| (edit, id.clone(), "consultations", cid)))}
                            </li>
                        }
                    }).collect_view()}
                </ul>
            </section>
        }
    })
}

/// The end of a record in a history list: its follow-up and withdrawn badges, and 直す /
/// 取り下げる when `actions` gives the correction's link, the document, the collection and
/// the record.
fn record_end(
    ctx: crate::state::Ctx,
    followup: bool,
    withdrawn: bool,
    actions: Option<(String, String, &'static str, String)>,
) -> impl IntoView + use<> {
    view! {
        {followup.then(|| view! { <span class="badge warn">{ctx.t(Msg::NeedsFollowup)}</span> })}
        {withdrawn.then(|| view! { <span class="badge" data-testid="withdrawn">{ctx.t(Msg::WithdrawnBadge)}</span> })}
        {actions.map(|(edit, doc, collection, record)| view! {
            <span class="record-actions">
                <a class="button small secondary" href=edit data-testid="correct">{ctx.t(Msg::CorrectRecord)}</a>
                <button class="small secondary" data-testid="withdraw" on:click=move |_| withdraw(ctx, doc.clone(), collection, record.clone())>
                    {ctx.t(Msg::WithdrawRecord)}
                </button>
            </span>
        })}
    }
}

fn quick_visit(outcome: Outcome, condition: Option<Condition>) -> Visit {
    let me = data::my_id();
    Visit {
        date: data::today(),
        time: now_hm(),
        kind: VisitKind::Visit,
        outcome,
        condition,
        visitors: vec![me.clone()],
        recorded_by: me,
        recorded_at: data::now_ms() as i64,
        ..Visit::default()
    }
}

#[component]
pub fn PersonPage(id: String) -> impl IntoView {
    let ctx = use_ctx();
    // A staff member opening a record is recorded in the audit log (sent with the next sync).
    data::note_read(&id);
    let data = data::record::<Person>(ctx, id.clone());
    let busy = RwSignal::new(false);
    let editable = data::can_edit(&id);
    // A quick record just made on this person (its notice offers 取り消す): the quick
    // buttons wait, so a double tap records one visit, not two.
    let just_recorded = {
        let id = id.clone();
        Memo::new(move |_| {
            ctx.notice.with(|n| {
                n.as_ref()
                    .and_then(|n| n.undo.as_ref())
                    .is_some_and(|u| u.doc == id)
            })
        })
    };
    let quick = {
        let id = id.clone();
        move |outcome: Outcome, condition: Option<Condition>| {
            if busy.get_untracked() || just_recorded.get_untracked() {
                return;
            }
            busy.set(true);
            let id = id.clone();
            leptos::task::spawn_local(async move {
                save_visit(ctx, id, quick_visit(outcome, condition)).await;
                busy.set(false);
            });
        }
    };
    let quick2 = quick.clone();
    let title = Signal::derive(move || {
        data.with(|p| {
            p.as_ref()
                .map(|p| p.profile.name.clone())
                .unwrap_or_default()
        })
    });
    let today = data::today();
    let id2 = id.clone();
    let id3 = id.clone();
    let id4 = id.clone();
    let id5 = id.clone();
    view! {
        <Header title=title/>
        {move || data.get().is_none().then(|| view! { <p class="empty">{ctx.t(Msg::NotOnDevice)}</p> })}
        // The main action first: on the first screen at any text size.
        <Show when=move || !editable && data.with(|d| d.is_some())>
            <p class="hint" data-testid="view-only">{move || ctx.t(Msg::ViewOnly)}</p>
        </Show>
        <Show when=move || editable && data.with(|d| d.is_some())>
            <div class="actions">
                <button class="big ok" data-testid="quick-met" disabled=move || busy.get() || just_recorded.get()
                    on:click={let q = quick.clone(); move |_| q(Outcome::Met, Some(Condition::Fine))}>
                    {move || ctx.t(Msg::QuickMetWell)}
                </button>
                <button class="big secondary" data-testid="quick-not-home" disabled=move || busy.get() || just_recorded.get()
                    on:click={let q = quick2.clone(); move |_| q(Outcome::NotHome, None)}>
                    {move || ctx.t(Msg::QuickNotHome)}
                </button>
                <a class="button big secondary" href=Route::Visit(id2.clone()).href() data-testid="detailed">
                    {move || ctx.t(Msg::DetailedRecord)}
                </a>
                {data::allowed(|u| u.records_consultations()).then(|| view! {
                    <a class="button big secondary" href=Route::Consult(id3.clone()).href() data-testid="consult">
                        {move || ctx.t(Msg::RecordConsultation)}
                    </a>
                })}
            </div>
        </Show>
        {move || data.get().map(|p| {
            let st = watch::status(&p, today);
            let lang = ctx.lang.get();
            view! {
                <section class="person" data-testid="person">
                    <p class="kana">{p.profile.kana.clone()}</p>
                    <p>{p.profile.address.clone()}</p>
                    <p>{code_label("frequency", p.watch.frequency.code(), lang).unwrap_or_default()}
                       " · " {p.profile.household.as_ref().map(|h| h.label(lang).to_string())}
                       " · " {p.profile.status.label(lang).to_string()}</p>
                    {(!p.watch.note.is_empty()).then(|| view! { <p class="hint">{p.watch.note.clone()}</p> })}
                    {st.streak_warning().then(|| view! {
                        <p class="badge warn">{ctx.tf(Msg::NotHomeStreak, &[("n", &st.not_home_streak.to_string())])}</p>
                    })}
                    {match st.last_contact {
                        Some(d) => ctx.tf(Msg::LastContact, &[("date", &md(d))]),
                        None => ctx.t(Msg::NeverMet).to_string(),
                    }}
                </section>
            }
        })}
        {move || data.get().map(|p| {
            let lang = ctx.lang.get();
            // The latest records, withdrawn ones too (marked): a record is corrected or
            // withdrawn from here by its author or staff.
            let mut visits: Vec<(String, Visit)> = p.visits.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            visits.sort_by(|a, b| (b.1.date, &b.1.time, b.1.recorded_at).cmp(&(a.1.date, &a.1.time, a.1.recorded_at)));
            visits.truncate(10);
            let worries: Vec<String> = visits.iter().filter(|(_, v)| !v.withdrawn).take(3).flat_map(|(_, v)| v.worries.iter().map(|w| w.label(lang).to_string())).collect::<std::collections::BTreeSet<_>>().into_iter().collect();
            let me = data::me();
            let mut contacts: Vec<_> = p.emergency.contacts.values().cloned().collect();
            contacts.sort_by_key(|c| c.order);
            view! {
                <section>
                    <h2>{ctx.t(Msg::RecentVisits)}</h2>
                    <ul class="history" data-testid="history">
                        {visits.into_iter().map(|(vid, v)| {
                            let correctable = editable && !v.withdrawn
                                && me.as_ref().is_some_and(|u| shared::access::may_correct(u, &v.recorded_by));
                            let edit = Route::EditVisit(id5.clone(), vid.clone()).href();
                            let rid = vid.clone();
                            view! {
                                <li data-testid="record" data-record=rid class:withdrawn=v.withdrawn>
                                    <strong>{md(v.date)} " " {v.time.clone()}</strong> " "
                                    {v.kind.label(lang).to_string()} " · " {v.outcome.label(lang).to_string()}
                                    {v.condition.as_ref().map(|c| format!(" · {}", c.label(lang)))}
                                    {(!v.worries.is_empty()).then(|| format!(" · {}", v.worries.iter().map(|w| w.label(lang)).collect::<Vec<_>>().join("、")))}
                                    {(!v.note.is_empty()).then(|| view! { <span class="note">{v.note.clone()}</span> })}
                                    {record_end(ctx, v.wants_followup(), v.withdrawn, correctable.then(|| (edit, id5.clone(), "visits", vid)))}
                                </li>
                            }
                        }).collect_view()}
                    </ul>
                </section>
                {consultations(ctx, &id5, &p, editable)}
                <section>
                    <h2>{ctx.t(Msg::Worries)}</h2>
                    <p>{if worries.is_empty() { "—".to_string() } else { worries.join("、") }}</p>
                    {(!p.profile.note.is_empty()).then(|| view! { <p class="note">{p.profile.note.clone()}</p> })}
                </section>
                <section class="emergency" data-testid="emergency">
                    <h2>{ctx.t(Msg::EmergencyCard)}</h2>
                    {contacts.is_empty().then(|| view! { <p>{ctx.t(Msg::NoContacts)}</p> })}
                    <ul>
                        {contacts.into_iter().map(|c| view! {
                            <li>{c.name} "（" {c.relation} "） " <a href=format!("tel:{}", c.phone)>{c.phone.clone()}</a></li>
                        }).collect_view()}
                    </ul>
                    {(!p.emergency.doctor.is_empty() || !p.emergency.hospital.is_empty()).then(|| view! {
                        <p>{ctx.t(Msg::Doctor)} ": " {p.emergency.doctor.clone()} " " {p.emergency.hospital.clone()}</p>
                    })}
                    {p.emergency.kit_at_home.then(|| view! { <p>{ctx.t(Msg::KitAtHome)} ": " {p.emergency.kit_location.clone()}</p> })}
                    {p.evacuation.listed.then(|| view! {
                        <p>{ctx.t(Msg::EvacuationListed)} " " {p.evacuation.support_needed.clone()} " " {p.evacuation.shelter.clone()}</p>
                    })}
                </section>
                <section class="consent" data-testid="consent">
                    <h2>{ctx.t(Msg::ConsentTitle)}</h2>
                    {
                        let agreed: Vec<&str> = consent_codes(&p.consent)
                            .into_iter()
                            .filter_map(|c| code_label("consent_scope", c, lang))
                            .collect();
                        if agreed.is_empty() && p.consent.date.is_none() {
                            view! { <p>{ctx.t(Msg::ConsentNone)}</p> }.into_any()
                        } else {
                            let how = p.consent.method.as_ref().map(|m| m.label(lang).to_string()).unwrap_or_default();
                            let when = p.consent.date.map(md_full).unwrap_or_default();
                            view! {
                                <ul>{agreed.into_iter().map(|a| view! { <li>{a}</li> }).collect_view()}</ul>
                                <p class="sub">{ctx.tf(Msg::ConsentOn, &[("date", &when), ("how", &how)])}</p>
                                {(!p.consent.note.is_empty()).then(|| view! { <p class="note">{p.consent.note.clone()}</p> })}
                            }.into_any()
                        }
                    }
                    {editable.then(|| view! {
                        <a class="button secondary" href=Route::Consent(id4.clone()).href() data-testid="edit-consent">{ctx.t(Msg::ConsentEdit)}</a>
                    })}
                </section>
            }
        })}
    }
}

fn codes<T>(all: &'static [T], code: fn(&T) -> &str) -> Vec<&'static str> {
    all.iter().map(code).collect()
}

fn date_field(s: &str, field: &str, errs: &mut Vec<FieldError>) -> Option<shared::Date> {
    if s.trim().is_empty() {
        errs.push(FieldError::new(field, Msg::Required));
        return None;
    }
    match shared::validate::parse_date_field(field, s.trim()) {
        Ok(d) => Some(d),
        Err(e) => {
            errs.push(e);
            None
        }
    }
}

/// くわしく記録する: every field of a visit; with `record`, correcting that visit (直す):
/// the fields start as recorded, and saving writes them over it (merging like any edit).
#[component]
pub fn VisitForm(id: String, #[prop(optional)] record: Option<String>) -> impl IntoView {
    let ctx = use_ctx();
    let today = data::today();
    let old: Option<Visit> = record
        .as_ref()
        .and_then(|r| person(&id).and_then(|p| p.0.visits.get(r).cloned()));
    let o = old.clone().unwrap_or_default();
    let codes_of = |v: Vec<String>| RwSignal::new(v);
    let date = RwSignal::new(if old.is_some() {
        o.date.to_string()
    } else {
        today.to_string()
    });
    let time = RwSignal::new(if old.is_some() {
        o.time.clone()
    } else {
        now_hm()
    });
    let kind = RwSignal::new(if old.is_some() {
        o.kind.code().to_string()
    } else {
        "visit".to_string()
    });
    let outcome = RwSignal::new(if old.is_some() {
        o.outcome.code().to_string()
    } else {
        "met".to_string()
    });
    let condition = RwSignal::new(
        o.condition
            .as_ref()
            .map(|c| c.code().to_string())
            .unwrap_or_default(),
    );
    let worries = codes_of(o.worries.iter().map(|w| w.code().to_string()).collect());
    let note = RwSignal::new(o.note.clone());
    let followup = RwSignal::new(o.followup);
    let followup_what = RwSignal::new(o.followup_what.clone());
    let referrals = codes_of(o.referrals.iter().map(|r| r.code().to_string()).collect());
    let next = RwSignal::new(o.next_contact.map(|d| d.to_string()).unwrap_or_default());
    let errors = RwSignal::new(Vec::<FieldError>::new());
    let busy = RwSignal::new(false);
    let name = person(&id)
        .map(|p| p.0.profile.name.clone())
        .unwrap_or_default();
    let heading = if old.is_some() {
        Msg::CorrectTitle
    } else {
        Msg::DetailedRecord
    };
    let title = Signal::derive(move || format!("{} — {}", name, ctx.t(heading)));

    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if busy.get_untracked() {
            return;
        }
        let mut errs = Vec::new();
        let d = date_field(&date.get_untracked(), "date", &mut errs);
        let n = next.get_untracked();
        let next_contact = if n.trim().is_empty() {
            None
        } else {
            date_field(&n, "next_contact", &mut errs)
        };
        let me = data::my_id();
        // A correction keeps who made the contact and when it was first recorded.
        let (visitors, recorded_by, recorded_at) = match &old {
            Some(o) => (o.visitors.clone(), o.recorded_by.clone(), o.recorded_at),
            None => (vec![me.clone()], me.clone(), data::now_ms() as i64),
        };
        let v = Visit {
            date: d.unwrap_or(today),
            time: time.get_untracked().trim().to_string(),
            kind: VisitKind::from_code(&kind.get_untracked()),
            outcome: Outcome::from_code(&outcome.get_untracked()),
            condition: Some(condition.get_untracked())
                .filter(|c| !c.is_empty())
                .map(|c| Condition::from_code(&c)),
            worries: worries
                .get_untracked()
                .iter()
                .map(|w| Worry::from_code(w))
                .collect(),
            note: note.get_untracked(),
            followup: followup.get_untracked(),
            followup_what: followup_what.get_untracked(),
            referrals: referrals
                .get_untracked()
                .iter()
                .map(|r| Referral::from_code(r))
                .collect(),
            next_contact,
            visitors,
            recorded_by,
            recorded_at,
            withdrawn: false,
        };
        if let Err(mut e) = v.validate(today) {
            errs.append(&mut e);
        }
        let (path, new_record) = match &record {
            Some(r) => (vec!["visits".into(), r.clone()], false),
            None => (vec!["visits".into(), data::new_id()], true),
        };
        save_form(ctx, errors, busy, errs, id.clone(), path, v, new_record);
    };

    view! {
        <Header title=title/>
        <form class="form" autocomplete="off" on:submit=submit novalidate data-testid="visit-form">
            <div class="row2">
                <TextField label=Msg::VisitDate value=date field="date" errors=errors kind="date" max=today.to_string()/>
                <TextField label=Msg::VisitTime value=time field="time" errors=errors kind="time"/>
            </div>
            <ChooseOne kind="visit_kind" codes=codes(VisitKind::ALL, VisitKind::code) selected=kind label=Msg::VisitKindLabel testid="kind"/>
            <ChooseOne kind="outcome" codes=codes(Outcome::ALL, Outcome::code) selected=outcome label=Msg::OutcomeLabel testid="outcome"/>
            <ChooseOne kind="condition" codes=codes(Condition::ALL, Condition::code) selected=condition label=Msg::ConditionLabel testid="condition" allow_none=true/>
            <ChooseMany kind="worry" codes=codes(Worry::ALL, Worry::code) selected=worries label=Msg::Worries testid="worries"/>
            <TextField label=Msg::Note value=note field="note" errors=errors multiline=true/>
            <div class="field">
                <label class="check">
                    <input type="checkbox" name="followup" prop:checked=move || followup.get()
                        on:change=move |ev| followup.set(event_target_checked(&ev)) />
                    {move || ctx.t(Msg::NeedsFollowup)}
                </label>
            </div>
            <Show when=move || followup.get()>
                <TextField label=Msg::FollowupWhatLabel value=followup_what field="followup_what" errors=errors/>
            </Show>
            <ChooseMany kind="referral" codes=codes(Referral::ALL, Referral::code) selected=referrals label=Msg::ReferralsLabel testid="referrals"/>
            <TextField label=Msg::NextContact value=next field="next_contact" errors=errors kind="date"/>
            <button type="submit" class="big wide" data-testid="save" disabled=move || busy.get()>{move || ctx.t(Msg::Save)}</button>
        </form>
    }
}

/// 相談・支援 (民生委員): 分野, 内容, what was done, つなぎ先, follow-up.
#[component]
pub fn ConsultForm(id: String, #[prop(optional)] record: Option<String>) -> impl IntoView {
    let ctx = use_ctx();
    let today = data::today();
    // Correcting: the form starts as recorded.
    let old: Option<Consultation> = record
        .as_ref()
        .and_then(|r| person(&id).and_then(|p| p.0.consultations.get(r).cloned()));
    let date = RwSignal::new(old.as_ref().map_or(today, |o| o.date).to_string());
    let field = RwSignal::new(
        old.as_ref()
            .map_or("elderly", |o| o.field.code())
            .to_string(),
    );
    let topics = RwSignal::new(old.as_ref().map_or_else(Vec::new, |o| {
        o.topics.iter().map(|t| t.code().to_string()).collect()
    }));
    let summary = RwSignal::new(old.as_ref().map(|o| o.summary.clone()).unwrap_or_default());
    let action = RwSignal::new(old.as_ref().map(|o| o.action.clone()).unwrap_or_default());
    let referrals = RwSignal::new(old.as_ref().map_or_else(Vec::new, |o| {
        o.referrals.iter().map(|r| r.code().to_string()).collect()
    }));
    let followup = RwSignal::new(old.as_ref().is_some_and(|o| o.followup));
    let followup_what = RwSignal::new(
        old.as_ref()
            .map(|o| o.followup_what.clone())
            .unwrap_or_default(),
    );
    let errors = RwSignal::new(Vec::<FieldError>::new());
    let busy = RwSignal::new(false);
    let name = person(&id)
        .map(|p| p.0.profile.name.clone())
        .unwrap_or_default();
    let heading = if old.is_some() {
        Msg::CorrectTitle
    } else {
        Msg::RecordConsultation
    };
    let title = Signal::derive(move || format!("{} — {}", name, ctx.t(heading)));

    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if busy.get_untracked() {
            return;
        }
        let mut errs = Vec::new();
        let d = date_field(&date.get_untracked(), "date", &mut errs);
        let c = Consultation {
            date: d.unwrap_or(today),
            field: ConsultField::from_code(&field.get_untracked()),
            topics: topics
                .get_untracked()
                .iter()
                .map(|t| ConsultTopic::from_code(t))
                .collect(),
            summary: summary.get_untracked(),
            action: action.get_untracked(),
            referrals: referrals
                .get_untracked()
                .iter()
                .map(|r| Referral::from_code(r))
                .collect(),
            followup: followup.get_untracked(),
            followup_what: followup_what.get_untracked(),
            // A correction keeps who recorded it and when.
            recorded_by: old
                .as_ref()
                .map_or_else(data::my_id, |o| o.recorded_by.clone()),
            recorded_at: old
                .as_ref()
                .map_or_else(|| data::now_ms() as i64, |o| o.recorded_at),
            withdrawn: false,
        };
        if let Err(mut e) = c.validate(today) {
            errs.append(&mut e);
        }
        let (path, new_record) = match &record {
            Some(r) => (vec!["consultations".into(), r.clone()], false),
            None => (vec!["consultations".into(), data::new_id()], true),
        };
        save_form(ctx, errors, busy, errs, id.clone(), path, c, new_record);
    };

    view! {
        <Header title=title/>
        <form class="form" autocomplete="off" on:submit=submit novalidate data-testid="consult-form">
            <TextField label=Msg::VisitDate value=date field="date" errors=errors kind="date" max=today.to_string()/>
            <ChooseOne kind="consult_field" codes=codes(ConsultField::ALL, ConsultField::code) selected=field label=Msg::ConsultFieldLabel testid="field"/>
            <ChooseMany kind="consult_topic" codes=codes(ConsultTopic::ALL, ConsultTopic::code) selected=topics label=Msg::ConsultTopicLabel testid="topics"/>
            {field_error(ctx, errors, "topics")}
            <TextField label=Msg::ConsultSummary value=summary field="summary" errors=errors multiline=true/>
            <TextField label=Msg::ConsultAction value=action field="action" errors=errors multiline=true/>
            <ChooseMany kind="referral" codes=codes(Referral::ALL, Referral::code) selected=referrals label=Msg::ReferralsLabel testid="referrals"/>
            <div class="field">
                <label class="check">
                    <input type="checkbox" name="followup" prop:checked=move || followup.get()
                        on:change=move |ev| followup.set(event_target_checked(&ev)) />
                    {move || ctx.t(Msg::NeedsFollowup)}
                </label>
            </div>
            <Show when=move || followup.get()>
                <TextField label=Msg::FollowupWhatLabel value=followup_what field="followup_what" errors=errors/>
            </Show>
            <button type="submit" class="big wide" data-testid="save" disabled=move || busy.get()>{move || ctx.t(Msg::Save)}</button>
        </form>
    }
}

/// The consent scopes a person agreed to, as `consent_scope` codes.
fn consent_codes(c: &Consent) -> Vec<&'static str> {
    [
        (c.visits, "visits"),
        (c.share_minsei, "share_minsei"),
        (c.share_bousai, "share_bousai"),
        (c.share_houkatsu, "share_houkatsu"),
    ]
    .into_iter()
    .filter_map(|(on, code)| on.then_some(code))
    .collect()
}

fn md_full(d: shared::Date) -> String {
    format!("{}年{}月{}日", d.year(), d.month(), d.day())
}

/// 同意を記録する: what the person agreed to, when and how (the 避難行動要支援者名簿 is
/// shared with the 自主防災組織 only with `share_bousai`, outside a disaster).
#[component]
pub fn ConsentForm(id: String) -> impl IntoView {
    let ctx = use_ctx();
    let today = data::today();
    let current = person(&id).map(|p| p.0.consent.clone()).unwrap_or_default();
    let name = person(&id)
        .map(|p| p.0.profile.name.clone())
        .unwrap_or_default();
    let title = Signal::derive(move || format!("{} — {}", name, ctx.t(Msg::ConsentEdit)));
    let scopes = RwSignal::new(
        consent_codes(&current)
            .into_iter()
            .map(str::to_string)
            .collect::<Vec<_>>(),
    );
    let date = RwSignal::new(current.date.unwrap_or(today).to_string());
    let method = RwSignal::new(
        current
            .method
            .as_ref()
            .map_or("written".to_string(), |m| m.code().to_string()),
    );
    let note = RwSignal::new(current.note.clone());
    let errors = RwSignal::new(Vec::<FieldError>::new());
    let busy = RwSignal::new(false);
    let editable = data::can_edit(&id);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if busy.get_untracked() || !editable {
            return;
        }
        let mut errs = Vec::new();
        let d = date_field(&date.get_untracked(), "date", &mut errs);
        let on = |c: &str| scopes.with_untracked(|s| s.iter().any(|x| x == c));
        let c = Consent {
            visits: on("visits"),
            share_minsei: on("share_minsei"),
            share_bousai: on("share_bousai"),
            share_houkatsu: on("share_houkatsu"),
            date: d,
            method: Some(ConsentMethod::from_code(&method.get_untracked())),
            note: note.get_untracked(),
        };
        if let Err(mut e) = c.validate(today) {
            errs.append(&mut e);
        }
        save_form(
            ctx,
            errors,
            busy,
            errs,
            id.clone(),
            vec!["consent".into()],
            c,
            false,
        );
    };
    view! {
        <Header title=title/>
        <form class="form" autocomplete="off" on:submit=submit novalidate data-testid="consent-form">
            <ChooseMany kind="consent_scope" codes=vec!["visits", "share_minsei", "share_bousai", "share_houkatsu"] selected=scopes label=Msg::ConsentWhat testid="scopes"/>
            <TextField label=Msg::ConsentDate value=date field="date" errors=errors kind="date" max=today.to_string()/>
            <ChooseOne kind="consent_method" codes=codes(ConsentMethod::ALL, ConsentMethod::code) selected=method label=Msg::ConsentHow testid="method"/>
            <TextField label=Msg::ConsentNote value=note field="note" errors=errors multiline=true/>
            <button type="submit" class="big wide" data-testid="save" disabled=move || busy.get() || !editable>{move || ctx.t(Msg::Save)}</button>
        </form>
    }
}
