//! Calendar dates as field workers write them (local Japanese dates, no time zone), with the
//! arithmetic the product needs: due dates of watch plans, months, fiscal years (April to
//! March) and the Japanese era (和暦).

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// A calendar date. Stored in documents as `"YYYY-MM-DD"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    year: i32,
    month: u8,
    day: u8,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a date: {0:?}")]
pub struct BadDate(pub String);

const fn is_leap(y: i32) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

/// Days in `month` (1–12) of `year`.
pub const fn days_in_month(year: i32, month: u8) -> u8 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        2 => 28,
        _ => 0,
    }
}

impl Date {
    /// A date, if it exists in the calendar (and lies in 1900–2999, the range any record of
    /// ours can sensibly hold).
    pub fn new(year: i32, month: u8, day: u8) -> Option<Date> {
        let ok = (1900..=2999).contains(&year)
            && (1..=12).contains(&month)
            && day >= 1
            && day <= days_in_month(year, month);
        ok.then_some(Date { year, month, day })
    }

    pub fn year(self) -> i32 {
        self.year
    }
    pub fn month(self) -> u8 {
        self.month
    }
    pub fn day(self) -> u8 {
        self.day
    }

    /// Parses `YYYY-MM-DD` (also `YYYY/MM/DD`, as people type it in spreadsheets).
    pub fn parse(s: &str) -> Result<Date, BadDate> {
        let bad = || BadDate(s.chars().take(40).collect());
        let t = s.trim();
        let parts: Vec<&str> = t.split(['-', '/']).collect();
        if parts.len() != 3
            || parts
                .iter()
                .any(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(bad());
        }
        let y: i32 = parts[0].parse().map_err(|_| bad())?;
        let m: u8 = parts[1].parse().map_err(|_| bad())?;
        let d: u8 = parts[2].parse().map_err(|_| bad())?;
        Date::new(y, m, d).ok_or_else(bad)
    }

    /// Days since 1970-01-01 (negative before).
    pub fn days_since_epoch(self) -> i64 {
        // Howard Hinnant's days_from_civil.
        let y = i64::from(self.year) - i64::from(self.month <= 2);
        let era = if y >= 0 { y } else { y - 399 } / 400;
        let yoe = y - era * 400;
        let m = i64::from(self.month);
        let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(self.day) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }

    /// The date `days` after 1970-01-01, if within range.
    pub fn from_days_since_epoch(days: i64) -> Option<Date> {
        let z = days + 719_468;
        let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = doy - (153 * mp + 2) / 5 + 1;
        let m = if mp < 10 { mp + 3 } else { mp - 9 };
        let y = yoe + era * 400 + i64::from(m <= 2);
        Date::new(i32::try_from(y).ok()?, m as u8, d as u8)
    }

    /// The local date of a Unix time in milliseconds, in Japan (UTC+9, no daylight saving).
    pub fn from_unix_ms_jst(ms: i64) -> Option<Date> {
        Date::from_days_since_epoch((ms + 9 * 3_600_000).div_euclid(86_400_000))
    }

    /// Unix milliseconds at the start (00:00) of this day in Japan.
    pub fn start_unix_ms_jst(self) -> i64 {
        self.days_since_epoch() * 86_400_000 - 9 * 3_600_000
    }

    pub fn add_days(self, days: i64) -> Date {
        Date::from_days_since_epoch(self.days_since_epoch() + days).unwrap_or(self)
    }

    /// Days from `self` to `later` (negative if `later` is earlier).
    pub fn days_until(self, later: Date) -> i64 {
        later.days_since_epoch() - self.days_since_epoch()
    }

    /// The same day `n` months later, clamped to the month's end (Jan 31 + 1 month = Feb 28).
    pub fn add_months(self, n: i32) -> Date {
        let total = self.year * 12 + i32::from(self.month) - 1 + n;
        let (y, m) = (total.div_euclid(12), (total.rem_euclid(12) + 1) as u8);
        let d = self.day.min(days_in_month(y, m));
        Date::new(y, m, d).unwrap_or(self)
    }

    /// 0 = Monday … 6 = Sunday.
    pub fn weekday(self) -> u8 {
        (self.days_since_epoch() + 3).rem_euclid(7) as u8
    }

    pub fn first_of_month(self) -> Date {
        Date { day: 1, ..self }
    }

    /// The Japanese fiscal year (年度) the date belongs to: April to March, named by the
    /// calendar year in which it starts.
    pub fn fiscal_year(self) -> i32 {
        if self.month >= 4 {
            self.year
        } else {
            self.year - 1
        }
    }

    /// `"YYYY-MM"`, the month key used in reports.
    pub fn month_key(self) -> String {
        format!("{:04}-{:02}", self.year, self.month)
    }

