//! Mapping between Automerge documents and JSON-shaped values (and through serde, the
//! record types of [`crate::model`]).
//!
//! The rules (docs/data-model.md explains why):
//! - **Maps merge key by key.** When two replicas concurrently create a map at the same
//!   key (two co-leaders open today's session offline), both maps are read as one: the
//!   union of their keys. Nothing entered in either is hidden.
//! - **Scalars, strings and lists are values.** Concurrent writes of different values are
//!   a [`Conflict`]: the read returns Automerge's deterministic winner and reports the
//!   others, so the app can show them and let a person pick.
//! - **Writes are diffs.** Only keys whose value changes produce operations, so a field that
//!   nobody touched stays conflicted until someone resolves it ([`resolve`]).
//! - **Writes never delete keys the new value lacks**, so fields written by a newer app
//!   version survive an edit by an older one. Deletion is explicit ([`delete`]).

use automerge::transaction::Transactable;
use automerge::{ObjId, ObjType, ROOT, ReadDoc, ScalarValue, Value as AmValue};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Number, Value};
use std::collections::BTreeSet;

/// Two or more values written concurrently at one place of a document.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Conflict {
    /// Map keys from the document root to the conflicting field.
    pub path: Vec<String>,
    /// The distinct values; the first is the one currently shown (Automerge's winner).
    pub values: Vec<Value>,
}

