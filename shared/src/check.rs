//! Records checked at the door: what a change does to the records of a document, read
//! strictly with the model's types and judged with the same validation the app runs
//! before it saves (`model.rs`, `validate.rs`).
//!
//! The model reads leniently on purpose (a collection skips an entry it cannot read, a
//! missing field takes its default), so that a phone never fails on an older or foreign
//! document. The price is that an unreadable entry — a visit whose `recorded_at` is text,
//! a number written as a map — would simply vanish from every list and report. So the
//! server reads each record a change touches *strictly* and refuses a change that leaves
//! a record it cannot read, or one that breaks a rule it did not break before
//! ([`new_problems`]). Records stored before these checks that fail them are listed by
//! [`problems`] for the office to correct, never dropped silently.
//!
//! Which parts of each kind of document are records, and their fields, are published as
//! a JSON Schema (docs/schema/records.schema.json, generated from the model by [`schema`];
//! `MIMAMORI_WRITE_SCHEMA=1 cargo test -p server --test schema` rewrites the file).

use crate::Date;
use crate::codes::DocKind;
use crate::i18n::{Lang, Msg};
use crate::model::*;
use crate::validate::FieldError;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One record that cannot be read, or breaks a rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// Where the record is in the document: `["visits", "<id>"]`, `["profile"]`.
    pub path: Vec<String>,
    /// The field at fault; empty when the record as a whole cannot be read.
    pub field: String,
    /// `type` (cannot be read as its type) or the validation rule (`future_date`,
    /// `too_long`, `required`, … — the snake-case name of the catalogue message).
    pub rule: String,
    /// What is wrong, in English.
    pub message: String,
    /// What is wrong, in Japanese (for the office's list).
    #[serde(default)]
    pub message_ja: String,
}

/// How each kind of document is made of records.
#[derive(Clone, Copy)]
enum Part {
    /// One record at this path.
    One(&'static [&'static str], Judge),
    /// A map of records (keyed by id) at this path.
    Many(&'static [&'static str], Judge),
}

/// Reads one record strictly and applies its rules: the problems found.
type Judge = fn(&Value, &Ctx) -> Vec<Found>;

/// A problem of one record: field, rule, English and Japanese text.
type Found = (String, String, String, String);

/// What a record's rules may look at besides the record.
struct Ctx {
    today: Date,
    /// The whole document, for rules that span records (a map link's places).
    root: Value,
}

fn parts(kind: &DocKind) -> &'static [Part] {
    use Part::*;
    match kind {
        DocKind::Person => &[
            One(&["profile"], judge::<Profile>),
            One(&["watch"], judge::<WatchPlan>),
            One(&["emergency"], judge::<EmergencyCard>),
            Many(&["emergency", "contacts"], judge::<EmergencyContact>),
            One(&["evacuation"], judge::<Evacuation>),
            One(&["consent"], judge::<Consent>),
            Many(&["visits"], judge::<Visit>),
            Many(&["consultations"], judge::<Consultation>),
            Many(&["followups"], judge::<FollowupDone>),
        ],
        DocKind::Salon => &[
            One(&["profile"], judge::<SalonProfile>),
            Many(&["members"], judge::<Member>),
            Many(&["sessions"], judge::<Session>),
        ],
        DocKind::Map => &[
            Many(&["places"], judge::<Place>),
            Many(&["links"], judge::<Link>),
            Many(&["notes"], judge::<MapNote>),
        ],
        DocKind::Activity => &[
            Many(&["activities"], judge::<Activity>),
            Many(&["consultations"], judge::<Consultation>),
        ],
        DocKind::Other(_) => &[],
    }
}

/// A record type and its rules, as the door applies them.
pub trait Record: DeserializeOwned {
    fn rules(&self, _today: Date, _root: &Value) -> Result<(), Vec<FieldError>> {
        Ok(())
    }
}

macro_rules! dated {
    ($($t:ty),*) => {$(
        impl Record for $t {
            fn rules(&self, today: Date, _root: &Value) -> Result<(), Vec<FieldError>> {
                self.validate(today)
            }
        }
    )*};
}
dated!(
    Profile,
    Consent,
    Visit,
    Consultation,
    Session,
    MapNote,
    Activity
);

macro_rules! undated {
    ($($t:ty),*) => {$(
        impl Record for $t {
            fn rules(&self, _today: Date, _root: &Value) -> Result<(), Vec<FieldError>> {
                self.validate()
            }
        }
    )*};
}
undated!(Member, Place);

