//! Who may see and change which document. Access is server authority in SQL (roles,
//! districts, salons, assignments); nothing a device writes into a document can grant it.
//!
//! | role | documents |
//! |---|---|
//! | admin, staff (no district) | every document of the organisation |
//! | staff (district) | person, map and salon documents in the district's subtree |
//! | minsei (district) | person and map documents in the district's subtree |
//! | volunteer | the person documents assigned to them |
//! | salon_leader, salon_helper (salon) | that salon's document |
//! | bousai (district), member | none (the 自主防災組織 sees the evacuation roster only) |
//! | anyone | their own activity record |
//!
//! Viewing and editing are separate rights: a grant or an assignment with `can_edit = 0`
//! (`--view-only`) opens its documents for reading only. Where several grants open one
//! document, it is editable if any of them may edit it. A view-only volunteer grant makes
//! all of the volunteer's assignments view-only.

use crate::auth::{Caller, Membership};
use shared::codes::{DocKind, Role};
use shared::sync::NewDoc;
use sqlx::{AnyConnection, Row};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    pub kind: DocKind,
    pub can_edit: bool,
}

/// Every document a user may see, by id.
pub type Scope = BTreeMap<String, Access>;

/// The documents `grants` open in `org` for `user`.
pub async fn scope(
    e: &mut AnyConnection,
    org: &str,
    user: &str,
    grants: &[Membership],
) -> sqlx::Result<Scope> {
    scope_of(e, org, user, grants, None).await
}

/// The part of the scope among `docs`: what [`scope`] says of each of them, without
/// reading the rest. A district's or the organisation's scope can hold thousands of
/// documents; a sync asks only about the documents it pushes or that changed, so that its
/// cost follows what changed, not what is in scope (DESIGN.md §7, growth).
pub async fn scope_within(
    e: &mut AnyConnection,
    org: &str,
    user: &str,
    grants: &[Membership],
    docs: &[String],
) -> sqlx::Result<Scope> {
    let mut out = Scope::new();
    // Bounded lists of bind parameters, well under either database's limit.
    for part in docs.chunks(500) {
        out.extend(scope_of(e, org, user, grants, Some(part)).await?);
    }
    Ok(out)
}

/// Whether the scope of `grants` may be large: a district's or the whole organisation's
/// documents, rather than a volunteer's assignments or a salon.
pub fn is_wide(grants: &[Membership]) -> bool {
    grants
        .iter()
        .any(|g| g.org_wide() || (g.role.watches_whole_district() && g.district.is_some()))
}

/// `AND <col> IN ($n, …)` for `only`, numbered from `$first`; nothing when `only` is None.
pub(crate) fn only_clause(col: &str, first: usize, only: Option<&[String]>) -> String {
    match only {
        None => String::new(),
        Some([]) => format!(" AND {col} IN (NULL)"),
        Some(ids) => {
            let marks: Vec<String> = (0..ids.len()).map(|i| format!("${}", first + i)).collect();
            format!(" AND {col} IN ({})", marks.join(", "))
        }
    }
}

pub(crate) fn bind_only<'q>(
    mut q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    only: Option<&[String]>,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    for id in only.unwrap_or_default() {
        q = q.bind(id.clone());
    }
    q
}

