//! People and assignments from the desk (staff and administrators with the right to edit,
//! over the whole organisation or over the districts concerned): assign a volunteer to a
//! person or unassign them, move a person to another district, move a 民生委員's or
//! volunteer's district grant, and import a roster of people from CSV.
//!
//! Every change of access goes through `admin::rescope_in`, so the scope events it causes
//! are written in the same transaction: phones gain or lose the documents at their next
//! sync. Audited: `permission_change` (assignments and grants, naming who did it),
//! `person_moved`, `import` / `import_refused`, `doc_created`; refusals `desk_refused`.

use crate::AppState;
use crate::admin::{self, Actor};
use crate::auth::{self, Caller};
use crate::db::{audit, new_id, now_ms};
use crate::desk::{self, Area, today};
use crate::error::{Error, Result, from_json_rejection};
use crate::scope;
use crate::store::{self, NewRow};
use automerge::Automerge;
use axum::Json;
use axum::extract::State;
use axum::extract::rejection::{BytesRejection, JsonRejection};
use axum::http::HeaderMap;
use shared::codes::{DocKind, Role};
use shared::crdt;
use shared::desk::*;
use shared::model::WatchPlan;
use sqlx::Row;
use std::collections::{BTreeMap, BTreeSet};

/// Body limit of `POST /api/desk/import` (a roster of a few thousand rows).
pub const MAX_IMPORT_BODY: usize = 1024 * 1024;

fn actor(c: &Caller) -> Actor<'_> {
    Actor {
        user: &c.user_id,
        device: &c.device_id,
    }
}

/// A person document of the caller's organisation: its current district.
async fn person_district(st: &AppState, org: &str, doc: &str) -> Result<Option<String>> {
    let row = sqlx::query(
        "SELECT district_id FROM documents WHERE id = $1 AND org_id = $2 AND kind = 'person'",
    )
    .bind(doc.to_string())
    .bind(org.to_string())
    .fetch_optional(&st.db)
    .await?
    .ok_or_else(|| Error::NotFound("no such person".into()))?;
    Ok(row.get(0))
}

/// A user of the caller's organisation (not disabled), with their grants.
async fn member(st: &AppState, org: &str, user: &str) -> Result<Vec<auth::Membership>> {
    let found: Option<Option<i64>> =
        sqlx::query_scalar("SELECT disabled_at FROM users WHERE id = $1 AND org_id = $2")
            .bind(user.to_string())
            .bind(org.to_string())
            .fetch_optional(&st.db)
            .await?;
    match found {
        None => Err(Error::NotFound("no such user".into())),
        Some(Some(_)) => Err(Error::Conflict("this user is disabled".into())),
        Some(None) => Ok(auth::grants(&st.db, user).await?),
    }
}

async fn checked_person(
    st: &AppState,
    c: &Caller,
    person: &str,
    what: &str,
) -> Result<(Area, Option<String>)> {
    let a = desk::area(st, c, true, None, what).await?;
    let district = person_district(st, &c.org_id, person).await?;
    if !a.covers(district.as_deref()) {
        return Err(desk::refuse(
            st,
            c,
            &format!("{what} {person}"),
            "this person is outside your area",
        )
        .await?);
    }
    Ok((a, district))
}

/// `POST /api/desk/assign`: `AssignmentChange` → `{"ok": true}`. The user must be a
/// volunteer of the organisation; the person inside the caller's area.
pub async fn assign(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: std::result::Result<Json<AssignmentChange>, JsonRejection>,
) -> Result<Json<serde_json::Value>> {
    let c = auth::caller(&st.db, &headers, None).await?;
    let Json(req) = body.map_err(from_json_rejection)?;
    checked_person(&st, &c, &req.person, "assign").await?;
    let grants = member(&st, &c.org_id, &req.user).await?;
    if !grants.iter().any(|g| g.role == Role::Volunteer) {
        return Err(Error::bad(
            "only a volunteer can be assigned to visit a person (grant the volunteer role first)",
        ));
    }
    let mut tx = st.db.begin().await?;
    admin::set_assignment_in(
        &mut tx,
        &req.user,
        &req.person,
        req.can_edit,
        Some(actor(&c)),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(serde_json::json!({"ok": true})))
}