impl Record for Link {
    fn rules(&self, _today: Date, root: &Value) -> Result<(), Vec<FieldError>> {
        let map: SupportMap = serde_json::from_value(root.clone()).unwrap_or_default();
        self.validate(&map)
    }
}

impl Record for EmergencyContact {
    fn rules(&self, _today: Date, _root: &Value) -> Result<(), Vec<FieldError>> {
        let mut c = crate::validate::Check::default();
        c.max_len("name", &self.name, 100)
            .max_len("relation", &self.relation, 100)
            .phone("phone", &self.phone);
        c.finish()
    }
}

impl Record for WatchPlan {}
impl Record for EmergencyCard {}
impl Record for Evacuation {}
impl Record for FollowupDone {}
impl Record for SalonProfile {}

fn judge<T: Record>(v: &Value, ctx: &Ctx) -> Vec<Found> {
    match serde_json::from_value::<T>(v.clone()) {
        Err(e) => {
            let fields = unreadable_fields::<T>(v);
            if fields.is_empty() {
                vec![unreadable(format!("cannot be read: {e}"))]
            } else {
                fields
            }
        }
        Ok(r) => match r.rules(ctx.today, &ctx.root) {
            Ok(()) => Vec::new(),
            Err(errs) => errs
                .iter()
                .map(|e| {
                    (
                        e.field.clone(),
                        rule_name(e.msg),
                        e.text(Lang::En),
                        e.text(Lang::Ja),
                    )
                })
                .collect(),
        },
    }
}

/// The fields that make a record unreadable, each named: a field is at fault when the
/// record made of it alone (every other field at its default) cannot be read. Empty when
/// the record is not a map, or its type cannot be read from defaults alone.
fn unreadable_fields<T: DeserializeOwned>(v: &Value) -> Vec<Found> {
    let Some(map) = v.as_object() else {
        return Vec::new();
    };
    if serde_json::from_value::<T>(Value::Object(Default::default())).is_err() {
        return Vec::new();
    }
    map.iter()
        .filter_map(|(k, x)| {
            let alone = Value::Object([(k.clone(), x.clone())].into_iter().collect());
            serde_json::from_value::<T>(alone).err().map(|e| {
                let mut f = unreadable(format!("`{k}` cannot be read: {e}"));
                f.0 = k.clone();
                f
            })
        })
        .collect()
}

/// A record (or a whole document) that cannot be read as its type.
fn unreadable(message: String) -> Found {
    (
        String::new(),
        "type".into(),
        message,
        Msg::RecordUnreadable.text(Lang::Ja).into(),
    )
}

/// The catalogue message's name in snake case: `FutureDate` → `future_date`.
pub fn rule_name(msg: Msg) -> String {
    let mut out = String::new();
    for (i, c) in format!("{msg:?}").chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

fn at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |v, k| v.get(k))
}

fn problem(path: Vec<String>, (field, rule, message, message_ja): Found) -> Problem {
    Problem {
        path,
        field,
        rule,
        message,
        message_ja,
    }
}

/// Every problem of one part, keyed by the record's path.
fn part_problems(
    part: Part,
    doc: &Value,
    ctx: &Ctx,
    changed: impl Fn(&[String]) -> bool,
) -> Vec<Problem> {
    let (path, judge, many) = match part {
        Part::One(p, j) => (p, j, false),
        Part::Many(p, j) => (p, j, true),
    };
    let owned = |extra: Option<&str>| -> Vec<String> {
        path.iter()
            .map(|s| s.to_string())
            .chain(extra.map(str::to_string))
            .collect()
    };
    let Some(v) = at(doc, path) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    match (many, v) {
        (_, Value::Null) => {}
        (true, Value::Object(records)) => {
            for (id, r) in records {
                let p = owned(Some(id));
                if changed(&p) {
                    out.extend(judge(r, ctx).into_iter().map(|x| problem(p.clone(), x)));
                }
            }
        }
        // The skeleton's empty section (doc::init): nothing entered yet.
        (false, Value::Object(fields)) if fields.is_empty() => {}
        (false, Value::Object(_)) => {
            let p = owned(None);
            if changed(&p) {
                out.extend(judge(v, ctx).into_iter().map(|x| problem(p.clone(), x)));
            }
        }
        (_, _) => {
            let p = owned(None);
            if changed(&p) {
                out.push(problem(
                    p,
                    unreadable("must be a map (an Automerge map object)".into()),
                ));
            }
        }
    }
    out
}

