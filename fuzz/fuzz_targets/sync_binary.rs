//! The binary half of `POST /api/sync`, without JSON and base64 in the way: the input is
//! split into pieces, each becomes a pushed change or a sync message of a `SyncRequest`,
//! and the request goes through `shared::sync::check_request` and what the server does
//! after it, as in `sync_request`. The fuzzer mutates Automerge's encodings directly.
#![no_main]

use automerge::Change;
use libfuzzer_sys::fuzz_target;
use shared::sync::{Bytes, DocPush, FallbackMsg, PROTOCOL_VERSION, SyncRequest, check_request};

/// Pieces are separated by the 4 bytes `MMFZ`; a piece whose first byte is odd is a sync
/// message, otherwise a change (the first byte is dropped).
const SEP: &[u8] = b"MMFZ";

fuzz_target!(|data: &[u8]| {
    mimamori_fuzz::unwind_like_the_server();
    let mut req = SyncRequest {
        v: PROTOCOL_VERSION,
        ..Default::default()
    };
    let mut changes = Vec::new();
    let mut rest = data;
    loop {
        let (piece, next) = match rest.windows(SEP.len()).position(|w| w == SEP) {
            Some(i) => (&rest[..i], Some(&rest[i + SEP.len()..])),
            None => (rest, None),
        };
        if let Some((&tag, body)) = piece.split_first() {
            if tag % 2 == 1 {
                req.fallback.push(FallbackMsg {
                    doc: "doc-1".into(),
                    msg: Bytes(body.to_vec()),
                });
            } else {
                // A mutated change almost never keeps a right checksum (SHA-256), which
                // `check_request` insists on (the target `sync_request` covers that gate):
                // make it right, so the fuzzer reaches what comes after it.
                let mut body = body.to_vec();
                if let Ok(c) = Change::try_from(body.as_slice()) {
                    body[4..8].copy_from_slice(&c.hash().0[..4]);
                }
                changes.push(Bytes(body));
            }
        }
        match next {
            Some(n) => rest = n,
            None => break,
        }
    }
    req.push.push(DocPush {
        doc: "doc-1".into(),
        create: None,
        changes,
    });
    if let Ok(checked) = check_request(req) {
        mimamori_fuzz::server_after_check(checked);
    }
});
