//! Reports computed in SQL from the projections (docs/reports.md): the 民生委員 活動記録
//! per 民生委員 and per 民児協, the salon report for grants, and the 小学校区 view. Every
//! figure is a `COUNT` or `SUM` over projection rows of the period; nothing is kept by
//! hand. A record counts on its own date (`date BETWEEN from AND to`, text dates
//! `YYYY-MM-DD`) and, for visits and consultations, in the district the person belonged to
//! on that date (projection.rs, `district_on`).

use crate::AppState;
use crate::auth;
use crate::desk::{
    Area, audit_report, bad_query, named, user_names, {self},
};
use crate::error::{Error, Result};
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use serde::Deserialize;
use shared::codes::{ActivityKind, ConsultField, ConsultTopic, Role, SalonType};
use shared::desk::*;
use sqlx::Row;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Default, Deserialize)]
pub struct ReportQuery {
    /// `YYYY-MM`
    pub month: Option<String>,
    /// A fiscal year, `YYYY` (April `YYYY` to March `YYYY+1`).
    pub fy: Option<String>,
    /// Narrow to one district's subtree.
    pub district: Option<String>,
    /// Exports only: `utf8` (default, with a BOM) or `sjis`.
    pub encoding: Option<String>,
    /// Exports only: `seireki` (default, 2026-04-01) or `wareki` (令和8年4月1日).
    pub era: Option<String>,
}

impl ReportQuery {
    pub fn period(&self) -> Result<Period> {
        Period::from_query(self.month.as_deref(), self.fy.as_deref()).map_err(Error::bad)
    }
}

/// `(key, n)` rows of a grouped count into a map.
/// Runs `sql`, whose `$1`, `$2`, `$3` are the organisation and the period's first and last
/// day (`YYYY-MM-DD`).
async fn in_period(
    st: &AppState,
    sql: &str,
    org: &str,
    from: &str,
    to: &str,
) -> sqlx::Result<Vec<sqlx::any::AnyRow>> {
    sqlx::query(sql)
        .bind(org.to_string())
        .bind(from.to_string())
        .bind(to.to_string())
        .fetch_all(&st.db)
        .await
}

fn add(map: &mut BTreeMap<String, i64>, key: &str, n: i64) {
    *map.entry(key.to_string()).or_default() += n;
}

/// A map with every known code at zero.
fn zeros<'a>(codes: impl IntoIterator<Item = &'a str>) -> BTreeMap<String, i64> {
    codes.into_iter().map(|c| (c.to_string(), 0)).collect()
}

fn empty_row() -> MinseiRow {
    MinseiRow {
        by_field: zeros(ConsultField::ALL.iter().map(|c| c.code())),
        by_topic: zeros(ConsultTopic::ALL.iter().map(|c| c.code())),
        visits_by_field: zeros(ConsultField::ALL.iter().map(|c| c.code()).chain([NO_FIELD])),
        other_activities: zeros(OTHER_ACTIVITIES.iter().map(|c| c.code())),
        ..Default::default()
    }
}

/// The その他の活動 columns (everything but visits and liaison).
pub const OTHER_ACTIVITIES: &[ActivityKind] = &[
    ActivityKind::Survey,
    ActivityKind::Events,
    ActivityKind::Community,
    ActivityKind::Council,
    ActivityKind::Certificate,
    ActivityKind::ChildProtection,
    ActivityKind::Misc,
];

