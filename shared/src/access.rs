//! What a role lets its holder do, defined once: the app asks it to choose the screens and
//! buttons a user gets, the server asks it of each grant when it checks a request. (Which
//! documents a grant opens, and whether it may edit them, is the server's scope on top of
//! this: `server::scope`, `memberships.can_edit`.)

use crate::api::UserInfo;
use crate::codes::Role;

impl Role {
    /// 社協 staff or the administrator: the desk, the audit log, disaster mode, other
    /// users' devices; their reads of person records are audited.
    pub fn is_staff(&self) -> bool {
        matches!(self, Role::Staff | Role::Admin)
    }

    /// Watches over everyone in the district the grant names (not only assigned people):
    /// 民生委員, staff, the administrator. These also record consultations (相談).
    pub fn watches_whole_district(&self) -> bool {
        matches!(self, Role::Minsei | Role::Staff | Role::Admin)
    }

    /// Sees the evacuation roster (避難行動要支援者名簿) of the district the grant names.
    pub fn sees_roster(&self) -> bool {
        matches!(
            self,
            Role::Minsei | Role::Bousai | Role::Staff | Role::Admin
        )
    }

    /// Works on person records: visits, and for [`Role::watches_whole_district`]
    /// consultations.
    pub fn works_on_people(&self) -> bool {
        matches!(
            self,
            Role::Admin | Role::Staff | Role::Minsei | Role::Volunteer
        )
    }

    /// Keeps a salon: its roster, sessions and attendance.
    pub fn keeps_a_salon(&self) -> bool {
        matches!(self, Role::SalonLeader | Role::SalonHelper)
    }
}

/// Where the app opens for a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Home {
    /// きょうの訪問: the people they watch over.
    Today,
    /// サロン: a salon leader or helper with no person records of their own.
    Salons,
    /// 避難支援の名簿: a 自主防災組織 has nothing else.
    Roster,
}

/// A signed-in user's rights, from the roles they hold.
pub trait Access {
    fn roles(&self) -> impl Iterator<Item = &Role>;

    fn has_role(&self, role: &Role) -> bool {
        self.roles().any(|r| r == role)
    }

    fn is_staff(&self) -> bool {
        self.roles().any(Role::is_staff)
    }

    /// きょうの訪問 lists everyone in scope, not only the people assigned to them.
    fn watches_whole_scope(&self) -> bool {
        self.roles().any(Role::watches_whole_district)
    }

    /// May record a consultation (相談) on a person they may edit.
    fn records_consultations(&self) -> bool {
        self.roles().any(Role::watches_whole_district)
    }

    fn sees_roster(&self) -> bool {
        self.roles().any(Role::sees_roster)
    }

    /// Staff reads of person records go to the audit log.
    fn reads_are_audited(&self) -> bool {
        self.is_staff()
    }

    fn home(&self) -> Home {
        if self.roles().any(Role::works_on_people) {
            Home::Today
        } else if self.roles().any(Role::keeps_a_salon) {
            Home::Salons
        } else if self.roles().any(Role::sees_roster) {
            Home::Roster
        } else {
            Home::Today
        }
    }
}

/// Whether `user` may correct or withdraw a record that `recorded_by` made: its author, or
/// staff (the document's edit right is checked besides, by the app and on every sync).
pub fn may_correct(user: &UserInfo, recorded_by: &str) -> bool {
    user.id == recorded_by || user.is_staff()
}

impl Access for UserInfo {
    fn roles(&self) -> impl Iterator<Item = &Role> {
        self.grants.iter().map(|g| &g.role)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Grant;

    fn user(roles: &[Role]) -> UserInfo {
        UserInfo {
            grants: roles
                .iter()
                .map(|r| Grant {
                    role: r.clone(),
                    ..Grant::default()
                })
                .collect(),
            ..UserInfo::default()
        }
    }

    #[test]
    fn the_administrator_records_consultations_like_staff() {
        for r in [Role::Admin, Role::Staff, Role::Minsei] {
            let u = user(std::slice::from_ref(&r));
            assert!(u.records_consultations(), "{r:?}");
            assert!(u.watches_whole_scope(), "{r:?}");
        }
        for r in [Role::Volunteer, Role::SalonLeader, Role::Bousai] {
            assert!(
                !user(std::slice::from_ref(&r)).records_consultations(),
                "{r:?}"
            );
        }
    }

    #[test]
    fn each_user_opens_where_their_work_is() {
        assert_eq!(user(&[Role::Volunteer]).home(), Home::Today);
        assert_eq!(user(&[Role::SalonLeader]).home(), Home::Salons);
        assert_eq!(user(&[Role::SalonHelper]).home(), Home::Salons);
        assert_eq!(user(&[Role::Bousai]).home(), Home::Roster);
        assert_eq!(
            user(&[Role::SalonLeader, Role::Volunteer]).home(),
            Home::Today
        );
        assert_eq!(user(&[Role::Bousai, Role::Minsei]).home(), Home::Today);
        assert_eq!(user(&[]).home(), Home::Today);
    }

    #[test]
    fn a_record_is_corrected_by_its_author_or_staff() {
        let mut vol = user(&[Role::Volunteer]);
        vol.id = "u1".into();
        assert!(may_correct(&vol, "u1"));
        assert!(!may_correct(&vol, "u2"));
        assert!(may_correct(&user(&[Role::Staff]), "u2"));
        assert!(!may_correct(&user(&[Role::Minsei]), "u2"));
    }

    #[test]
    fn staff_is_staff_or_administrator() {
        assert!(user(&[Role::Admin]).is_staff());
        assert!(user(&[Role::Staff]).is_staff());
        assert!(!user(&[Role::Minsei]).is_staff());
        assert!(user(&[Role::Bousai]).sees_roster());
        assert!(!user(&[Role::Volunteer]).sees_roster());
    }
}
