//! The coordinator's desk (社協職員 and 民児協 officers at a PC): request and answer bodies
//! of `/api/desk/*` (the overdue watch board, the follow-up inbox, people and assignments,
//! the roster import) and `/api/reports/*` (the 民生委員 活動記録, the salon report for
//! grants, the 小学校区 view), whose CSV exports are `/api/export/*` (docs/api.md;
//! every figure and column: docs/reports.md).
//!
//! Counting rules both sides rely on:
//! - A record counts on **its own date** (a visit done on the 31st and synced on the 2nd
//!   counts in the month of the 31st), in the **district the person belonged to on that
//!   date** (a person moved mid-month counts before the move in the old district).
//! - A fiscal year (年度) runs from 1 April to 31 March and is named by the calendar year in
//!   which it starts ([`Period::fiscal_year`]).
//! - Maps of counts are keyed by the codes of [`crate::codes`]; every code the version
//!   knows is present (zero when nothing was counted); a code from a newer app appears
//!   under its own key.

use crate::codes::{Frequency, Outcome, Referral, Role, SalonType};
use crate::date::Date;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What a report covers: one calendar month, or one fiscal year (年度, April–March).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PeriodKind {
    Month,
    FiscalYear,
}

/// A report's period: every day from `from` to `to`, both included.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Period {
    pub kind: PeriodKind,
    pub from: Date,
    pub to: Date,
}

impl Period {
    /// The calendar month `year`-`month`.
    pub fn month(year: i32, month: u8) -> Option<Period> {
        let from = Date::new(year, month, 1)?;
        let to = Date::new(year, month, crate::date::days_in_month(year, month))?;
        Some(Period {
            kind: PeriodKind::Month,
            from,
            to,
        })
    }

    /// 年度 `year`: 1 April `year` to 31 March `year + 1` (令和8年度 = 2026-04-01 … 2027-03-31).
    pub fn fiscal_year(year: i32) -> Option<Period> {
        Some(Period {
            kind: PeriodKind::FiscalYear,
            from: Date::new(year, 4, 1)?,
            to: Date::new(year + 1, 3, 31)?,
        })
    }

    /// From a query: `month=YYYY-MM` or `fy=YYYY`, exactly one of them.
    pub fn from_query(month: Option<&str>, fy: Option<&str>) -> Result<Period, String> {
        let month = month.map(str::trim).filter(|s| !s.is_empty());
        let fy = fy.map(str::trim).filter(|s| !s.is_empty());
        match (month, fy) {
            (Some(m), None) => {
                let (y, mo) = m
                    .split_once('-')
                    .ok_or_else(|| format!("month must be YYYY-MM, not {m:?}"))?;
                let y: i32 = y.parse().map_err(|_| format!("bad year in {m:?}"))?;
                let mo: u8 = mo.parse().map_err(|_| format!("bad month in {m:?}"))?;
                Period::month(y, mo).ok_or_else(|| format!("no such month: {m:?}"))
            }
            (None, Some(y)) => {
                let y: i32 = y
                    .parse()
                    .map_err(|_| format!("fy must be a year such as 2026, not {y:?}"))?;
                Period::fiscal_year(y)
                    .filter(|p| p.to.year() <= 2999)
                    .ok_or_else(|| format!("no such fiscal year: {y}"))
            }
            _ => Err("give either month=YYYY-MM or fy=YYYY".into()),
        }
    }

    pub fn contains(&self, d: Date) -> bool {
        self.from <= d && d <= self.to
    }

    /// `2026-04` or `2026年度`.
    pub fn label(&self) -> String {
        match self.kind {
            PeriodKind::Month => self.from.month_key(),
            PeriodKind::FiscalYear => format!("{}年度", self.from.year()),
        }
    }

    /// `令和8年4月` or `令和8年度`.
    pub fn label_wareki(&self) -> String {
        let (era, y) = self.from.wareki();
        let y = if y == 1 {
            "元".to_string()
        } else {
            y.to_string()
        };
        match self.kind {
            PeriodKind::Month => format!("{era}{y}年{}月", self.from.month()),
            PeriodKind::FiscalYear => format!("{era}{y}年度"),
        }
    }

    /// ASCII, for file names: `2026-04` or `fy2026`.
    pub fn key(&self) -> String {
        match self.kind {
            PeriodKind::Month => self.from.month_key(),
            PeriodKind::FiscalYear => format!("fy{}", self.from.year()),
        }
    }

