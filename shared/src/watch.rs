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

#[derive(Debug, Clone, PartialEq, Eq)]
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
}
