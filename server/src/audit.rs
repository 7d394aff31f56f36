//! The audit log for the office: `GET /api/audit` pages the organisation's log for its
//! staff, and `POST /api/reads` records the person records a staff member opened on the
//! phone (offline reads arrive with the next contact). The log is append-only: the
//! database itself refuses UPDATE and DELETE on `audit_log` (migration 0003).

use crate::AppState;
use crate::auth::{self, Caller};
use crate::db::audit;
use crate::error::{Error, Result, from_json_rejection};
use crate::scope;
use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use serde::Deserialize;
use shared::api::{AuditEntry, AuditPage, ReadReport};
use shared::codes::DocKind;
use sqlx::Row;
use std::collections::BTreeSet;

/// Entries per page unless asked otherwise, and at most.
const DEFAULT_LIMIT: i64 = 100;
const MAX_LIMIT: i64 = 500;
/// Most read events one report may carry.
pub const MAX_READS: usize = 500;
/// Body limit of `POST /api/reads` (500 events of about 80 bytes).
pub const MAX_READS_BODY: usize = 64 * 1024;

#[derive(Debug, Default, Deserialize)]
pub struct AuditQuery {
    pub action: Option<String>,
    /// A user id.
    pub user: Option<String>,
    /// Unix ms, inclusive.
    pub since: Option<i64>,
    /// Unix ms, exclusive.
    pub until: Option<i64>,
    /// An audit id: entries older than it (the previous page's `next_before`).
    pub before: Option<i64>,
    pub limit: Option<i64>,
}

enum Arg {
    Text(String),
    Int(i64),
}

/// `GET /api/audit`: the caller's organisation's log, newest first, for staff and
/// administrators over the whole organisation (others 403, audited `audit_refused`).
/// Reading it is itself audited (`audit_read`).
pub async fn page(
    State(st): State<AppState>,
    headers: HeaderMap,
    q: std::result::Result<Query<AuditQuery>, QueryRejection>,
) -> Result<Json<AuditPage>> {
    let c = auth::caller(&st.db, &headers, None).await?;
    let Query(q) = q.map_err(|e| Error::bad(format!("bad query: {}", e.body_text())))?;
    if !c.org_staff() {
        audit(
            &st.db,
            Some(&c.org_id),
            Some(&c.user_id),
            Some(&c.device_id),
            "audit_refused",
            None,
            "",
        )
        .await?;
        return Err(Error::Forbidden {
            message: "the audit log is for the organisation's staff".into(),
            docs: vec![],
        });
    }
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
    let mut sql = String::from(
        "SELECT a.id, a.at, a.user_id, u.name, a.device_id, a.action, a.doc_id, a.detail \
         FROM audit_log a LEFT JOIN users u ON u.id = a.user_id WHERE a.org_id = $1",
    );
    let mut args = vec![Arg::Text(c.org_id.clone())];
    let mut filters = Vec::new();
    let mut add = |cond: &str, arg: Arg, shown: String| {
        args.push(arg);
        sql.push_str(&format!(" AND {cond} ${}", args.len()));
        filters.push(shown);
    };
    if let Some(a) = q.action.filter(|a| !a.is_empty()) {
        let a = auth::truncate(&a, 64);
        add("a.action =", Arg::Text(a.clone()), format!("action={a}"));
    }
    if let Some(u) = q.user.filter(|u| !u.is_empty()) {
        let u = auth::truncate(&u, 64);
        add("a.user_id =", Arg::Text(u.clone()), format!("user={u}"));
    }
    if let Some(s) = q.since {
        add("a.at >=", Arg::Int(s), format!("since={s}"));
    }
    if let Some(u) = q.until {
        add("a.at <", Arg::Int(u), format!("until={u}"));
    }
    if let Some(b) = q.before {
        add("a.id <", Arg::Int(b), format!("before={b}"));
    }
    args.push(Arg::Int(limit + 1));
    sql.push_str(&format!(" ORDER BY a.id DESC LIMIT ${}", args.len()));
    let mut query = sqlx::query(&sql);
    for a in args {
        query = match a {
            Arg::Text(s) => query.bind(s),
            Arg::Int(i) => query.bind(i),
        };
    }
    let rows = query.fetch_all(&st.db).await?;
    let more = rows.len() as i64 > limit;
    let entries: Vec<AuditEntry> = rows
        .iter()
        .take(limit as usize)
        .map(|r| AuditEntry {
            id: r.get(0),
            at: r.get(1),
            user_id: r.get(2),
            user_name: r.get(3),
            device_id: r.get(4),
            action: r.get(5),
            doc_id: r.get(6),
            detail: r.get(7),
        })
        .collect();
    let actions: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT action FROM audit_log WHERE org_id = $1 ORDER BY action",
    )
    .bind(c.org_id.clone())
    .fetch_all(&st.db)
    .await?;
    audit(
        &st.db,
        Some(&c.org_id),
        Some(&c.user_id),
        Some(&c.device_id),
        "audit_read",
        None,
        &filters.join(" "),
    )
    .await?;
    Ok(Json(AuditPage {
        next_before: if more {
            entries.last().map(|e| e.id)
        } else {
            None
        },
        entries,
        actions,
    }))
}

