//! SQL projections of the documents (visits, salon sessions and attendance, follow-ups),
//! for reports; and each person's profile, evacuation needs and consent to share with the
//! 自主防災組織 (`proj_people`), for the evacuation roster. Rebuilt from a document whenever it has changes the projection has not
//! seen (`documents.proj_seq < last_seq`); the same pass compacts the document's snapshot.
//! Idempotent, so any number of server processes may run it.

use crate::db::Db;
use crate::store;
use automerge::Automerge;
use shared::model::{Person, Salon};
use sqlx::Row;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// Compact the snapshot once this many changes follow it.
const COMPACT_AFTER: usize = 32;

/// Runs until the process ends: after each sync that wrote, and every few seconds.
pub async fn run(db: Db, notify: Arc<Notify>) {
    loop {
        match catch_up(&db).await {
            Ok(_) => {}
            Err(e) => tracing::error!("projection: {e:#}"),
        }
        let _ = tokio::time::timeout(Duration::from_secs(5), notify.notified()).await;
        // Let a burst of syncs land before rebuilding.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Rebuilds every stale projection. Returns how many documents were rebuilt.
pub async fn catch_up(db: &Db) -> anyhow::Result<usize> {
    let mut n = 0;
    loop {
        let ids: Vec<String> = sqlx::query_scalar(
            "SELECT id FROM documents WHERE proj_seq < last_seq ORDER BY last_seq LIMIT 100",
        )
        .fetch_all(db)
        .await?;
        if ids.is_empty() {
            return Ok(n);
        }
        for id in ids {
            rebuild(db, &id).await?;
            n += 1;
        }
    }
}

pub async fn rebuild(db: &Db, id: &str) -> anyhow::Result<()> {
    let row =
        sqlx::query("SELECT org_id, kind, district_id, salon_id FROM documents WHERE id = $1")
            .bind(id.to_string())
            .fetch_one(db)
            .await?;
    let (org, kind, district, salon): (String, String, Option<String>, Option<String>) =
        (row.get(0), row.get(1), row.get(2), row.get(3));
    let mut conn = db.acquire().await?;
    let stored = store::stored(&mut conn, id).await?;
    drop(conn);
    let seq = stored.seq;
    let tail = stored.tail.len();
    let doc = match stored.load() {
        Ok(d) => d,
        Err(e) => {
            // A document that cannot be read is left as it is (its changes are all kept);
            // mark it seen so the worker does not spin on it, and say so.
            tracing::error!(doc = id, "projection: cannot load: {e:#}");
            mark(db, id, seq, None).await?;
            return Ok(());
        }
    };
    let mut tx = db.begin().await?;
    for t in [
        "proj_people",
        "proj_visits",
        "proj_followups",
        "proj_attendance",
        "proj_sessions",
    ] {
        sqlx::query(&format!("DELETE FROM {t} WHERE doc_id = $1"))
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
    }
    match kind.as_str() {
        "person" => person(&mut tx, &doc, id, &org, district.as_deref()).await?,
        "salon" => salon_rows(&mut tx, &doc, id, &org, salon.as_deref()).await?,
        _ => {}
    }
    tx.commit().await?;
    let snapshot = (tail >= COMPACT_AFTER).then(|| doc.save());
    mark(db, id, seq, snapshot).await
}

async fn mark(db: &Db, id: &str, seq: i64, snapshot: Option<Vec<u8>>) -> anyhow::Result<()> {
    match snapshot {
        Some(s) => {
            sqlx::query("UPDATE documents SET proj_seq = $1, snapshot = $2, snapshot_seq = $1 WHERE id = $3 AND snapshot_seq < $1")
                .bind(seq)
                .bind(s)
                .bind(id.to_string())
                .execute(db)
                .await?;
        }
        None => {
            sqlx::query("UPDATE documents SET proj_seq = $1 WHERE id = $2 AND proj_seq < $1")
                .bind(seq)
                .bind(id.to_string())
                .execute(db)
                .await?;
        }
    }
    Ok(())
}

async fn person(
    tx: &mut crate::db::Tx<'_>,
    doc: &Automerge,
    id: &str,
    org: &str,
    district: Option<&str>,
) -> anyhow::Result<()> {
    let (p, _) = shared::doc::read::<Person, _>(doc)?;
    let mut contacts: Vec<_> = p.emergency.contacts.values().collect();
    contacts.sort_by(|a, b| (a.order, &a.name).cmp(&(b.order, &b.name)));
    sqlx::query(
        "INSERT INTO proj_people (doc_id, org_id, district_id, name, kana, birth_year, address, phone, household, status, \
         listed, support_needed, helper, shelter, contacts_json, consent_bousai) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
    )
    .bind(id.to_string())
    .bind(org.to_string())
    .bind(district.map(str::to_string))
    .bind(p.profile.name.clone())
    .bind(p.profile.kana.clone())
    .bind(p.profile.birth_year.map(i64::from))
    .bind(p.profile.address.clone())
    .bind(p.profile.phone.clone())
    .bind(p.profile.household.as_ref().map(|h| h.code().to_string()))
    .bind(p.profile.status.code().to_string())
    .bind(i64::from(p.evacuation.listed))
    .bind(p.evacuation.support_needed.clone())
    .bind(p.evacuation.helper.clone())
    .bind(p.evacuation.shelter.clone())
    .bind(serde_json::to_string(&contacts)?)
    .bind(i64::from(p.consent.share_bousai))
    .execute(&mut **tx)
    .await?;
    for (rid, v) in &p.visits {
        if v.withdrawn {
            continue;
        }
        sqlx::query(
            "INSERT INTO proj_visits (doc_id, record_id, org_id, district_id, date, kind, outcome, condition, followup, visitors, recorded_by) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(id.to_string())
        .bind(rid.clone())
        .bind(org.to_string())
        .bind(district.map(str::to_string))
        .bind(v.date.to_string())
        .bind(v.kind.code().to_string())
        .bind(v.outcome.code().to_string())
        .bind(v.condition.as_ref().map(|c| c.code().to_string()))
        .bind(i64::from(v.followup))
        .bind(v.visitors.join(","))
        .bind(v.recorded_by.clone())
        .execute(&mut **tx)
        .await?;
    }
    let raised = p
        .visits
        .iter()
        .filter(|(_, v)| v.followup && !v.withdrawn)
        .map(|(k, v)| (k, v.date, &v.followup_what))
        .chain(
            p.consultations
                .iter()
                .filter(|(_, c)| c.followup && !c.withdrawn)
                .map(|(k, c)| (k, c.date, &c.followup_what)),
        );
    for (source, date, what) in raised {
        sqlx::query(
            "INSERT INTO proj_followups (doc_id, source_id, org_id, district_id, raised_on, what, done_on) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(id.to_string())
        .bind(source.clone())
        .bind(org.to_string())
        .bind(district.map(str::to_string))
        .bind(date.to_string())
        .bind(what.clone())
        .bind(p.followups.get(source).map(|f| f.on.to_string()))
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

async fn salon_rows(
    tx: &mut crate::db::Tx<'_>,
    doc: &Automerge,
    id: &str,
    org: &str,
    salon: Option<&str>,
) -> anyhow::Result<()> {
    let (s, _) = shared::doc::read::<Salon, _>(doc)?;
    for (date, session) in &s.sessions {
        let present = session
            .attendance
            .values()
            .filter(|m| **m == shared::codes::Mark::Present)
            .count() as i64;
        sqlx::query(
            "INSERT INTO proj_sessions (doc_id, date, org_id, salon_id, present, guests, helpers, cancelled) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(id.to_string())
        .bind(date.clone())
        .bind(org.to_string())
        .bind(salon.map(str::to_string))
        .bind(present)
        .bind(i64::from(session.guests))
        .bind(i64::from(session.helpers))
        .bind(i64::from(session.cancelled))
        .execute(&mut **tx)
        .await?;
        for (member, mark) in &session.attendance {
            sqlx::query(
                "INSERT INTO proj_attendance (doc_id, date, member_id, org_id, salon_id, mark) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(id.to_string())
            .bind(date.clone())
            .bind(member.clone())
            .bind(org.to_string())
            .bind(salon.map(str::to_string))
            .bind(mark.code().to_string())
            .execute(&mut **tx)
            .await?;
        }
    }
    Ok(())
}