    /// The months of the period, in order.
    pub fn months(&self) -> Vec<Period> {
        let mut out = Vec::new();
        let mut d = self.from.first_of_month();
        while d <= self.to {
            out.extend(Period::month(d.year(), d.month()));
            d = d.add_months(1);
        }
        out
    }
}

/// A user as the desk shows them.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Named {
    pub id: String,
    pub name: String,
}

// ───────────────────────────── overdue watch board ─────────────────────────────

/// `GET /api/desk/overdue`: everyone watched over whose last successful contact (会えた or
/// 家族と話した) is older than their watch plan allows, or whose last three or more attempts
/// were 不在 — the rule of [`crate::watch::status`], applied to the projections.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct OverdueBoard {
    /// The day the board was computed for (today in Japan).
    pub as_of: Option<Date>,
    /// Most overdue first.
    pub people: Vec<OverdueEntry>,
    /// How many are on the board, per (current) district.
    pub by_district: Vec<BoardCount>,
    /// How many are on the board, per assigned visitor (a person with two visitors counts
    /// for each; `id` empty: nobody assigned).
    pub by_visitor: Vec<BoardCount>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct BoardCount {
    pub id: String,
    pub name: String,
    /// On the board because contact is overdue.
    pub overdue: u32,
    /// With three or more 不在 in a row.
    pub not_home_warnings: u32,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct OverdueEntry {
    /// The person document.
    pub doc: String,
    pub name: String,
    pub kana: String,
    pub district: Option<String>,
    pub district_name: String,
    pub frequency: Frequency,
    pub visitors: Vec<Named>,
    /// The last contact that reached the person.
    pub last_contact: Option<Date>,
    /// When contact was due.
    pub due: Option<Date>,
    /// Days past `due` (0: not overdue, on the board for its 不在 streak).
    pub overdue_days: i64,
    /// 不在 in a row, counting back from the latest attempt.
    pub not_home_streak: u32,
    /// Three or more 不在 in a row (a warning sign in itself).
    pub not_home_warning: bool,
    /// The latest visit of any outcome.
    pub last_visit: Option<LastVisit>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct LastVisit {
    pub date: Option<Date>,
    pub outcome: Outcome,
    pub note: String,
}

// ───────────────────────────── follow-up inbox ─────────────────────────────

/// A record that cannot be read or breaks a rule of the model (shared::check): written
/// before the server checked records at the door, or in a document that no longer loads.
/// The desk and every report list these, so that nothing is left out silently.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ProblemItem {
    pub doc: String,
    /// The document's kind code (`person`, `salon`, `map`, `activity`).
    pub kind: String,
    /// The person's or the salon's name, when known.
    pub name: String,
    pub district: Option<String>,
    pub district_name: String,
    /// Where the record is in the document (`visits/<id>`; empty: the whole document).
    pub path: String,
    pub field: String,
    pub rule: String,
    pub message: String,
    pub message_ja: String,
}

/// `GET /api/desk/problems`: the area's records needing correction.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ProblemList {
    pub items: Vec<ProblemItem>,
}

/// `GET /api/desk/followups`: every visit or consultation that asks for follow-up
/// (flagged, or a つなぎ先 given) and has no follow-up recorded as done (the person
/// document's `followups` entry for that record).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct FollowupInbox {
    pub as_of: Option<Date>,
    /// Oldest first.
    pub items: Vec<FollowupItem>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct FollowupItem {
    /// The person document.
    pub doc: String,
    pub person_name: String,
    pub district: Option<String>,
    pub district_name: String,
    /// The id of the visit or consultation: record what was done at `followups/<source>`.
    pub source: String,
    /// `visit` or `consultation`.
    pub kind: String,
    pub raised_on: Option<Date>,
    /// Days from `raised_on` to `as_of`.
    pub age_days: i64,
    /// What needs doing, as written.
    pub what: String,
    pub referrals: Vec<Referral>,
    /// Who recorded the visit or consultation (owns the follow-up).
    pub owner: Option<Named>,
    /// The person's assigned visitors.
    pub visitors: Vec<Named>,
}

// ───────────────────────────── 民生委員 活動記録 ─────────────────────────────

/// Key of [`MinseiRow::visits_by_field`] for visits with no 分野 (visits in person records).
pub const NO_FIELD: &str = "unrecorded";

