//! Build tasks for Mimamori.
//!
//! `cargo run -p xtask -- dist` builds the PWA into `dist/`:
//!
//! 1. `cargo build -p app --target wasm32-unknown-unknown --profile wasm-release`;
//! 2. `wasm-bindgen --target web` at exactly the version of the `wasm-bindgen` crate in
//!    Cargo.lock (installed with `cargo install wasm-bindgen-cli --version X` if missing);
//! 3. `wasm-opt -Oz` from the npm package `binaryen` (`npm ci` puts it in node_modules/);
//! 4. copies `public/` into `dist/`, gives the JS, wasm and CSS content-hashed names under
//!    `dist/assets/`, rewrites `index.html` to point at them, and writes `sw.js` with the
//!    precache list and a cache version that is a hash over every precached file;
//! 5. writes `.br` and `.gz` next to each compressible file (for servers that serve
//!    precompressed files) and prints sizes.
//!
//! The output depends only on the inputs, so running it twice gives the same `dist/`.

use std::collections::BTreeMap;
use std::env;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use sha2::{Digest, Sha256};

mod bench;

type Result<T, E = String> = std::result::Result<T, E>;

const WASM_TARGET: &str = "wasm32-unknown-unknown";
const WASM_PROFILE: &str = "wasm-release";
/// DESIGN.md §7: first load, all files, brotli.
const BUDGET_BROTLI_BYTES: u64 = 350 * 1024;

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("dist") => dist(),
        Some("bench") => bench::bench(&args[1..]),
        Some("wasm-bindgen") => {
            wasm_bindgen_cli(&workspace_root()).map(|p| println!("{}", p.display()))
        }
        Some("help" | "-h" | "--help") | None => {
            usage();
            Ok(())
        }
        Some(other) => Err(format!("unknown task `{other}`")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn usage() {
    println!(
        "usage: cargo run -p xtask -- <task>\n\n\
         tasks:\n  \
         dist           build the app into dist/ (wasm, hashed assets, service worker)\n  \
         wasm-bindgen   make sure wasm-bindgen-cli matching Cargo.lock is installed; print its path\n  \
         bench          every benchmark (sync against the reference server, growth, SQLite and\n                 \
         PostgreSQL, two processes, the app in Chromium): a table and target/bench/results.json\n                 \
         [--quick] [--no-app] [--no-reference]"
    );
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives inside the workspace")
        .to_path_buf()
}

fn target_dir(root: &Path) -> PathBuf {
    match env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            if dir.is_absolute() {
                dir
            } else {
                env::current_dir().map(|cwd| cwd.join(&dir)).unwrap_or(dir)
            }
        }
        None => root.join("target"),
    }
}

fn cargo() -> String {
    env::var("CARGO").unwrap_or_else(|_| "cargo".to_string())
}

fn run(cmd: &mut Command) -> Result<()> {
    eprintln!("xtask: running {cmd:?}");
    let status = cmd
        .status()
        .map_err(|e| format!("could not start {:?}: {e}", cmd.get_program()))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{:?} failed ({status})", cmd.get_program()))
    }
}

fn read(path: &Path) -> Result<Vec<u8>> {
    fs::read(path).map_err(|e| format!("reading {}: {e}", path.display()))
}

fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(|e| format!("creating {}: {e}", parent.display()))?;
    }
    fs::write(path, bytes).map_err(|e| format!("writing {}: {e}", path.display()))
}

