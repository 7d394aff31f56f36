//! The watch plan's arithmetic: when contact is due, how overdue it is, and the 不在 streak
//! (several "not at home" in a row is itself a warning sign). Both the *today* screen and
//! the coordinator's overdue board use this.

use crate::codes::{Frequency, Outcome, PersonStatus};
use crate::date::Date;
use crate::model::{Person, Visit};

/// Three 不在 in a row is a warning sign (DOMAIN.md).
pub const NOT_HOME_WARNING: u32 = 3;

/// Longest gap between contacts the plan allows, in days (`None`: as needed).
pub fn interval_days(f: &Frequency) -> Option<i64> {
    match f {
        Frequency::Weekly => Some(7),
        Frequency::TwiceMonthly => Some(15),
        Frequency::Monthly => Some(31),
        Frequency::AsNeeded | Frequency::Other(_) => None,
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WatchStatus {
    /// The last contact that reached the person (会えた, or 家族と話した).
    pub last_contact: Option<Date>,
    /// The last attempt of any outcome.
    pub last_attempt: Option<Date>,
    /// When the next contact is due; `None` when the plan is "as needed" or the person is
    /// not currently watched over (hospital, facility …).
    pub due: Option<Date>,
    /// Days past `due` (0 when not overdue).
    pub overdue_days: i64,
    /// How many 不在 in a row, counting back from the latest attempt.
    pub not_home_streak: u32,
}

impl WatchStatus {
    pub fn is_overdue(&self) -> bool {
        self.overdue_days > 0
    }
    pub fn streak_warning(&self) -> bool {
        self.not_home_streak >= NOT_HOME_WARNING
    }
}

/// Visits that count, oldest first (withdrawn ones left out).
pub fn visits_in_order(p: &Person) -> Vec<(&String, &Visit)> {
    let mut v: Vec<(&String, &Visit)> = p.visits.iter().filter(|(_, v)| !v.withdrawn).collect();
    v.sort_by(|a, b| {
        (a.1.date, &a.1.time, a.1.recorded_at).cmp(&(b.1.date, &b.1.time, b.1.recorded_at))
    });
    v
}

pub fn status(p: &Person, today: Date) -> WatchStatus {
    let visits = visits_in_order(p);
    let last_contact = visits
        .iter()
        .rev()
        .find(|(_, v)| v.reached())
        .map(|(_, v)| v.date);
    let last_attempt = visits.last().map(|(_, v)| v.date);
    let not_home_streak = visits
        .iter()
        .rev()
        .take_while(|(_, v)| v.outcome == Outcome::NotHome)
        .count() as u32;
    let watched = matches!(p.profile.status, PersonStatus::Active);
    let due = match (watched, interval_days(&p.watch.frequency)) {
        (true, Some(days)) => {
            // A date planned at the last contact counts if it is sooner than the plan.
            let planned = visits.last().and_then(|(_, v)| v.next_contact);
            let by_plan = last_contact.map(|d| d.add_days(days));
            match (by_plan, planned) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (Some(a), None) => Some(a),
                (None, Some(b)) => Some(b),
                // Never reached: due now.
                (None, None) => Some(today),
            }
        }
        _ => None,
    };
    let overdue_days = due.map_or(0, |d| d.days_until(today).max(0));
    WatchStatus {
        last_contact,
        last_attempt,
        due,
        overdue_days,
        not_home_streak,
    }
}

/// The filters of the list of people (きょうの訪問): what a 民生委員 with hundreds of
/// households narrows it to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    /// Everyone.
    All,
    /// 期限切れ: past the day a contact was due.
    Overdue,
    /// 今日まで: due today or before.
    ByToday,
    /// 今週: due within the next seven days (overdue included).
    ThisWeek,
    /// 不在つづき: not at home several times in a row.
    NotHomeStreak,
}

impl Due {
    pub const ALL: [Due; 5] = [
        Due::All,
        Due::Overdue,
        Due::ByToday,
        Due::ThisWeek,
        Due::NotHomeStreak,
    ];

