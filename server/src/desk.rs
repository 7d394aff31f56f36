//! The coordinator's desk: who may use it (staff and administrators, over the whole
//! organisation or a district subtree), the overdue watch board, the follow-up inbox and
//! the list of users to assign. Reports are in reports.rs, their CSV in export.rs, changes
//! of people and assignments in people.rs.
//!
//! Everything is read from the projections (projection.rs), a few hundred milliseconds
//! behind the documents; the overdue rule is `shared::watch`, the same code as the
//! phone's *today* screen, so the app and the board agree.

use crate::AppState;
use crate::auth::{self, Caller};
use crate::db::{audit, now_ms};
use crate::error::{Error, Result};
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use serde::Deserialize;
use shared::Date;
use shared::codes::{Frequency, Outcome, PersonStatus, Referral, Role};
use shared::desk::*;
use shared::model::{Person, Visit};
use sqlx::Row;
use std::collections::BTreeMap;

/// One district of the organisation.
#[derive(Debug, Clone)]
pub struct DistrictRec {
    pub path: String,
    pub name: String,
    pub level: String,
    pub parent: Option<String>,
}

/// The part of the organisation a desk request covers.
#[derive(Debug, Clone)]
pub struct Area {
    pub org: String,
    pub districts: BTreeMap<String, DistrictRec>,
    /// Paths of the subtrees covered; `None`: the whole organisation (records placed in no
    /// district included).
    pub tops: Option<Vec<String>>,
    /// For the audit detail: `all` or the district ids.
    pub label: String,
}

impl Area {
    /// Whether something placed in `district` is inside the area.
    pub fn covers(&self, district: Option<&str>) -> bool {
        match &self.tops {
            None => true,
            Some(tops) => district
                .and_then(|d| self.districts.get(d))
                .is_some_and(|r| tops.iter().any(|t| r.path.starts_with(t.as_str()))),
        }
    }

    pub fn name(&self, district: Option<&str>) -> String {
        district
            .and_then(|d| self.districts.get(d))
            .map(|r| r.name.clone())
            .unwrap_or_default()
    }
}

pub async fn districts(st: &AppState, org: &str) -> Result<BTreeMap<String, DistrictRec>> {
    let rows =
        sqlx::query("SELECT id, path, name, level, parent_id FROM districts WHERE org_id = $1")
            .bind(org.to_string())
            .fetch_all(&st.db)
            .await?;
    Ok(rows
        .iter()
        .map(|r| {
            (
                r.get(0),
                DistrictRec {
                    path: r.get(1),
                    name: r.get(2),
                    level: r.get(3),
                    parent: r.get(4),
                },
            )
        })
        .collect())
}

/// A desk refusal: 403, audited `desk_refused` with what was asked (no content).
pub async fn refuse(st: &AppState, c: &Caller, what: &str, message: &str) -> Result<Error> {
    audit(
        &st.db,
        Some(&c.org_id),
        Some(&c.user_id),
        Some(&c.device_id),
        "desk_refused",
        None,
        what,
    )
    .await?;
    Ok(Error::Forbidden {
        message: message.to_string(),
        docs: vec![],
    })
}