fn all(
    kind: &DocKind,
    doc: &Value,
    today: Date,
    changed: impl Fn(&[String]) -> bool,
) -> Vec<Problem> {
    let ctx = Ctx {
        today,
        root: doc.clone(),
    };
    parts(kind)
        .iter()
        .flat_map(|p| part_problems(*p, doc, &ctx, &changed))
        .collect()
}

/// Every record of a document (read with `crdt::read_doc`) that cannot be read or breaks
/// a rule as of `today`: what the office must correct.
pub fn problems(kind: &DocKind, doc: &Value, today: Date) -> Vec<Problem> {
    all(kind, doc, today, |_| true)
}

/// The problems a change brought: records of `after` that differ from `before` and have a
/// problem (the same field and rule) they did not have before. A record that was already
/// wrong may still be corrected, withdrawn or annotated.
pub fn new_problems(kind: &DocKind, before: &Value, after: &Value, today: Date) -> Vec<Problem> {
    let differs = |p: &[String]| {
        let keys: Vec<&str> = p.iter().map(String::as_str).collect();
        at(before, &keys) != at(after, &keys)
    };
    let old = all(kind, before, today, &differs);
    all(kind, after, today, &differs)
        .into_iter()
        .filter(|p| {
            !old.iter()
                .any(|o| o.path == p.path && o.field == p.field && o.rule == p.rule)
        })
        .collect()
}

/// A document that cannot be loaded or read at all, as the office's list shows it.
pub fn unreadable_document(why: &str) -> Problem {
    problem(
        Vec::new(),
        unreadable(format!("the document cannot be read: {why}")),
    )
}

/// A document's records as the door reads them (`crdt::read_doc`; conflicts resolved as
/// every reader resolves them). A document that cannot be read at all reads as `null`,
/// whose every record then counts as changed.
pub fn read<D: automerge::ReadDoc>(doc: &D) -> Value {
    crate::crdt::read_doc(doc).map_or(Value::Null, |(v, _)| v)
}