/// The 民生委員 活動記録 of `area` for `period`.
pub async fn minsei_report(st: &AppState, area: &Area, period: &Period) -> Result<MinseiReport> {
    let (org, from, to) = (
        area.org.clone(),
        period.from.to_string(),
        period.to.to_string(),
    );
    let names = user_names(st, &org).await?;
    // The 民生委員 and their 民児協: the district of their (first) 民生委員 grant.
    let grants = sqlx::query(
        "SELECT m.user_id, m.district_id FROM memberships m JOIN users u ON u.id = m.user_id \
         WHERE u.org_id = $1 AND m.role = $2 AND m.salon_id IS NULL ORDER BY m.created_at, m.id",
    )
    .bind(org.clone())
    .bind(Role::Minsei.code().to_string())
    .fetch_all(&st.db)
    .await?;
    let mut members: BTreeMap<String, MinseiRow> = BTreeMap::new();
    for r in &grants {
        let (user, district): (String, Option<String>) = (r.get(0), r.get(1));
        if members.contains_key(&user) || !area.covers(district.as_deref()) {
            continue;
        }
        let mut row = empty_row();
        row.user = Some(named(&names, &user));
        row.district_name = area.name(district.as_deref());
        row.district = district;
        row.members = 1;
        members.insert(user, row);
    }

    // 相談・支援 by 分野, by the recorder (person records) or the owner (anonymous ones).
    let rows = in_period(
        st,
        "SELECT recorded_by, field, COUNT(*) FROM proj_consultations \
         WHERE org_id = $1 AND date >= $2 AND date <= $3 GROUP BY recorded_by, field",
        &org,
        &from,
        &to,
    )
    .await?;
    for r in &rows {
        if let Some(m) = members.get_mut(&r.get::<String, _>(0)) {
            let n: i64 = r.get(2);
            m.consultations += n;
            add(&mut m.by_field, &r.get::<String, _>(1), n);
        }
    }
    // … by 内容: once per topic chosen.
    let rows = in_period(
        st,
        "SELECT c.recorded_by, t.topic, COUNT(*) FROM proj_consultations c \
         JOIN proj_consultation_topics t ON t.doc_id = c.doc_id AND t.record_id = c.record_id \
         WHERE c.org_id = $1 AND c.date >= $2 AND c.date <= $3 GROUP BY c.recorded_by, t.topic",
        &org,
        &from,
        &to,
    )
    .await?;
    for r in &rows {
        if let Some(m) = members.get_mut(&r.get::<String, _>(0)) {
            add(&mut m.by_topic, &r.get::<String, _>(1), r.get(2));
        }
    }
    // 訪問・連絡活動: visits in person records made by the 民生委員 (no 分野) …
    let rows = in_period(
        st,
        "SELECT user_id, COUNT(*) FROM proj_visit_visitors \
         WHERE org_id = $1 AND date >= $2 AND date <= $3 GROUP BY user_id",
        &org,
        &from,
        &to,
    )
    .await?;
    for r in &rows {
        if let Some(m) = members.get_mut(&r.get::<String, _>(0)) {
            let n: i64 = r.get(1);
            m.visits += n;
            add(&mut m.visits_by_field, NO_FIELD, n);
        }
    }
    // … and the activity record: visit_contact by 分野, 連絡調整, the other activities.
    let rows = in_period(st, "SELECT owner_id, kind, COALESCE(field, ''), CAST(SUM(amount) AS BIGINT) FROM proj_activities \
         WHERE org_id = $1 AND date >= $2 AND date <= $3 GROUP BY owner_id, kind, field", &org, &from, &to).await?;
    for r in &rows {
        let Some(m) = members.get_mut(&r.get::<String, _>(0)) else {
            continue;
        };
        let (kind, field, n): (String, String, i64) = (r.get(1), r.get(2), r.get(3));
        match ActivityKind::from_code(&kind) {
            ActivityKind::VisitContact => {
                m.visits += n;
                let f = if field.is_empty() { NO_FIELD } else { &field };
                add(&mut m.visits_by_field, f, n);
            }
            ActivityKind::LiaisonMembers => m.liaison_members += n,
            ActivityKind::LiaisonAgencies => m.liaison_agencies += n,
            _ => add(&mut m.other_activities, &kind, n),
        }
    }
    // 活動日数: distinct days with any of the above.
    let rows = in_period(st, "SELECT who, COUNT(DISTINCT day) FROM ( \
           SELECT user_id AS who, date AS day FROM proj_visit_visitors WHERE org_id = $1 AND date >= $2 AND date <= $3 \
           UNION SELECT recorded_by, date FROM proj_consultations WHERE org_id = $1 AND date >= $2 AND date <= $3 \
           UNION SELECT owner_id, date FROM proj_activities WHERE org_id = $1 AND date >= $2 AND date <= $3 \
         ) days GROUP BY who", &org, &from, &to).await?;
    for r in &rows {
        if let Some(m) = members.get_mut(&r.get::<String, _>(0)) {
            m.activity_days = r.get(1);
        }
    }

    // 民児協 totals: the sum of the members of each district.
    let mut councils: BTreeMap<String, MinseiRow> = BTreeMap::new();
    for m in members.values() {
        let key = m.district.clone().unwrap_or_default();
        let c = councils.entry(key).or_insert_with(|| {
            let mut r = empty_row();
            r.district = m.district.clone();
            r.district_name = m.district_name.clone();
            r
        });
        c.members += 1;
        c.consultations += m.consultations;
        c.visits += m.visits;
        c.liaison_members += m.liaison_members;
        c.liaison_agencies += m.liaison_agencies;
        c.activity_days += m.activity_days;
        for (map, from) in [
            (&mut c.by_field, &m.by_field),
            (&mut c.by_topic, &m.by_topic),
            (&mut c.visits_by_field, &m.visits_by_field),
            (&mut c.other_activities, &m.other_activities),
        ] {
            for (k, n) in from {
                add(map, k, *n);
            }
        }
    }
    let path = |d: &Option<String>| {
        d.as_ref()
            .and_then(|d| area.districts.get(d))
            .map(|r| r.path.clone())
            .unwrap_or_default()
    };
    let mut members: Vec<MinseiRow> = members.into_values().collect();
    members.sort_by_cached_key(|m| {
        (
            path(&m.district),
            m.user.as_ref().map(|u| u.name.clone()),
            m.user.as_ref().map(|u| u.id.clone()),
        )
    });
    let mut councils: Vec<MinseiRow> = councils.into_values().collect();
    councils.sort_by_cached_key(|c| path(&c.district));
    Ok(MinseiReport {
        period: period.clone(),
        members,
        councils,
        needs_correction: crate::desk::problem_list(st, area, &["person", "activity"]).await?,
    })
}