/// The caller's desk area: the subtrees of their staff and administrator grants (not
/// those limited to a salon), or the whole organisation for an organisation-wide grant.
/// `edit`: only grants with the right to edit count (changes of people and assignments).
/// `narrow`: one district (its subtree), which must lie inside the area. Nobody else may
/// use the desk: 403, audited.
pub async fn area(
    st: &AppState,
    c: &Caller,
    edit: bool,
    narrow: Option<&str>,
    what: &str,
) -> Result<Area> {
    let districts = districts(st, &c.org_id).await?;
    let grants: Vec<_> = c
        .grants
        .iter()
        .filter(|g| g.role.is_staff() && g.salon.is_none())
        .filter(|g| g.can_edit || !edit)
        .collect();
    if grants.is_empty() {
        let message = if edit && c.grants.iter().any(|g| g.role == Role::Staff) {
            "your staff grant is view-only: changes are for staff who may edit"
        } else {
            "the desk is for the 社協's staff"
        };
        return Err(refuse(st, c, what, message).await?);
    }
    let tops = if grants.iter().any(|g| g.district.is_none()) {
        None
    } else {
        Some(
            grants
                .iter()
                .filter_map(|g| g.district.as_ref())
                .filter_map(|d| districts.get(d).map(|r| r.path.clone()))
                .collect::<Vec<_>>(),
        )
    };
    let mut a = Area {
        org: c.org_id.clone(),
        districts,
        label: match &tops {
            None => "all".to_string(),
            Some(_) => grants
                .iter()
                .filter_map(|g| g.district.clone())
                .collect::<Vec<_>>()
                .join(","),
        },
        tops,
    };
    if let Some(d) = narrow.filter(|d| !d.is_empty()) {
        let Some(path) = a.districts.get(d).map(|r| r.path.clone()) else {
            return Err(Error::NotFound("no such district".into()));
        };
        if !a.covers(Some(d)) {
            return Err(refuse(
                st,
                c,
                &format!("{what} district {d}"),
                "this district is outside your area",
            )
            .await?);
        }
        a.tops = Some(vec![path]);
        a.label = d.to_string();
    }
    Ok(a)
}

/// Today in Japan.
pub fn today() -> Date {
    Date::from_unix_ms_jst(now_ms()).unwrap_or_default()
}