/// Every rule of every record type, as published in the schema (`x-rules`): the type,
/// the field, the rule (its catalogue message) and what it asks. The rules themselves are
/// the model's `validate` functions; a test checks that each rule they report is listed.
pub const RULES: &[(&str, &str, Msg, &str)] = &[
    ("Profile", "name", Msg::Required, "not empty"),
    ("Profile", "name", Msg::TooLong, "at most 100 characters"),
    ("Profile", "kana", Msg::TooLong, "at most 100 characters"),
    ("Profile", "address", Msg::TooLong, "at most 200 characters"),
    (
        "Profile",
        "phone",
        Msg::BadPhone,
        "digits, '-', ' ', '(', ')', '+' only; at most 20",
    ),
    ("Profile", "note", Msg::TooLong, "at most 2000 characters"),
    (
        "Profile",
        "birth_year",
        Msg::BadYear,
        "from 1900 to the current year",
    ),
    (
        "EmergencyContact",
        "name",
        Msg::TooLong,
        "at most 100 characters",
    ),
    (
        "EmergencyContact",
        "relation",
        Msg::TooLong,
        "at most 100 characters",
    ),
    (
        "EmergencyContact",
        "phone",
        Msg::BadPhone,
        "digits, '-', ' ', '(', ')', '+' only; at most 20",
    ),
    (
        "Consent",
        "date",
        Msg::FutureDate,
        "not after today (Japan; the server allows one day for clocks)",
    ),
    ("Consent", "date", Msg::TooOld, "not before 2000"),
    ("Consent", "note", Msg::TooLong, "at most 2000 characters"),
    (
        "Visit",
        "date",
        Msg::FutureDate,
        "not after today (Japan; the server allows one day for clocks)",
    ),
    ("Visit", "date", Msg::TooOld, "not before 2000"),
    ("Visit", "time", Msg::BadTime, "empty or HH:MM"),
    ("Visit", "note", Msg::TooLong, "at most 2000 characters"),
    (
        "Visit",
        "followup_what",
        Msg::TooLong,
        "at most 400 characters",
    ),
    (
        "Visit",
        "followup_what",
        Msg::FollowupWhat,
        "not empty when followup is true and no referral is given",
    ),
    ("Visit", "next_contact", Msg::NextBeforeDate, "after date"),
    (
        "Consultation",
        "date",
        Msg::FutureDate,
        "not after today (Japan; the server allows one day for clocks)",
    ),
    ("Consultation", "date", Msg::TooOld, "not before 2000"),
    (
        "Consultation",
        "topics",
        Msg::ChooseOne,
        "at least one topic",
    ),
    (
        "Consultation",
        "summary",
        Msg::TooLong,
        "at most 2000 characters",
    ),
    (
        "Consultation",
        "action",
        Msg::TooLong,
        "at most 2000 characters",
    ),
    (
        "Consultation",
        "followup_what",
        Msg::TooLong,
        "at most 400 characters",
    ),
    (
        "Consultation",
        "followup_what",
        Msg::FollowupWhat,
        "not empty when followup is true and no referral is given",
    ),
    ("Member", "name", Msg::Required, "not empty"),
    ("Member", "name", Msg::TooLong, "at most 100 characters"),
    ("Member", "kana", Msg::TooLong, "at most 100 characters"),
    ("Member", "area", Msg::TooLong, "at most 200 characters"),
    ("Member", "note", Msg::TooLong, "at most 2000 characters"),
    (
        "Session",
        "date",
        Msg::FutureDate,
        "not after today (Japan; the server allows one day for clocks)",
    ),
    ("Session", "date", Msg::TooOld, "not before 2000"),
    ("Session", "guests", Msg::BadCount, "0 to 999"),
    ("Session", "helpers", Msg::BadCount, "0 to 999"),
    (
        "Session",
        "guest_names",
        Msg::TooLong,
        "at most 400 characters",
    ),
    (
        "Session",
        "helper_names",
        Msg::TooLong,
        "at most 400 characters",
    ),
    ("Session", "note", Msg::TooLong, "at most 2000 characters"),
    ("Place", "label", Msg::Required, "not empty"),
    ("Place", "label", Msg::TooLong, "at most 100 characters"),
    ("Place", "note", Msg::TooLong, "at most 2000 characters"),
    (
        "Place",
        "position",
        Msg::BadPosition,
        "lat 20 to 46 and lng 122 to 154 (Japan)",
    ),
    ("Link", "to", Msg::SamePlace, "from and to differ"),
    (
        "Link",
        "from",
        Msg::UnknownPlace,
        "a place of this map, not removed",
    ),
    (
        "Link",
        "to",
        Msg::UnknownPlace,
        "a place of this map, not removed",
    ),
    ("Link", "note", Msg::TooLong, "at most 2000 characters"),
    (
        "MapNote",
        "date",
        Msg::FutureDate,
        "not after today (Japan; the server allows one day for clocks)",
    ),
    ("MapNote", "date", Msg::TooOld, "not before 2000"),
    ("MapNote", "text", Msg::Required, "not empty"),
    ("MapNote", "text", Msg::TooLong, "at most 2000 characters"),
    (
        "Activity",
        "date",
        Msg::FutureDate,
        "not after today (Japan; the server allows one day for clocks)",
    ),
    ("Activity", "date", Msg::TooOld, "not before 2000"),
    ("Activity", "count", Msg::BadCount, "1 to 999"),
    ("Activity", "note", Msg::TooLong, "at most 2000 characters"),
];