/// Per salon: (sessions held, cancelled, members present, guests, helpers) and 実人数.
async fn salon_figures(
    st: &AppState,
    org: &str,
    period: &Period,
) -> Result<(BTreeMap<String, [i64; 5]>, BTreeMap<String, i64>)> {
    let (from, to) = (period.from.to_string(), period.to.to_string());
    let rows = in_period(st, "SELECT salon_id, \
           CAST(SUM(CASE WHEN cancelled = 0 THEN 1 ELSE 0 END) AS BIGINT), \
           CAST(SUM(CASE WHEN cancelled = 0 THEN 0 ELSE 1 END) AS BIGINT), \
           CAST(SUM(CASE WHEN cancelled = 0 THEN present ELSE 0 END) AS BIGINT), \
           CAST(SUM(CASE WHEN cancelled = 0 THEN guests ELSE 0 END) AS BIGINT), \
           CAST(SUM(CASE WHEN cancelled = 0 THEN helpers ELSE 0 END) AS BIGINT) \
         FROM proj_sessions WHERE org_id = $1 AND date >= $2 AND date <= $3 AND salon_id IS NOT NULL \
         GROUP BY salon_id", org, &from, &to).await?;
    let sums = rows
        .iter()
        .map(|r| {
            (
                r.get::<String, _>(0),
                [r.get(1), r.get(2), r.get(3), r.get(4), r.get(5)],
            )
        })
        .collect();
    let rows = in_period(st, "SELECT a.salon_id, COUNT(DISTINCT a.member_id) FROM proj_attendance a \
         JOIN proj_sessions s ON s.doc_id = a.doc_id AND s.date = a.date \
         WHERE a.org_id = $1 AND a.date >= $2 AND a.date <= $3 AND a.mark = 'present' AND s.cancelled = 0 \
           AND a.salon_id IS NOT NULL \
         GROUP BY a.salon_id", org, &from, &to).await?;
    let distinct = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    Ok((sums, distinct))
}

