//! The sync wire format (docs/sync-protocol.md is the normative description).
//!
//! One `POST /api/sync` carries the device's unacknowledged changes and its cursor; the
//! answer carries every change in the device's scope newer than the cursor, documents that
//! entered or left the scope, and a new cursor. Changes travel in Automerge's binary change
//! encoding (base64 in JSON), so any Automerge implementation can take part.

use crate::codes::DocKind;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub const PROTOCOL_VERSION: u32 = 1;
/// Largest request body the server reads (413 above it).
pub const MAX_REQUEST_BYTES: usize = 4 * 1024 * 1024;
/// What a client packs into one request at most, leaving room for the JSON around it.
pub const CLIENT_PUSH_BUDGET: usize = 2 * 1024 * 1024;
/// Largest single change the server accepts.
pub const MAX_CHANGE_BYTES: usize = 512 * 1024;
/// Roughly how many bytes of changes one answer carries before it says `more`.
pub const RESPONSE_BUDGET: usize = 1024 * 1024;
/// Most documents one request may name.
pub const MAX_DOCS_PER_REQUEST: usize = 5000;

/// Binary data, base64 (standard alphabet, padded) in JSON.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Bytes(pub Vec<u8>);

impl std::fmt::Debug for Bytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Bytes({} bytes)", self.0.len())
    }
}

impl Serialize for Bytes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        STANDARD
            .decode(s.as_bytes())
            .map(Bytes)
            .map_err(|_| serde::de::Error::custom("invalid base64"))
    }
}

impl From<Vec<u8>> for Bytes {
    fn from(v: Vec<u8>) -> Self {
        Bytes(v)
    }
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SyncRequest {
    /// [`PROTOCOL_VERSION`].
    pub v: u32,
    /// The cursor of the last answer this device applied; `null` on first sync.
    pub cursor: Option<String>,
    /// The app's version, shown in the device list.
    #[serde(default)]
    pub app: String,
    /// Changes not yet acknowledged, per document.
    #[serde(default)]
    pub push: Vec<DocPush>,
    /// Automerge sync-protocol messages, for documents whose histories need reconciling.
    #[serde(default)]
    pub fallback: Vec<FallbackMsg>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct DocPush {
    pub doc: String,
    /// Present when this device created the document and the server has not yet
    /// acknowledged it: where the document belongs.
    #[serde(default)]
    pub create: Option<NewDoc>,
    /// Each entry is one change in Automerge's binary encoding.
    pub changes: Vec<Bytes>,
}

/// Where a new document belongs. The server decides whether the user may create it there.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct NewDoc {
    pub kind: DocKind,
    /// The district of a person or map document.
    #[serde(default)]
    pub district: Option<String>,
    /// The salon of a salon document.
    #[serde(default)]
    pub salon: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct FallbackMsg {
    pub doc: String,
    /// An Automerge sync message (`automerge::sync::Message::encode`).
    pub msg: Bytes,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SyncResponse {
    pub v: u32,
    /// Give this back in the next request.
    pub cursor: String,
    /// More changes are waiting: sync again at once.
    #[serde(default)]
    pub more: bool,
    /// Changes (or whole documents) for documents in scope.
    #[serde(default)]
    pub docs: Vec<DocUpdate>,
    /// Documents that left the device's scope: remove them from the device.
    #[serde(default)]
    pub removed: Vec<String>,
    #[serde(default)]
    pub fallback: Vec<FallbackMsg>,
    /// Set when the server cannot trust the cursor (a restored database, another server):
    /// every document in scope with the server's heads. The device reconciles each
    /// document whose heads differ through the sync protocol.
    #[serde(default)]
    pub resync: Option<Vec<ScopeEntry>>,
    /// The version of the directory (users, districts, salons, assignments); fetch
    /// `GET /api/directory` when it differs from the cached one.
    #[serde(default)]
    pub directory: i64,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct DocUpdate {
    pub doc: String,
    pub kind: DocKind,
    /// Where the document belongs; sent with whole documents (first delivery), so that any
    /// device holding it can offer it again to a server restored from an older backup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placement: Option<NewDoc>,
    /// Automerge chunks: single changes, or a whole saved document. Apply each with
    /// `load_incremental`.
    pub chunks: Vec<Bytes>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ScopeEntry {
    pub doc: String,
    pub kind: DocKind,
    /// The server's heads, as hex change hashes.
    pub heads: Vec<String>,
}

/// Every error answer of the API: `{"error": code, "message": text}`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ApiError {
    /// A stable code: `unauthorized`, `forbidden`, `bad_request`, `too_large`, `throttled`,
    /// `not_found`, `conflict`, `bad_gateway` (map tiles), `server`; for 401 also
    /// `revoked` (the device was signed out by its user or the office, or by too many wrong
    /// PINs: the device must wipe its local data) and `signed_out` (the password was changed
    /// elsewhere: sign in again, local data is kept); `wrong_pin` (403) for an unlock;
    /// `read_only` (403) for a push to a document the user may only view; `bad_rows` (400)
    /// for a roster import with broken rows (nothing imported; `rows` lists them).
    pub error: String,
    pub message: String,
    /// For `forbidden` answers to a sync: the documents the user may not write or read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub docs: Vec<String>,
    /// For `wrong_pin` answers to an unlock: PIN attempts left before the device is wiped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempts_left: Option<u32>,
    /// For `bad_rows` answers to a roster import: each broken row, column and why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rows: Vec<crate::desk::ImportRowError>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_are_base64_and_garbage_is_an_error() {
        let r = DocPush {
            doc: "d".into(),
            create: None,
            changes: vec![Bytes(vec![0, 1, 2, 255])],
        };
        let s = serde_json::to_string(&r).unwrap();
        assert!(s.contains("\"AAEC/w==\""), "{s}");
        assert_eq!(serde_json::from_str::<DocPush>(&s).unwrap(), r);
        assert!(serde_json::from_str::<DocPush>(r#"{"doc":"d","changes":["***"]}"#).is_err());
    }

    #[test]
    fn a_minimal_request_parses() {
        let r: SyncRequest = serde_json::from_str(r#"{"v":1,"cursor":null}"#).unwrap();
        assert!(r.push.is_empty() && r.cursor.is_none());
    }
}