/// `GET /api/reports/minsei`: the 活動記録 of each 民生委員 in the caller's area, and the
/// totals of each 民児協 (the district of the 民生委員's grant).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MinseiReport {
    pub period: Period,
    pub members: Vec<MinseiRow>,
    /// One row per 民児協 (district): the sum of its members' rows.
    pub councils: Vec<MinseiRow>,
    /// Records of the report's area that cannot be read or break a rule: they may be
    /// missing from the figures above until corrected (desk: 直してほしい記録).
    #[serde(default)]
    pub needs_correction: Vec<ProblemItem>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct MinseiRow {
    /// The 民生委員 (none on a 民児協 total).
    pub user: Option<Named>,
    pub district: Option<String>,
    pub district_name: String,
    /// 1 for a member; the number of members for a 民児協.
    pub members: u32,
    /// 相談・支援件数.
    pub consultations: i64,
    /// 相談・支援 by 分野 (`ConsultField` codes).
    pub by_field: BTreeMap<String, i64>,
    /// 相談・支援 by 内容 (`ConsultTopic` codes); a consultation counts once under each
    /// topic chosen, so these may add up to more than `consultations`.
    pub by_topic: BTreeMap<String, i64>,
    /// 訪問・連絡活動: visits in person records made by the 民生委員, plus the
    /// `visit_contact` counts of their activity record.
    pub visits: i64,
    /// The same by 分野 (`ConsultField` codes, and [`NO_FIELD`] for visits in person
    /// records, which have none).
    pub visits_by_field: BTreeMap<String, i64>,
    /// 連絡調整 委員相互 (`liaison_members`).
    pub liaison_members: i64,
    /// 連絡調整 関係機関 (`liaison_agencies`).
    pub liaison_agencies: i64,
    /// その他の活動 by kind (`ActivityKind` codes: survey, events, community, council,
    /// certificate, child_protection, other).
    pub other_activities: BTreeMap<String, i64>,
    /// 活動日数: distinct days with any visit, consultation or activity (for a 民児協, the
    /// sum of its members' days).
    pub activity_days: i64,
}

// ───────────────────────────── salons ─────────────────────────────

/// `GET /api/reports/salons`: per salon and per salon type, for grant reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SalonReport {
    pub period: Period,
    pub salons: Vec<SalonRow>,
    pub types: Vec<SalonRow>,
    /// Records of the report's area that cannot be read or break a rule: they may be
    /// missing from the figures above until corrected (desk: 直してほしい記録).
    #[serde(default)]
    pub needs_correction: Vec<ProblemItem>,
}

/// One salon's (or, in `types`, one salon type's) figures for the period.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SalonRow {
    /// The salon (empty on a type total).
    pub salon: String,
    pub name: String,
    pub salon_type: SalonType,
    pub district: Option<String>,
    pub district_name: String,
    /// Salons counted (1 for a salon row).
    pub salons: u32,
    /// 開催回数: sessions held (cancelled ones not counted).
    pub sessions: i64,
    /// Sessions marked cancelled.
    pub cancelled: i64,
    /// 延べ参加者数: members present plus walk-in guests, summed over sessions held.
    pub participants: i64,
    /// Members present, summed over sessions (延べ).
    pub members_present: i64,
    /// Walk-in guests, summed over sessions.
    pub guests: i64,
    /// 実参加者数: roster members present at least once (guests are not named, so not
    /// included; a person on two salons' rosters counts in each).
    pub distinct_members: i64,
    /// ボランティア延べ人数: helpers present, summed over sessions.
    pub helpers: i64,
}

// ───────────────────────────── 小学校区 view ─────────────────────────────

/// `GET /api/reports/districts`: the "見える化" of support activities per district
/// (小学校区 and every other level). Each row counts what is placed in that district
/// itself, not in districts below it, so the column sums are the area's totals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DistrictReport {
    pub period: Period,
    pub districts: Vec<DistrictRow>,
    /// Records of the report's area that cannot be read or break a rule: they may be
    /// missing from the figures above until corrected (desk: 直してほしい記録).
    #[serde(default)]
    pub needs_correction: Vec<ProblemItem>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct DistrictRow {
    pub district: String,
    pub name: String,
    /// 支所, 地区, 小学校区 …
    pub level: String,
    pub parent_name: String,
    /// People watched over now (status active).
    pub people: i64,
    /// Salons of the district.
    pub salons: i64,
    /// Their sessions held in the period, and 延べ参加者数.
    pub sessions: i64,
    pub participants: i64,
    /// Visits in the period, counted in the district of the person on the visit's date.
    pub visits: i64,
    /// Of those, the ones that reached the person (会えた, 家族と話した).
    pub visits_reached: i64,
    /// Consultations about people of the district in the period.
    pub consultations: i64,
    /// Follow-ups open now for people of the district.
    pub followups_open: i64,
}

// ───────────────────────────── people and assignments ─────────────────────────────