fn remove_dir(path: &Path) -> Result<()> {
    match fs::remove_dir_all(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(format!("removing {}: {e}", path.display())),
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Replaces the single occurrence of `from`; anything else means the input changed shape.
fn replace_once(text: &str, from: &str, to: &str, what: &str) -> Result<String> {
    match text.matches(from).count() {
        1 => Ok(text.replacen(from, to, 1)),
        n => Err(format!(
            "{what}: expected `{from}` exactly once, found it {n} times"
        )),
    }
}

// ---------------------------------------------------------------------------------------
// wasm-bindgen-cli at the Cargo.lock version

/// The version of the `wasm-bindgen` crate in Cargo.lock.
fn locked_wasm_bindgen_version(root: &Path) -> Result<String> {
    let lock = fs::read_to_string(root.join("Cargo.lock"))
        .map_err(|e| format!("reading Cargo.lock: {e}"))?;
    let mut versions = Vec::new();
    for block in lock.split("[[package]]") {
        let mut lines = block.lines().map(str::trim);
        let is_it = lines.clone().any(|l| l == r#"name = "wasm-bindgen""#);
        let version = lines.find_map(|l| {
            l.strip_prefix("version = \"")
                .and_then(|r| r.strip_suffix('"'))
        });
        if let (true, Some(v)) = (is_it, version) {
            versions.push(v.to_string());
        }
    }
    versions.sort();
    versions.dedup();
    match versions.as_slice() {
        [v] => Ok(v.clone()),
        [] => Err("Cargo.lock has no `wasm-bindgen` package (is the app in the workspace?)".into()),
        many => Err(format!(
            "Cargo.lock has several `wasm-bindgen` versions: {many:?}"
        )),
    }
}

/// `wasm-bindgen --version` of `program`, if it runs (e.g. "0.2.130").
fn wasm_bindgen_version_of(program: &Path) -> Option<String> {
    let out = Command::new(program).arg("--version").output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace().nth(1).map(str::to_string)
}

fn cargo_home() -> PathBuf {
    if let Some(home) = env::var_os("CARGO_HOME") {
        return PathBuf::from(home);
    }
    env::var_os("HOME")
        .map(|h| PathBuf::from(h).join(".cargo"))
        .unwrap_or_else(|| PathBuf::from(".cargo"))
}

/// Finds wasm-bindgen-cli at the Cargo.lock version, installing it if needed.
fn wasm_bindgen_cli(root: &Path) -> Result<PathBuf> {
    let want = locked_wasm_bindgen_version(root)?;
    let installed = cargo_home().join("bin").join("wasm-bindgen");
    let candidates = [PathBuf::from("wasm-bindgen"), installed.clone()];
    for c in &candidates {
        if wasm_bindgen_version_of(c).as_deref() == Some(want.as_str()) {
            return Ok(c.clone());
        }
    }
    eprintln!(
        "xtask: wasm-bindgen {want} (the version in Cargo.lock) is not installed; installing it"
    );
    // Not `--locked`: that fails against this registry (DESIGN.md §8).
    run(Command::new(cargo()).args(["install", "wasm-bindgen-cli", "--version", &want]))?;
    match wasm_bindgen_version_of(&installed) {
        Some(v) if v == want => Ok(installed),
        other => Err(format!(
            "after `cargo install`, {} reports version {other:?}, not {want}",
            installed.display()
        )),
    }
}

// ---------------------------------------------------------------------------------------
// dist

fn dist() -> Result<()> {
    let root = workspace_root();
    let target = target_dir(&root);
    let work = target.join("xtask");
    let dist = root.join("dist");
    let public = root.join("public");

    let wasm_opt = root.join("node_modules/.bin/wasm-opt");
    if !wasm_opt.exists() {
        return Err(format!(
            "{} is missing: run `npm ci` in {} first",
            wasm_opt.display(),
            root.display()
        ));
    }
    let bindgen = wasm_bindgen_cli(&root)?;

    // 1. the wasm
    run(Command::new(cargo()).current_dir(&root).args([
        "build",
        "-p",
        "app",
        "--target",
        WASM_TARGET,
        "--profile",
        WASM_PROFILE,
    ]))?;
    let raw_wasm = target.join(WASM_TARGET).join(WASM_PROFILE).join("app.wasm");

    // 2. wasm-bindgen
    let bg_dir = work.join("bindgen");
    remove_dir(&bg_dir)?;
    run(Command::new(&bindgen)
        .arg(&raw_wasm)
        .args(["--target", "web", "--no-typescript", "--out-dir"])
        .arg(&bg_dir))?;

    // 3. wasm-opt
    let opt_wasm = work.join("app.opt.wasm");
    run(Command::new(&wasm_opt)
        .args([
            "-Oz",
            "--enable-bulk-memory",
            "--enable-nontrapping-float-to-int",
        ])
        .arg(bg_dir.join("app_bg.wasm"))
        .arg("-o")
        .arg(&opt_wasm))?;

    // 4. assemble: url path (without leading '/') -> bytes
    let mut files: BTreeMap<String, Vec<u8>> = BTreeMap::new();

    let wasm = read(&opt_wasm)?;
    let wasm_name = format!("assets/app-{}.wasm", &sha256_hex(&wasm)[..8]);
    files.insert(wasm_name.clone(), wasm);

    // The glue starts itself, with the hashed wasm's URL, so index.html needs no inline
    // script (a Content-Security-Policy can say script-src 'self' 'wasm-unsafe-eval').
    let glue =
        String::from_utf8(read(&bg_dir.join("app.js"))?).map_err(|e| format!("app.js: {e}"))?;
    if !glue.contains("__wbg_init as default") {
        return Err(
            "the wasm-bindgen glue no longer exports `__wbg_init as default`; update xtask".into(),
        );
    }
    let wasm_file = wasm_name.trim_start_matches("assets/");
    let glue = format!(
        "{glue}\n__wbg_init({{ module_or_path: new URL('{wasm_file}', import.meta.url) }})\
         .catch((e) => console.error('mimamori: failed to start', e));\n"
    );
    let js_name = format!("assets/app-{}.js", &sha256_hex(glue.as_bytes())[..8]);
    files.insert(js_name.clone(), glue.into_bytes());

    // Inline JS snippets (`#[wasm_bindgen(inline_js)]`), imported relative to the glue.
    let snippets = bg_dir.join("snippets");
    if snippets.exists() {
        for (rel, bytes) in walk(&snippets)? {
            files.insert(format!("assets/snippets/{rel}"), bytes);
        }
    }

    let css = read(&public.join("app.css"))?;
    let css_name = format!("assets/app-{}.css", &sha256_hex(&css)[..8]);
    files.insert(css_name.clone(), css);

    let mut sw_template = None;
    let mut index_template = None;
    for (rel, bytes) in walk(&public)? {
        match rel.as_str() {
            "app.css" => {}
            "sw.js" => sw_template = Some(bytes),
            "index.html" => index_template = Some(bytes),
            _ => {
                files.insert(rel, bytes);
            }
        }
    }
    let index = String::from_utf8(index_template.ok_or("public/index.html is missing")?)
        .map_err(|e| format!("index.html: {e}"))?;
    let index = replace_once(
        &index,
        "\"/app.css\"",
        &format!("\"/{css_name}\""),
        "public/index.html",
    )?;
    let index = replace_once(
        &index,
        "\"/app.js\"",
        &format!("\"/{js_name}\""),
        "public/index.html",
    )?;
    let index = replace_once(
        &index,
        "\"/app.wasm\"",
        &format!("\"/{wasm_name}\""),
        "public/index.html",
    )?;
    files.insert("index.html".into(), index.into_bytes());

    // The service worker: precache everything else; its version is a hash over all of it.
    let mut all = Sha256::new();
    for (path, bytes) in &files {
        all.update(path.as_bytes());
        all.update([0]);
        all.update(Sha256::digest(bytes));
    }
    let version: String = all
        .finalize()
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect();
    let precache: Vec<String> = files.keys().map(|p| format!("\"/{p}\"")).collect();
    let precache = format!("[\n  {}\n]", precache.join(",\n  "));
    let sw = String::from_utf8(sw_template.ok_or("public/sw.js is missing")?)
        .map_err(|e| format!("sw.js: {e}"))?;
    let sw = replace_once(
        &sw,
        "'__MIMAMORI_VERSION__'",
        &format!("'{version}'"),
        "public/sw.js",
    )?;
    let sw = replace_once(&sw, "__MIMAMORI_PRECACHE__", &precache, "public/sw.js")?;
    let precached: Vec<String> = files.keys().cloned().collect();
    files.insert("sw.js".into(), sw.into_bytes());

    // 5. write dist/ from scratch, with precompressed copies
    remove_dir(&dist)?;
    let mut rows = Vec::new();
    for (path, bytes) in &files {
        write(&dist.join(path), bytes)?;
        let (gz, br) = if compressible(path) {
            let gz = gzip(bytes)?;
            let br = brotli(bytes)?;
            write(&dist.join(format!("{path}.gz")), &gz)?;
            write(&dist.join(format!("{path}.br")), &br)?;
            (gz.len() as u64, br.len() as u64)
        } else {
            (bytes.len() as u64, bytes.len() as u64)
        };
        rows.push((path.clone(), bytes.len() as u64, gz, br));
    }

    println!("\ndist/ (cache version {version}):");
    println!(
        "{:<40} {:>10} {:>10} {:>10}",
        "file", "raw", "gzip", "brotli"
    );
    let (mut t_raw, mut t_gz, mut t_br) = (0, 0, 0);
    for (path, raw, gz, br) in &rows {
        println!("{path:<40} {raw:>10} {gz:>10} {br:>10}");
        t_raw += raw;
        t_gz += gz;
        t_br += br;
    }
    println!(
        "{:<40} {t_raw:>10} {t_gz:>10} {t_br:>10}",
        "total (first load: everything)"
    );
    println!(
        "budget: first load ≤ {} KB brotli; this build {:.1} KB ({})",
        BUDGET_BROTLI_BYTES / 1024,
        t_br as f64 / 1024.0,
        if t_br <= BUDGET_BROTLI_BYTES {
            "within budget"
        } else {
            "OVER BUDGET"
        }
    );
    println!("precached by sw.js: {} files", precached.len());
    println!("wrote {}", dist.display());
    Ok(())
}

/// Files under `dir` as (path relative to `dir` with '/' separators, bytes), skipping dotfiles.
fn walk(dir: &Path) -> Result<Vec<(String, Vec<u8>)>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = fs::read_dir(&d).map_err(|e| format!("reading {}: {e}", d.display()))?;
        for entry in entries {
            let entry = entry.map_err(|e| format!("reading {}: {e}", d.display()))?;
            let path = entry.path();
            if entry.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path
                    .strip_prefix(dir)
                    .map_err(|e| e.to_string())?
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .join("/");
                out.push((rel, read(&path)?));
            }
        }
    }
    out.sort();
    Ok(out)
}

fn compressible(path: &str) -> bool {
    [
        ".html",
        ".js",
        ".wasm",
        ".css",
        ".webmanifest",
        ".svg",
        ".json",
        ".txt",
    ]
    .iter()
    .any(|ext| path.ends_with(ext))
}

fn gzip(bytes: &[u8]) -> Result<Vec<u8>> {
    // GzBuilder without a file name or mtime, so the output is the same on every run.
    let mut enc = flate2::GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), flate2::Compression::best());
    enc.write_all(bytes).map_err(|e| e.to_string())?;
    enc.finish().map_err(|e| e.to_string())
}

fn brotli(bytes: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    {
        let mut w = brotli::CompressorWriter::new(&mut out, 4096, 11, 22);
        w.write_all(bytes).map_err(|e| e.to_string())?;
        w.flush().map_err(|e| e.to_string())?;
    }
    Ok(out)
}
