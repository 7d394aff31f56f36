//! SQL projections of the documents, for reports (reports.rs, docs/reports.md): visits and
//! who made them, consultations and their topics, follow-ups, salon sessions and
//! attendance, a 民生委員's other activities; and each person's profile, watch plan,
//! evacuation needs and consent to share with the 自主防災組織 (`proj_people`), for the
//! evacuation roster and the overdue board. Rebuilt from a document whenever it has
//! changes the projection has not seen (`documents.proj_seq < last_seq`; moving a person
//! resets `proj_seq`); the same pass compacts the document's snapshot. Idempotent, so any
//! number of server processes may run it.
//!
//! A person's visits and consultations are projected with the district the person
//! belonged to on the record's own date ([`district_on`]), so a report of a month counts
//! a visit where it happened even after the person moved.

use crate::db::Db;
use crate::store;
use automerge::Automerge;
use shared::Date;
use shared::model::{ActivityLog, Person, Salon};
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
    let row = sqlx::query(
        "SELECT org_id, kind, district_id, salon_id, owner_id FROM documents WHERE id = $1",
    )
    .bind(id.to_string())
    .fetch_one(db)
    .await?;
    let (org, kind, district, salon, owner): (
        String,
        String,
        Option<String>,
        Option<String>,
        Option<String>,
    ) = (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4));
    let moves: Vec<(String, Option<String>)> = sqlx::query(
        "SELECT effective_on, from_district FROM district_moves WHERE doc_id = $1 ORDER BY effective_on, moved_at",
    )
    .bind(id.to_string())
    .fetch_all(db)
    .await?
    .iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect();
    let mut conn = db.acquire().await?;
    let stored = store::stored(&mut conn, id).await?;
    drop(conn);
    let seq = stored.seq;
    let tail = stored.tail.len();
    let place = Place {
        id,
        org: &org,
        kind: &kind,
        district: district.as_deref(),
        salon: salon.as_deref(),
    };
    let doc = match stored.load() {
        Ok(d) => d,
        Err(e) => {
            // A document that cannot be read is left as it is (its changes are all kept);
            // mark it seen so the worker does not spin on it, and say so.
            tracing::error!(doc = id, "projection: cannot load: {e:#}");
            let mut tx = db.begin().await?;
            problems(
                &mut tx,
                &place,
                &[shared::check::unreadable_document(&format!("{e:#}"))],
            )
            .await?;
            tx.commit().await?;
            mark(db, id, seq, None).await?;
            return Ok(());
        }
    };
    let mut tx = db.begin().await?;
    for t in [
        "proj_people",
        "proj_visits",
        "proj_visit_visitors",
        "proj_followups",
        "proj_consultations",
        "proj_consultation_topics",
        "proj_activities",
        "proj_attendance",
        "proj_sessions",
    ] {
        sqlx::query(&format!("DELETE FROM {t} WHERE doc_id = $1"))
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
    }
    match kind.as_str() {
        "person" => person(&mut tx, &doc, id, &org, district.as_deref(), &moves).await?,
        "salon" => salon_rows(&mut tx, &doc, id, &org, salon.as_deref()).await?,
        "activity" => {
            if let Some(owner) = owner.as_deref() {
                activity_rows(&mut tx, &doc, id, &org, owner).await?;
            }
        }
        _ => {}
    }
    let found = shared::check::problems(
        &shared::codes::DocKind::from_code(&kind),
        &shared::check::read(&doc),
        crate::desk::today().add_days(1),
    );
    problems(&mut tx, &place, &found).await?;
    tx.commit().await?;
    // A snapshot replaces the changes it was made from: only one that loads again.
    let snapshot = match (tail >= COMPACT_AFTER).then(|| shared::sync::checked_save(&doc)) {
        Some(Err(e)) => {
            tracing::warn!(doc = id, "projection: not compacted: the document {e}");
            None
        }
        s => s.and_then(Result::ok),
    };
    mark(db, id, seq, snapshot).await
}

/// Where a document belongs, for its rows.
struct Place<'a> {
    id: &'a str,
    org: &'a str,
    kind: &'a str,
    district: Option<&'a str>,
    salon: Option<&'a str>,
}

