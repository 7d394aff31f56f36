//! `cargo xtask bench`: every benchmark of DESIGN.md §7 in one run, with figures, not
//! pass/fail. Prints a table and writes `target/bench/results.json`, one named figure per
//! row (`name`, `value`, `unit`, `budget`, `met`).
//!
//! - Mimamori's sync server (`bench/`, the `syncbench` binary, release build) on SQLite,
//!   on PostgreSQL, and as two server processes on one PostgreSQL, for 10, 100 and 1,000
//!   devices holding 200 documents each; growth at 100, 1,000 and 10,000 documents per
//!   district;
//! - the same workload against `@automerge/automerge-repo-sync-server` from npm
//!   (`tests/bench/reference/run.mjs`), started in the same run, and the ratios;
//! - the app in Chromium (`tests/bench/app.mjs`: first-load bytes, repeat-load bytes, time
//!   to interactive under 4× CPU throttling, save-to-durable latency).
//!
//! `--quick` runs small sizes only (a few minutes); `--no-app` and `--no-reference` leave
//! those parts out. PostgreSQL: `MIMAMORI_BENCH_PG` names a server where databases may be
//! created; otherwise a throw-away cluster is started with `scripts/pg-start`.

use crate::{Result, cargo, run, target_dir, workspace_root, write};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;

struct Row {
    name: String,
    value: f64,
    unit: &'static str,
    budget: Option<String>,
    met: Option<bool>,
}

#[derive(Default)]
struct Table(Vec<Row>);

impl Table {
    fn add(&mut self, name: impl Into<String>, value: f64, unit: &'static str) {
        self.0.push(Row {
            name: name.into(),
            value,
            unit,
            budget: None,
            met: None,
        });
    }

    fn budget(
        &mut self,
        name: impl Into<String>,
        value: f64,
        unit: &'static str,
        budget: String,
        met: bool,
    ) {
        self.0.push(Row {
            name: name.into(),
            value,
            unit,
            budget: Some(budget),
            met: Some(met),
        });
    }
}

struct Options {
    quick: bool,
    app: bool,
    reference: bool,
}

/// A PostgreSQL for the run: the one named by `MIMAMORI_BENCH_PG`, or a throw-away cluster.
struct Pg {
    url: String,
    dir: Option<PathBuf>,
}

