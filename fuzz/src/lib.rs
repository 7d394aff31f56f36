//! What several fuzz targets share: the steps production runs after decoding, so a target
//! goes as deep as the server or the app would with the same bytes.

use automerge::sync::{State, SyncDoc};
use automerge::{Automerge, Change};
use shared::codes::DocKind;
use shared::model::{ActivityLog, Person, Salon, SupportMap};
use shared::sync::{CheckedRequest, apply_pushed, receive_untrusted};
use std::sync::Once;

pub mod targets;

/// The server unwinds on a panic, and catches Automerge's panics where it applies
/// changes from outside (`shared::sync::apply_untrusted`). libfuzzer-sys aborts on every
/// panic, caught or not; server targets call this first, so that a panic inside Automerge
/// unwinds as it would on the server: caught where the server catches it, a crash (the
/// harness's own `catch_unwind` aborts) anywhere else. Every other panic aborts at once.
/// `MIMAMORI_FUZZ_VERBOSE=1` prints the caught ones too.
pub fn unwind_like_the_server() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let verbose = std::env::var_os("MIMAMORI_FUZZ_VERBOSE").is_some();
        let abort_hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let in_automerge = info
                .location()
                .is_some_and(|l| l.file().contains("/automerge-"));
            if !in_automerge {
                abort_hook(info);
            } else if verbose {
                eprintln!(
                    "automerge panicked (caught where the server catches it): {info}\n{}",
                    std::backtrace::Backtrace::force_capture()
                );
            }
        }));
    });
}

thread_local! {
    /// The document the server holds: a person document with a visit (see examples/make_seeds.rs).
    static STORED: Automerge = stored_person();
}

fn stored_person() -> Automerge {
    use automerge::transaction::Transactable;
    let mut d = Automerge::new().with_actor(automerge::ActorId::from(&[5u8; 16][..]));
    let mut tx = d.transaction();
    shared::doc::init(&mut tx, &DocKind::Person).expect("init");
    tx.commit();
    let mut tx = d.transaction();
    shared::crdt::write(
        &mut tx,
        &["profile", "name"],
        &serde_json::json!("山田 花子"),
    )
    .expect("write");
    shared::crdt::write(
        &mut tx,
        &["visits", "v1"],
        &serde_json::json!({"date": "2026-11-20", "outcome": "met"}),
    )
    .expect("write");
    let _ = tx.put(automerge::ROOT, "x", 1);
    tx.commit();
    d
}

/// What the server does after `check_request` accepts a request (`server::sync::write`,
/// `store::Stored::load`, `projection`): each push applied to the stored document
/// (refused if that fails), each sync message received by the stored document and
/// answered; then the document read as every record type, and compacted (saved and
/// loaded again, as the projection does).
pub fn server_after_check(checked: CheckedRequest) {
    for p in &checked.push {
        let mut doc = STORED.with(Automerge::clone);
        let changes: Vec<Change> = p
            .changes
            .iter()
            .map(|(hash, bytes)| {
                let c = shared::sync::decode_change(bytes)
                    .expect("check_request let through a change that does not decode");
                assert_eq!(&c.hash().to_string(), hash, "hash changed on re-decoding");
                c
            })
            .collect();
        if apply_pushed(&mut doc, changes).is_ok() {
            read_all(&doc);
            compact(&doc);
        }
    }
    for (_, msg) in checked.fallback {
        // As `server::sync::write`: receive, check every change the message carried, and
        // what it brought must leave a document that saves and loads again.
        let mut doc = STORED.with(Automerge::clone);
        let before = doc.get_heads();
        let mut state = State::new();
        let carried = shared::sync::carried_changes(&msg);
        if receive_untrusted(&mut doc, &mut state, msg).is_err() {
            continue;
        }
        if carried
            .iter()
            .any(|ch| shared::sync::check_change(ch, ch.raw_bytes()).is_err())
        {
            continue;
        }
        let brought = !doc.get_changes(&before).is_empty() || !carried.is_empty();
        if brought && shared::sync::reloads_the_same(&doc).is_err() {
            continue;
        }
        let _ = doc.generate_sync_message(&mut state);
        read_all(&doc);
        compact(&doc);
    }
}

/// The projection's compaction (`server::projection`): a snapshot only when
/// `shared::sync::checked_save` says it loads again (else the changes stay); a snapshot it
/// lets through must load with the same heads.
pub fn compact(doc: &Automerge) {
    if let Ok(saved) = shared::sync::checked_save(doc) {
        let again = Automerge::load(&saved).expect("a checked snapshot loads again");
        assert_eq!(again.get_heads(), doc.get_heads());
    }
}

/// Reads a document the way both sides do: its kind, and the whole document as each
/// record type (a document of the wrong shape must be an error, never a panic).
pub fn read_all(doc: &Automerge) {
    let _ = shared::doc::kind_of(doc);
    let _ = shared::crdt::read_doc(doc);
    let _ = shared::doc::read::<Person, _>(doc);
    let _ = shared::doc::read::<Salon, _>(doc);
    let _ = shared::doc::read::<SupportMap, _>(doc);
    let _ = shared::doc::read::<ActivityLog, _>(doc);
    // The door (shared::check) reads the same document strictly, as each kind.
    let v = shared::check::read(doc);
    let today = shared::Date::new(2026, 12, 1).expect("a date");
    for b in 0..5 {
        let _ = shared::check::problems(&kind(b), &v, today);
    }
}

/// The kinds a document may be said to be.
pub fn kind(b: u8) -> DocKind {
    match b % 5 {
        0 => DocKind::Person,
        1 => DocKind::Salon,
        2 => DocKind::Map,
        3 => DocKind::Activity,
        _ => DocKind::Other("x".into()),
    }
}
