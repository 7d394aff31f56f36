//! The records of the three field documents (person, salon, map) and of a 民生委員's own
//! activity record. DOMAIN.md gives their fields; docs/data-model.md shows the document
//! layout.
//!
//! Every struct reads with defaults for missing fields (older or foreign documents) and
//! every keyed collection skips an entry it cannot read rather than failing the document
//! (see [`tolerant`]); the writer never deletes what it could not read.

use crate::codes::*;
use crate::date::Date;
use crate::i18n::Msg;
use crate::validate::{Check, FieldError, MAX_NOTE, MAX_SHORT};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A record id inside a document (UUID v7 text), or a date key for sessions.
pub type Id = String;
/// A keyed collection of records in a document.
pub type Records<T> = BTreeMap<Id, T>;

/// Serde helpers for keyed collections that skip unreadable entries.
pub mod tolerant {
    use super::Records;
    use serde::de::DeserializeOwned;
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>, T: DeserializeOwned>(
        d: D,
    ) -> Result<Records<T>, D::Error> {
        let raw: Option<std::collections::BTreeMap<String, serde_json::Value>> =
            Option::deserialize(d)?;
        Ok(raw
            .unwrap_or_default()
            .into_iter()
            .filter_map(|(k, v)| serde_json::from_value(v).ok().map(|t| (k, t)))
            .collect())
    }
}

/// The header every document carries at its root.
pub const SCHEMA_VERSION: u32 = 1;

// ───────────────────────────── person (見守り対象者) ─────────────────────────────

/// A person (or household, 世帯) who is watched over. The root of a person document.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Person {
    pub profile: Profile,
    pub watch: WatchPlan,
    pub emergency: EmergencyCard,
    pub evacuation: Evacuation,
    pub consent: Consent,
    #[serde(deserialize_with = "tolerant::deserialize")]
    pub visits: Records<Visit>,
    #[serde(deserialize_with = "tolerant::deserialize")]
    pub consultations: Records<Consultation>,
    /// What was done about a visit's or consultation's follow-up, keyed by that record's id.
    #[serde(deserialize_with = "tolerant::deserialize")]
    pub followups: Records<FollowupDone>,
}

#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Profile {
    pub name: String,
    /// ふりがな
    pub kana: String,
    pub birth_year: Option<i32>,
    pub sex: Option<Sex>,
    pub address: String,
    pub phone: String,
    pub household: Option<Household>,
    pub status: PersonStatus,
    pub status_since: Option<Date>,
    pub note: String,
}

impl Profile {
    pub fn validate(&self, today: Date) -> Result<(), Vec<FieldError>> {
        let mut c = Check::default();
        c.required("name", &self.name)
            .max_len("name", &self.name, 100);
        c.max_len("kana", &self.kana, 100)
            .max_len("address", &self.address, MAX_SHORT);
        c.phone("phone", &self.phone)
            .max_len("note", &self.note, MAX_NOTE);
        if let Some(y) = self.birth_year
            && !(1900..=today.year()).contains(&y)
        {
            c.push("birth_year", Msg::BadYear);
        }
        c.finish()
    }
}

/// 見守り計画: how often contact is due.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct WatchPlan {
    pub frequency: Frequency,
    /// e.g. 午前中がよい, 犬がいる
    pub note: String,
}

/// 緊急連絡カード（兼）救急医療情報キット
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct EmergencyCard {
    #[serde(deserialize_with = "tolerant::deserialize")]
    pub contacts: Records<EmergencyContact>,
    /// かかりつけ医
    pub doctor: String,
    pub hospital: String,
    /// Conditions and medicines as the person tells them.
    pub conditions: String,
    pub medicines: String,
    /// 救急医療情報キット at home, and where it is kept.
    pub kit_at_home: bool,
    pub kit_location: String,
    pub updated_on: Option<Date>,
}

#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct EmergencyContact {
    pub name: String,
    /// 続柄
    pub relation: String,
    pub phone: String,
    /// Order of calling (1 first).
    pub order: i32,
}