impl Pg {
    fn get(root: &Path) -> Result<Pg> {
        if let Ok(url) = std::env::var("MIMAMORI_BENCH_PG") {
            return Ok(Pg { url, dir: None });
        }
        let dir = std::env::temp_dir().join(format!("mimamori-bench-pg-{}", std::process::id()));
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("no free port: {e}"))?
            .port();
        let out = Command::new(root.join("scripts/pg-start"))
            .arg(&dir)
            .arg(port.to_string())
            .output()
            .map_err(|e| format!("scripts/pg-start: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "scripts/pg-start failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(Pg {
            url: String::from_utf8_lossy(&out.stdout).trim().to_string(),
            dir: Some(dir),
        })
    }
}

impl Drop for Pg {
    fn drop(&mut self) {
        if let Some(dir) = &self.dir {
            let _ = Command::new(workspace_root().join("scripts/pg-stop"))
                .arg(dir)
                .status();
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

fn read_json(path: &Path) -> Result<Value> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

fn f(v: &Value, path: &str) -> f64 {
    path.split('.')
        .try_fold(v, |v, k| v.get(k))
        .and_then(Value::as_f64)
        .unwrap_or(f64::NAN)
}

pub fn bench(args: &[String]) -> Result<()> {
    let opts = Options {
        quick: args.iter().any(|a| a == "--quick"),
        app: !args.iter().any(|a| a == "--no-app"),
        reference: !args.iter().any(|a| a == "--no-reference"),
    };
    let root = workspace_root();
    let target = target_dir(&root);
    let out_dir = target.join("bench");
    std::fs::create_dir_all(&out_dir).map_err(|e| format!("{}: {e}", out_dir.display()))?;

    // What the runs need, installed where missing (Node.js and npm packages, PostgreSQL,
    // Chromium): the same set-up as the test command.
    run(Command::new("bash").current_dir(&root).args([
        "-c",
        "source scripts/setup.sh && setup_common && setup_test_tools",
    ]))?;
    run(Command::new(cargo()).current_dir(&root).args([
        "build",
        "--locked",
        "--release",
        "-p",
        "server",
        "-p",
        "bench",
    ]))?;
    let server_bin = target.join("release/server");
    let syncbench = target.join("release/syncbench");
    let pg = Pg::get(&root)?;

    let (sizes, seconds, growth): (&[usize], &str, &str) = if opts.quick {
        (&[10, 100], "3", "100,1000")
    } else {
        (&[10, 100, 1000], "10", "100,1000,10000")
    };
    let concurrency = "16";
    let mut table = Table::default();
    let mut raw = serde_json::Map::new();

    // Mimamori: SQLite, PostgreSQL, and two processes on one PostgreSQL.
    let mut configs: Vec<(&str, usize, usize)> = Vec::new();
    for &n in sizes {
        configs.push(("sqlite", 1, n));
    }
    for &n in sizes {
        configs.push(("postgres", 1, n));
    }
    configs.push(("postgres", 2, *sizes.last().unwrap()));
    for (backend, servers, n) in configs {
        let label = if servers == 2 {
            format!("{backend}.2proc")
        } else {
            backend.to_string()
        };
        let file = out_dir.join(format!("sync-{label}-d{n}.json"));
        eprintln!("== Mimamori, {label}, {n} devices");
        let mut cmd = Command::new(&syncbench);
        cmd.current_dir(&root).args([
            "--server-bin",
            &server_bin.to_string_lossy(),
            "--backend",
            backend,
            "--pg",
            &pg.url,
            "--servers",
            &servers.to_string(),
            "--devices",
            &n.to_string(),
            "--docs",
            "200",
            "--seconds",
            seconds,
            "--concurrency",
            concurrency,
            "--out",
            &file.to_string_lossy(),
        ]);
        // Growth once per database, beside the smallest run.
        if n == sizes[0] && servers == 1 {
            cmd.args(["--growth", growth]);
        }
        run(&mut cmd)?;
        let v = read_json(&file)?;
        sync_rows(
            &mut table,
            &format!("sync.mimamori.{label}.d{n}"),
            &v,
            backend == "sqlite" && servers == 1,
        );
        raw.insert(format!("mimamori.{label}.d{n}"), v);
    }

    // The reference server, same workload.
    if opts.reference {
        for &n in sizes {
            let file = out_dir.join(format!("sync-reference-d{n}.json"));
            eprintln!("== automerge-repo-sync-server, {n} devices");
            let mut cmd = Command::new("node");
            cmd.current_dir(&root).args([
                "tests/bench/reference/run.mjs",
                "--devices",
                &n.to_string(),
                "--docs",
                "200",
                "--offline-docs",
                "20",
                "--offline-changes",
                "30",
                "--seconds",
                seconds,
                "--concurrency",
                concurrency,
                "--out",
                &file.to_string_lossy(),
            ]);
            // 1,000 devices' documents are written into the reference server's storage
            // directly: syncing them in takes a quarter of an hour (its README).
            if n >= 1000 {
                cmd.arg("--prefill-server");
            }
            run(&mut cmd)?;
            let v = read_json(&file)?;
            reference_rows(&mut table, n, &v);
            if let Some(m) = raw.get(&format!("mimamori.sqlite.d{n}")) {
                ratio_rows(&mut table, n, m, &v);
            }
            raw.insert(format!("reference.d{n}"), v);
        }
    }

    // The app in Chromium.
    if opts.app {
        eprintln!("== The app in Chromium");
        run(Command::new(cargo())
            .current_dir(&root)
            .args(["run", "--locked", "-q", "-p", "xtask", "--", "dist"]))?;
        run(Command::new(cargo())
            .current_dir(&root)
            .args(["build", "--locked", "-q", "-p", "server"]))?;
        run(Command::new("node")
            .current_dir(&root)
            .arg("tests/bench/app.mjs"))?;
        let v = read_json(&out_dir.join("app.json"))?;
        for r in v.as_array().into_iter().flatten() {
            let name = r["name"].as_str().unwrap_or("?");
            let value = r["value"].as_f64().unwrap_or(f64::NAN);
            let budget = r["budget"].as_str().filter(|b| !b.is_empty() && *b != "—");
            let unit = match r["unit"].as_str().unwrap_or("") {
                "KB" => "KB",
                "ms" => "ms",
                "s" => "s",
                "B" | "bytes" => "bytes",
                _ => "",
            };
            match budget {
                Some(b) => {
                    let met = budget_met(b, value);
                    table.budget(format!("app.{name}"), value, unit, b.to_string(), met)
                }
                None => table.add(format!("app.{name}"), value, unit),
            }
        }
        raw.insert("app".into(), v);
    }

    print_table(&table);
    let rows: Vec<Value> = table
        .0
        .iter()
        .map(|r| {
            json!({"name": r.name, "value": if r.value.is_finite() { json!(r.value) } else { Value::Null },
                   "unit": r.unit, "budget": r.budget, "met": r.met})
        })
        .collect();
    let results = json!({"rows": rows, "runs": raw});
    write(
        &out_dir.join("results.json"),
        serde_json::to_string_pretty(&results).unwrap().as_bytes(),
    )?;
    eprintln!("xtask: wrote {}", out_dir.join("results.json").display());
    Ok(())
}

/// A budget written as `≤ 350 KB`, `≤ 50 ms`, `0 bytes`: whether `value` meets it.
fn budget_met(budget: &str, value: f64) -> bool {
    let num: String = budget
        .chars()
        .skip_while(|c| !c.is_ascii_digit())
        .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == ',')
        .filter(|c| *c != ',')
        .collect();
    match num.parse::<f64>() {
        Ok(limit) if budget.contains('≥') => value >= limit,
        Ok(limit) => value <= limit,
        Err(_) => false,
    }
}

fn sync_rows(t: &mut Table, p: &str, v: &Value, budgeted: bool) {
    let thr = f(v, "noop.throughput");
    let p99 = f(v, "noop.p99_ms");
    if budgeted {
        t.budget(
            format!("{p}.noop.throughput"),
            thr,
            "/s",
            "≥ 1,000".into(),
            thr >= 1000.0,
        );
        t.budget(
            format!("{p}.noop.p99"),
            p99,
            "ms",
            "≤ 50".into(),
            p99 <= 50.0,
        );
    } else {
        t.add(format!("{p}.noop.throughput"), thr, "/s");
        t.add(format!("{p}.noop.p99"), p99, "ms");
    }
    t.add(format!("{p}.noop.p50"), f(v, "noop.p50_ms"), "ms");
    t.add(
        format!("{p}.noop.server_cpu_per_sync"),
        f(v, "noop.server_cpu_ms_per_sync"),
        "ms",
    );
    t.add(
        format!("{p}.noop_new_conn.throughput"),
        f(v, "noop_fresh_connection.throughput"),
        "/s",
    );
    t.add(
        format!("{p}.noop_new_conn.p50"),
        f(v, "noop_fresh_connection.p50_ms"),
        "ms",
    );
    t.add(
        format!("{p}.noop_new_conn.p99"),
        f(v, "noop_fresh_connection.p99_ms"),
        "ms",
    );
    t.add(
        format!("{p}.first_sync.p50"),
        f(v, "first_sync.p50_ms"),
        "ms",
    );
    let rt = f(v, "day_offline.round_trips");
    t.budget(
        format!("{p}.day_offline.round_trips"),
        rt,
        "",
        "1".into(),
        rt <= 1.0,
    );
    let cb = f(v, "day_offline.change_bytes");
    t.add(format!("{p}.day_offline.change_bytes"), cb, "bytes");
    let wire = f(v, "day_offline.wire_bytes");
    let limit = 2.0 * cb + 1024.0;
    t.budget(
        format!("{p}.day_offline.wire_bytes"),
        wire,
        "bytes",
        format!("≤ {limit:.0} (2 × changes + 1 KB)"),
        wire <= limit,
    );
    t.add(
        format!("{p}.day_offline.wire_over_change_bytes"),
        wire / cb,
        "×",
    );
    let peer = f(v, "day_offline.peer.wire_bytes");
    t.budget(
        format!("{p}.day_offline.peer_wire_bytes"),
        peer,
        "bytes",
        format!("≤ {limit:.0} (2 × changes + 1 KB)"),
        peer <= limit,
    );
    t.add(
        format!("{p}.server_rss_peak"),
        f(v, "server_rss_bytes") / 1048576.0,
        "MiB",
    );
    let growth = v["growth"].as_array().cloned().unwrap_or_default();
    let q = p.rsplit_once('.').map_or(p, |(a, _)| a);
    // (figure, JSON key, unit, what "flat" allows: ratio and slack)
    let figures: [(&str, &str, &'static str, f64, f64); 4] = [
        ("push_p50", "push_ms_p50", "ms", 1.5, 2.0),
        ("catchup_p50", "catchup_ms_p50", "ms", 1.5, 2.0),
        ("catchup_bytes", "catchup_bytes", "bytes", 1.1, 0.0),
        ("noop_p50", "noop_ms_p50", "ms", 1.5, 1.0),
    ];
    for g in &growth {
        let docs = f(g, "docs");
        for (name, key, unit, ..) in figures {
            t.add(format!("{q}.growth.docs{docs}.{name}"), f(g, key), unit);
        }
    }
    // Flat: the largest district's figure within a ratio (plus a little slack for timer
    // noise) of the smallest's.
    if let (Some(small), Some(big)) = (growth.first(), growth.last())
        && growth.len() > 1
    {
        for (name, key, _, ratio, slack) in figures {
            let (s, b) = (f(small, key), f(big, key));
            let budget = if slack > 0.0 {
                format!("flat (≤ {ratio} × + {slack})")
            } else {
                format!("flat (≤ {ratio} ×)")
            };
            t.budget(
                format!("{q}.growth.{name}_largest_over_smallest"),
                b / s,
                "×",
                budget,
                b <= ratio * s + slack,
            );
        }
    }
}

fn reference_rows(t: &mut Table, n: usize, v: &Value) {
    let p = format!("sync.reference.d{n}");
    t.add(
        format!("{p}.noop.throughput"),
        f(v, "noop.throughput"),
        "/s",
    );
    t.add(format!("{p}.noop.p50"), f(v, "noop.p50_ms"), "ms");
    t.add(
        format!("{p}.noop.server_cpu_per_sync"),
        f(v, "noop.server_cpu_ms_per_sync"),
        "ms",
    );
    t.add(format!("{p}.noop.p99"), f(v, "noop.p99_ms"), "ms");
    t.add(
        format!("{p}.day_offline.round_trips"),
        f(v, "day_offline.round_trips"),
        "",
    );
    t.add(
        format!("{p}.day_offline.messages"),
        f(v, "day_offline.messages"),
        "",
    );
    t.add(
        format!("{p}.day_offline.change_bytes"),
        f(v, "day_offline.change_bytes"),
        "bytes",
    );
    t.add(
        format!("{p}.day_offline.wire_bytes"),
        f(v, "day_offline.wire_bytes"),
        "bytes",
    );
    t.add(
        format!("{p}.day_offline.wire_over_change_bytes"),
        f(v, "day_offline.ratio"),
        "×",
    );
    t.add(
        format!("{p}.server_rss_peak"),
        f(v, "server_rss_bytes") / 1048576.0,
        "MiB",
    );
}

/// Mimamori (SQLite, one process, a new connection per sync: a phone coming back online,
/// as a reference device reconnects its WebSocket) over the reference.
fn ratio_rows(t: &mut Table, n: usize, m: &Value, r: &Value) {
    // (figure, Mimamori's key, the reference's key)
    const RATIOS: [(&str, &str, &str); 6] = [
        (
            "noop_throughput",
            "noop_fresh_connection.throughput",
            "noop.throughput",
        ),
        (
            "noop_server_cpu_per_sync",
            "noop_fresh_connection.server_cpu_ms_per_sync",
            "noop.server_cpu_ms_per_sync",
        ),
        ("noop_p99", "noop_fresh_connection.p99_ms", "noop.p99_ms"),
        (
            "day_offline_round_trips",
            "day_offline.round_trips",
            "day_offline.round_trips",
        ),
        (
            "day_offline_wire_bytes",
            "day_offline.wire_bytes",
            "day_offline.wire_bytes",
        ),
        ("server_rss_peak", "server_rss_bytes", "server_rss_bytes"),
    ];
    for (name, mine, theirs) in RATIOS {
        t.add(
            format!("ratio.mimamori_over_reference.d{n}.{name}"),
            f(m, mine) / f(r, theirs),
            "×",
        );
    }
}

fn print_table(t: &Table) {
    let width = t.0.iter().map(|r| r.name.len()).max().unwrap_or(10);
    println!(
        "{:width$}  {:>12}  {:5}  {:32}  met",
        "figure", "value", "unit", "budget"
    );
    for r in &t.0 {
        let v = if !r.value.is_finite() {
            "—".to_string()
        } else if r.value.abs() >= 100.0 || r.value.fract() == 0.0 {
            format!("{:.0}", r.value)
        } else if r.value.abs() < 0.1 {
            format!("{:.4}", r.value)
        } else {
            format!("{:.2}", r.value)
        };
        let met = match r.met {
            Some(true) => "yes",
            Some(false) => "NO",
            None => "",
        };
        println!(
            "{:width$}  {:>12}  {:5}  {:32}  {}",
            r.name,
            v,
            r.unit,
            r.budget.as_deref().unwrap_or(""),
            met
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budgets_as_the_app_bench_writes_them() {
        assert!(budget_met("≤ 350 KB", 349.0));
        assert!(!budget_met("≤ 350 KB", 779.0));
        assert!(budget_met("0 bytes", 0.0));
        assert!(!budget_met("0 bytes", 12.0));
        assert!(budget_met("≥ 1,000", 1000.0));
        assert!(!budget_met("≥ 1,000", 999.0));
        assert!(
            !budget_met("fast", 1.0),
            "a budget without a number is never met"
        );
    }

    #[test]
    fn figures_are_read_by_path_and_missing_ones_are_not_numbers() {
        let v = json!({"noop": {"p99_ms": 4.5}, "day_offline": {"peer": {"wire_bytes": 10}}});
        assert_eq!(f(&v, "noop.p99_ms"), 4.5);
        assert_eq!(f(&v, "day_offline.peer.wire_bytes"), 10.0);
        assert!(f(&v, "noop.p50_ms").is_nan());
    }
}
