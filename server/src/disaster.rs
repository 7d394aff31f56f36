//! Disaster mode and the evacuation roster (避難行動要支援者名簿).
//!
//! In normal times a district's 民生委員, its 自主防災組織 (role `bousai`) and staff see the
//! people listed as needing help to evacuate *who consented* to sharing with the
//! 自主防災組織. Under a disaster mode — started by staff for a district, for 1 to
//! [`DISASTER_MAX_HOURS`] hours, with a reason, ended early or by itself — everyone listed
//! in that district's subtree is shown, marked as not consented (内閣府「避難行動要支援者
//! の避難行動支援に関する取組指針」: in a disaster the list may be given without consent).
//! Starting, ending and every read of the roster are audited. The roster is read from the
//! `proj_people` projection, rebuilt from the person documents.

use crate::AppState;
use crate::auth::{self, Caller};
use crate::db::{audit, new_id, now_ms};
use crate::error::{Error, Result, from_json_rejection};
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use shared::api::{DISASTER_MAX_HOURS, DisasterMode, DisasterStart, Roster, RosterEntry};
use shared::codes::Household;
use sqlx::Row;
use std::collections::BTreeMap;

/// Ended and expired modes are listed this long.
const LISTED_AFTER_END_MS: i64 = 30 * 24 * 60 * 60 * 1000;
const MAX_REASON_CHARS: usize = 200;

/// The organisation's districts by id: (path, name).
async fn districts(st: &AppState, org: &str) -> Result<BTreeMap<String, (String, String)>> {
    let rows = sqlx::query("SELECT id, path, name FROM districts WHERE org_id = $1")
        .bind(org.to_string())
        .fetch_all(&st.db)
        .await?;
    Ok(rows
        .iter()
        .map(|r| (r.get(0), (r.get(1), r.get(2))))
        .collect())
}

/// Whether `c` may start or end a disaster mode for the district at `path`: staff or an
/// administrator (with the right to edit) over the whole organisation, or over that
/// district or one above it.
fn may_manage(c: &Caller, path: &str, d: &BTreeMap<String, (String, String)>) -> bool {
    c.grants.iter().any(|g| {
        g.role.is_staff()
            && g.can_edit
            && g.salon.is_none()
            && match &g.district {
                None => true,
                Some(top) => d
                    .get(top)
                    .is_some_and(|(p, _)| path.starts_with(p.as_str())),
            }
    })
}

/// What part of the organisation's roster `c` may see: `None` for all of it (staff or
/// administrators over the organisation), else the paths of the districts of their
/// 民生委員, 自主防災組織, staff or administrator grants. `Some(empty)`: nothing.
fn roster_area(c: &Caller, d: &BTreeMap<String, (String, String)>) -> Option<Vec<String>> {
    if c.org_staff() {
        return None;
    }
    Some(
        c.grants
            .iter()
            .filter(|g| g.role.sees_roster() && g.salon.is_none())
            .filter_map(|g| g.district.as_ref())
            .filter_map(|id| d.get(id).map(|(p, _)| p.clone()))
            .collect(),
    )
}

/// Whether a mode at `mode_path` concerns an area of subtrees `area` (it covers part of it,
/// or all of it).
fn overlaps(area: &Option<Vec<String>>, mode_path: &str) -> bool {
    match area {
        None => true,
        Some(tops) => tops
            .iter()
            .any(|t| mode_path.starts_with(t.as_str()) || t.starts_with(mode_path)),
    }
}

const MODE_SQL: &str = "SELECT m.id, m.district_id, d.name, u.name, m.started_at, m.ends_at, m.ended_at, m.reason, d.path \
     FROM disaster_modes m JOIN districts d ON d.id = m.district_id JOIN users u ON u.id = m.started_by";

/// A mode with its district's path.
fn mode(r: &sqlx::any::AnyRow) -> (DisasterMode, String) {
    (
        DisasterMode {
            id: r.get(0),
            district: r.get(1),
            district_name: r.get(2),
            started_by: r.get(3),
            started_at: r.get(4),
            ends_at: r.get(5),
            ended_at: r.get(6),
            reason: r.get(7),
        },
        r.get(8),
    )
}

async fn refuse(
    st: &AppState,
    c: &Caller,
    action: &str,
    detail: &str,
    what: &str,
) -> Result<Error> {
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
    Ok(Error::Forbidden {
        message: what.to_string(),
        docs: vec![],
    })
}