/// 避難行動要支援者
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Evacuation {
    /// Listed in the municipality's 避難行動要支援者名簿.
    pub listed: bool,
    pub support_needed: String,
    /// 避難支援者 (designated helper)
    pub helper: String,
    pub shelter: String,
}

/// 同意: what the person agreed to, and how.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Consent {
    pub visits: bool,
    pub share_minsei: bool,
    /// With the 自主防災組織 (the 避難行動要支援者名簿 needs this).
    pub share_bousai: bool,
    pub share_houkatsu: bool,
    pub date: Option<Date>,
    pub method: Option<ConsentMethod>,
    pub note: String,
}

impl Consent {
    pub fn validate(&self, today: Date) -> Result<(), Vec<FieldError>> {
        let mut c = Check::default();
        if let Some(d) = self.date {
            c.past_date("date", d, today);
        }
        c.max_len("note", &self.note, MAX_NOTE);
        c.finish()
    }
}

/// 訪問記録: one contact with the person.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Visit {
    pub date: Date,
    /// `"HH:MM"` or empty.
    pub time: String,
    pub kind: VisitKind,
    pub outcome: Outcome,
    pub condition: Option<Condition>,
    pub worries: Vec<Worry>,
    pub note: String,
    pub followup: bool,
    pub followup_what: String,
    pub referrals: Vec<Referral>,
    pub next_contact: Option<Date>,
    /// User ids of who made the contact.
    pub visitors: Vec<String>,
    pub recorded_by: String,
    /// Unix milliseconds when it was recorded on the phone.
    pub recorded_at: i64,
    /// Withdrawn by its author; kept for the record.
    pub withdrawn: bool,
}

impl Visit {
    pub fn validate(&self, today: Date) -> Result<(), Vec<FieldError>> {
        let mut c = Check::default();
        c.past_date("date", self.date, today)
            .time("time", &self.time);
        c.max_len("note", &self.note, MAX_NOTE).max_len(
            "followup_what",
            &self.followup_what,
            MAX_SHORT * 2,
        );
        if self.followup && self.followup_what.trim().is_empty() && self.referrals.is_empty() {
            c.push("followup_what", Msg::FollowupWhat);
        }
        if let Some(next) = self.next_contact
            && next <= self.date
        {
            c.push("next_contact", Msg::NextBeforeDate);
        }
        c.finish()
    }

    /// A contact that counts as having reached the person (for the watch plan).
    pub fn reached(&self) -> bool {
        !self.withdrawn && matches!(self.outcome, Outcome::Met | Outcome::Family)
    }

    /// Whether the record asks for follow-up (follow-up flagged, or a referral made).
    pub fn wants_followup(&self) -> bool {
        !self.withdrawn && (self.followup || !self.referrals.is_empty())
    }
}

/// 相談・支援: a consultation, about a person or anonymous.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Consultation {
    pub date: Date,
    pub field: ConsultField,
    pub topics: Vec<ConsultTopic>,
    /// What the person asked about (brief).
    pub summary: String,
    /// What was done.
    pub action: String,
    pub referrals: Vec<Referral>,
    pub followup: bool,
    pub followup_what: String,
    pub recorded_by: String,
    pub recorded_at: i64,
    pub withdrawn: bool,
}

impl Consultation {
    pub fn validate(&self, today: Date) -> Result<(), Vec<FieldError>> {
        let mut c = Check::default();
        c.past_date("date", self.date, today);
        if self.topics.is_empty() {
            c.push("topics", Msg::ChooseOne);
        }
        c.max_len("summary", &self.summary, MAX_NOTE)
            .max_len("action", &self.action, MAX_NOTE);
        c.max_len("followup_what", &self.followup_what, MAX_SHORT * 2);
        if self.followup && self.followup_what.trim().is_empty() && self.referrals.is_empty() {
            c.push("followup_what", Msg::FollowupWhat);
        }
        c.finish()
    }

    pub fn wants_followup(&self) -> bool {
        !self.withdrawn && (self.followup || !self.referrals.is_empty())
    }
}

/// What was done about a follow-up (フォロー済み).
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct FollowupDone {
    pub on: Date,
    pub by: String,
    pub note: String,
}