/// The salon report of `area` for `period`.
pub async fn salon_report(st: &AppState, area: &Area, period: &Period) -> Result<SalonReport> {
    let salons = sqlx::query(
        "SELECT id, name, salon_type, district_id FROM salons WHERE org_id = $1 ORDER BY name, id",
    )
    .bind(area.org.clone())
    .fetch_all(&st.db)
    .await?;
    let (sums, distinct) = salon_figures(st, &area.org, period).await?;
    let mut rows = Vec::new();
    for r in &salons {
        let district: Option<String> = r.get(3);
        if !area.covers(district.as_deref()) {
            continue;
        }
        let id: String = r.get(0);
        let [held, cancelled, present, guests, helpers] = sums.get(&id).copied().unwrap_or([0; 5]);
        rows.push(SalonRow {
            name: r.get(1),
            salon_type: SalonType::from_code(&r.get::<String, _>(2)),
            district_name: area.name(district.as_deref()),
            district,
            salons: 1,
            sessions: held,
            cancelled,
            participants: present + guests,
            members_present: present,
            guests,
            distinct_members: distinct.get(&id).copied().unwrap_or(0),
            helpers,
            salon: id,
        });
    }
    let mut types: BTreeMap<SalonType, SalonRow> = BTreeMap::new();
    for s in &rows {
        let t = types
            .entry(s.salon_type.clone())
            .or_insert_with(|| SalonRow {
                salon_type: s.salon_type.clone(),
                name: s.salon_type.label(shared::i18n::Lang::Ja).to_string(),
                ..Default::default()
            });
        t.salons += 1;
        t.sessions += s.sessions;
        t.cancelled += s.cancelled;
        t.participants += s.participants;
        t.members_present += s.members_present;
        t.guests += s.guests;
        t.distinct_members += s.distinct_members;
        t.helpers += s.helpers;
    }
    // Types in the catalogue's order.
    let order = |t: &SalonType| {
        SalonType::ALL
            .iter()
            .position(|k| k == t)
            .unwrap_or(usize::MAX)
    };
    let mut types: Vec<SalonRow> = types.into_values().collect();
    types.sort_by_key(|t| (order(&t.salon_type), t.salon_type.code().to_string()));
    Ok(SalonReport {
        period: period.clone(),
        salons: rows,
        types,
        needs_correction: crate::desk::problem_list(st, area, &["salon"]).await?,
    })
}

/// Grouped counts by district: `SELECT district, n …`.
async fn by_district(
    st: &AppState,
    sql: &str,
    binds: &[String],
) -> Result<BTreeMap<String, Vec<i64>>> {
    let mut q = sqlx::query(sql);
    for b in binds {
        q = q.bind(b.clone());
    }
    let rows = q.fetch_all(&st.db).await?;
    Ok(rows
        .iter()
        .map(|r| {
            let n = r.columns().len();
            (
                r.get::<Option<String>, _>(0).unwrap_or_default(),
                (1..n).map(|i| r.get::<i64, _>(i)).collect(),
            )
        })
        .collect())
}