/// `POST /api/disaster`: staff or an administrator over the district (or the whole
/// organisation) opens its roster for `hours`; audited `disaster_start`.
pub async fn start(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: std::result::Result<Json<DisasterStart>, JsonRejection>,
) -> Result<Json<DisasterMode>> {
    let c = auth::caller(&st.db, &headers, None).await?;
    let Json(req) = body.map_err(from_json_rejection)?;
    let d = districts(&st, &c.org_id).await?;
    let Some((path, _)) = d.get(&req.district) else {
        return Err(Error::NotFound("no such district".into()));
    };
    if !may_manage(&c, path, &d) {
        return Err(refuse(
            &st,
            &c,
            "disaster_refused",
            &format!("start district {}", req.district),
            "only staff over this district may start a disaster mode",
        )
        .await?);
    }
    if !(1..=DISASTER_MAX_HOURS).contains(&req.hours) {
        return Err(Error::bad(format!(
            "a disaster mode lasts 1 to {DISASTER_MAX_HOURS} hours"
        )));
    }
    let reason = req.reason.trim();
    if reason.is_empty() || reason.chars().count() > MAX_REASON_CHARS {
        return Err(Error::bad(format!(
            "the reason is required, at most {MAX_REASON_CHARS} characters"
        )));
    }
    let id = new_id();
    let now = now_ms();
    let mut tx = st.db.begin().await?;
    sqlx::query(
        "INSERT INTO disaster_modes (id, org_id, district_id, started_by, started_at, ends_at, reason) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(id.clone())
    .bind(c.org_id.clone())
    .bind(req.district.clone())
    .bind(c.user_id.clone())
    .bind(now)
    .bind(now + i64::from(req.hours) * 3_600_000)
    .bind(reason.to_string())
    .execute(&mut *tx)
    .await?;
    audit(
        &mut *tx,
        Some(&c.org_id),
        Some(&c.user_id),
        Some(&c.device_id),
        "disaster_start",
        None,
        &format!("district {} {}h", req.district, req.hours),
    )
    .await?;
    tx.commit().await?;
    tracing::warn!(user = %c.login, district = %req.district, hours = req.hours, "disaster mode started");
    Ok(Json(one(&st, &id).await?.0))
}

async fn one(st: &AppState, id: &str) -> Result<(DisasterMode, String, String)> {
    let row = sqlx::query(&format!("{MODE_SQL} WHERE m.id = $1"))
        .bind(id.to_string())
        .fetch_optional(&st.db)
        .await?
        .ok_or_else(|| Error::NotFound("no such disaster mode".into()))?;
    let org: String = sqlx::query_scalar("SELECT org_id FROM disaster_modes WHERE id = $1")
        .bind(id.to_string())
        .fetch_one(&st.db)
        .await?;
    let (m, path) = mode(&row);
    Ok((m, path, org))
}

/// `POST /api/disaster/{id}/end`: ends a running mode early; audited `disaster_end`. A mode
/// already ended or run out: 409.
pub async fn end(
    State(st): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<DisasterMode>> {
    let c = auth::caller(&st.db, &headers, None).await?;
    let (m, path, org) = match one(&st, &id).await {
        Ok(x) if x.2 == c.org_id => x,
        Ok(_) | Err(Error::NotFound(_)) => {
            return Err(Error::NotFound("no such disaster mode".into()));
        }
        Err(e) => return Err(e),
    };
    let d = districts(&st, &org).await?;
    if !may_manage(&c, &path, &d) {
        return Err(refuse(
            &st,
            &c,
            "disaster_refused",
            &format!("end {id}"),
            "only staff over this district may end its disaster mode",
        )
        .await?);
    }
    let now = now_ms();
    if !m.active_at(now) {
        return Err(Error::Conflict("this disaster mode is already over".into()));
    }
    let mut tx = st.db.begin().await?;
    let r = sqlx::query(
        "UPDATE disaster_modes SET ended_at = $1, ended_by = $2 WHERE id = $3 AND ended_at IS NULL",
    )
    .bind(now)
    .bind(c.user_id.clone())
    .bind(id.clone())
    .execute(&mut *tx)
    .await?;
    if r.rows_affected() != 1 {
        return Err(Error::Conflict("this disaster mode is already over".into()));
    }
    audit(
        &mut *tx,
        Some(&c.org_id),
        Some(&c.user_id),
        Some(&c.device_id),
        "disaster_end",
        None,
        &format!("district {}", m.district),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(one(&st, &id).await?.0))
}

/// The organisation's modes that are running now (`active`) or, with `recent`, also those
/// over within the last 30 days; newest first, with their districts' paths.
async fn modes(st: &AppState, org: &str, recent: bool) -> Result<Vec<(DisasterMode, String)>> {
    let now = now_ms();
    let sql = if recent {
        format!(
            "{MODE_SQL} WHERE m.org_id = $1 AND COALESCE(m.ended_at, m.ends_at) >= $2 ORDER BY m.started_at DESC"
        )
    } else {
        format!(
            "{MODE_SQL} WHERE m.org_id = $1 AND m.ended_at IS NULL AND m.ends_at > $2 ORDER BY m.started_at DESC"
        )
    };
    let since = if recent {
        now - LISTED_AFTER_END_MS
    } else {
        now
    };
    let rows = sqlx::query(&sql)
        .bind(org.to_string())
        .bind(since)
        .fetch_all(&st.db)
        .await?;
    Ok(rows.iter().map(mode).collect())
}

/// `GET /api/disaster`: running modes and those over in the last 30 days, for staff and
/// administrators of the organisation (all of them) and for district 民生委員, 自主防災組織
/// and staff (those touching their districts).
pub async fn list(
    State(st): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Vec<DisasterMode>>> {
    let c = auth::caller(&st.db, &headers, None).await?;
    let d = districts(&st, &c.org_id).await?;
    let area = roster_area(&c, &d);
    if area.as_ref().is_some_and(Vec::is_empty) {
        return Err(refuse(
            &st,
            &c,
            "disaster_refused",
            "list",
            "disaster modes are for staff, 民生委員 and 自主防災組織",
        )
        .await?);
    }
    Ok(Json(
        modes(&st, &c.org_id, true)
            .await?
            .into_iter()
            .filter(|(_, p)| overlaps(&area, p))
            .map(|(m, _)| m)
            .collect(),
    ))
}

/// `GET /api/roster`: the 避難行動要支援者 of the caller's districts — with consent in
/// normal times, everyone listed where a disaster mode runs for the district or one above
/// it. Audited `roster_read` (how many, and `disaster` when a mode showed someone).
pub async fn roster(State(st): State<AppState>, headers: HeaderMap) -> Result<Json<Roster>> {
    let c = auth::caller(&st.db, &headers, None).await?;
    let d = districts(&st, &c.org_id).await?;
    let area = roster_area(&c, &d);
    if area.as_ref().is_some_and(Vec::is_empty) {
        return Err(refuse(
            &st,
            &c,
            "roster_refused",
            "",
            "the evacuation roster is for staff, 民生委員 and 自主防災組織",
        )
        .await?);
    }
    let now = now_ms();
    let active: Vec<(DisasterMode, String)> = modes(&st, &c.org_id, false)
        .await?
        .into_iter()
        .filter(|(m, _)| m.active_at(now))
        .collect();
    let rows = sqlx::query(
        "SELECT doc_id, district_id, name, kana, birth_year, address, phone, household, support_needed, helper, \
         shelter, contacts_json, consent_bousai FROM proj_people \
         WHERE org_id = $1 AND listed = 1 AND status NOT IN ('deceased', 'moved_away')",
    )
    .bind(c.org_id.clone())
    .fetch_all(&st.db)
    .await?;
    let mut people = Vec::new();
    let mut opened = 0usize;
    for r in &rows {
        let district: Option<String> = r.get(1);
        let path = district
            .as_ref()
            .and_then(|id| d.get(id))
            .map(|(p, _)| p.as_str());
        let inside = match (&area, path) {
            (None, _) => true,
            (Some(tops), Some(p)) => tops.iter().any(|t| p.starts_with(t.as_str())),
            (Some(_), None) => false,
        };
        if !inside {
            continue;
        }
        let consented = r.get::<i64, _>(12) != 0;
        if !consented {
            let under_disaster =
                path.is_some_and(|p| active.iter().any(|(_, mp)| p.starts_with(mp.as_str())));
            if !under_disaster {
                continue;
            }
            opened += 1;
        }
        people.push((
            path.unwrap_or_default().to_string(),
            RosterEntry {
                doc: r.get(0),
                district: district.clone().unwrap_or_default(),
                name: r.get(2),
                kana: r.get(3),
                birth_year: r
                    .get::<Option<i64>, _>(4)
                    .and_then(|y| i32::try_from(y).ok()),
                address: r.get(5),
                phone: r.get(6),
                household: r
                    .get::<Option<String>, _>(7)
                    .map(|h| Household::from_code(&h)),
                support_needed: r.get(8),
                helper: r.get(9),
                shelter: r.get(10),
                contacts: serde_json::from_str(&r.get::<String, _>(11)).unwrap_or_default(),
                consented,
            },
        ));
    }
    people.sort_by(|a, b| (&a.0, &a.1.kana, &a.1.doc).cmp(&(&b.0, &b.1.kana, &b.1.doc)));
    let detail = format!(
        "count {}{}",
        people.len(),
        if opened > 0 {
            format!(" disaster {opened}")
        } else {
            String::new()
        }
    );
    audit(
        &st.db,
        Some(&c.org_id),
        Some(&c.user_id),
        Some(&c.device_id),
        "roster_read",
        None,
        &detail,
    )
    .await?;
    Ok(Json(Roster {
        fetched_at: now,
        disaster: active
            .into_iter()
            .filter(|(_, p)| overlaps(&area, p))
            .map(|(m, _)| m)
            .collect(),
        people: people.into_iter().map(|(_, e)| e).collect(),
    }))
}
