//! The app's layers, checked: screens (`routes/`) reach records and the server only through
//! [`crate::data`], never the storage or network modules beneath it, and no module depends
//! on itself through others (the crate root, which wires the app together, aside).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Modules a screen must not use: storage and network live under the data layer.
const BENEATH_DATA: [&str; 4] = ["store", "net", "idb", "crypto"];

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("app/src") {
        let p = e.expect("an entry").path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// `routes/person.rs` → `routes::person`; `lib.rs` → `crate`; `routes/mod.rs` → `routes`.
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file
        .strip_prefix(src)
        .expect("under src")
        .with_extension("");
    let name = rel.to_string_lossy().replace('/', "::");
    match name.as_str() {
        "lib" => "crate".into(),
        n => n.strip_suffix("::mod").unwrap_or(n).to_string(),
    }
}

/// The modules `text` (the code of module `me`) names through `crate::…`, `use crate::{…}`
/// or `super::…`, as known module names.
fn uses(me: &str, text: &str, known: &BTreeSet<String>) -> BTreeSet<String> {
    let code: String = text
        .lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let resolve = |first: &str, rest: &str| -> Option<String> {
        let second = rest.strip_prefix("::").map(ident).unwrap_or_default();
        let nested = format!("{first}::{second}");
        if !second.is_empty() && known.contains(&nested) {
            Some(nested)
        } else if known.contains(first) {
            Some(first.to_string())
        } else {
            None
        }
    };
    let mut out = BTreeSet::new();
    for (i, _) in code.match_indices("crate::") {
        let after = &code[i + "crate::".len()..];
        if let Some(group) = after.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let item = item.trim();
                let first = ident(item);
                if let Some(m) = resolve(&first, &item[first.len()..]) {
                    out.insert(m);
                }
            }
        } else {
            let first = ident(after);
            if let Some(m) = resolve(&first, &after[first.len()..]) {
                out.insert(m);
            }
        }
    }
    let parent = me.rsplit_once("::").map_or("crate", |(p, _)| p);
    for (i, _) in code.match_indices("super::") {
        let name = ident(&code[i + "super::".len()..]);
        let m = if parent == "crate" {
            name
        } else {
            format!("{parent}::{name}")
        };
        if known.contains(&m) {
            out.insert(m);
        }
    }
    out.remove(me);
    out.remove("crate");
    out
}

fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let known: BTreeSet<String> = files.iter().map(|f| module_of(&src, f)).collect();
    files
        .iter()
        .map(|f| {
            let me = module_of(&src, f);
            let text = std::fs::read_to_string(f).expect("a source file");
            let u = uses(&me, &text, &known);
            (me, u)
        })
        .collect()
}

#[test]
fn screens_reach_storage_and_network_only_through_the_data_layer() {
    let g = graph();
    let mut bad = Vec::new();
    for (m, used) in &g {
        if m == "routes" || m.starts_with("routes::") || m == "ui" {
            for b in BENEATH_DATA {
                if used.contains(b) {
                    bad.push(format!("{m} uses {b}"));
                }
            }
        }
    }
    assert!(
        g.contains_key("routes::person"),
        "the graph found the screens"
    );
    assert!(bad.is_empty(), "{bad:#?}");
}

#[test]
fn no_module_depends_on_itself() {
    let g = graph();
    let mut cycles = Vec::new();
    for start in g.keys() {
        // Depth-first from `start`, looking for a way back.
        let mut stack: Vec<(String, Vec<String>)> = vec![(start.clone(), vec![start.clone()])];
        let mut seen = BTreeSet::new();
        while let Some((m, path)) = stack.pop() {
            for next in g.get(&m).into_iter().flatten() {
                if next == start {
                    cycles.push(path.join(" → ") + " → " + start);
                } else if seen.insert(next.clone()) {
                    let mut p = path.clone();
                    p.push(next.clone());
                    stack.push((next.clone(), p));
                }
            }
        }
    }
    assert!(cycles.is_empty(), "import circles: {cycles:#?}");
}

#[test]
fn the_checker_sees_uses() {
    let known: BTreeSet<String> = ["store", "data", "routes", "routes::office"]
        .into_iter()
        .map(String::from)
        .collect();
    let u = uses(
        "routes::today",
        "use crate::{data, store::{self, Kept}};\nlet x = crate::routes::office::f(); // crate::net\nsuper::office::g();",
        &known,
    );
    assert_eq!(
        u.into_iter().collect::<Vec<_>>(),
        vec!["data", "routes::office", "store"]
    );
}