/// The published record schemas: a JSON Schema (draft 2020-12) generated from the model,
/// with where each kind of document keeps its records (`x-documents`, `x-records`) and
/// each record type's rules (`x-rules`). docs/schema/records.schema.json is this, and a
/// test keeps it so.
#[cfg(feature = "schema")]
pub fn schema() -> Value {
    use schemars::generate::SchemaSettings;
    let mut g = SchemaSettings::draft2020_12().into_generator();
    let roots = [
        (DocKind::Person, g.subschema_for::<Person>()),
        (DocKind::Salon, g.subschema_for::<Salon>()),
        (DocKind::Map, g.subschema_for::<SupportMap>()),
        (DocKind::Activity, g.subschema_for::<ActivityLog>()),
    ];
    let mut defs = g.take_definitions(true);
    for (ty, field, msg, asks) in RULES {
        if let Some(Value::Object(d)) = defs.get_mut(*ty) {
            let rules = d
                .entry("x-rules")
                .or_insert_with(|| Value::Array(Vec::new()));
            if let Value::Array(list) = rules {
                list.push(serde_json::json!({
                    "field": field, "rule": rule_name(*msg), "asks": asks,
                    "message": msg.text(Lang::En), "message_ja": msg.text(Lang::Ja),
                }));
            }
        }
    }
    let mut documents = serde_json::Map::new();
    for (kind, root) in roots {
        let records: Vec<Value> = parts(&kind)
            .iter()
            .map(|p| match p {
                Part::One(path, _) => serde_json::json!({"path": path, "many": false}),
                Part::Many(path, _) => serde_json::json!({"path": path, "many": true}),
            })
            .collect();
        documents.insert(
            kind.code().to_string(),
            serde_json::json!({"root": root, "x-records": records}),
        );
    }
    serde_json::json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Mimamori record documents",
        "description": concat!(
            "Each kind of Automerge document (x-documents) and its records, as the server reads them ",
            "(docs/data-model.md). JSON types map to Automerge values: object = map object, ",
            "array = list object, string = str scalar (or text object), integer = int scalar, ",
            "number = f64 scalar, boolean = boolean scalar, null = null scalar or absent. ",
            "A missing field takes its default. x-records lists where records sit: many = a map of ",
            "records keyed by id. A change that leaves a record unreadable as its type (rule `type`), ",
            "or breaking one of its x-rules that it did not break before, is refused with 422 ",
            "invalid_record (docs/sync-protocol.md)."
        ),
        "x-documents": documents,
        "$defs": defs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn today() -> Date {
        Date::parse("2026-11-23").unwrap()
    }

    fn person(visits: Value) -> Value {
        json!({"kind": "person", "schema": 1, "profile": {"name": "佐藤"}, "visits": visits})
    }

    #[test]
    fn a_visit_with_text_for_a_number_is_a_type_problem() {
        let before = person(json!({}));
        let after = person(json!({"v1": {"date": "2026-11-20", "recorded_at": "yesterday"}}));
        let p = new_problems(&DocKind::Person, &before, &after, today());
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].path, ["visits", "v1"]);
        assert_eq!(p[0].rule, "type");
        assert_eq!(
            p[0].field, "recorded_at",
            "the field at fault is named: {p:?}"
        );
        assert!(p[0].message.contains("recorded_at"), "{p:?}");
    }

    #[test]
    fn a_record_that_is_not_a_map_is_unreadable_as_a_whole() {
        let before = person(json!({}));
        let after = person(json!({"v1": 42}));
        let p = new_problems(&DocKind::Person, &before, &after, today());
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!((p[0].field.as_str(), p[0].rule.as_str()), ("", "type"));
    }

    #[test]
    fn a_future_date_and_a_long_note_are_named_by_field_and_rule() {
        let before = person(json!({}));
        let after = person(json!({
            "v1": {"date": "2027-11-20", "note": "あ".repeat(10_000), "recorded_at": 1}
        }));
        let p = new_problems(&DocKind::Person, &before, &after, today());
        let got: Vec<(&str, &str)> = p
            .iter()
            .map(|p| (p.field.as_str(), p.rule.as_str()))
            .collect();
        assert_eq!(got, [("date", "future_date"), ("note", "too_long")]);
    }

    #[test]
    fn a_collection_that_is_not_a_map_is_refused() {
        let before = person(json!({}));
        let after = person(json!("not a map"));
        let p = new_problems(&DocKind::Person, &before, &after, today());
        assert_eq!(
            (p[0].path.clone(), p[0].rule.as_str()),
            (vec!["visits".to_string()], "type")
        );
    }

    #[test]
    fn a_record_already_wrong_may_still_be_withdrawn_and_untouched_ones_are_not_judged() {
        let bad = json!({"date": "2026-11-20", "note": "あ".repeat(3000)});
        let mut withdrawn = bad.clone();
        withdrawn["withdrawn"] = json!(true);
        let before = person(json!({"v1": bad.clone(), "v2": bad.clone()}));
        let after = person(json!({"v1": withdrawn, "v2": bad, "v3": {"date": "2026-11-22"}}));
        assert!(new_problems(&DocKind::Person, &before, &after, today()).is_empty());
        // …but the office's list still shows both.
        let listed = problems(&DocKind::Person, &after, today());
        assert_eq!(listed.len(), 2);
    }

    #[test]
    fn every_rule_the_model_reports_is_published() {
        let long = "あ".repeat(3000);
        let cases: &[(&str, DocKind, Value)] = &[
            (
                "Profile",
                DocKind::Person,
                json!({"profile": {"name": "", "kana": long, "address": long, "phone": "x", "note": long, "birth_year": 1800}}),
            ),
            (
                "Profile",
                DocKind::Person,
                json!({"profile": {"name": long}}),
            ),
            (
                "EmergencyContact",
                DocKind::Person,
                json!({"emergency": {"contacts": {"c": {"name": long, "relation": long, "phone": "x"}}}}),
            ),
            (
                "Consent",
                DocKind::Person,
                json!({"consent": {"date": "1999-01-01", "note": long}}),
            ),
            (
                "Consent",
                DocKind::Person,
                json!({"consent": {"date": "2099-01-01"}}),
            ),
            (
                "Visit",
                DocKind::Person,
                json!({"visits": {"v": {"date": "2099-01-01", "time": "25", "note": long, "followup": true, "followup_what": long}}}),
            ),
            (
                "Visit",
                DocKind::Person,
                json!({"visits": {"v": {"date": "1999-01-01", "followup": true, "next_contact": "1998-01-01"}}}),
            ),
            (
                "Consultation",
                DocKind::Person,
                json!({"consultations": {"c": {"date": "2099-01-01", "summary": long, "action": long, "followup": true, "followup_what": long}}}),
            ),
            (
                "Consultation",
                DocKind::Activity,
                json!({"consultations": {"c": {"date": "1999-01-01", "followup": true}}}),
            ),
            (
                "Member",
                DocKind::Salon,
                json!({"members": {"m": {"name": "", "kana": long, "area": long, "note": long}}}),
            ),
            (
                "Member",
                DocKind::Salon,
                json!({"members": {"m": {"name": long}}}),
            ),
            (
                "Session",
                DocKind::Salon,
                json!({"sessions": {"s": {"date": "2099-01-01", "guests": 5000, "helpers": 5000, "guest_names": long, "helper_names": long, "note": long}}}),
            ),
            (
                "Session",
                DocKind::Salon,
                json!({"sessions": {"s": {"date": "1999-01-01"}}}),
            ),
            (
                "Place",
                DocKind::Map,
                json!({"places": {"p": {"label": "", "note": long}}}),
            ),
            (
                "Place",
                DocKind::Map,
                json!({"places": {"p": {"label": long, "lat": 35.0, "lng": 139.0}}}),
            ),
            (
                "Link",
                DocKind::Map,
                json!({"links": {"l": {"from": "a", "to": "a", "note": long}}}),
            ),
            (
                "MapNote",
                DocKind::Map,
                json!({"notes": {"n": {"date": "2099-01-01", "text": ""}}}),
            ),
            (
                "MapNote",
                DocKind::Map,
                json!({"notes": {"n": {"date": "1999-01-01", "text": long}}}),
            ),
            (
                "Activity",
                DocKind::Activity,
                json!({"activities": {"a": {"date": "2099-01-01", "count": 0, "note": long}}}),
            ),
            (
                "Activity",
                DocKind::Activity,
                json!({"activities": {"a": {"date": "1999-01-01", "count": 5000}}}),
            ),
        ];
        let listed: Vec<(&str, &str, String)> = RULES
            .iter()
            .map(|(t, f, m, _)| (*t, *f, rule_name(*m)))
            .collect();
        let mut seen = std::collections::BTreeSet::new();
        for (ty, kind, doc) in cases {
            let found = problems(kind, doc, today());
            assert!(!found.is_empty(), "{ty}: {doc}");
            for p in found {
                assert_ne!(p.rule, "type", "{ty}: {p:?}");
                let key = (*ty, p.field.as_str(), p.rule.clone());
                assert!(listed.contains(&key), "not in RULES: {key:?}");
                seen.insert((ty.to_string(), p.field.clone(), p.rule.clone()));
            }
        }
        // …and every listed rule is one the model really applies.
        for (t, f, r) in &listed {
            assert!(
                seen.contains(&(t.to_string(), f.to_string(), r.clone())),
                "never reported: {t} {f} {r}"
            );
        }
    }

    #[test]
    fn a_map_link_must_join_places_that_exist() {
        let before = json!({"places": {}, "links": {}});
        let after = json!({"places": {}, "links": {"l1": {"from": "a", "to": "b"}}});
        let p = new_problems(&DocKind::Map, &before, &after, today());
        assert!(p.iter().all(|p| p.rule == "unknown_place"), "{p:?}");
        assert_eq!(p.len(), 2);
    }
}
