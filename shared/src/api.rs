//! Request and answer bodies of the API other than sync (docs/api.md).

use crate::codes::{DocKind, Role, SalonType};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct LoginRequest {
    pub login: String,
    pub password: String,
    /// A name the user recognises in the device list (e.g. "iPhone", "事務所のPC").
    #[serde(default)]
    pub device_name: String,
    #[serde(default)]
    pub app: String,
}

/// `POST /api/password`: change the signed-in user's password. Every other device of the
/// user is signed out; this one stays signed in.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct PasswordChange {
    pub current: String,
    pub new: String,
}

/// Shortest password accepted when a user sets one.
pub const MIN_PASSWORD_CHARS: usize = 8;

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct PasswordChanged {
    /// How many other devices were signed out.
    pub ended_sessions: u64,
}

/// One signed-in device of a user (`GET /api/devices`, `GET /api/users/{id}/devices`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct DeviceInfo {
    pub id: String,
    /// What the user called it at sign-in ("iPhone", "PC" …).
    pub name: String,
    pub app_version: String,
    /// Unix ms of its last call (kept to the minute).
    pub last_seen: i64,
    pub signed_in_at: i64,
    pub revoked: bool,
    /// The device asking.
    pub this_device: bool,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct LoginResponse {
    /// The device token: send as `Authorization: Bearer <token>`. Shown once.
    pub token: String,
    pub device_id: String,
    pub user: UserInfo,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct UserInfo {
    pub id: String,
    pub login: String,
    pub name: String,
    pub org_id: String,
    pub org_name: String,
    pub grants: Vec<Grant>,
}

impl UserInfo {
    pub fn has_role(&self, role: &Role) -> bool {
        self.grants.iter().any(|g| &g.role == role)
    }
}

/// One role held by a user, optionally limited to a district (and its sub-districts) or a
/// salon.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Grant {
    pub role: Role,
    #[serde(default)]
    pub district: Option<String>,
    #[serde(default)]
    pub salon: Option<String>,
}

/// What the signed-in user may see of the organisation's structure: cached on the phone
/// for offline use, never edited there.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Directory {
    pub version: i64,
    pub user: UserInfo,
    pub districts: Vec<DistrictInfo>,
    pub salons: Vec<SalonInfo>,
    /// People in the user's scope, with who is assigned to visit them.
    pub people: Vec<PersonEntry>,
    /// Colleagues whose names the user may see (assigned visitors, co-leaders).
    pub users: Vec<UserEntry>,
    /// Every document in the user's scope.
    pub docs: Vec<DocEntry>,
    /// The user's own activity record (民生委員), if there is one.
    pub activity_doc: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct DistrictInfo {
    pub id: String,
    pub parent: Option<String>,
    pub name: String,
    /// 支所, 地区, 小学校区, 自治会 …
    pub level: String,
    /// The district's support-map document.
    pub map_doc: Option<String>,
    /// Map centre for the support map: latitude, longitude, zoom.
    pub center: Option<(f64, f64, u8)>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SalonInfo {
    pub id: String,
    pub name: String,
    pub salon_type: SalonType,
    pub district: Option<String>,
    pub doc: String,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct PersonEntry {
    pub doc: String,
    pub district: String,
    /// User ids of the assigned visitors.
    pub visitors: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct UserEntry {
    pub id: String,
    pub name: String,
    pub roles: Vec<Role>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct DocEntry {
    pub doc: String,
    pub kind: DocKind,
    /// Whether the user may change it (viewing and editing are separate rights).
    pub can_edit: bool,
}