// ───────────────────────────── salon (サロン) ─────────────────────────────

/// The root of a salon document.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Salon {
    pub profile: SalonProfile,
    #[serde(deserialize_with = "tolerant::deserialize")]
    pub members: Records<Member>,
    /// Sessions keyed by date (`"2026-11-23"`), so two co-leaders opening today's session
    /// on two phones write into one session.
    #[serde(deserialize_with = "tolerant::deserialize")]
    pub sessions: Records<Session>,
}

#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct SalonProfile {
    pub name: String,
    pub salon_type: SalonType,
    pub venue: String,
    /// e.g. 毎月第2火曜 13:30
    pub schedule: String,
    /// 助成金の種類
    pub subsidy: String,
    pub note: String,
}

/// A roster member (名簿).
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Member {
    pub name: String,
    pub kana: String,
    /// The 地区 / 自治会 they live in, as written on the roster.
    pub area: String,
    /// Mobility, allergies, who brings them …
    pub note: String,
    pub joined_on: Option<Date>,
    /// Left the roster (kept for past attendance).
    pub left_on: Option<Date>,
}

impl Member {
    pub fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut c = Check::default();
        c.required("name", &self.name)
            .max_len("name", &self.name, 100)
            .max_len("kana", &self.kana, 100);
        c.max_len("area", &self.area, MAX_SHORT)
            .max_len("note", &self.note, MAX_NOTE);
        c.finish()
    }
}

/// One session (開催) of a salon.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Session {
    pub date: Date,
    pub program: Vec<Program>,
    /// Roster member id → present / absent.
    pub attendance: BTreeMap<Id, Mark>,
    /// Walk-in guests (当日参加).
    pub guests: u32,
    pub guest_names: String,
    /// Helpers present (ボランティア).
    pub helpers: u32,
    pub helper_names: String,
    pub note: String,
    pub cancelled: bool,
}

impl Session {
    pub fn validate(&self, today: Date) -> Result<(), Vec<FieldError>> {
        let mut c = Check::default();
        c.past_date("date", self.date, today)
            .count("guests", self.guests)
            .count("helpers", self.helpers);
        c.max_len("guest_names", &self.guest_names, MAX_SHORT * 2)
            .max_len("helper_names", &self.helper_names, MAX_SHORT * 2);
        c.max_len("note", &self.note, MAX_NOTE);
        c.finish()
    }

    pub fn present(&self) -> usize {
        self.attendance
            .values()
            .filter(|m| **m == Mark::Present)
            .count()
    }

    /// 参加者数: members present plus guests.
    pub fn participants(&self) -> u32 {
        self.present() as u32 + self.guests
    }
}

// ───────────────────────────── map (支え合いマップ) ─────────────────────────────

/// The root of a district's support-map document.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct SupportMap {
    pub title: String,
    #[serde(deserialize_with = "tolerant::deserialize")]
    pub places: Records<Place>,
    #[serde(deserialize_with = "tolerant::deserialize")]
    pub links: Records<Link>,
    #[serde(deserialize_with = "tolerant::deserialize")]
    pub notes: Records<MapNote>,
}

#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Place {
    pub kind: PlaceKind,
    pub lat: f64,
    pub lng: f64,
    pub label: String,
    /// The person document this place stands for, if any.
    pub person: Option<String>,
    pub note: String,
    pub created_by: String,
    pub created_at: i64,
    pub removed: bool,
}

impl Place {
    pub fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut c = Check::default();
        c.required("label", &self.label)
            .max_len("label", &self.label, 100)
            .max_len("note", &self.note, MAX_NOTE);
        // Japan, generously.
        if !(20.0..=46.0).contains(&self.lat) || !(122.0..=154.0).contains(&self.lng) {
            c.push("position", Msg::BadPosition);
        }
        c.finish()
    }
}

/// A line between two places: who looks in on whom.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Link {
    pub from: Id,
    pub to: Id,
    pub kind: LinkKind,
    pub note: String,
    pub created_by: String,
    pub created_at: i64,
    pub removed: bool,
}

