//! Document load: what the server and the app do with stored or received bytes.
//! - the server: a stored snapshot with `Automerge::load` (`store::Stored::load`);
//! - the app: stored or received chunks with `load_incremental`, through
//!   `shared::client::LocalDoc::restore` (chunks from IndexedDB);
//!
//! then the document read as every record type (`shared::doc::read`), saved and loaded
//! again (the server compacts documents into snapshots; the app compacts its storage).
//!
//! The input is split into chunks at the 4 bytes `MMFZ`.
#![no_main]

use automerge::{ActorId, Automerge};
use libfuzzer_sys::fuzz_target;
use shared::client::LocalDoc;

const SEP: &[u8] = b"MMFZ";

fuzz_target!(|data: &[u8]| {
    let Some((&kind, data)) = data.split_first() else {
        return;
    };
    let mut chunks = Vec::new();
    let mut rest = data;
    loop {
        match rest.windows(SEP.len()).position(|w| w == SEP) {
            Some(i) => {
                chunks.push(rest[..i].to_vec());
                rest = &rest[i + SEP.len()..];
            }
            None => {
                chunks.push(rest.to_vec());
                break;
            }
        }
    }

    // The server: a snapshot (`store::Stored::load` checks the chunks first).
    if shared::sync::known_chunks(&chunks[0])
        && let Ok(doc) = Automerge::load(&chunks[0])
    {
        mimamori_fuzz::read_all(&doc);
        mimamori_fuzz::compact(&doc);
    }

    // The app: every chunk, in order.
    let actor = ActorId::from(&[1u8; 16][..]);
    if let Ok(mut d) = LocalDoc::restore(
        mimamori_fuzz::kind(kind),
        &actor,
        &chunks,
        Vec::new(),
        None,
        false,
    ) {
        mimamori_fuzz::read_all(&d.doc);
        let heads = d.doc.get_heads();
        let snap = d.snapshot();
        let again = Automerge::load(&snap).expect("a restored document saved and loaded again");
        assert_eq!(again.get_heads(), heads);
    }
});
