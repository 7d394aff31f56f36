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
//! | anyone | their own activity record |

use crate::auth::Caller;
use shared::api::Grant;
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

fn org_wide(g: &Grant) -> bool {
    matches!(g.role, Role::Admin | Role::Staff) && g.district.is_none() && g.salon.is_none()
}

/// The documents `grants` open in `org` for `user`.
pub async fn scope(
    e: &mut AnyConnection,
    org: &str,
    user: &str,
    grants: &[Grant],
) -> sqlx::Result<Scope> {
    let mut out = Scope::new();
    let mut add = |rows: Vec<sqlx::any::AnyRow>, can_edit: bool| {
        for r in rows {
            let id: String = r.get(0);
            let kind = DocKind::from_code(&r.get::<String, _>(1));
            let a = out.entry(id).or_insert(Access { kind, can_edit });
            a.can_edit |= can_edit;
        }
    };
    if grants.iter().any(org_wide) {
        let rows = sqlx::query("SELECT id, kind FROM documents WHERE org_id = $1")
            .bind(org.to_string())
            .fetch_all(&mut *e)
            .await?;
        add(rows, true);
        return Ok(out);
    }
    for g in grants {
        match (&g.role, &g.district, &g.salon) {
            (Role::Staff | Role::Admin | Role::Minsei, Some(d), _) => {
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
                       AND substr(sub.path, 1, length(top.path)) = top.path"
                );
                let rows = sqlx::query(&sql)
                    .bind(org.to_string())
                    .bind(d.clone())
                    .fetch_all(&mut *e)
                    .await?;
                add(rows, true);
            }
            (Role::SalonLeader | Role::SalonHelper | Role::Staff | Role::Admin, _, Some(s)) => {
                let rows = sqlx::query(
                    "SELECT doc.id, doc.kind FROM documents doc JOIN salons s ON s.doc_id = doc.id \
                     WHERE doc.org_id = $1 AND s.id = $2",
                )
                .bind(org.to_string())
                .bind(s.clone())
                .fetch_all(&mut *e)
                .await?;
                add(rows, true);
            }
            _ => {}
        }
    }
    if grants.iter().any(|g| g.role == Role::Volunteer) {
        let rows = sqlx::query(
            "SELECT doc.id, doc.kind FROM assignments a JOIN documents doc ON doc.id = a.doc_id \
             WHERE a.user_id = $1 AND doc.org_id = $2 AND doc.kind = 'person'",
        )
        .bind(user.to_string())
        .bind(org.to_string())
        .fetch_all(&mut *e)
        .await?;
        add(rows, true);
    }
    let rows = sqlx::query("SELECT id, kind FROM documents WHERE owner_id = $1 AND org_id = $2")
        .bind(user.to_string())
        .bind(org.to_string())
        .fetch_all(&mut *e)
        .await?;
    add(rows, true);
    Ok(out)
}

pub async fn of_caller(db: &crate::db::Db, c: &Caller) -> sqlx::Result<Scope> {
    let mut conn = db.acquire().await?;
    scope(&mut conn, &c.org_id, &c.user_id, &c.grants).await
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
            for g in &c.grants {
                if org_wide(g) {
                    return Ok(true);
                }
                if let (Role::Staff | Role::Admin | Role::Minsei, Some(gd)) = (&g.role, &g.district)
                {
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