/// The 小学校区 view of `area` for `period`: per district, what is placed in it.
pub async fn district_report(
    st: &AppState,
    area: &Area,
    period: &Period,
) -> Result<DistrictReport> {
    let (org, from, to) = (
        area.org.clone(),
        period.from.to_string(),
        period.to.to_string(),
    );
    let people = by_district(
        st,
        "SELECT district_id, COUNT(*) FROM proj_people WHERE org_id = $1 AND status = 'active' GROUP BY district_id",
        std::slice::from_ref(&org),
    )
    .await?;
    let salons = by_district(
        st,
        "SELECT district_id, COUNT(*) FROM salons WHERE org_id = $1 GROUP BY district_id",
        std::slice::from_ref(&org),
    )
    .await?;
    let sessions = by_district(
        st,
        "SELECT sa.district_id, COUNT(*), CAST(COALESCE(SUM(s.present + s.guests), 0) AS BIGINT) \
         FROM proj_sessions s JOIN salons sa ON sa.id = s.salon_id \
         WHERE s.org_id = $1 AND s.date >= $2 AND s.date <= $3 AND s.cancelled = 0 GROUP BY sa.district_id",
        &[org.clone(), from.clone(), to.clone()],
    )
    .await?;
    let visits = by_district(
        st,
        "SELECT district_id, COUNT(*), CAST(SUM(CASE WHEN outcome IN ('met', 'family') THEN 1 ELSE 0 END) AS BIGINT) \
         FROM proj_visits WHERE org_id = $1 AND date >= $2 AND date <= $3 GROUP BY district_id",
        &[org.clone(), from.clone(), to.clone()],
    )
    .await?;
    let consultations = by_district(
        st,
        "SELECT district_id, COUNT(*) FROM proj_consultations \
         WHERE org_id = $1 AND anonymous = 0 AND date >= $2 AND date <= $3 GROUP BY district_id",
        &[org.clone(), from, to],
    )
    .await?;
    let open = by_district(
        st,
        "SELECT district_id, COUNT(*) FROM proj_followups WHERE org_id = $1 AND done_on IS NULL GROUP BY district_id",
        &[org],
    )
    .await?;
    let get = |m: &BTreeMap<String, Vec<i64>>, id: &str, i: usize| {
        m.get(id).and_then(|v| v.get(i).copied()).unwrap_or(0)
    };
    let mut ids: Vec<(&String, &desk::DistrictRec)> = area
        .districts
        .iter()
        .filter(|(id, _)| area.covers(Some(id)))
        .collect();
    ids.sort_by(|a, b| a.1.path.cmp(&b.1.path));
    let districts = ids
        .into_iter()
        .map(|(id, d)| DistrictRow {
            district: id.clone(),
            name: d.name.clone(),
            level: d.level.clone(),
            parent_name: area.name(d.parent.as_deref()),
            people: get(&people, id, 0),
            salons: get(&salons, id, 0),
            sessions: get(&sessions, id, 0),
            participants: get(&sessions, id, 1),
            visits: get(&visits, id, 0),
            visits_reached: get(&visits, id, 1),
            consultations: get(&consultations, id, 0),
            followups_open: get(&open, id, 0),
        })
        .collect();
    Ok(DistrictReport {
        period: period.clone(),
        districts,
        needs_correction: crate::desk::problem_list(st, area, &["person", "salon"]).await?,
    })
}

/// The reports `GET /api/reports/{name}` answers and `GET /api/export/{name}` writes.
pub const REPORTS: &[&str] = &["minsei", "salons", "districts"];

/// `GET /api/reports/{name}?month=|fy=&district=`: one report as JSON (staff; audited
/// `report_read`).
pub async fn handler(
    State(st): State<AppState>,
    headers: HeaderMap,
    axum::extract::Path(name): axum::extract::Path<String>,
    q: std::result::Result<Query<ReportQuery>, QueryRejection>,
) -> Result<Json<serde_json::Value>> {
    let c = auth::caller(&st.db, &headers, None).await?;
    let Query(q) = q.map_err(bad_query)?;
    if !REPORTS.contains(&name.as_str()) {
        return Err(Error::NotFound("no such report".into()));
    }
    let period = q.period()?;
    let a = desk::area(&st, &c, false, q.district.as_deref(), &name).await?;
    let (value, rows) = match name.as_str() {
        "minsei" => {
            let r = minsei_report(&st, &a, &period).await?;
            let n = r.members.len();
            (serde_json::to_value(r), n)
        }
        "salons" => {
            let r = salon_report(&st, &a, &period).await?;
            let n = r.salons.len();
            (serde_json::to_value(r), n)
        }
        _ => {
            let r = district_report(&st, &a, &period).await?;
            let n = r.districts.len();
            (serde_json::to_value(r), n)
        }
    };
    audit_report(
        &st,
        &c,
        "report_read",
        &format!(
            "report={name} period={} district={} rows={rows}",
            period.key(),
            a.label
        ),
    )
    .await?;
    Ok(Json(value.map_err(anyhow::Error::from)?))
}

/// Keys present in any of the rows' maps, known codes first (for CSV columns).
pub fn keys_of<'a>(
    known: impl IntoIterator<Item = &'a str>,
    maps: impl IntoIterator<Item = &'a BTreeMap<String, i64>>,
) -> Vec<String> {
    let mut out: Vec<String> = known.into_iter().map(str::to_string).collect();
    let seen: BTreeSet<String> = out.iter().cloned().collect();
    let extra: BTreeSet<String> = maps
        .into_iter()
        .flat_map(|m| m.keys().cloned())
        .filter(|k| !seen.contains(k))
        .collect();
    out.extend(extra);
    out
}