impl Link {
    pub fn validate(&self, map: &SupportMap) -> Result<(), Vec<FieldError>> {
        let mut c = Check::default();
        if self.from == self.to {
            c.push("to", Msg::SamePlace);
        }
        for (field, id) in [("from", &self.from), ("to", &self.to)] {
            if map.places.get(id).is_none_or(|p| p.removed) {
                c.push(field, Msg::UnknownPlace);
            }
        }
        c.max_len("note", &self.note, MAX_NOTE);
        c.finish()
    }
}

/// A dated note on the map or on one place (情報交換の記録).
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct MapNote {
    pub place: Option<Id>,
    pub date: Date,
    pub text: String,
    pub author: String,
    pub created_at: i64,
    pub removed: bool,
}

impl MapNote {
    pub fn validate(&self, today: Date) -> Result<(), Vec<FieldError>> {
        let mut c = Check::default();
        c.past_date("date", self.date, today)
            .required("text", &self.text)
            .max_len("text", &self.text, MAX_NOTE);
        c.finish()
    }
}

// ───────────────────────────── 民生委員 活動記録 ─────────────────────────────

/// The root of a 民生委員's own activity document: what is not about one person (anonymous
/// consultations, meetings, surveys, liaison), for the monthly 活動記録.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ActivityLog {
    /// The 民生委員's user id.
    pub owner: String,
    #[serde(deserialize_with = "tolerant::deserialize")]
    pub activities: Records<Activity>,
    /// Consultations with nobody on record (匿名の相談).
    #[serde(deserialize_with = "tolerant::deserialize")]
    pub consultations: Records<Consultation>,
}

#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Activity {
    pub date: Date,
    pub kind: ActivityKind,
    /// 分野, for visits and contacts counted by field.
    pub field: Option<ConsultField>,
    /// How many (e.g. 3 phone calls in one day); at least 1.
    pub count: u32,
    pub note: String,
    pub recorded_at: i64,
    pub withdrawn: bool,
}

impl Activity {
    pub fn validate(&self, today: Date) -> Result<(), Vec<FieldError>> {
        let mut c = Check::default();
        c.past_date("date", self.date, today)
            .count("count", self.count)
            .max_len("note", &self.note, MAX_NOTE);
        if self.count == 0 {
            c.push("count", Msg::BadCount);
        }
        c.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> Date {
        Date::parse("2026-11-23").unwrap()
    }

    #[test]
    fn a_visit_with_a_huge_note_and_a_future_date_is_refused_field_by_field() {
        let v = Visit {
            date: Date::parse("2026-12-01").unwrap(),
            note: "あ".repeat(10_000),
            next_contact: Some(Date::parse("2026-11-30").unwrap()),
            ..Visit::default()
        };
        let errs = v.validate(today()).unwrap_err();
        let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["date", "note", "next_contact"]);
        assert!(errs[1].text(crate::i18n::Lang::Ja).contains("2000文字以内"));
    }

    #[test]
    fn unreadable_entries_are_skipped_not_fatal() {
        let v = serde_json::json!({
            "profile": {"name": "佐藤"},
            "visits": {"a": {"date": "2026-11-01", "outcome": "met"}, "b": {"date": "not a date"}}
        });
        let p: Person = serde_json::from_value(v).unwrap();
        assert_eq!(p.profile.name, "佐藤");
        assert_eq!(p.visits.len(), 1);
        assert!(p.visits["a"].reached());
    }

    #[test]
    fn links_must_join_two_existing_places() {
        let mut map = SupportMap::default();
        map.places.insert(
            "p1".into(),
            Place {
                label: "a".into(),
                lat: 35.0,
                lng: 139.0,
                ..Place::default()
            },
        );
        let l = Link {
            from: "p1".into(),
            to: "p1".into(),
            ..Link::default()
        };
        let errs = l.validate(&map).unwrap_err();
        assert_eq!(errs[0].msg, Msg::SamePlace);
        let l = Link {
            from: "p1".into(),
            to: "zz".into(),
            ..Link::default()
        };
        assert_eq!(l.validate(&map).unwrap_err()[0].msg, Msg::UnknownPlace);
    }
}