/// Every user of the organisation by id: name.
pub async fn user_names(st: &AppState, org: &str) -> Result<BTreeMap<String, String>> {
    let rows = sqlx::query("SELECT id, name FROM users WHERE org_id = $1")
        .bind(org.to_string())
        .fetch_all(&st.db)
        .await?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

pub fn named(names: &BTreeMap<String, String>, id: &str) -> Named {
    Named {
        id: id.to_string(),
        name: names.get(id).cloned().unwrap_or_default(),
    }
}

/// Assigned visitors by person document.
async fn visitors(
    st: &AppState,
    org: &str,
    names: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, Vec<Named>>> {
    let rows = sqlx::query(
        "SELECT a.doc_id, a.user_id FROM assignments a JOIN documents d ON d.id = a.doc_id \
         WHERE d.org_id = $1 ORDER BY a.created_at, a.user_id",
    )
    .bind(org.to_string())
    .fetch_all(&st.db)
    .await?;
    let mut out: BTreeMap<String, Vec<Named>> = BTreeMap::new();
    for r in &rows {
        let (doc, user): (String, String) = (r.get(0), r.get(1));
        out.entry(doc).or_default().push(named(names, &user));
    }
    Ok(out)
}

pub fn date(s: Option<String>) -> Option<Date> {
    s.and_then(|s| Date::parse(&s).ok())
}

#[derive(Debug, Default, Deserialize)]
pub struct DeskQuery {
    /// Narrow to one district's subtree.
    pub district: Option<String>,
}

pub fn bad_query(e: QueryRejection) -> Error {
    Error::bad(format!("bad query: {}", e.body_text()))
}

/// Writes a `report_read` (or `export`) audit row: the report and its filters, never
/// anything of a person.
pub async fn audit_report(st: &AppState, c: &Caller, action: &str, detail: &str) -> Result<()> {
    audit(
        &st.db,
        Some(&c.org_id),
        Some(&c.user_id),
        Some(&c.device_id),
        action,
        None,
        detail,
    )
    .await?;
    Ok(())
}

/// The overdue watch board of `area` on `today`.
pub async fn overdue_board(st: &AppState, area: &Area, today: Date) -> Result<OverdueBoard> {
    let names = user_names(st, &area.org).await?;
    let assigned = visitors(st, &area.org, &names).await?;
    let people = sqlx::query(
        "SELECT doc_id, name, kana, district_id, frequency FROM proj_people \
         WHERE org_id = $1 AND status = 'active' ORDER BY doc_id",
    )
    .bind(area.org.clone())
    .fetch_all(&st.db)
    .await?;
    let visits = sqlx::query(
        "SELECT v.doc_id, v.record_id, v.date, v.visit_time, v.recorded_at, v.outcome, v.next_contact, v.note \
         FROM proj_visits v JOIN proj_people p ON p.doc_id = v.doc_id \
         WHERE v.org_id = $1 AND p.status = 'active'",
    )
    .bind(area.org.clone())
    .fetch_all(&st.db)
    .await?;
    let mut by_doc: BTreeMap<String, Vec<(String, Visit)>> = BTreeMap::new();
    for r in &visits {
        let Some(d) = date(r.get(2)) else { continue };
        let v = Visit {
            date: d,
            time: r.get(3),
            recorded_at: r.get(4),
            outcome: Outcome::from_code(&r.get::<String, _>(5)),
            next_contact: date(r.get(6)),
            note: r.get(7),
            ..Visit::default()
        };
        by_doc
            .entry(r.get(0))
            .or_default()
            .push((r.get::<String, _>(1), v));
    }
    let mut board = OverdueBoard {
        as_of: Some(today),
        ..Default::default()
    };
    let mut districts: BTreeMap<String, BoardCount> = BTreeMap::new();
    let mut visitors_count: BTreeMap<String, BoardCount> = BTreeMap::new();
    for r in &people {
        let district: Option<String> = r.get(3);
        if !area.covers(district.as_deref()) {
            continue;
        }
        let doc: String = r.get(0);
        // The person as far as the rule needs: status, plan and visits.
        let mut p = Person::default();
        p.profile.status = PersonStatus::Active;
        p.watch.frequency = Frequency::from_code(&r.get::<String, _>(4));
        for (id, v) in by_doc.remove(&doc).unwrap_or_default() {
            p.visits.insert(id, v);
        }
        let s = shared::watch::status(&p, today);
        if !s.is_overdue() && !s.streak_warning() {
            continue;
        }
        let last = shared::watch::visits_in_order(&p)
            .last()
            .map(|(_, v)| LastVisit {
                date: Some(v.date),
                outcome: v.outcome.clone(),
                note: v.note.clone(),
            });
        let vis = assigned.get(&doc).cloned().unwrap_or_default();
        let dname = area.name(district.as_deref());
        let count = |c: &mut BoardCount| {
            c.overdue += u32::from(s.is_overdue());
            c.not_home_warnings += u32::from(s.streak_warning());
        };
        let dc = districts
            .entry(district.clone().unwrap_or_default())
            .or_insert_with(|| BoardCount {
                id: district.clone().unwrap_or_default(),
                name: dname.clone(),
                ..Default::default()
            });
        count(dc);
        if vis.is_empty() {
            count(visitors_count.entry(String::new()).or_default());
        }
        for v in &vis {
            let vc = visitors_count
                .entry(v.id.clone())
                .or_insert_with(|| BoardCount {
                    id: v.id.clone(),
                    name: v.name.clone(),
                    ..Default::default()
                });
            count(vc);
        }
        board.people.push(OverdueEntry {
            doc,
            name: r.get(1),
            kana: r.get(2),
            district: district.clone(),
            district_name: dname,
            frequency: p.watch.frequency.clone(),
            visitors: vis,
            last_contact: s.last_contact,
            due: s.due,
            overdue_days: s.overdue_days,
            not_home_streak: s.not_home_streak,
            not_home_warning: s.streak_warning(),
            last_visit: last,
        });
    }
    board.people.sort_by(|a, b| {
        (b.overdue_days, b.not_home_streak, &a.kana, &a.doc).cmp(&(
            a.overdue_days,
            a.not_home_streak,
            &b.kana,
            &b.doc,
        ))
    });
    board.by_district = districts.into_values().collect();
    board.by_visitor = visitors_count.into_values().collect();
    Ok(board)
}

/// `GET /api/desk/overdue?district=`: the overdue watch board (staff); audited
/// `report_read`.
pub async fn overdue(
    State(st): State<AppState>,
    headers: HeaderMap,
    q: std::result::Result<Query<DeskQuery>, QueryRejection>,
) -> Result<Json<OverdueBoard>> {
    let c = auth::caller(&st.db, &headers, None).await?;
    let Query(q) = q.map_err(bad_query)?;
    let a = area(&st, &c, false, q.district.as_deref(), "overdue").await?;
    let board = overdue_board(&st, &a, today()).await?;
    audit_report(
        &st,
        &c,
        "report_read",
        &format!(
            "report=overdue district={} rows={}",
            a.label,
            board.people.len()
        ),
    )
    .await?;
    Ok(Json(board))
}

/// The open follow-ups of `area` on `today`, oldest first.
pub async fn followup_inbox(st: &AppState, area: &Area, today: Date) -> Result<FollowupInbox> {
    let names = user_names(st, &area.org).await?;
    let assigned = visitors(st, &area.org, &names).await?;
    let rows = sqlx::query(
        "SELECT f.doc_id, f.source_id, f.district_id, f.raised_on, f.what, f.kind, f.referrals, f.recorded_by, \
         COALESCE(p.name, '') FROM proj_followups f LEFT JOIN proj_people p ON p.doc_id = f.doc_id \
         WHERE f.org_id = $1 AND f.done_on IS NULL ORDER BY f.raised_on, f.doc_id, f.source_id",
    )
    .bind(area.org.clone())
    .fetch_all(&st.db)
    .await?;
    let mut items = Vec::new();
    for r in &rows {
        let district: Option<String> = r.get(2);
        if !area.covers(district.as_deref()) {
            continue;
        }
        let doc: String = r.get(0);
        let raised = date(r.get(3));
        let by: String = r.get(7);
        items.push(FollowupItem {
            person_name: r.get(8),
            district_name: area.name(district.as_deref()),
            district,
            source: r.get(1),
            kind: r.get(5),
            raised_on: raised,
            age_days: raised.map_or(0, |d| d.days_until(today).max(0)),
            what: r.get(4),
            referrals: r
                .get::<String, _>(6)
                .split(',')
                .filter(|s| !s.is_empty())
                .map(Referral::from_code)
                .collect(),
            owner: (!by.is_empty()).then(|| named(&names, &by)),
            visitors: assigned.get(&doc).cloned().unwrap_or_default(),
            doc,
        });
    }
    Ok(FollowupInbox {
        as_of: Some(today),
        items,
    })
}

/// `GET /api/desk/followups?district=`: the follow-up inbox (staff); audited
/// `report_read`.
pub async fn followups(
    State(st): State<AppState>,
    headers: HeaderMap,
    q: std::result::Result<Query<DeskQuery>, QueryRejection>,
) -> Result<Json<FollowupInbox>> {
    let c = auth::caller(&st.db, &headers, None).await?;
    let Query(q) = q.map_err(bad_query)?;
    let a = area(&st, &c, false, q.district.as_deref(), "followups").await?;
    let inbox = followup_inbox(&st, &a, today()).await?;
    audit_report(
        &st,
        &c,
        "report_read",
        &format!(
            "report=followups district={} rows={}",
            a.label,
            inbox.items.len()
        ),
    )
    .await?;
    Ok(Json(inbox))
}

/// Records needing correction in the area (`proj_problems`), of the given document kinds
/// (all kinds when empty), person names and salon names filled in.
pub async fn problem_list(st: &AppState, area: &Area, kinds: &[&str]) -> Result<Vec<ProblemItem>> {
    let rows = sqlx::query(
        "SELECT q.doc_id, q.kind, q.district_id, q.path, q.field, q.rule, q.message, q.message_ja, \
         COALESCE(p.name, s.name, '') FROM proj_problems q \
         LEFT JOIN proj_people p ON p.doc_id = q.doc_id \
         LEFT JOIN salons s ON s.id = q.salon_id \
         WHERE q.org_id = $1 ORDER BY q.doc_id, q.path, q.field",
    )
    .bind(area.org.clone())
    .fetch_all(&st.db)
    .await?;
    Ok(rows
        .iter()
        .filter(|r| kinds.is_empty() || kinds.contains(&r.get::<String, _>(1).as_str()))
        .filter(|r| area.covers(r.get::<Option<String>, _>(2).as_deref()))
        .map(|r| {
            let district: Option<String> = r.get(2);
            ProblemItem {
                doc: r.get(0),
                kind: r.get(1),
                name: r.get(8),
                district_name: area.name(district.as_deref()),
                district,
                path: r.get(3),
                field: r.get(4),
                rule: r.get(5),
                message: r.get(6),
                message_ja: r.get(7),
            }
        })
        .collect())
}

/// `GET /api/desk/problems?district=`: records needing correction (staff); audited
/// `report_read`.
pub async fn problems(
    State(st): State<AppState>,
    headers: HeaderMap,
    q: std::result::Result<Query<DeskQuery>, QueryRejection>,
) -> Result<Json<ProblemList>> {
    let c = auth::caller(&st.db, &headers, None).await?;
    let Query(q) = q.map_err(bad_query)?;
    let a = area(&st, &c, false, q.district.as_deref(), "problems").await?;
    let items = problem_list(&st, &a, &[]).await?;
    audit_report(
        &st,
        &c,
        "report_read",
        &format!("report=problems district={} rows={}", a.label, items.len()),
    )
    .await?;
    Ok(Json(ProblemList { items }))
}

/// `GET /api/desk/users`: the organisation's users with their grants and how many people
/// are assigned to them, for the assignment screen (staff).
pub async fn users(State(st): State<AppState>, headers: HeaderMap) -> Result<Json<Vec<DeskUser>>> {
    let c = auth::caller(&st.db, &headers, None).await?;
    area(&st, &c, false, None, "users").await?;
    let rows = sqlx::query(
        "SELECT u.id, u.login, u.name, u.disabled_at, \
         (SELECT COUNT(*) FROM assignments a WHERE a.user_id = u.id) \
         FROM users u WHERE u.org_id = $1 ORDER BY u.login",
    )
    .bind(c.org_id.clone())
    .fetch_all(&st.db)
    .await?;
    // Every grant of the organisation's users in one query.
    let memberships = sqlx::query(
        "SELECT m.user_id, m.role, m.district_id, m.salon_id FROM memberships m \
         JOIN users u ON u.id = m.user_id WHERE u.org_id = $1 ORDER BY m.created_at, m.id",
    )
    .bind(c.org_id.clone())
    .fetch_all(&st.db)
    .await?;
    let mut grants: BTreeMap<String, Vec<shared::api::Grant>> = BTreeMap::new();
    for m in &memberships {
        grants
            .entry(m.get(0))
            .or_default()
            .push(shared::api::Grant {
                role: Role::from_code(&m.get::<String, _>(1)),
                district: m.get(2),
                salon: m.get(3),
            });
    }
    Ok(Json(
        rows.iter()
            .map(|r| {
                let id: String = r.get(0);
                DeskUser {
                    login: r.get(1),
                    name: r.get(2),
                    disabled: r.get::<Option<i64>, _>(3).is_some(),
                    assigned: u32::try_from(r.get::<i64, _>(4)).unwrap_or(0),
                    grants: grants.remove(&id).unwrap_or_default(),
                    id,
                }
            })
            .collect(),
    ))
}
