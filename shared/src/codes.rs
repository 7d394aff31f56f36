//! The closed lists of the domain (DOMAIN.md), stored in documents as short ASCII codes.
//!
//! A code this version does not know (written by a newer app) is kept as
//! `Other(code)` and written back unchanged, so an older phone never rewrites it.
//! Labels in Japanese and English live in the one message catalogue, [`crate::i18n`].

use crate::i18n::{Lang, code_label};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

macro_rules! codes {
    ($(
        $(#[$m:meta])*
        $name:ident ($kind:literal) { $($(#[$vm:meta])* $var:ident = $code:literal),+ $(,)? }
    )*) => {$(
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $($(#[$vm])* $var,)+
            /// A code from a newer version of the app, kept as written.
            Other(String),
        }

        impl $name {
            /// The list's name in the message catalogue.
            pub const KIND: &'static str = $kind;
            /// Every code this version knows, in display order.
            pub const ALL: &'static [$name] = &[$($name::$var),+];

            pub fn code(&self) -> &str {
                match self {
                    $($name::$var => $code,)+
                    $name::Other(s) => s,
                }
            }

            pub fn from_code(s: &str) -> Self {
                match s {
                    $($code => $name::$var,)+
                    other => $name::Other(other.to_string()),
                }
            }

            /// The label people read; an unknown code shows as itself.
            pub fn label(&self, lang: Lang) -> &str {
                code_label(Self::KIND, self.code(), lang).unwrap_or(self.code())
            }

            pub fn is_known(&self) -> bool {
                !matches!(self, $name::Other(_))
            }
        }

        /// The first code of the list.
        impl Default for $name {
            fn default() -> Self {
                Self::ALL[0].clone()
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.code())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                Ok($name::from_code(&String::deserialize(d)?))
            }
        }

        /// A string; the codes this version knows are listed (`x-codes`), and a code from
        /// a newer version is kept as written.
        #[cfg(feature = "schema")]
        impl schemars::JsonSchema for $name {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }
            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                schemars::json_schema!({
                    "type": "string",
                    "description": concat!("A code of the list `", $kind, "` (Automerge string). A code this version does not know is kept as written."),
                    "x-codes": [$($code),+],
                })
            }
        }
    )*};
}

codes! {
    /// 世帯の状況
    Household ("household") { Alone = "alone", ElderlyOnly = "elderly_only", AloneDaytime = "alone_daytime", Misc = "other" }
    Sex ("sex") { Female = "female", Male = "male", Unstated = "unstated" }
    /// Whether the person is currently watched over; records are kept whatever the status.
    PersonStatus ("person_status") {
        Active = "active", Hospitalised = "hospitalised", InFacility = "in_facility",
        MovedAway = "moved_away", Deceased = "deceased",
    }
    /// How often contact is due under the watch plan (見守りの頻度).
    Frequency ("frequency") { Weekly = "weekly", TwiceMonthly = "twice_monthly", Monthly = "monthly", AsNeeded = "as_needed" }
    /// How consent (同意) was obtained.
    ConsentMethod ("consent_method") { Written = "written", Oral = "oral" }
    /// 訪問の種類
    VisitKind ("visit_kind") { Visit = "visit", Phone = "phone", Delivery = "delivery", Salon = "salon" }
    /// 結果
    Outcome ("outcome") { Met = "met", NotHome = "not_home", Family = "family", Refused = "refused" }
    /// How the person seemed (様子).
    Condition ("condition") { Fine = "fine", Usual = "usual", Concern = "concern", Urgent = "urgent" }
    /// 困りごと・気になること
    Worry ("worry") {
        Health = "health", Memory = "memory", Meals = "meals", Housing = "housing", Money = "money",
        Family = "family", Isolation = "isolation", Shopping = "shopping", Hospital = "hospital",
        Disaster = "disaster", Misc = "other",
    }
    /// つなぎ先 (referral targets)
    Referral ("referral") {
        Houkatsu = "houkatsu", City = "city", Shakyo = "shakyo", Minsei = "minsei", Family = "family",
        Medical = "medical", PoliceFire = "police_fire",
    }
    /// 相談・支援の分野
    ConsultField ("consult_field") { Elderly = "elderly", Disabled = "disabled", Children = "children", Misc = "other" }
    /// 相談・支援の内容 (the categories of the 民生委員 活動記録)
    ConsultTopic ("consult_topic") {
        HomeWelfare = "home_welfare", CareInsurance = "care_insurance", Health = "health",
        Childcare = "childcare", ChildLife = "child_life", ChildSchool = "child_school",
        LivingCosts = "living_costs", Pension = "pension", Work = "work", Family = "family",
        Housing = "housing", Environment = "environment", DailySupport = "daily_support", Misc = "other",
    }
    /// Other activities of a 民生委員 (活動記録 その他の活動), and the 連絡調整 counts.
    ActivityKind ("activity_kind") {
        VisitContact = "visit_contact", Survey = "survey", Events = "events", Community = "community",
        Council = "council", Certificate = "certificate", ChildProtection = "child_protection",
        LiaisonMembers = "liaison_members", LiaisonAgencies = "liaison_agencies", Misc = "other",
    }
    SalonType ("salon_type") {
        Fureai = "fureai", Kosodate = "kosodate", NinchishoCafe = "ninchisho_cafe", Shogaisha = "shogaisha",
        Tsudoi = "tsudoi", Lunch = "lunch", Misc = "other",
    }
    /// What a session offered (プログラム).
    Program ("program") {
        Exercise = "exercise", Tea = "tea", Singing = "singing", Lecture = "lecture", Meal = "meal",
        Crafts = "crafts", Brain = "brain", Games = "games", Misc = "other",
    }
    /// A roster member's attendance at one session.
    Mark ("mark") { Present = "present", Absent = "absent" }
    /// What a place on the 支え合いマップ is.
    PlaceKind ("place_kind") {
        Household = "household", NeedsSupport = "needs_support", Helper = "helper", Gathering = "gathering",
        Shop = "shop", Salon = "salon", Hazard = "hazard", Shelter = "shelter", Misc = "other",
    }
    /// Who looks in on whom: the lines between places.
    LinkKind ("link_kind") {
        Watch = "watch", Greet = "greet", Shopping = "shopping", Garbage = "garbage", Escort = "escort", Misc = "other",
    }
    /// The kinds of document that sync (DESIGN.md §3; `activity` is the 民生委員's own 活動記録).
    DocKind ("doc_kind") { Person = "person", Salon = "salon", Map = "map", Activity = "activity" }
    /// Roles a user can hold (server authority, never CRDT data).
    Role ("role") {
        Admin = "admin", Staff = "staff", Minsei = "minsei", Volunteer = "volunteer",
        SalonLeader = "salon_leader", SalonHelper = "salon_helper", Member = "member",
        /// 自主防災組織 / 避難支援者: sees the evacuation roster of a district.
        Bousai = "bousai",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_codes_survive_a_round_trip() {
        let v: Outcome = serde_json::from_str("\"teleported\"").unwrap();
        assert_eq!(v, Outcome::Other("teleported".into()));
        assert_eq!(serde_json::to_string(&v).unwrap(), "\"teleported\"");
        assert_eq!(v.label(Lang::Ja), "teleported");
        assert!(!v.is_known());
    }

    #[test]
    fn every_known_code_has_both_labels() {
        fn check<T: std::fmt::Debug>(all: &[T], kind: &str, code: impl Fn(&T) -> &str) {
            for c in all {
                for lang in [Lang::Ja, Lang::En] {
                    assert!(
                        code_label(kind, code(c), lang).is_some(),
                        "{kind}/{c:?} has no {lang:?} label"
                    );
                }
            }
        }
        check(Household::ALL, Household::KIND, Household::code);
        check(Sex::ALL, Sex::KIND, Sex::code);
        check(PersonStatus::ALL, PersonStatus::KIND, PersonStatus::code);
        check(Frequency::ALL, Frequency::KIND, Frequency::code);
        check(ConsentMethod::ALL, ConsentMethod::KIND, ConsentMethod::code);
        check(VisitKind::ALL, VisitKind::KIND, VisitKind::code);
        check(Outcome::ALL, Outcome::KIND, Outcome::code);
        check(Condition::ALL, Condition::KIND, Condition::code);
        check(Worry::ALL, Worry::KIND, Worry::code);
        check(Referral::ALL, Referral::KIND, Referral::code);
        check(ConsultField::ALL, ConsultField::KIND, ConsultField::code);
        check(ConsultTopic::ALL, ConsultTopic::KIND, ConsultTopic::code);
        check(ActivityKind::ALL, ActivityKind::KIND, ActivityKind::code);
        check(SalonType::ALL, SalonType::KIND, SalonType::code);
        check(Program::ALL, Program::KIND, Program::code);
        check(Mark::ALL, Mark::KIND, Mark::code);
        check(PlaceKind::ALL, PlaceKind::KIND, PlaceKind::code);
        check(LinkKind::ALL, LinkKind::KIND, LinkKind::code);
        check(DocKind::ALL, DocKind::KIND, DocKind::code);
        check(Role::ALL, Role::KIND, Role::code);
    }
}