    /// The era name and year of the era (令和7年 → ("令和", 7)), for the eras our records can
    /// hold (明治 onwards).
    pub fn wareki(self) -> (&'static str, i32) {
        const ERAS: [(&str, (i32, u8, u8)); 5] = [
            ("令和", (2019, 5, 1)),
            ("平成", (1989, 1, 8)),
            ("昭和", (1926, 12, 25)),
            ("大正", (1912, 7, 30)),
            ("明治", (1868, 1, 25)),
        ];
        for (name, (y, m, d)) in ERAS {
            if (self.year, self.month, self.day) >= (y, m, d) {
                return (name, self.year - y + 1);
            }
        }
        ("明治", self.year - 1868 + 1)
    }

    /// 令和7年4月1日 (the first year of an era is written 元年).
    pub fn format_wareki(self) -> String {
        let (era, y) = self.wareki();
        let y = if y == 1 {
            "元".to_string()
        } else {
            y.to_string()
        };
        format!("{era}{y}年{}月{}日", self.month, self.day)
    }
}

/// 2000-01-01: what a record whose date is missing (written by another implementation)
/// reads as, so that it sorts as old rather than disappearing.
/// A calendar date in Japan, `YYYY-MM-DD` (Automerge string).
#[cfg(feature = "schema")]
impl schemars::JsonSchema for Date {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Date".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "format": "date",
            "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$",
            "description": "A calendar date in Japan, YYYY-MM-DD (Automerge string).",
        })
    }
}

impl Default for Date {
    fn default() -> Self {
        Date {
            year: 2000,
            month: 1,
            day: 1,
        }
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

impl std::str::FromStr for Date {
    type Err = BadDate;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Date::parse(s)
    }
}

impl Serialize for Date {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Date {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Date::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A time of day `"HH:MM"`, validated.
pub fn parse_time_of_day(s: &str) -> Option<(u8, u8)> {
    let (h, m) = s.trim().split_once(':')?;
    if h.is_empty()
        || h.len() > 2
        || m.len() != 2
        || !h.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let (h, m): (u8, u8) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60).then_some((h, m))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Date {
        Date::parse(s).unwrap()
    }

    #[test]
    fn a_day_starts_at_midnight_in_japan() {
        let day = d("2026-04-01");
        let start = day.start_unix_ms_jst();
        // 2026-03-31T15:00:00Z
        assert_eq!(start, 1_774_969_200_000);
        assert_eq!(Date::from_unix_ms_jst(start), Some(day));
        assert_eq!(Date::from_unix_ms_jst(start - 1), Some(d("2026-03-31")));
    }

    #[test]
    fn parses_and_rejects() {
        assert_eq!(d("2026-11-23").to_string(), "2026-11-23");
        assert_eq!(d("2026/4/1").to_string(), "2026-04-01");
        for bad in [
            "2026-02-30",
            "2026-13-01",
            "",
            "2026-1",
            "x-1-1",
            "2026-01-01T00:00",
            "0-1-1",
            "2025-02-29",
        ] {
            assert!(Date::parse(bad).is_err(), "{bad}");
        }
        assert!(Date::parse("2024-02-29").is_ok());
    }

    #[test]
    fn epoch_days_round_trip() {
        assert_eq!(d("1970-01-01").days_since_epoch(), 0);
        assert_eq!(d("2000-03-01").days_since_epoch(), 11_017);
        for n in [-25_000, -1, 0, 1, 365, 11_017, 20_415, 300_000] {
            assert_eq!(
                Date::from_days_since_epoch(n).unwrap().days_since_epoch(),
                n
            );
        }
    }

    #[test]
    fn arithmetic() {
        assert_eq!(d("2026-01-31").add_months(1), d("2026-02-28"));
        assert_eq!(d("2026-12-15").add_months(1), d("2027-01-15"));
        assert_eq!(d("2026-01-15").add_months(-1), d("2025-12-15"));
        assert_eq!(d("2026-11-23").add_days(10), d("2026-12-03"));
        assert_eq!(d("2026-11-23").days_until(d("2026-12-03")), 10);
        assert_eq!(d("2026-11-23").weekday(), 0); // a Monday
        assert_eq!(d("2026-03-31").fiscal_year(), 2025);
        assert_eq!(d("2026-04-01").fiscal_year(), 2026);
    }

    #[test]
    fn japanese_time_zone_and_era() {
        // 2026-11-22T15:00Z is already the 23rd in Japan.
        assert_eq!(
            Date::from_unix_ms_jst(1_795_359_600_000).unwrap(),
            d("2026-11-23")
        );
        assert_eq!(d("2025-04-01").format_wareki(), "令和7年4月1日");
        assert_eq!(d("2019-05-01").format_wareki(), "令和元年5月1日");
        assert_eq!(d("2019-04-30").format_wareki(), "平成31年4月30日");
    }

    #[test]
    fn times_of_day() {
        assert_eq!(parse_time_of_day("13:30"), Some((13, 30)));
        assert_eq!(parse_time_of_day("9:05"), Some((9, 5)));
        assert_eq!(parse_time_of_day("24:00"), None);
        assert_eq!(parse_time_of_day("12:7"), None);
    }
}
