//! Documents: creation with their header and empty collections, and typed reading.

use crate::codes::DocKind;
use crate::crdt::{self, Conflict, CrdtError};
use crate::model::SCHEMA_VERSION;
use automerge::transaction::Transactable;
use automerge::{ROOT, ReadDoc};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// The collections (maps) each kind of document has from its first change. Creating them
/// up front means no two replicas ever race to create them.
fn skeleton(kind: &DocKind) -> Value {
    match kind {
        DocKind::Person => json!({
            "profile": {}, "watch": {}, "emergency": {"contacts": {}}, "evacuation": {}, "consent": {},
            "visits": {}, "consultations": {}, "followups": {}
        }),
        DocKind::Salon => json!({"profile": {}, "members": {}, "sessions": {}}),
        DocKind::Map => json!({"places": {}, "links": {}, "notes": {}}),
        DocKind::Activity => json!({"activities": {}, "consultations": {}}),
        DocKind::Other(_) => json!({}),
    }
}

/// Writes the header and skeleton of a new document of `kind`.
pub fn init<D: Transactable>(tx: &mut D, kind: &DocKind) -> Result<(), CrdtError> {
    tx.put(ROOT, "kind", kind.code())?;
    tx.put(ROOT, "schema", i64::from(SCHEMA_VERSION))?;
    if let Value::Object(fields) = skeleton(kind) {
        for (k, v) in fields {
            crdt::write(tx, &[&k], &v)?;
        }
    }
    Ok(())
}

/// The kind a document says it is (the server's SQL row is the authority; this is for
/// documents read on their own).
pub fn kind_of<D: ReadDoc>(doc: &D) -> Option<DocKind> {
    match doc.get(ROOT, "kind").ok()?? {
        (automerge::Value::Scalar(s), _) => s.as_str().map(DocKind::from_code),
        _ => None,
    }
}

/// Reads the whole document as the record type `T`, with its conflicts.
pub fn read<T: DeserializeOwned, D: ReadDoc>(doc: &D) -> Result<(T, Vec<Conflict>), CrdtError> {
    let (v, conflicts) = crdt::read_doc(doc)?;
    Ok((serde_json::from_value(v)?, conflicts))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Person, Visit};
    use automerge::Automerge;

    #[test]
    fn a_new_person_reads_as_empty_and_takes_a_visit() {
        let mut d = Automerge::new();
        let mut tx = d.transaction();
        init(&mut tx, &DocKind::Person).unwrap();
        crdt::save_at(&mut tx, &["profile", "name"], &"田中 一郎").unwrap();
        let v = Visit {
            date: crate::date::Date::parse("2026-11-20").unwrap(),
            ..Visit::default()
        };
        crdt::save_at(&mut tx, &["visits", "v1"], &v).unwrap();
        tx.commit();
        assert_eq!(kind_of(&d), Some(DocKind::Person));
        let (p, conflicts): (Person, _) = read(&d).unwrap();
        assert!(conflicts.is_empty());
        assert_eq!(p.profile.name, "田中 一郎");
        assert_eq!(p.visits["v1"], v);
    }
}