/// `POST /api/desk/unassign`: `Unassignment` → `{"ok": true}`; the volunteer's phones
/// lose the person's record at their next sync. Not assigned: 404.
pub async fn unassign(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: std::result::Result<Json<Unassignment>, JsonRejection>,
) -> Result<Json<serde_json::Value>> {
    let c = auth::caller(&st.db, &headers, None).await?;
    let Json(req) = body.map_err(from_json_rejection)?;
    checked_person(&st, &c, &req.person, "unassign").await?;
    let found: Option<i64> =
        sqlx::query_scalar("SELECT can_edit FROM assignments WHERE user_id = $1 AND doc_id = $2")
            .bind(req.user.clone())
            .bind(req.person.clone())
            .fetch_optional(&st.db)
            .await?;
    if found.is_none() {
        return Err(Error::NotFound(
            "this user is not assigned to this person".into(),
        ));
    }
    let mut tx = st.db.begin().await?;
    admin::unassign_in(&mut tx, &req.user, &req.person, Some(actor(&c))).await?;
    tx.commit().await?;
    Ok(Json(serde_json::json!({"ok": true})))
}

/// `POST /api/desk/people/move`: `PersonMove` → `PersonMoved`. The caller must cover both
/// districts. The document's district changes; users whose access depends on the district
/// (民生委員 and staff of either subtree) get scope events, so their phones gain or lose
/// the record at the next sync; the move is kept in `district_moves` with its effective
/// date, and the person's records are projected again so that each counts in the
/// district of its own date. Audited `person_moved`.
pub async fn move_person(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: std::result::Result<Json<PersonMove>, JsonRejection>,
) -> Result<Json<PersonMoved>> {
    let c = auth::caller(&st.db, &headers, None).await?;
    let Json(req) = body.map_err(from_json_rejection)?;
    let (a, from) = checked_person(&st, &c, &req.person, "move").await?;
    if !a.districts.contains_key(&req.district) {
        return Err(Error::NotFound("no such district".into()));
    }
    if !a.covers(Some(&req.district)) {
        return Err(desk::refuse(
            &st,
            &c,
            &format!("move {} to {}", req.person, req.district),
            "the new district is outside your area",
        )
        .await?);
    }
    if from.as_deref() == Some(req.district.as_str()) {
        return Err(Error::Conflict(
            "the person already belongs to this district".into(),
        ));
    }
    let today = today();
    let effective = req.effective_on.unwrap_or(today);
    if effective > today || effective.year() < 2000 {
        return Err(Error::bad(
            "effective_on is a date not in the future (and not before 2000)",
        ));
    }
    let last: Option<String> =
        sqlx::query_scalar("SELECT MAX(effective_on) FROM district_moves WHERE doc_id = $1")
            .bind(req.person.clone())
            .fetch_one(&st.db)
            .await?;
    if last
        .as_deref()
        .is_some_and(|l| l > effective.to_string().as_str())
    {
        return Err(Error::Conflict(
            "the person was moved later than this date already; moves must follow each other"
                .into(),
        ));
    }
    // Whose access can change: staff, administrators and 民生委員 limited to a district
    // above (or at) either district.
    let paths: Vec<String> = [from.as_deref(), Some(req.district.as_str())]
        .into_iter()
        .flatten()
        .filter_map(|d| a.districts.get(d).map(|r| r.path.clone()))
        .collect();
    let rows = sqlx::query(
        "SELECT DISTINCT m.user_id, d.path FROM memberships m JOIN users u ON u.id = m.user_id \
         JOIN districts d ON d.id = m.district_id \
         WHERE u.org_id = $1 AND m.role IN ('staff', 'admin', 'minsei') AND m.salon_id IS NULL",
    )
    .bind(c.org_id.clone())
    .fetch_all(&st.db)
    .await?;
    let users: BTreeSet<String> = rows
        .iter()
        .filter(|r| {
            let top: String = r.get(1);
            paths.iter().any(|p| p.starts_with(&top))
        })
        .map(|r| r.get(0))
        .collect();

    let mut tx = st.db.begin().await?;
    let mut next = store::lock_seq(&mut tx, &c.org_id).await? + 1;
    let mut before = BTreeMap::new();
    for u in &users {
        let g = auth::grants(&mut *tx, u).await?;
        let sc = scope::scope(&mut tx, &c.org_id, u, &g).await?;
        before.insert(u.clone(), sc.contains_key(&req.person));
    }
    sqlx::query("UPDATE documents SET district_id = $1, proj_seq = 0 WHERE id = $2")
        .bind(req.district.clone())
        .bind(req.person.clone())
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO district_moves (id, org_id, doc_id, from_district, to_district, effective_on, moved_by, moved_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(new_id())
    .bind(c.org_id.clone())
    .bind(req.person.clone())
    .bind(from.clone())
    .bind(req.district.clone())
    .bind(effective.to_string())
    .bind(c.user_id.clone())
    .bind(now_ms())
    .execute(&mut *tx)
    .await?;
    for u in &users {
        let g = auth::grants(&mut *tx, u).await?;
        let now_in = scope::scope(&mut tx, &c.org_id, u, &g)
            .await?
            .contains_key(&req.person);
        if now_in != before[u] {
            sqlx::query(
                "INSERT INTO scope_events (org_id, seq, user_id, doc_id, entered) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(c.org_id.clone())
            .bind(next)
            .bind(u.clone())
            .bind(req.person.clone())
            .bind(i64::from(now_in))
            .execute(&mut *tx)
            .await?;
            next += 1;
        }
    }
    store::set_seq(&mut tx, &c.org_id, next - 1).await?;
    admin::bump_directory(&mut tx, &c.org_id).await?;
    audit(
        &mut *tx,
        Some(&c.org_id),
        Some(&c.user_id),
        Some(&c.device_id),
        "person_moved",
        Some(&req.person),
        &format!(
            "from {} to {} effective {effective}",
            from.as_deref().unwrap_or("-"),
            req.district
        ),
    )
    .await?;
    tx.commit().await?;
    st.projector.notify_one();
    Ok(Json(PersonMoved {
        person: req.person,
        from,
        to: req.district,
        effective_on: Some(effective),
    }))
}

/// `POST /api/desk/grants/move`: `GrantMove` → `{"ok": true}`: a 民生委員's, volunteer's
/// or 自主防災組織's district grant moves to another district; the caller must cover both.
/// Audited `permission_change` (`move-grant …`).
pub async fn move_grant(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: std::result::Result<Json<GrantMove>, JsonRejection>,
) -> Result<Json<serde_json::Value>> {
    let c = auth::caller(&st.db, &headers, None).await?;
    let Json(req) = body.map_err(from_json_rejection)?;
    let a = desk::area(&st, &c, true, None, "move-grant").await?;
    if !matches!(req.role, Role::Minsei | Role::Volunteer | Role::Bousai) {
        return Err(Error::bad(
            "only 民生委員, volunteer and 自主防災組織 grants are moved from the desk",
        ));
    }
    for d in [&req.from, &req.to] {
        if !a.districts.contains_key(d) {
            return Err(Error::NotFound("no such district".into()));
        }
    }
    if !a.covers(Some(&req.from)) || !a.covers(Some(&req.to)) {
        return Err(desk::refuse(
            &st,
            &c,
            &format!("move-grant {} {} to {}", req.user, req.from, req.to),
            "both districts must be inside your area",
        )
        .await?);
    }
    let grants = member(&st, &c.org_id, &req.user).await?;
    if !grants.iter().any(|g| {
        g.role == req.role && g.district.as_deref() == Some(&req.from) && g.salon.is_none()
    }) {
        return Err(Error::NotFound(
            "the user has no such grant in that district".into(),
        ));
    }
    if req.from == req.to {
        return Err(Error::Conflict("the grant is already there".into()));
    }
    let mut tx = st.db.begin().await?;
    admin::move_grant_in(
        &mut tx,
        &req.user,
        &req.role,
        &req.from,
        &req.to,
        Some(actor(&c)),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(serde_json::json!({"ok": true})))
}

// ───────────────────────────── roster import ─────────────────────────────

pub use shared::roster::{Lookup, RosterRow, decode, parse_roster, parse_year};

/// A new person document (like one made on a phone): header, skeleton, profile and watch
/// plan, by a fresh actor.
fn person_doc(row: &RosterRow) -> anyhow::Result<Vec<automerge::Change>> {
    let mut doc = Automerge::new();
    let mut tx = doc.transaction();
    shared::doc::init(&mut tx, &DocKind::Person)?;
    crdt::save_at(&mut tx, &["profile"], &row.profile)?;
    if let Some(f) = &row.frequency {
        crdt::save_at(
            &mut tx,
            &["watch"],
            &WatchPlan {
                frequency: f.clone(),
                ..Default::default()
            },
        )?;
    }
    tx.commit();
    Ok(doc.get_changes(&[]))
}

/// `POST /api/desk/import`: a roster CSV (UTF-8 with or without a BOM, or Shift_JIS; the
/// columns of `shared::desk::IMPORT_COLUMNS`) → `ImportResult`. Any broken row: 400
/// `bad_rows` listing every broken cell, nothing imported (audited `import_refused`).
/// Otherwise every row becomes a person document, with its assignments, in one
/// transaction (audited `doc_created` each, `permission_change` per assignment, `import`).
pub async fn import(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: std::result::Result<axum::body::Bytes, BytesRejection>,
) -> Result<Json<ImportResult>> {
    let c = auth::caller(&st.db, &headers, None).await?;
    let body = body.map_err(|e| {
        if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            Error::TooLarge(format!(
                "a roster is at most {} KiB",
                MAX_IMPORT_BODY / 1024
            ))
        } else {
            Error::bad(e.body_text())
        }
    })?;
    let a = desk::area(&st, &c, true, None, "import").await?;
    let Some(text) = decode(&body) else {
        return Err(Error::bad(
            "the file is neither UTF-8 nor Shift_JIS: save it from Excel as CSV",
        ));
    };
    let mut lookup = Lookup {
        districts: a
            .districts
            .iter()
            .map(|(id, d)| (id.clone(), (d.name.clone(), a.covers(Some(id)))))
            .collect(),
        users: BTreeMap::new(),
    };
    let rows = sqlx::query(
        "SELECT u.id, u.login, EXISTS (SELECT 1 FROM memberships m WHERE m.user_id = u.id AND m.role = 'volunteer') \
         FROM users u WHERE u.org_id = $1 AND u.disabled_at IS NULL",
    )
    .bind(c.org_id.clone())
    .fetch_all(&st.db)
    .await?;
    for r in &rows {
        let volunteer = r
            .try_get::<bool, _>(2)
            .or_else(|_| r.try_get::<i64, _>(2).map(|v| v != 0))
            .unwrap_or(false);
        lookup.users.insert(r.get(1), (r.get(0), volunteer));
    }
    let rows = match parse_roster(&text, &lookup, today()) {
        Ok(rows) => rows,
        Err(errors) => {
            let broken: BTreeSet<u32> = errors.iter().map(|e| e.row).collect();
            audit(
                &st.db,
                Some(&c.org_id),
                Some(&c.user_id),
                Some(&c.device_id),
                "import_refused",
                None,
                &format!("broken rows {} errors {}", broken.len(), errors.len()),
            )
            .await?;
            return Err(Error::BadRows {
                message: format!("{}行に誤りがあります。何も取り込んでいません", broken.len()),
                rows: errors,
            });
        }
    };
    let mut tx = st.db.begin().await?;
    let mut result = ImportResult::default();
    for row in &rows {
        let id = new_id();
        store::insert_doc(
            &mut tx,
            &NewRow {
                id: &id,
                org: &c.org_id,
                kind: "person",
                district: Some(&row.district),
                salon: None,
                owner: None,
                created_by: Some(&c.user_id),
            },
        )
        .await?;
        store::append_locked(&mut tx, &c.org_id, &id, &person_doc(row)?).await?;
        audit(
            &mut *tx,
            Some(&c.org_id),
            Some(&c.user_id),
            Some(&c.device_id),
            "doc_created",
            Some(&id),
            &format!("person import line {}", row.line),
        )
        .await?;
        for v in &row.visitors {
            admin::set_assignment_in(&mut tx, v, &id, true, Some(actor(&c))).await?;
            result.assigned += 1;
        }
        result.people.push(id);
        result.created += 1;
    }
    audit(
        &mut *tx,
        Some(&c.org_id),
        Some(&c.user_id),
        Some(&c.device_id),
        "import",
        None,
        &format!("people {} assigned {}", result.created, result.assigned),
    )
    .await?;
    tx.commit().await?;
    st.projector.notify_one();
    Ok(Json(result))
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::Date;
    use shared::codes::Frequency;

    fn lookup() -> Lookup {
        Lookup {
            districts: BTreeMap::from([
                ("d1".to_string(), ("東地区".to_string(), true)),
                ("d2".to_string(), ("西地区".to_string(), false)),
                ("d3".to_string(), ("本町".to_string(), true)),
                ("d4".to_string(), ("本町".to_string(), true)),
            ]),
            users: BTreeMap::from([
                ("vol".to_string(), ("u1".to_string(), true)),
                ("staff".to_string(), ("u2".to_string(), false)),
            ]),
        }
    }

    fn today() -> Date {
        Date::parse("2026-05-01").unwrap()
    }

    #[test]
    fn years_in_either_calendar() {
        assert_eq!(parse_year("1940"), Some(1940));
        assert_eq!(parse_year("昭和15"), Some(1940));
        assert_eq!(parse_year("昭和15年"), Some(1940));
        assert_eq!(parse_year("S15"), Some(1940));
        assert_eq!(parse_year("平成元年"), Some(1989));
        assert_eq!(parse_year("令和8"), Some(2026));
        assert_eq!(parse_year("むかし"), None);
        assert_eq!(parse_year("昭和"), None);
    }

    #[test]
    fn a_good_roster_parses_in_any_column_order() {
        let text = "地区,氏名,見守り頻度,担当ボランティア,生年,世帯\r\n東地区,山田 花子,月1回,vol,昭和15,独居\r\n,,,,,\r\nd3,\"佐藤, 一郎\",週1,,1938,\r\n";
        let rows = parse_roster(text, &lookup(), today()).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].line, 2);
        assert_eq!(rows[0].district, "d1");
        assert_eq!(rows[0].visitors, vec!["u1".to_string()]);
        assert_eq!(rows[0].profile.birth_year, Some(1940));
        assert_eq!(rows[0].frequency, Some(Frequency::Monthly));
        assert_eq!(rows[1].line, 4);
        assert_eq!(rows[1].profile.name, "佐藤, 一郎");
    }

    #[test]
    fn every_broken_cell_is_named() {
        let text = "氏名,地区,電話,担当ボランティア,性別\n,東地区,,,\n田中,西地区,abc,staff,?\n鈴木,本町,,nobody,\n";
        let errs = parse_roster(text, &lookup(), today()).unwrap_err();
        let got: Vec<(u32, &str)> = errs.iter().map(|e| (e.row, e.column.as_str())).collect();
        assert_eq!(
            got,
            [
                (2, "氏名"),
                (3, "性別"),
                (3, "電話"),
                (3, "地区"),
                (3, "担当ボランティア"),
                (4, "地区"),
                (4, "担当ボランティア"),
            ]
        );
        assert_eq!(errs[0].message, "入力してください");
        assert!(errs[3].message.contains("担当外"));
    }

    #[test]
    fn headers_are_checked_and_garbage_never_panics() {
        let errs = parse_roster("名前,地区\nx,y\n", &lookup(), today()).unwrap_err();
        assert_eq!(errs[0].row, 1);
        assert_eq!(errs[0].column, "名前");
        assert!(errs.iter().any(|e| e.column == "氏名"));
        for junk in ["", "\"", "氏名,地区\n\"unclosed", "\u{0}\u{1}\n,,,,\n"] {
            assert!(parse_roster(junk, &lookup(), today()).is_err());
        }
        assert_eq!(decode(b"\xEF\xBB\xBFabc").as_deref(), Some("abc"));
        let (sjis, _, _) = encoding_rs::SHIFT_JIS.encode("氏名,地区");
        assert_eq!(decode(&sjis).as_deref(), Some("氏名,地区"));
        assert_eq!(decode(b"\xff\xff\xff"), None);
    }
}
