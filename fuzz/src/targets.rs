//! The body of each fuzz target, one function per target in `fuzz_targets/`. The libFuzzer
//! binaries call them with the fuzzer's inputs; `tests/replay.rs` calls them with every
//! committed seed and regression input, which is what the README's test command runs
//! (docs/fuzzing.md). The server targets' binaries call [`crate::unwind_like_the_server`]
//! first; the replay installs its own panic hook instead.

use automerge::{ActorId, Automerge};
use shared::Date;
use shared::client::{LocalDoc, Replica};
use shared::codes::DocKind;
use shared::roster::{Lookup, decode, parse_roster};
use shared::sync::{
    Bytes, DocPush, FallbackMsg, NewDoc, PROTOCOL_VERSION, SyncRequest, SyncResponse, check_request,
};
use std::collections::BTreeMap;
use std::sync::OnceLock;

/// Pieces of a binary input are separated by the 4 bytes `MMFZ`.
pub const SEP: &[u8] = b"MMFZ";

/// Splits an input at every [`SEP`].
pub fn pieces(data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = data;
    loop {
        match rest.windows(SEP.len()).position(|w| w == SEP) {
            Some(i) => {
                out.push(&rest[..i]);
                rest = &rest[i + SEP.len()..];
            }
            None => {
                out.push(rest);
                return out;
            }
        }
    }
}

/// `POST /api/sync`: the body as the server reads it — JSON into `SyncRequest` (what axum's
/// `Json` extractor does), then `shared::sync::check_request` (the server's validation),
/// then what the server does with an accepted request ([`crate::server_after_check`]).
pub fn sync_request(data: &[u8]) {
    let Ok(req) = serde_json::from_slice::<SyncRequest>(data) else {
        return;
    };
    if let Ok(checked) = check_request(req) {
        crate::server_after_check(checked);
    }
}

/// The binary half of `POST /api/sync`, without JSON and base64 in the way: each piece
/// whose first byte is odd is a sync message, otherwise a change (the first byte dropped);
/// the request then goes the way of [`sync_request`].
pub fn sync_binary(data: &[u8]) {
    let mut req = SyncRequest {
        v: PROTOCOL_VERSION,
        ..Default::default()
    };
    let mut changes = Vec::new();
    for piece in pieces(data) {
        let Some((&tag, body)) = piece.split_first() else {
            continue;
        };
        if tag % 2 == 1 {
            req.fallback.push(FallbackMsg {
                doc: "doc-1".into(),
                msg: Bytes(body.to_vec()),
            });
        } else {
            // A mutated change almost never keeps a right checksum (SHA-256), which
            // `check_request` insists on (the target `sync_request` covers that gate):
            // make it right, so the fuzzer reaches what comes after it. Decoded the guarded
            // way: Automerge 0.12 panics decoding some changes (an actor index past `u32`).
            let mut body = body.to_vec();
            if let Ok(c) = shared::sync::decode_change(&body) {
                body[4..8].copy_from_slice(&c.hash().0[..4]);
            }
            changes.push(Bytes(body));
        }
    }
    req.push.push(DocPush {
        doc: "doc-1".into(),
        create: None,
        changes,
    });
    if let Ok(checked) = check_request(req) {
        crate::server_after_check(checked);
    }
}

/// Document load: a kind byte, then chunks. The server loads the first chunk as a snapshot
/// (`store::Stored::load`); the app restores every chunk in order
/// (`shared::client::LocalDoc::restore`, chunks from IndexedDB). Each document is read as
/// every record type, then saved and loaded again (both sides compact).
pub fn doc_load(data: &[u8]) {
    let Some((&kind, data)) = data.split_first() else {
        return;
    };
    let chunks: Vec<Vec<u8>> = pieces(data).into_iter().map(<[u8]>::to_vec).collect();

    // The server: a snapshot.
    if shared::sync::known_chunks(&chunks[0])
        && let Ok(doc) = Automerge::load(&chunks[0])
    {
        crate::read_all(&doc);
        crate::compact(&doc);
    }

    // The app: every chunk, in order.
    let actor = ActorId::from(&[1u8; 16][..]);
    if let Ok(mut d) =
        LocalDoc::restore(crate::kind(kind), &actor, &chunks, Vec::new(), None, false)
    {
        crate::read_all(&d.doc);
        let heads = d.doc.get_heads();
        // The app's compaction: a snapshot only if it loads again, else the chunks stay.
        if let Some(snap) = d.snapshot() {
            let again = Automerge::load(&snap).expect("a checked snapshot loads again");
            assert_eq!(again.get_heads(), heads);
        }
    }
}

fn lookup() -> &'static Lookup {
    static L: OnceLock<Lookup> = OnceLock::new();
    L.get_or_init(|| Lookup {
        districts: BTreeMap::from([
            ("d1".to_string(), ("東地区".to_string(), true)),
            ("d2".to_string(), ("西地区".to_string(), false)),
            ("d3".to_string(), ("本町".to_string(), true)),
            ("d4".to_string(), ("本町".to_string(), true)),
        ]),
        users: BTreeMap::from([
            ("vol01".to_string(), ("u1".to_string(), true)),
            ("vol02".to_string(), ("u2".to_string(), true)),
            ("staff".to_string(), ("u3".to_string(), false)),
        ]),
    })
}

/// The coordinator's roster import (`POST /api/desk/import`): the uploaded bytes through
/// `shared::roster::decode` and `parse_roster`, as `server::people::import` calls them,
/// against a small fixed set of districts and users.
pub fn roster_import(data: &[u8]) {
    let Some(text) = decode(data) else {
        return;
    };
    let today = Date::new(2026, 11, 30).expect("a date");
    match parse_roster(&text, lookup(), today) {
        Ok(rows) => {
            assert!(!rows.is_empty());
            for r in rows {
                assert!(r.line >= 2, "a row on line {}", r.line);
                assert!(lookup().districts.contains_key(&r.district));
            }
        }
        Err(errors) => assert!(!errors.is_empty()),
    }
}

/// The app's side of sync: a server answer applied by `shared::client::Replica::apply` to
/// a device holding a document, then the next request built. A broken answer must be an
/// error, never a panic.
pub fn sync_response(data: &[u8]) {
    let Ok(resp) = serde_json::from_slice::<SyncResponse>(data) else {
        return;
    };
    let mut r = Replica::new(ActorId::from(&[7u8; 16][..]));
    r.create(
        "doc-1",
        NewDoc {
            kind: DocKind::Person,
            district: Some("d1".into()),
            salon: None,
        },
    )
    .expect("a new document");
    let sent = r.request("fuzz");
    if r.apply(&sent, resp).is_ok() {
        let _ = r.request("fuzz");
        for (_, d) in r.docs() {
            crate::read_all(&d.doc);
        }
    }
}

/// Every target by name, as `scripts/fuzz` and the replay name them.
pub const ALL: &[(&str, fn(&[u8]), Side)] = &[
    ("sync_request", sync_request, Side::Server),
    ("sync_binary", sync_binary, Side::Server),
    ("doc_load", doc_load, Side::App),
    ("roster_import", roster_import, Side::Server),
    ("sync_response", sync_response, Side::App),
];

/// Which panics a target tolerates: the server unwinds and catches Automerge's own panics
/// where it applies outside changes; the app (wasm, `panic = "abort"`) tolerates none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Server,
    App,
}
