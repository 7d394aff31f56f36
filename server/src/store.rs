//! Documents in SQL: append-only change rows numbered in the organisation's sequence, a
//! snapshot compacted from them, and loading a document back.

use crate::db::{Db, Tx, now_ms};
use automerge::{Automerge, Change};
use sqlx::Row;

/// Locks the organisation's sequence for this transaction and returns its value. Every
/// writer takes this lock first, so sequence numbers are handed out in commit order and a
/// reader that sees the counter at `n` sees every row numbered up to `n`.
pub async fn lock_seq(tx: &mut Tx<'_>, org: &str) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "UPDATE organisations SET change_seq = change_seq WHERE id = $1 RETURNING change_seq",
    )
    .bind(org.to_string())
    .fetch_one(&mut **tx)
    .await
}

pub async fn set_seq(tx: &mut Tx<'_>, org: &str, seq: i64) -> sqlx::Result<()> {
    sqlx::query("UPDATE organisations SET change_seq = $1 WHERE id = $2")
        .bind(seq)
        .bind(org.to_string())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

pub async fn current_seq(db: &Db, org: &str) -> sqlx::Result<i64> {
    sqlx::query_scalar("SELECT change_seq FROM organisations WHERE id = $1")
        .bind(org.to_string())
        .fetch_one(db)
        .await
}

/// Where a new document goes.
#[derive(Debug, Clone, Default)]
pub struct NewRow<'a> {
    pub id: &'a str,
    pub org: &'a str,
    pub kind: &'a str,
    pub district: Option<&'a str>,
    pub salon: Option<&'a str>,
    pub owner: Option<&'a str>,
    pub created_by: Option<&'a str>,
}

/// Inserts the document's row unless it exists. Returns whether it was new.
pub async fn insert_doc(tx: &mut Tx<'_>, r: &NewRow<'_>) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "INSERT INTO documents (id, org_id, kind, district_id, salon_id, owner_id, created_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING",
    )
    .bind(r.id.to_string())
    .bind(r.org.to_string())
    .bind(r.kind.to_string())
    .bind(r.district.map(str::to_string))
    .bind(r.salon.map(str::to_string))
    .bind(r.owner.map(str::to_string))
    .bind(r.created_by.map(str::to_string))
    .bind(now_ms())
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Appends changes to a document, numbering them from `next_seq`. A change already stored
/// (same hash) is skipped, so a retried request stores nothing twice. Returns the next
/// free sequence number and how many changes were new.
pub async fn append(
    tx: &mut Tx<'_>,
    org: &str,
    doc: &str,
    device: Option<&str>,
    changes: &[(String, &[u8])],
    mut next_seq: i64,
) -> sqlx::Result<(i64, usize)> {
    let now = now_ms();
    let mut new = 0;
    let mut last = None;
    for (hash, bytes) in changes {
        let r = sqlx::query(
            "INSERT INTO changes (org_id, seq, doc_id, hash, bytes, device_id, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (doc_id, hash) DO NOTHING",
        )
        .bind(org.to_string())
        .bind(next_seq)
        .bind(doc.to_string())
        .bind(hash.clone())
        .bind(bytes.to_vec())
        .bind(device.map(str::to_string))
        .bind(now)
        .execute(&mut **tx)
        .await?;
        if r.rows_affected() == 1 {
            new += 1;
            last = Some(next_seq);
            next_seq += 1;
        }
    }
    if let Some(last) = last {
        sqlx::query("UPDATE documents SET last_seq = $1 WHERE id = $2")
            .bind(last)
            .bind(doc.to_string())
            .execute(&mut **tx)
            .await?;
    }
    Ok((next_seq, new))
}

/// Appends server-made changes under their own lock of the sequence. Returns how many
/// were new.
pub async fn append_locked(
    tx: &mut Tx<'_>,
    org: &str,
    doc: &str,
    changes: &[Change],
) -> sqlx::Result<usize> {
    let next = lock_seq(tx, org).await? + 1;
    let list: Vec<(String, &[u8])> = changes
        .iter()
        .map(|c| (hash_of(c), c.raw_bytes()))
        .collect();
    let (next, n) = append(tx, org, doc, None, &list, next).await?;
    set_seq(tx, org, next - 1).await?;
    Ok(n)
}

/// A document as stored: its snapshot (if any) and the changes after it, in order.
pub struct Stored {
    pub snapshot: Option<Vec<u8>>,
    pub tail: Vec<Vec<u8>>,
    /// The highest sequence number included.
    pub seq: i64,
}

impl Stored {
    pub fn chunks(self) -> Vec<Vec<u8>> {
        self.snapshot.into_iter().chain(self.tail).collect()
    }

    pub fn load(&self) -> anyhow::Result<Automerge> {
        let mut doc = match &self.snapshot {
            Some(s) if !shared::sync::known_chunks(s) => {
                anyhow::bail!("the stored snapshot is not an Automerge document")
            }
            Some(s) => Automerge::load(s)?,
            None => Automerge::new(),
        };
        let changes = self
            .tail
            .iter()
            .map(|b| Change::try_from(b.as_slice()))
            .collect::<Result<Vec<_>, _>>()?;
        // Guarded: a change Automerge panics on is an error, not a panic in every reader.
        shared::sync::apply_untrusted(&mut doc, changes).map_err(anyhow::Error::msg)?;
        Ok(doc)
    }
}

/// Reads a document's stored state (on a pool connection or inside a transaction).
pub async fn stored(conn: &mut sqlx::AnyConnection, doc: &str) -> sqlx::Result<Stored> {
    let row = sqlx::query("SELECT snapshot, snapshot_seq FROM documents WHERE id = $1")
        .bind(doc.to_string())
        .fetch_one(&mut *conn)
        .await?;
    let snapshot: Option<Vec<u8>> = row.get(0);
    let snapshot_seq: i64 = row.get(1);
    let rows =
        sqlx::query("SELECT seq, bytes FROM changes WHERE doc_id = $1 AND seq > $2 ORDER BY seq")
            .bind(doc.to_string())
            .bind(snapshot_seq)
            .fetch_all(&mut *conn)
            .await?;
    let seq = rows
        .last()
        .map(|r| r.get::<i64, _>(0))
        .unwrap_or(snapshot_seq);
    Ok(Stored {
        snapshot,
        tail: rows.iter().map(|r| r.get::<Vec<u8>, _>(1)).collect(),
        seq,
    })
}

/// Hex hash of a change.
pub fn hash_of(c: &Change) -> String {
    c.hash().to_string()
}

/// A new document made on the server (salon and map documents): its first change, with
/// the header and skeleton every replica expects.
pub fn genesis(kind: &shared::codes::DocKind) -> anyhow::Result<Vec<Change>> {
    let mut doc = Automerge::new();
    let mut tx = doc.transaction();
    shared::doc::init(&mut tx, kind)?;
    tx.commit();
    Ok(doc.get_changes(&[]))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// fuzz/regressions/sync_binary-unknown-actor.bin: a stored change Automerge 0.12
    /// panics on. Loading the document is an error, not a panic in every reader.
    #[test]
    fn a_poisoned_change_makes_load_an_error() {
        let bytes = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../fuzz/regressions/sync_binary-unknown-actor.bin"
        ))
        .unwrap();
        let stored = Stored {
            snapshot: None,
            tail: vec![bytes[1..].to_vec()],
            seq: 1,
        };
        assert!(stored.load().is_err());
    }
}
