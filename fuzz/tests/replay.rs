//! The gate's half of fuzzing: every committed input — the seeds in `fuzz/corpus/<target>/`
//! and the findings in `fuzz/regressions/<target>-*` — run once through its target's body,
//! the same function the libFuzzer binary runs. No fresh random inputs: the same commit
//! always gives the same answer. Exploring is `scripts/fuzz` (docs/fuzzing.md).
//!
//! A panic fails an input as it would crash the fuzzer: for the server's targets any panic
//! outside Automerge, caught or not (the server catches Automerge's own where it applies
//! outside changes), and any panic that escapes; for the app's targets (wasm, `panic =
//! "abort"`) any panic at all.

use mimamori_fuzz::targets::{ALL, Side};
use std::cell::{Cell, RefCell};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::Once;

thread_local! {
    /// The panics on this thread since the last input: (in Automerge, message).
    static PANICS: RefCell<Vec<(bool, String)>> = const { RefCell::new(Vec::new()) };
    /// Whether an input is running on this thread (else panics are the test's own).
    static RUNNING: Cell<bool> = const { Cell::new(false) };
}

fn record_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !RUNNING.get() {
                return default(info);
            }
            let in_automerge = info
                .location()
                .is_some_and(|l| l.file().contains("/automerge-"));
            // REPLAY_BACKTRACE=1 shows where each panic came from.
            let trace = match std::env::var_os("REPLAY_BACKTRACE") {
                Some(_) => format!("\n{}", std::backtrace::Backtrace::force_capture()),
                None => String::new(),
            };
            PANICS.with(|p| {
                p.borrow_mut()
                    .push((in_automerge, format!("{info}{trace}")))
            });
        }));
    });
}

/// The committed inputs of `target`, in a stable order.
fn inputs(target: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out: Vec<PathBuf> = std::fs::read_dir(root.join("corpus").join(target))
        .map(|d| d.map(|e| e.expect("a corpus entry").path()).collect())
        .unwrap_or_default();
    let prefix = format!("{target}-");
    for e in std::fs::read_dir(root.join("regressions")).expect("fuzz/regressions") {
        let p = e.expect("a regression entry").path();
        if p.file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with(&prefix))
        {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// Runs one input; the reason it would have crashed the fuzzer, if it would have.
fn run(f: fn(&[u8]), side: Side, data: &[u8]) -> Option<String> {
    PANICS.with(|p| p.borrow_mut().clear());
    RUNNING.set(true);
    let escaped = catch_unwind(AssertUnwindSafe(|| f(data))).is_err();
    RUNNING.set(false);
    let panics = PANICS.with(|p| std::mem::take(&mut *p.borrow_mut()));
    let bad: Vec<&String> = panics
        .iter()
        .filter(|(in_automerge, _)| side == Side::App || !in_automerge || escaped)
        .map(|(_, m)| m)
        .collect();
    if escaped || !bad.is_empty() {
        let what = if escaped {
            "panicked"
        } else {
            "panicked (caught)"
        };
        Some(format!(
            "{what}: {}",
            bad.iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(" | ")
        ))
    } else {
        None
    }
}

fn replay(target: &str) {
    record_panics();
    let &(_, f, side) = ALL
        .iter()
        .find(|(name, _, _)| *name == target)
        .expect("a known target");
    let files = inputs(target);
    assert!(!files.is_empty(), "no committed inputs for {target}");
    let mut failed = Vec::new();
    for path in &files {
        let data = std::fs::read(path).expect("readable input");
        if let Some(why) = run(f, side, &data) {
            failed.push(format!("{}: {why}", path.display()));
        }
    }
    println!("{target}: {} committed inputs replayed", files.len());
    assert!(
        failed.is_empty(),
        "{target}: {} of {} inputs crash:\n{}",
        failed.len(),
        files.len(),
        failed.join("\n")
    );
}

#[test]
fn sync_request() {
    replay("sync_request");
}

#[test]
fn sync_binary() {
    replay("sync_binary");
}

#[test]
fn doc_load() {
    replay("doc_load");
}

#[test]
fn roster_import() {
    replay("roster_import");
}

#[test]
fn sync_response() {
    replay("sync_response");
}

/// Every file under `fuzz/regressions/` belongs to a target, so none is skipped silently.
#[test]
fn every_regression_names_its_target() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("regressions");
    for e in std::fs::read_dir(dir).expect("fuzz/regressions") {
        let name = e
            .expect("an entry")
            .file_name()
            .into_string()
            .expect("a UTF-8 name");
        assert!(
            ALL.iter()
                .any(|(t, _, _)| name.starts_with(&format!("{t}-"))),
            "fuzz/regressions/{name} names no target"
        );
    }
}