async fn scope_of(
    e: &mut AnyConnection,
    org: &str,
    user: &str,
    grants: &[Membership],
    only: Option<&[String]>,
) -> sqlx::Result<Scope> {
    let mut out = Scope::new();
    let mut add = |rows: Vec<sqlx::any::AnyRow>, can_edit: bool| {
        for r in rows {
            let id: String = r.get(0);
            let kind = DocKind::from_code(&r.get::<String, _>(1));
            // Rows may carry their own right (assignments) in a third column.
            let can_edit = can_edit && r.try_get::<i64, _>(2).map_or(true, |v| v != 0);
            let a = out.entry(id).or_insert(Access {
                kind,
                can_edit: false,
            });
            a.can_edit |= can_edit;
        }
    };
    let org_wide: Vec<&Membership> = grants.iter().filter(|g| g.org_wide()).collect();
    if !org_wide.is_empty() {
        let sql = format!(
            "SELECT id, kind FROM documents WHERE org_id = $1{}",
            only_clause("id", 2, only)
        );
        let rows = bind_only(sqlx::query(&sql).bind(org.to_string()), only)
            .fetch_all(&mut *e)
            .await?;
        let can_edit = org_wide.iter().any(|g| g.can_edit);
        add(rows, can_edit);
        if can_edit {
            return Ok(out);
        }
        // View-only over the organisation: other grants may still open some documents for
        // editing.
    }
    for g in grants {
        match (&g.role, &g.district, &g.salon) {
            (r, Some(d), _) if r.watches_whole_district() => {
                let kinds = if g.role == Role::Minsei {
                    "('person', 'map')"
                } else {
                    "('person', 'map', 'salon')"
                };
                let sql = format!(
                    "SELECT doc.id, doc.kind FROM documents doc \
                     JOIN districts sub ON sub.id = COALESCE(doc.district_id, \
                         (SELECT s.district_id FROM salons s WHERE s.id = doc.salon_id)) \
                     JOIN districts top ON top.id = $2 \
                     WHERE doc.org_id = $1 AND doc.kind IN {kinds} \
                       AND substr(sub.path, 1, length(top.path)) = top.path{}",
                    only_clause("doc.id", 3, only)
                );
                let rows = bind_only(
                    sqlx::query(&sql).bind(org.to_string()).bind(d.clone()),
                    only,
                )
                .fetch_all(&mut *e)
                .await?;
                add(rows, g.can_edit);
            }
            (Role::SalonLeader | Role::SalonHelper | Role::Staff | Role::Admin, _, Some(s)) => {
                let sql = format!(
                    "SELECT doc.id, doc.kind FROM documents doc JOIN salons s ON s.doc_id = doc.id \
                     WHERE doc.org_id = $1 AND s.id = $2{}",
                    only_clause("doc.id", 3, only)
                );
                let rows = bind_only(
                    sqlx::query(&sql).bind(org.to_string()).bind(s.clone()),
                    only,
                )
                .fetch_all(&mut *e)
                .await?;
                add(rows, g.can_edit);
            }
            _ => {}
        }
    }
    let volunteer: Vec<&Membership> = grants
        .iter()
        .filter(|g| g.role == Role::Volunteer)
        .collect();
    if !volunteer.is_empty() {
        let sql = format!(
            "SELECT doc.id, doc.kind, a.can_edit FROM assignments a JOIN documents doc ON doc.id = a.doc_id \
             WHERE a.user_id = $1 AND doc.org_id = $2 AND doc.kind = 'person'{}",
            only_clause("doc.id", 3, only)
        );
        let rows = bind_only(
            sqlx::query(&sql)
                .bind(user.to_string())
                .bind(org.to_string()),
            only,
        )
        .fetch_all(&mut *e)
        .await?;
        add(rows, volunteer.iter().any(|g| g.can_edit));
    }
    let sql = format!(
        "SELECT id, kind FROM documents WHERE owner_id = $1 AND org_id = $2{}",
        only_clause("id", 3, only)
    );
    let rows = bind_only(
        sqlx::query(&sql)
            .bind(user.to_string())
            .bind(org.to_string()),
        only,
    )
    .fetch_all(&mut *e)
    .await?;
    add(rows, true);
    Ok(out)
}

pub async fn of_caller(db: &crate::db::Db, c: &Caller) -> sqlx::Result<Scope> {
    let mut conn = db.acquire().await?;
    scope(&mut conn, &c.org_id, &c.user_id, &c.grants).await
}

/// [`scope_within`] for the caller.
pub async fn of_caller_within(
    db: &crate::db::Db,
    c: &Caller,
    docs: &[String],
) -> sqlx::Result<Scope> {
    let mut conn = db.acquire().await?;
    scope_within(&mut conn, &c.org_id, &c.user_id, &c.grants, docs).await
}

/// Whether `c` may create a document placed at `p`; returns the checked placement
/// (district and salon ids that exist in the caller's organisation).
pub async fn may_create(
    db: &crate::db::Db,
    c: &Caller,
    doc_id: &str,
    p: &NewDoc,
) -> sqlx::Result<bool> {
    match &p.kind {
        DocKind::Person | DocKind::Map => {
            let Some(d) = &p.district else {
                return Ok(false);
            };
            let path: Option<String> =
                sqlx::query_scalar("SELECT path FROM districts WHERE id = $1 AND org_id = $2")
                    .bind(d.clone())
                    .bind(c.org_id.clone())
                    .fetch_optional(db)
                    .await?;
            let Some(path) = path else { return Ok(false) };
            if p.kind == DocKind::Map {
                // A district has one map, made with the district.
                return Ok(false);
            }
            // Creating needs a grant that may edit.
            for g in c.grants.iter().filter(|g| g.can_edit) {
                if g.org_wide() {
                    return Ok(true);
                }
                if let (true, Some(gd)) = (g.role.watches_whole_district(), &g.district) {
                    let top: Option<String> =
                        sqlx::query_scalar("SELECT path FROM districts WHERE id = $1")
                            .bind(gd.clone())
                            .fetch_optional(db)
                            .await?;
                    if top.is_some_and(|t| path.starts_with(&t)) {
                        return Ok(true);
                    }
                }
            }
            Ok(false)
        }
        // A 民生委員's own activity record: anyone may keep their own.
        DocKind::Activity => Ok(true),
        // Salon documents are made with the salon (server side).
        DocKind::Salon | DocKind::Other(_) => {
            let _ = doc_id;
            Ok(false)
        }
    }
}