/// `POST /api/reads`: one `person_read` row per person record opened (detail
/// `opened_at=<unix ms>` from the phone; the row's own time is the server's). Only person
/// documents in the caller's scope: a document out of scope refuses the whole report (403
/// listing them, audited `reads_refused`), other kinds are skipped. A report sent again
/// (its answer was lost) records nothing twice.
pub async fn reads(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: std::result::Result<Json<ReadReport>, JsonRejection>,
) -> Result<Json<serde_json::Value>> {
    let c = auth::caller(&st.db, &headers, None).await?;
    let Json(report) = body.map_err(from_json_rejection)?;
    if report.reads.len() > MAX_READS {
        return Err(Error::TooLarge(format!(
            "at most {MAX_READS} reads per report"
        )));
    }
    if let Some(bad) = report
        .reads
        .iter()
        .find(|r| !crate::sync::valid_doc_id(&r.doc))
    {
        return Err(Error::bad(format!(
            "invalid document id {:?}",
            auth::truncate(&bad.doc, 80)
        )));
    }
    let sc = scope::of_caller(&st.db, &c).await?;
    let refused: BTreeSet<&str> = report
        .reads
        .iter()
        .filter(|r| !sc.contains_key(&r.doc))
        .map(|r| r.doc.as_str())
        .collect();
    if !refused.is_empty() {
        for d in &refused {
            refuse(&st, &c, d).await?;
        }
        return Err(Error::Forbidden {
            message: "these documents are not yours to read; nothing was recorded".into(),
            docs: refused.into_iter().map(str::to_string).collect(),
        });
    }
    let events: BTreeSet<(&str, i64)> = report
        .reads
        .iter()
        .filter(|r| sc.get(&r.doc).is_some_and(|a| a.kind == DocKind::Person))
        .map(|r| (r.doc.as_str(), r.at))
        .collect();
    let mut recorded = 0;
    let mut tx = st.db.begin().await?;
    for (doc, at) in events {
        let detail = format!("opened_at={at}");
        let seen: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM audit_log WHERE doc_id = $1 AND action = 'person_read' AND device_id = $2 AND detail = $3",
        )
        .bind(doc.to_string())
        .bind(c.device_id.clone())
        .bind(detail.clone())
        .fetch_optional(&mut *tx)
        .await?;
        if seen.is_some() {
            continue;
        }
        audit(
            &mut *tx,
            Some(&c.org_id),
            Some(&c.user_id),
            Some(&c.device_id),
            "person_read",
            Some(doc),
            &detail,
        )
        .await?;
        recorded += 1;
    }
    tx.commit().await?;
    Ok(Json(serde_json::json!({"ok": true, "recorded": recorded})))
}

async fn refuse(st: &AppState, c: &Caller, doc: &str) -> Result<()> {
    audit(
        &st.db,
        Some(&c.org_id),
        Some(&c.user_id),
        Some(&c.device_id),
        "reads_refused",
        Some(doc),
        "out of scope",
    )
    .await?;
    Ok(())
}