/// `POST /api/desk/assign`: a volunteer (or 民生委員) visits a person; `can_edit` false
/// lets them read the record only. Assigning again changes the right.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssignmentChange {
    /// The person document.
    pub person: String,
    /// The user id.
    pub user: String,
    #[serde(default = "yes")]
    pub can_edit: bool,
}

fn yes() -> bool {
    true
}

/// `POST /api/desk/unassign`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Unassignment {
    pub person: String,
    pub user: String,
}

/// `POST /api/desk/people/move`: the person now belongs to `district`, from `effective_on`
/// (default today; not in the future). Records dated before it keep counting in the old
/// district.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct PersonMove {
    pub person: String,
    pub district: String,
    #[serde(default)]
    pub effective_on: Option<Date>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct PersonMoved {
    pub person: String,
    pub from: Option<String>,
    pub to: String,
    pub effective_on: Option<Date>,
}

/// `POST /api/desk/grants/move`: a user's district-limited grant of `role` moves from
/// district `from` to district `to`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct GrantMove {
    pub user: String,
    pub role: Role,
    pub from: String,
    pub to: String,
}

/// `GET /api/desk/users`: the organisation's users the caller may assign or move.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct DeskUser {
    pub id: String,
    pub login: String,
    pub name: String,
    pub grants: Vec<crate::api::Grant>,
    /// People assigned to them.
    pub assigned: u32,
    pub disabled: bool,
}

// ───────────────────────────── roster import ─────────────────────────────

/// The columns of a roster CSV (`POST /api/desk/import`), by their header text: (header,
/// required, what goes in it). Columns may come in any order; a header not in this list
/// is refused.
pub const IMPORT_COLUMNS: &[(&str, bool, &str)] = &[
    ("氏名", true, "name (at most 100 characters)"),
    ("ふりがな", false, "kana"),
    (
        "生年",
        false,
        "birth year: 1940, or 昭和15 / 昭和15年 / S15 (和暦)",
    ),
    (
        "性別",
        false,
        "女 / 男 / 女性 / 男性, or the codes female / male",
    ),
    ("住所", false, "address (at most 200 characters)"),
    ("電話", false, "phone: digits, hyphens, spaces, ( ) +"),
    (
        "世帯",
        false,
        "独居 / 高齢者のみ世帯 / 日中独居 / その他, or the codes",
    ),
    (
        "地区",
        true,
        "the district's name (unique in the organisation) or id",
    ),
    (
        "見守り頻度",
        false,
        "週1回 / 月2回 / 月1回 / 随時 (also 週1, 月2, 月1), or the codes",
    ),
    (
        "担当ボランティア",
        false,
        "login ids of the visitors to assign, separated by spaces, commas or ・",
    ),
    ("備考", false, "note (at most 2000 characters)"),
];

/// Most data rows one import takes.
pub const MAX_IMPORT_ROWS: usize = 2000;

/// One broken cell of an import. `row` is the line of the file (the header is row 1);
/// `column` the header text (empty for the row as a whole); `message` in Japanese.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ImportRowError {
    pub row: u32,
    pub column: String,
    pub message: String,
}

/// The answer to an import where every row was good: all were created.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ImportResult {
    pub created: u32,
    /// The new person documents, in the order of the rows.
    pub people: Vec<String>,
    /// Assignments made.
    pub assigned: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Date {
        Date::parse(s).unwrap()
    }

    #[test]
    fn months_and_fiscal_years() {
        let p = Period::from_query(Some("2026-02"), None).unwrap();
        assert_eq!((p.from, p.to), (d("2026-02-01"), d("2026-02-28")));
        assert_eq!(p.label(), "2026-02");
        let fy = Period::from_query(None, Some("2025")).unwrap();
        assert_eq!((fy.from, fy.to), (d("2025-04-01"), d("2026-03-31")));
        assert!(fy.contains(d("2026-03-31")) && !fy.contains(d("2026-04-01")));
        assert_eq!(fy.label(), "2025年度");
        assert_eq!(fy.label_wareki(), "令和7年度");
        assert_eq!(fy.key(), "fy2025");
        assert_eq!(fy.months().len(), 12);
        assert_eq!(fy.months()[11].label(), "2026-03");
        assert_eq!(
            Period::month(2019, 5).unwrap().label_wareki(),
            "令和元年5月"
        );
        for (m, y) in [
            (None, None),
            (Some("2026-13"), None),
            (Some("x"), None),
            (Some("2026-04"), Some("2026")),
            (None, Some("abc")),
        ] {
            assert!(Period::from_query(m, y).is_err(), "{m:?} {y:?}");
        }
    }
}
