//! `GET /api/directory`: what the signed-in user may know of the organisation's structure
//! (districts, their salons, the people in their scope and who visits them), cached on
//! the device for offline use. Read-only: the app never edits it.

use crate::AppState;
use crate::auth;
use crate::error::Result;
use crate::scope;
use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use shared::api::*;
use shared::codes::SalonType;
use sqlx::Row;
use std::collections::{BTreeMap, BTreeSet};

pub async fn handler(State(st): State<AppState>, headers: HeaderMap) -> Result<Json<Directory>> {
    let c = auth::caller(&st.db, &headers, None).await?;
    let sc = scope::of_caller(&st.db, &c).await?;
    let org = sqlx::query("SELECT name, directory_version FROM organisations WHERE id = $1")
        .bind(c.org_id.clone())
        .fetch_one(&st.db)
        .await?;
    let districts = sqlx::query("SELECT id, parent_id, name, level, map_doc, lat, lon, zoom FROM districts WHERE org_id = $1 ORDER BY path")
        .bind(c.org_id.clone())
        .fetch_all(&st.db)
        .await?
        .iter()
        .map(|r| DistrictInfo {
            id: r.get(0),
            parent: r.get(1),
            name: r.get(2),
            level: r.get(3),
            map_doc: r.get::<Option<String>, _>(4).filter(|m| sc.contains_key(m)),
            center: match (r.get::<Option<f64>, _>(5), r.get::<Option<f64>, _>(6), r.get::<Option<i64>, _>(7)) {
                (Some(a), Some(b), Some(z)) => Some((a, b, z.clamp(0, 22) as u8)),
                _ => None,
            },
        })
        .collect();
    let salons = sqlx::query("SELECT id, name, salon_type, district_id, doc_id FROM salons WHERE org_id = $1 ORDER BY name")
        .bind(c.org_id.clone())
        .fetch_all(&st.db)
        .await?
        .iter()
        .filter(|r| sc.contains_key(&r.get::<String, _>(4)))
        .map(|r| SalonInfo {
            id: r.get(0),
            name: r.get(1),
            salon_type: SalonType::from_code(&r.get::<String, _>(2)),
            district: r.get(3),
            doc: r.get(4),
        })
        .collect();

    // People in scope, with their visitors.
    let rows = sqlx::query(
        "SELECT d.id, d.district_id, a.user_id FROM documents d LEFT JOIN assignments a ON a.doc_id = d.id \
         WHERE d.org_id = $1 AND d.kind = 'person' ORDER BY d.id",
    )
    .bind(c.org_id.clone())
    .fetch_all(&st.db)
    .await?;
    let mut people: BTreeMap<String, PersonEntry> = BTreeMap::new();
    let mut colleagues: BTreeSet<String> = BTreeSet::from([c.user_id.clone()]);
    for r in &rows {
        let doc: String = r.get(0);
        if !sc.contains_key(&doc) {
            continue;
        }
        let e = people.entry(doc.clone()).or_insert_with(|| PersonEntry {
            doc,
            district: r.get::<Option<String>, _>(1).unwrap_or_default(),
            visitors: vec![],
        });
        if let Some(u) = r.get::<Option<String>, _>(2) {
            colleagues.insert(u.clone());
            e.visitors.push(u);
        }
    }
    let mut users = Vec::new();
    for u in colleagues {
        let name: Option<String> = sqlx::query_scalar("SELECT name FROM users WHERE id = $1")
            .bind(u.clone())
            .fetch_optional(&st.db)
            .await?;
        let roles = auth::grants(&st.db, &u)
            .await?
            .into_iter()
            .map(|g| g.role)
            .collect::<BTreeSet<_>>();
        users.push(UserEntry {
            id: u,
            name: name.unwrap_or_default(),
            roles: roles.into_iter().collect(),
        });
    }
    let activity_doc: Option<String> =
        sqlx::query_scalar("SELECT id FROM documents WHERE owner_id = $1 AND kind = 'activity' ORDER BY created_at LIMIT 1")
            .bind(c.user_id.clone())
            .fetch_optional(&st.db)
            .await?;
    Ok(Json(Directory {
        version: org.get(1),
        user: c.info(org.get(0)),
        districts,
        salons,
        people: people.into_values().collect(),
        users,
        docs: sc
            .into_iter()
            .map(|(doc, a)| DocEntry {
                doc,
                kind: a.kind,
                can_edit: a.can_edit,
            })
            .collect(),
        activity_doc,
    }))
}