/// Records of the document that cannot be read or break a rule (shared::check), for the
/// office to correct (`proj_problems`; desk.rs `problems`). The unreadable document's
/// own row is written outside the projection's transaction, so it is deleted here too.
async fn problems(
    tx: &mut crate::db::Tx<'_>,
    at: &Place<'_>,
    found: &[shared::check::Problem],
) -> anyhow::Result<()> {
    sqlx::query("DELETE FROM proj_problems WHERE doc_id = $1")
        .bind(at.id.to_string())
        .execute(&mut **tx)
        .await?;
    for p in found {
        sqlx::query(
            "INSERT INTO proj_problems (doc_id, org_id, district_id, salon_id, kind, path, field, rule, message, message_ja) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(at.id.to_string())
        .bind(at.org.to_string())
        .bind(at.district.map(str::to_string))
        .bind(at.salon.map(str::to_string))
        .bind(at.kind.to_string())
        .bind(p.path.join("/"))
        .bind(p.field.clone())
        .bind(p.rule.clone())
        .bind(crate::auth::truncate(&p.message, 500))
        .bind(crate::auth::truncate(&p.message_ja, 500))
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
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

/// The district a person belonged to on `date`: the `from_district` of the earliest move
/// effective after that date, else the current district. `moves` are (effective_on,
/// from_district), oldest first.
pub fn district_on(
    date: Date,
    current: Option<&str>,
    moves: &[(String, Option<String>)],
) -> Option<String> {
    let day = date.to_string();
    moves
        .iter()
        .find(|(effective, _)| effective.as_str() > day.as_str())
        .map_or_else(|| current.map(str::to_string), |(_, from)| from.clone())
}

fn codes<'a, T: 'a>(xs: impl IntoIterator<Item = &'a T>, code: impl Fn(&T) -> &str) -> String {
    xs.into_iter().map(code).collect::<Vec<_>>().join(",")
}

async fn person(
    tx: &mut crate::db::Tx<'_>,
    doc: &Automerge,
    id: &str,
    org: &str,
    district: Option<&str>,
    moves: &[(String, Option<String>)],
) -> anyhow::Result<()> {
    let (p, _) = shared::doc::read::<Person, _>(doc)?;
    let mut contacts: Vec<_> = p.emergency.contacts.values().collect();
    contacts.sort_by(|a, b| (a.order, &a.name).cmp(&(b.order, &b.name)));
    sqlx::query(
        "INSERT INTO proj_people (doc_id, org_id, district_id, name, kana, birth_year, address, phone, household, status, \
         listed, support_needed, helper, shelter, contacts_json, consent_bousai, frequency) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
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
    .bind(p.watch.frequency.code().to_string())
    .execute(&mut **tx)
    .await?;
    for (rid, v) in &p.visits {
        if v.withdrawn {
            continue;
        }
        sqlx::query(
            "INSERT INTO proj_visits (doc_id, record_id, org_id, district_id, date, kind, outcome, condition, followup, visitors, \
             recorded_by, visit_time, recorded_at, next_contact, note, referrals) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
        )
        .bind(id.to_string())
        .bind(rid.clone())
        .bind(org.to_string())
        .bind(district_on(v.date, district, moves))
        .bind(v.date.to_string())
        .bind(v.kind.code().to_string())
        .bind(v.outcome.code().to_string())
        .bind(v.condition.as_ref().map(|c| c.code().to_string()))
        .bind(i64::from(v.followup))
        .bind(v.visitors.join(","))
        .bind(v.recorded_by.clone())
        .bind(v.time.clone())
        .bind(v.recorded_at)
        .bind(v.next_contact.map(|d| d.to_string()))
        .bind(v.note.clone())
        .bind(codes(&v.referrals, |r| r.code()))
        .execute(&mut **tx)
        .await?;
        // Who made the contact: each visitor once; the recorder when none is listed.
        let mut who: std::collections::BTreeSet<&str> = v
            .visitors
            .iter()
            .map(String::as_str)
            .filter(|u| !u.is_empty())
            .collect();
        if who.is_empty() && !v.recorded_by.is_empty() {
            who.insert(v.recorded_by.as_str());
        }
        for u in who {
            sqlx::query(
                "INSERT INTO proj_visit_visitors (doc_id, record_id, user_id, org_id, date) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(id.to_string())
            .bind(rid.clone())
            .bind(u.to_string())
            .bind(org.to_string())
            .bind(v.date.to_string())
            .execute(&mut **tx)
            .await?;
        }
    }
    for (rid, c) in &p.consultations {
        consultation(
            tx,
            id,
            rid,
            org,
            district_on(c.date, district, moves),
            c,
            None,
        )
        .await?;
    }
    // Follow-ups: every visit or consultation that asks for one (flagged, or a つなぎ先
    // given), with what was done if someone recorded it. In the person's current district:
    // the inbox is worked by whoever covers the person now.
    let raised = p
        .visits
        .iter()
        .filter(|(_, v)| v.wants_followup())
        .map(|(k, v)| {
            (
                k,
                "visit",
                v.date,
                &v.followup_what,
                &v.referrals,
                &v.recorded_by,
            )
        })
        .chain(
            p.consultations
                .iter()
                .filter(|(_, c)| c.wants_followup())
                .map(|(k, c)| {
                    (
                        k,
                        "consultation",
                        c.date,
                        &c.followup_what,
                        &c.referrals,
                        &c.recorded_by,
                    )
                }),
        );
    for (source, kind, date, what, referrals, by) in raised {
        let done = p.followups.get(source);
        sqlx::query(
            "INSERT INTO proj_followups (doc_id, source_id, org_id, district_id, raised_on, what, done_on, kind, referrals, recorded_by, done_by) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(id.to_string())
        .bind(source.clone())
        .bind(org.to_string())
        .bind(district.map(str::to_string))
        .bind(date.to_string())
        .bind(what.clone())
        .bind(done.map(|f| f.on.to_string()))
        .bind(kind.to_string())
        .bind(codes(referrals, |r| r.code()))
        .bind(by.clone())
        .bind(done.map(|f| f.by.clone()))
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// One consultation (相談・支援) and its topics. `anonymous_owner`: the activity document's
/// owner, who recorded it (anonymous consultations have no district).
async fn consultation(
    tx: &mut crate::db::Tx<'_>,
    id: &str,
    rid: &str,
    org: &str,
    district: Option<String>,
    c: &shared::model::Consultation,
    anonymous_owner: Option<&str>,
) -> anyhow::Result<()> {
    if c.withdrawn {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO proj_consultations (doc_id, record_id, org_id, district_id, date, field, recorded_by, anonymous, followup, referrals) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(id.to_string())
    .bind(rid.to_string())
    .bind(org.to_string())
    .bind(district)
    .bind(c.date.to_string())
    .bind(c.field.code().to_string())
    .bind(anonymous_owner.map_or_else(|| c.recorded_by.clone(), str::to_string))
    .bind(i64::from(anonymous_owner.is_some()))
    .bind(i64::from(c.followup))
    .bind(codes(&c.referrals, |r| r.code()))
    .execute(&mut **tx)
    .await?;
    let topics: std::collections::BTreeSet<&str> = c.topics.iter().map(|t| t.code()).collect();
    for t in topics {
        sqlx::query(
            "INSERT INTO proj_consultation_topics (doc_id, record_id, topic) VALUES ($1, $2, $3)",
        )
        .bind(id.to_string())
        .bind(rid.to_string())
        .bind(t.to_string())
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// A 民生委員's activity document: other activities and anonymous consultations, counted
/// for its owner (the server's `documents.owner_id`, not what the document says).
async fn activity_rows(
    tx: &mut crate::db::Tx<'_>,
    doc: &Automerge,
    id: &str,
    org: &str,
    owner: &str,
) -> anyhow::Result<()> {
    let (log, _) = shared::doc::read::<ActivityLog, _>(doc)?;
    for (rid, a) in &log.activities {
        if a.withdrawn {
            continue;
        }
        sqlx::query(
            "INSERT INTO proj_activities (doc_id, record_id, org_id, owner_id, date, kind, field, amount) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(id.to_string())
        .bind(rid.clone())
        .bind(org.to_string())
        .bind(owner.to_string())
        .bind(a.date.to_string())
        .bind(a.kind.code().to_string())
        .bind(a.field.as_ref().map(|f| f.code().to_string()))
        // At least one: a record says something happened.
        .bind(i64::from(a.count.clamp(1, shared::validate::MAX_COUNT)))
        .execute(&mut **tx)
        .await?;
    }
    for (rid, c) in &log.consultations {
        consultation(tx, id, rid, org, None, c, Some(owner)).await?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_counts_in_the_district_of_its_own_date() {
        let d = |s: &str| Date::parse(s).unwrap();
        // Moved from A to B on the 15th, then from B to C on the 20th.
        let moves = vec![
            ("2026-04-15".to_string(), Some("A".to_string())),
            ("2026-04-20".to_string(), Some("B".to_string())),
        ];
        let on = |s| district_on(d(s), Some("C"), &moves);
        assert_eq!(on("2026-04-01").as_deref(), Some("A"));
        assert_eq!(on("2026-04-14").as_deref(), Some("A"));
        assert_eq!(on("2026-04-15").as_deref(), Some("B"));
        assert_eq!(on("2026-04-19").as_deref(), Some("B"));
        assert_eq!(on("2026-04-20").as_deref(), Some("C"));
        assert_eq!(
            district_on(d("2026-04-01"), Some("C"), &[]).as_deref(),
            Some("C")
        );
    }
}