impl Conflict {
    /// Whether this conflict lies at or below `prefix`.
    pub fn is_under(&self, prefix: &[&str]) -> bool {
        self.path.len() >= prefix.len() && self.path.iter().zip(prefix).all(|(a, b)| a == b)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CrdtError {
    #[error("automerge: {0}")]
    Automerge(#[from] automerge::AutomergeError),
    #[error("the document does not match the record type: {0}")]
    Shape(#[from] serde_json::Error),
    #[error("the path is empty")]
    EmptyPath,
}

/// One value at a key, tagged with the id of the operation that wrote it.
struct Cand {
    id: ObjId,
    kind: Kind,
}

enum Kind {
    Map,
    List,
    Text,
    Scalar(ScalarValue),
}

impl Cand {
    fn is_map(&self) -> bool {
        matches!(self.kind, Kind::Map)
    }
}

/// Every value at `key` across `objs` (the maps that are read as one), oldest first, so the
/// last is the winner.
fn candidates<D: ReadDoc>(doc: &D, objs: &[ObjId], key: &str) -> Result<Vec<Cand>, CrdtError> {
    let mut out = Vec::new();
    for obj in objs {
        for (value, id) in doc.get_all(obj, key)? {
            out.push(Cand {
                id,
                kind: kind_of(value),
            });
        }
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(out)
}

fn kind_of(value: AmValue<'_>) -> Kind {
    match value {
        AmValue::Object(ObjType::Map | ObjType::Table) => Kind::Map,
        AmValue::Object(ObjType::List) => Kind::List,
        AmValue::Object(ObjType::Text) => Kind::Text,
        AmValue::Scalar(s) => Kind::Scalar(s.into_owned()),
    }
}

fn scalar_to_json(s: &ScalarValue) -> Value {
    match s {
        ScalarValue::Str(s) => Value::String(s.to_string()),
        ScalarValue::Int(i) => Value::from(*i),
        ScalarValue::Uint(u) => Value::from(*u),
        ScalarValue::F64(f) => Number::from_f64(*f).map_or(Value::Null, Value::Number),
        ScalarValue::Counter(c) => Value::from(i64::from(c)),
        ScalarValue::Timestamp(t) => Value::from(*t),
        ScalarValue::Boolean(b) => Value::Bool(*b),
        ScalarValue::Null | ScalarValue::Bytes(_) | ScalarValue::Unknown { .. } => Value::Null,
    }
}

struct Reader<'a, D> {
    doc: &'a D,
    path: Vec<String>,
    conflicts: Option<&'a mut Vec<Conflict>>,
}

impl<D: ReadDoc> Reader<'_, D> {
    fn maps(&mut self, objs: &[ObjId]) -> Result<Value, CrdtError> {
        // One map (the common case): one pass over it, asking for every value of a key only
        // where Automerge says the key is conflicted. Several maps read as one: key by key.
        let single: Option<Vec<(String, Option<Cand>)>> = match objs {
            [obj] => Some(
                self.doc
                    .map_range(obj, ..)
                    .map(|it| {
                        let cand = (!it.conflict).then(|| Cand {
                            id: it.id(),
                            kind: kind_of(it.value.clone().into()),
                        });
                        (it.key.into_owned(), cand)
                    })
                    .collect(),
            ),
            _ => None,
        };
        let entries: Vec<(String, Option<Cand>)> = match single {
            Some(e) => e,
            None => objs
                .iter()
                .flat_map(|o| self.doc.keys(o))
                .collect::<BTreeSet<String>>()
                .into_iter()
                .map(|k| (k, None))
                .collect(),
        };
        let mut out = Map::new();
        for (key, cand) in entries {
            let cands = match cand {
                Some(c) => vec![c],
                None => candidates(self.doc, objs, &key)?,
            };
            self.path.push(key.clone());
            let v = self.cands(&cands)?;
            self.path.pop();
            out.insert(key, v);
        }
        Ok(Value::Object(out))
    }

    fn cands(&mut self, cands: &[Cand]) -> Result<Value, CrdtError> {
        let Some(winner) = cands.last() else {
            return Ok(Value::Null);
        };
        if cands.iter().all(Cand::is_map) {
            let objs: Vec<ObjId> = cands.iter().map(|c| c.id.clone()).collect();
            return self.maps(&objs);
        }
        let value = self.single(winner)?;
        if cands.len() > 1 {
            // Losing values are read without collecting their own nested conflicts.
            let mut values = vec![value.clone()];
            for c in cands.iter().rev().skip(1) {
                let v = Reader {
                    doc: self.doc,
                    path: Vec::new(),
                    conflicts: None,
                }
                .single(c)?;
                if !values.contains(&v) {
                    values.push(v);
                }
            }
            if values.len() > 1
                && let Some(conflicts) = self.conflicts.as_deref_mut()
            {
                conflicts.push(Conflict {
                    path: self.path.clone(),
                    values,
                });
            }
        }
        Ok(value)
    }

    fn single(&mut self, c: &Cand) -> Result<Value, CrdtError> {
        Ok(match &c.kind {
            Kind::Map => self.maps(std::slice::from_ref(&c.id))?,
            Kind::Text => Value::String(self.doc.text(&c.id)?),
            Kind::Scalar(s) => scalar_to_json(s),
            Kind::List => {
                let len = self.doc.length(&c.id);
                let mut out = Vec::with_capacity(len);
                for i in 0..len {
                    // Elements are part of the list's value: the winner at each index.
                    let v = match self.doc.get(&c.id, i)? {
                        Some((v, id)) => {
                            let el = Cand {
                                id,
                                kind: kind_of(v),
                            };
                            Reader {
                                doc: self.doc,
                                path: Vec::new(),
                                conflicts: None,
                            }
                            .single(&el)?
                        }
                        None => Value::Null,
                    };
                    out.push(v);
                }
                Value::Array(out)
            }
        })
    }
}

/// The maps at `path` (all of them, when concurrent creation left several), or `None`
/// when something on the path is not a map.
fn maps_at<D: ReadDoc>(doc: &D, path: &[&str]) -> Result<Option<Vec<ObjId>>, CrdtError> {
    let mut objs = vec![ROOT];
    for key in path {
        let cands = candidates(doc, &objs, key)?;
        if cands.is_empty() || !cands.iter().all(Cand::is_map) {
            return Ok(None);
        }
        objs = cands.into_iter().map(|c| c.id).collect();
    }
    Ok(Some(objs))
}

/// Reads the whole document as one JSON object, with every conflict in it.
pub fn read_doc<D: ReadDoc>(doc: &D) -> Result<(Value, Vec<Conflict>), CrdtError> {
    let mut conflicts = Vec::new();
    let v = Reader {
        doc,
        path: Vec::new(),
        conflicts: Some(&mut conflicts),
    }
    .maps(&[ROOT])?;
    Ok((v, conflicts))
}

/// Reads the value at `path` (`None` if absent), with the conflicts at or below it.
pub fn read_at<D: ReadDoc>(
    doc: &D,
    path: &[&str],
) -> Result<(Option<Value>, Vec<Conflict>), CrdtError> {
    let Some((last, parent)) = path.split_last() else {
        let (v, c) = read_doc(doc)?;
        return Ok((Some(v), c));
    };
    let Some(objs) = maps_at(doc, parent)? else {
        return Ok((None, Vec::new()));
    };
    let cands = candidates(doc, &objs, last)?;
    if cands.is_empty() {
        return Ok((None, Vec::new()));
    }
    let mut conflicts = Vec::new();
    let mut r = Reader {
        doc,
        path: path.iter().map(|s| s.to_string()).collect(),
        conflicts: Some(&mut conflicts),
    };
    let v = r.cands(&cands)?;
    Ok((Some(v), conflicts))
}

/// Reads the value at `path` into a record type.
pub fn load_at<T: DeserializeOwned, D: ReadDoc>(
    doc: &D,
    path: &[&str],
) -> Result<Option<T>, CrdtError> {
    match read_at(doc, path)?.0 {
        Some(v) => Ok(Some(serde_json::from_value(v)?)),
        None => Ok(None),
    }
}

/// Writes `value` at `path` as a diff against what the document holds (see module docs).
pub fn write<D: Transactable>(doc: &mut D, path: &[&str], value: &Value) -> Result<(), CrdtError> {
    let (last, parent) = path.split_last().ok_or(CrdtError::EmptyPath)?;
    let objs = ensure_maps(doc, parent)?;
    write_key(doc, &objs, last, value, false)
}

/// Serialises a record and writes it at `path` (see [`write`]).
pub fn save_at<T: Serialize, D: Transactable>(
    doc: &mut D,
    path: &[&str],
    value: &T,
) -> Result<(), CrdtError> {
    write(doc, path, &serde_json::to_value(value)?)
}

/// Writes `value` at `path` even where it equals the value shown: this is how a person
/// resolves a conflict (the new write supersedes every value they saw).
pub fn resolve<D: Transactable>(
    doc: &mut D,
    path: &[&str],
    value: &Value,
) -> Result<(), CrdtError> {
    let (last, parent) = path.split_last().ok_or(CrdtError::EmptyPath)?;
    let objs = ensure_maps(doc, parent)?;
    write_key(doc, &objs, last, value, true)
}

/// Deletes the key at `path` from every map it is read from.
pub fn delete<D: Transactable>(doc: &mut D, path: &[&str]) -> Result<(), CrdtError> {
    let (last, parent) = path.split_last().ok_or(CrdtError::EmptyPath)?;
    if let Some(objs) = maps_at(doc, parent)? {
        for obj in &objs {
            if doc.get(obj, *last)?.is_some() {
                doc.delete(obj, *last)?;
            }
        }
    }
    Ok(())
}

/// The maps at `path`, creating missing ones in the winning map of each level.
fn ensure_maps<D: Transactable>(doc: &mut D, path: &[&str]) -> Result<Vec<ObjId>, CrdtError> {
    let mut objs = vec![ROOT];
    for key in path {
        let cands = candidates(doc, &objs, key)?;
        objs = if !cands.is_empty() && cands.iter().all(Cand::is_map) {
            cands.into_iter().map(|c| c.id).collect()
        } else {
            vec![replace(doc, &objs, key, ObjType::Map)?]
        };
    }
    Ok(objs)
}

/// Puts a new object at `key` in the winning map and removes the key from the others, so
/// the new object is the only value read there.
fn replace<D: Transactable>(
    doc: &mut D,
    objs: &[ObjId],
    key: &str,
    ty: ObjType,
) -> Result<ObjId, CrdtError> {
    let (winner, losers) = objs.split_last().expect("at least one map");
    let new = doc.put_object(winner, key, ty)?;
    remove_from(doc, losers, key)?;
    Ok(new)
}

fn remove_from<D: Transactable>(doc: &mut D, objs: &[ObjId], key: &str) -> Result<(), CrdtError> {
    for obj in objs {
        if doc.get(obj, key)?.is_some() {
            doc.delete(obj, key)?;
        }
    }
    Ok(())
}

fn write_key<D: Transactable>(
    doc: &mut D,
    objs: &[ObjId],
    key: &str,
    new: &Value,
    force: bool,
) -> Result<(), CrdtError> {
    let cands = candidates(doc, objs, key)?;
    if let Value::Object(fields) = new {
        let targets = if !force && !cands.is_empty() && cands.iter().all(Cand::is_map) {
            cands.into_iter().map(|c| c.id).collect()
        } else {
            vec![replace(doc, objs, key, ObjType::Map)?]
        };
        for (k, v) in fields {
            write_key(doc, &targets, k, v, force)?;
        }
        return Ok(());
    }
    if !force && !cands.is_empty() {
        let current = Reader {
            doc: &*doc,
            path: Vec::new(),
            conflicts: None,
        }
        .cands(&cands)?;
        if &current == new {
            return Ok(());
        }
    }
    let (winner, losers) = objs.split_last().expect("at least one map");
    put_value(doc, winner, key, new)?;
    remove_from(doc, losers, key)
}

fn to_scalar(v: &Value) -> ScalarValue {
    match v {
        Value::Null => ScalarValue::Null,
        Value::Bool(b) => ScalarValue::Boolean(*b),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => ScalarValue::Int(i),
            (None, Some(u)) => ScalarValue::Uint(u),
            _ => ScalarValue::F64(n.as_f64().unwrap_or(0.0)),
        },
        Value::String(s) => ScalarValue::Str(s.as_str().into()),
        Value::Array(_) | Value::Object(_) => unreachable!("objects are not scalars"),
    }
}

fn put_value<D: Transactable>(
    doc: &mut D,
    obj: &ObjId,
    key: &str,
    v: &Value,
) -> Result<(), CrdtError> {
    match v {
        Value::Array(items) => {
            let list = doc.put_object(obj, key, ObjType::List)?;
            fill_list(doc, &list, items)
        }
        Value::Object(fields) => {
            let map = doc.put_object(obj, key, ObjType::Map)?;
            for (k, v) in fields {
                put_value(doc, &map, k, v)?;
            }
            Ok(())
        }
        scalar => Ok(doc.put(obj, key, to_scalar(scalar))?),
    }
}

fn fill_list<D: Transactable>(doc: &mut D, list: &ObjId, items: &[Value]) -> Result<(), CrdtError> {
    for (i, item) in items.iter().enumerate() {
        match item {
            Value::Array(inner) => {
                let l = doc.insert_object(list, i, ObjType::List)?;
                fill_list(doc, &l, inner)?;
            }
            Value::Object(fields) => {
                let m = doc.insert_object(list, i, ObjType::Map)?;
                for (k, v) in fields {
                    put_value(doc, &m, k, v)?;
                }
            }
            scalar => doc.insert(list, i, to_scalar(scalar))?,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::{ActorId, Automerge};
    use serde_json::json;

    fn doc(actor: u8) -> Automerge {
        Automerge::new().with_actor(ActorId::from(vec![actor; 16]))
    }

    fn edit(d: &mut Automerge, f: impl FnOnce(&mut automerge::transaction::Transaction<'_>)) {
        let mut tx = d.transaction();
        f(&mut tx);
        tx.commit();
    }

    fn merged(a: &Automerge, b: &Automerge) -> Automerge {
        let mut m = a.fork();
        m.merge(&mut b.fork()).unwrap();
        m
    }

    #[test]
    fn round_trip_of_nested_values() {
        let mut d = doc(1);
        let v = json!({"name": "山田 花子", "age": 82, "lat": 35.5, "ok": true, "none": null,
                       "tags": ["体調", "食事"], "card": {"contacts": {"c1": {"phone": "090"}}}});
        edit(&mut d, |tx| write(tx, &["person"], &v).unwrap());
        let (got, conflicts) = read_at(&d, &["person"]).unwrap();
        assert_eq!(got.unwrap(), v);
        assert!(conflicts.is_empty());
    }

    #[test]
    fn an_unchanged_write_makes_no_change() {
        let mut d = doc(1);
        let v = json!({"a": 1, "b": {"c": "x"}, "l": [1, 2]});
        edit(&mut d, |tx| write(tx, &["r"], &v).unwrap());
        let heads = d.get_heads();
        let mut tx = d.transaction();
        write(&mut tx, &["r"], &v).unwrap();
        assert_eq!(tx.pending_ops(), 0);
        tx.rollback();
        assert_eq!(d.get_heads(), heads);
    }

    #[test]
    fn concurrently_created_maps_are_read_as_one() {
        let mut a = doc(1);
        edit(&mut a, |tx| write(tx, &["sessions"], &json!({})).unwrap());
        let mut b = a.fork().with_actor(ActorId::from(vec![2; 16]));
        edit(&mut a, |tx| {
            write(
                tx,
                &["sessions", "2026-11-23"],
                &json!({"att": {"m1": "present"}}),
            )
            .unwrap()
        });
        edit(&mut b, |tx| {
            write(
                tx,
                &["sessions", "2026-11-23"],
                &json!({"att": {"m2": "absent"}}),
            )
            .unwrap()
        });
        let m = merged(&a, &b);
        let (v, conflicts) = read_at(&m, &["sessions", "2026-11-23", "att"]).unwrap();
        assert_eq!(v.unwrap(), json!({"m1": "present", "m2": "absent"}));
        assert!(conflicts.is_empty());
        // Both orders of merging read the same.
        assert_eq!(read_doc(&m).unwrap(), read_doc(&merged(&b, &a)).unwrap());
    }

    #[test]
    fn concurrent_different_values_are_a_conflict_until_resolved() {
        let mut a = doc(1);
        edit(&mut a, |tx| {
            write(tx, &["att"], &json!({"m1": "absent", "note": ""})).unwrap()
        });
        let mut b = a.fork().with_actor(ActorId::from(vec![2; 16]));
        edit(&mut a, |tx| {
            write(tx, &["att", "m1"], &json!("present")).unwrap()
        });
        edit(&mut b, |tx| {
            write(tx, &["att", "m1"], &json!("absent_reported")).unwrap()
        });
        let mut m = merged(&a, &b);
        let (_, conflicts) = read_doc(&m).unwrap();
        assert_eq!(conflicts.len(), 1);
        assert_eq!(conflicts[0].path, vec!["att", "m1"]);
        assert_eq!(conflicts[0].values.len(), 2);

        // An edit of another field keeps the conflict.
        let shown = read_at(&m, &["att"]).unwrap().0.unwrap();
        let mut edited = shown.clone();
        edited["note"] = json!("雨");
        edit(&mut m, |tx| write(tx, &["att"], &edited).unwrap());
        assert_eq!(read_doc(&m).unwrap().1.len(), 1);

        // Resolving picks one value, even the one already shown.
        let winner = conflicts[0].values[0].clone();
        edit(&mut m, |tx| resolve(tx, &["att", "m1"], &winner).unwrap());
        let (v, conflicts) = read_doc(&m).unwrap();
        assert!(conflicts.is_empty());
        assert_eq!(v["att"]["m1"], winner);
        assert_eq!(v["att"]["note"], json!("雨"));
    }

    #[test]
    fn same_value_twice_is_no_conflict() {
        let mut a = doc(1);
        edit(&mut a, |tx| write(tx, &["att"], &json!({})).unwrap());
        let mut b = a.fork().with_actor(ActorId::from(vec![2; 16]));
        edit(&mut a, |tx| {
            write(tx, &["att", "m1"], &json!("present")).unwrap()
        });
        edit(&mut b, |tx| {
            write(tx, &["att", "m1"], &json!("present")).unwrap()
        });
        assert!(read_doc(&merged(&a, &b)).unwrap().1.is_empty());
    }

    #[test]
    fn a_write_into_merged_maps_leaves_no_false_conflict() {
        let mut a = doc(1);
        edit(&mut a, |tx| write(tx, &["s"], &json!({})).unwrap());
        let mut b = a.fork().with_actor(ActorId::from(vec![2; 16]));
        edit(&mut a, |tx| {
            write(tx, &["s", "d"], &json!({"m1": "present"})).unwrap()
        });
        edit(&mut b, |tx| {
            write(tx, &["s", "d"], &json!({"m2": "absent"})).unwrap()
        });
        let mut m = merged(&a, &b);
        // Someone who saw both now changes m2.
        edit(&mut m, |tx| {
            write(tx, &["s", "d", "m2"], &json!("present")).unwrap()
        });
        let (v, conflicts) = read_doc(&m).unwrap();
        assert!(conflicts.is_empty(), "{conflicts:?}");
        assert_eq!(v["s"]["d"], json!({"m1": "present", "m2": "present"}));
    }

    #[test]
    fn fields_unknown_to_the_writer_survive() {
        let mut d = doc(1);
        edit(&mut d, |tx| {
            write(tx, &["p"], &json!({"name": "a", "future_field": 7})).unwrap()
        });
        edit(&mut d, |tx| {
            write(tx, &["p"], &json!({"name": "b"})).unwrap()
        });
        assert_eq!(
            read_at(&d, &["p"]).unwrap().0.unwrap(),
            json!({"name": "b", "future_field": 7})
        );
        edit(&mut d, |tx| delete(tx, &["p", "future_field"]).unwrap());
        assert_eq!(
            read_at(&d, &["p"]).unwrap().0.unwrap(),
            json!({"name": "b"})
        );
    }

    #[test]
    fn missing_paths_read_as_none() {
        let d = doc(1);
        assert_eq!(read_at(&d, &["a", "b"]).unwrap().0, None);
        assert_eq!(load_at::<String, _>(&d, &["x"]).unwrap(), None);
    }
}