    /// Whether a person with `st` is kept by this filter on `today`.
    pub fn keeps(self, st: &WatchStatus, today: Date) -> bool {
        match self {
            Due::All => true,
            Due::Overdue => st.is_overdue(),
            Due::ByToday => st.due.is_some_and(|d| d <= today),
            Due::ThisWeek => st.due.is_some_and(|d| d <= today.add_days(6)),
            Due::NotHomeStreak => st.streak_warning(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Visit;

    fn d(s: &str) -> Date {
        Date::parse(s).unwrap()
    }

    fn visit(date: &str, outcome: Outcome) -> Visit {
        Visit {
            date: d(date),
            outcome,
            ..Visit::default()
        }
    }

    #[test]
    fn weekly_plan_overdue_and_streak() {
        let mut p = Person::default();
        p.watch.frequency = Frequency::Weekly;
        p.visits
            .insert("a".into(), visit("2026-11-01", Outcome::Met));
        p.visits
            .insert("b".into(), visit("2026-11-05", Outcome::NotHome));
        p.visits
            .insert("c".into(), visit("2026-11-09", Outcome::NotHome));
        p.visits
            .insert("d".into(), visit("2026-11-12", Outcome::NotHome));
        let s = status(&p, d("2026-11-23"));
        assert_eq!(s.last_contact, Some(d("2026-11-01")));
        assert_eq!(s.last_attempt, Some(d("2026-11-12")));
        assert_eq!(s.due, Some(d("2026-11-08")));
        assert_eq!(s.overdue_days, 15);
        assert_eq!(s.not_home_streak, 3);
        assert!(s.streak_warning());
    }

    #[test]
    fn hospitalised_people_are_not_due_and_new_people_are_due_now() {
        let mut p = Person::default();
        p.watch.frequency = Frequency::Monthly;
        let s = status(&p, d("2026-11-23"));
        assert_eq!((s.due, s.overdue_days), (Some(d("2026-11-23")), 0));
        p.profile.status = PersonStatus::Hospitalised;
        assert_eq!(status(&p, d("2026-11-23")).due, None);
    }

    #[test]
    fn a_planned_next_contact_sooner_than_the_plan_counts() {
        let mut p = Person::default();
        p.watch.frequency = Frequency::Monthly;
        let mut v = visit("2026-11-01", Outcome::Met);
        v.next_contact = Some(d("2026-11-10"));
        p.visits.insert("a".into(), v);
        let s = status(&p, d("2026-11-23"));
        assert_eq!(s.due, Some(d("2026-11-10")));
        assert_eq!(s.overdue_days, 13);
    }

    #[test]
    fn the_list_filters_keep_what_they_say() {
        let today = Date::new(2026, 12, 2).unwrap();
        let st = |due: Option<Date>, streak: u32| WatchStatus {
            due,
            overdue_days: due.map_or(0, |d| d.days_until(today).max(0)),
            not_home_streak: streak,
            ..WatchStatus::default()
        };
        let late = st(Some(Date::new(2026, 11, 30).unwrap()), 0);
        let now = st(Some(today), 0);
        let soon = st(Some(Date::new(2026, 12, 8).unwrap()), 0);
        let later = st(Some(Date::new(2026, 12, 9).unwrap()), 3);
        let never = st(None, 0);
        let kept = |f: Due| {
            [&late, &now, &soon, &later, &never]
                .iter()
                .map(|s| f.keeps(s, today))
                .collect::<Vec<_>>()
        };
        assert_eq!(kept(Due::All), [true, true, true, true, true]);
        assert_eq!(kept(Due::Overdue), [true, false, false, false, false]);
        assert_eq!(kept(Due::ByToday), [true, true, false, false, false]);
        assert_eq!(kept(Due::ThisWeek), [true, true, true, false, false]);
        assert_eq!(kept(Due::NotHomeStreak), [false, false, false, true, false]);
    }
}
