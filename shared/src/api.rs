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
    /// The server-held half of the key that encrypts this device's local data.
    #[serde(default)]
    pub keys: DeviceKeys,
}

/// The server-held wrapping secret of one device (docs/security.md, "Data on the phone").
/// The phone's data key is wrapped with a key derived from the user's PIN *and* this
/// secret; the phone keeps the secret only for `lock_after_days` after its last contact
/// with the server, then must unlock online (`POST /api/unlock`), where wrong PINs count.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct DeviceKeys {
    /// 32 random bytes, made at sign-in, deleted when the device is revoked.
    pub wrap_secret: crate::sync::Bytes,
    /// A device that has not reached the server for this many days locks until it does.
    pub lock_after_days: u32,
}

/// Wrong PINs (in a row) after which a device is revoked and its data wiped.
pub const PIN_ATTEMPTS: u32 = 5;

/// `POST /api/pin`: this device's PIN proof (a PBKDF2 output of the PIN, never the PIN),
/// kept by the server as an Argon2id hash so that an online unlock can check it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct PinSet {
    pub proof: crate::sync::Bytes,
}

/// `POST /api/unlock` (no device token: on a locked phone the token is itself encrypted
/// under the data key; the device is named by its id): answered with [`DeviceKeys`], or
/// 403 `wrong_pin` with `attempts_left`; after [`PIN_ATTEMPTS`] wrong proofs in a row the
/// device is revoked and its wrapping secret destroyed (401 `revoked` from then on).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct UnlockRequest {
    pub device_id: String,
    pub proof: crate::sync::Bytes,
}

/// `POST /api/reads`: person records a staff member opened on the phone (recorded in the
/// audit log; offline reads are sent with the next contact).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ReadReport {
    pub reads: Vec<ReadEvent>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ReadEvent {
    pub doc: String,
    /// Unix ms when it was opened.
    pub at: i64,
}

/// One row of the audit log as staff see it (`GET /api/audit`). Never holds the content
/// of a record: who, when, what kind of event, which document id.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct AuditEntry {
    pub id: i64,
    pub at: i64,
    pub user_id: Option<String>,
    pub user_name: Option<String>,
    pub device_id: Option<String>,
    pub action: String,
    pub doc_id: Option<String>,
    pub detail: String,
}

/// `GET /api/audit?action=&user=&since=&until=&before=&limit=`: newest first.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct AuditPage {
    pub entries: Vec<AuditEntry>,
    /// Pass as `before` for the next (older) page; none when this was the last.
    pub next_before: Option<i64>,
    /// Every action that occurs in the organisation's log (for the filter).
    pub actions: Vec<String>,
}

/// `POST /api/disaster`: staff open a district's evacuation roster to its responders
/// regardless of consent, for a limited time (内閣府 guidance on 避難行動要支援者名簿).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct DisasterStart {
    pub district: String,
    /// 1 to 72.
    pub hours: u32,
    pub reason: String,
}

/// Longest a disaster mode may run before staff start it again.
pub const DISASTER_MAX_HOURS: u32 = 72;

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct DisasterMode {
    pub id: String,
    pub district: String,
    pub district_name: String,
    pub started_by: String,
    pub started_at: i64,
    pub ends_at: i64,
    /// Set when staff ended it early.
    pub ended_at: Option<i64>,
    pub reason: String,
}

impl DisasterMode {
    pub fn active_at(&self, now_ms: i64) -> bool {
        self.ended_at.is_none() && now_ms < self.ends_at
    }
}

/// `GET /api/roster`: the 避難行動要支援者 of the caller's districts (民生委員, 自主防災
/// 組織, staff). In normal times only people who consented to sharing with the 自主防災組織;
/// under an active disaster mode of the district (or a district above it), everyone listed.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Roster {
    pub fetched_at: i64,
    /// Disaster modes active now for the caller's districts.
    pub disaster: Vec<DisasterMode>,
    pub people: Vec<RosterEntry>,
}

/// The evacuation-relevant fields of one person; nothing else of the record.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct RosterEntry {
    pub doc: String,
    pub district: String,
    pub name: String,
    pub kana: String,
    pub birth_year: Option<i32>,
    pub address: String,
    pub phone: String,
    pub household: Option<crate::codes::Household>,
    pub support_needed: String,
    pub helper: String,
    pub shelter: String,
    pub contacts: Vec<crate::model::EmergencyContact>,
    /// Whether the person consented to sharing with the 自主防災組織 (false: shown only
    /// because of a disaster mode).
    pub consented: bool,
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
