//! The app's side of sync: a server answer (JSON into `SyncResponse`) applied by
//! `shared::client::Replica::apply` to a device holding a document, then the next request
//! built. A broken answer must be an error, never a panic.
#![no_main]

use automerge::ActorId;
use libfuzzer_sys::fuzz_target;
use shared::client::Replica;
use shared::codes::DocKind;
use shared::sync::{NewDoc, SyncResponse};

fuzz_target!(|data: &[u8]| {
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
            mimamori_fuzz::read_all(&d.doc);
        }
    }
});
