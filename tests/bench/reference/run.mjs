#!/usr/bin/env node
// Reference side of the sync benchmark: the same workload as the Mimamori side, run against
// @automerge/automerge-repo-sync-server 0.2.8 (see README.md beside this file).
//
// node tests/bench/reference/run.mjs --devices N --docs 200 --offline-docs 20 \
//   --offline-changes 30 --seconds S --concurrency C --out FILE

import { spawn } from "node:child_process";
import { createHash, randomUUID } from "node:crypto";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import * as A from "@automerge/automerge";
import { generateAutomergeUrl, parseAutomergeUrl } from "@automerge/automerge-repo";
import { Device, headsEqual } from "./device.mjs";

const IMPL = "automerge-repo-sync-server 0.2.8";
const PER_DISTRICT = 10;
const RESIDENT_DOCS = 40000;
const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "../../..");
const serverEntry = path.join(root, "node_modules/@automerge/automerge-repo-sync-server/src/index.js");

// ---------- arguments ----------
function parseArgs(argv) {
  const o = { devices: 10, docs: 200, offlineDocs: 20, offlineChanges: 30, seconds: 10, concurrency: 4, out: null, warmup: false, prefillServer: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = () => {
      const x = argv[++i];
      if (x === undefined) throw new Error(`${a} needs a value`);
      return x;
    };
    switch (a) {
      case "--devices": o.devices = parseInt(v(), 10); break;
      case "--docs": o.docs = parseInt(v(), 10); break;
      case "--offline-docs": o.offlineDocs = parseInt(v(), 10); break;
      case "--offline-changes": o.offlineChanges = parseInt(v(), 10); break;
      case "--seconds": o.seconds = parseFloat(v()); break;
      case "--concurrency": o.concurrency = parseInt(v(), 10); break;
      case "--out": o.out = v(); break;
      case "--warmup": o.warmup = true; break;
      case "--prefill-server": o.prefillServer = true; break;
      default: throw new Error(`unknown argument ${a}`);
    }
  }
  for (const k of ["devices", "docs", "offlineDocs", "offlineChanges", "concurrency"]) {
    if (!Number.isInteger(o[k]) || o[k] < 1) throw new Error(`--${k} must be a positive integer`);
  }
  if (!(o.seconds > 0)) throw new Error("--seconds must be positive");
  if (!o.out) throw new Error("--out FILE is required");
  if (o.offlineDocs > o.docs) throw new Error("--offline-docs must not exceed --docs");
  return o;
}

const log = (...a) => process.stderr.write(a.join(" ") + "\n");

// ---------- the server process ----------
function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function procStatus(pid) {
  const txt = fs.readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (k) => {
    const m = txt.match(new RegExp(`^${k}:\\s+(\\d+) kB`, "m"));
    return m ? parseInt(m[1], 10) * 1024 : null;
  };
  return { hwm: kb("VmHWM"), rss: kb("VmRSS") };
}

const CLK_TCK = 100; // Linux USER_HZ
function procCpuSeconds(pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (parseInt(f[11], 10) + parseInt(f[12], 10)) / CLK_TCK; // utime + stime
}

async function startServer(dataDir, port) {
  const child = spawn(process.execPath, [serverEntry], {
    cwd: dataDir, // express.static("public") resolves here: nothing to serve
    env: { ...process.env, PORT: String(port), DATA_DIR: path.join(dataDir, "data"), DEBUG: "" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (d) => { stderr = (stderr + d).slice(-20000); });
  await new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error("sync server did not start in 20 s: " + stderr)), 20000);
    child.on("exit", (code) => reject(new Error(`sync server exited with ${code}: ${stderr}`)));
    child.stdout.on("data", (d) => {
      if (String(d).includes("Listening on port")) {
        clearTimeout(t);
        resolve();
      }
    });
  });
  child.removeAllListeners("exit");
  child.stderrTail = () => stderr.slice(-4000);
  child.on("exit", (code, signal) => {
    if (!child.stopping) {
      log(`[reference] the sync server exited unexpectedly (code ${code}, signal ${signal}); its stderr:\n${stderr.slice(-4000)}`);
      process.exit(1);
    }
  });
  return child;
}

function stopServer(child) {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.stopping = true;
    const t = setTimeout(() => child.kill("SIGKILL"), 5000);
    child.once("exit", () => { clearTimeout(t); resolve(); });
    child.kill("SIGTERM");
  });
}

// ---------- the workload ----------
const OUTCOMES = ["met", "absent", "phone", "met"];
function visit(i) {
  return {
    date: `2026-${String(1 + (i % 12)).padStart(2, "0")}-${String(1 + (i % 28)).padStart(2, "0")}`,
    outcome: OUTCOMES[i % OUTCOMES.length],
    note: `訪問メモ ${i}: お元気そうでした。次回は月末に伺います。`,
  };
}

// One district's documents, created by the district's seeding repo: a person record per
// document, created in one change, then three visits in three more changes.
function seedDistrict(district, nDocs) {
  const docs = new Map();
  for (let i = 0; i < nDocs; i++) {
    const id = parseAutomergeUrl(generateAutomergeUrl()).documentId;
    let doc = A.from({
      kind: "person",
      schema: 1,
      name: `見守り 太郎 ${district}-${i}`,
      address: `みなと市東地区 ${district}丁目 ${i}-1`,
      phone: `090-0000-${String(i).padStart(4, "0")}`,
      visits: {},
    });
    for (let v = 0; v < 3; v++) {
      doc = A.change(doc, (d) => { d.visits[randomUUID()] = visit(v); });
    }
    docs.set(id, A.save(doc));
    A.free(doc);
  }
  return docs;
}

function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}
const round = (x, d = 3) => (x === null || x === undefined ? x : Math.round(x * 10 ** d) / 10 ** d);

// websocket frame header bytes for a binary frame of n payload bytes (client frames are masked)
function wsHeader(n, masked) {
  return (n < 126 ? 2 : n < 65536 ? 4 : 10) + (masked ? 4 : 0);
}

async function runSession(url, device, opts) {
  const live = device.open();
  try {
    return await device.session(url, live, opts);
  } finally {
    device.close(live);
  }
}

// Runs `fn(device)` over `devices` with at most `concurrency` at a time.
async function pool(devices, concurrency, fn) {
  let next = 0;
  const worker = async () => {
    while (next < devices.length) {
      const d = devices[next++];
      await fn(d);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, devices.length) }, worker));
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const notes = [];
  const tRun = performance.now();
  const districts = Math.ceil(o.devices / PER_DISTRICT);
  // devices keep their documents loaded between sessions while that fits comfortably in
  // the client's memory (about 15 KB of wasm heap per small document; wasm32 stops at 4 GiB)
  const resident = o.devices * o.docs <= RESIDENT_DOCS;
  if (!resident) notes.push(`${o.devices * o.docs} device documents is more than ${RESIDENT_DOCS}: devices are not resident; every session loads its ${o.docs} documents and sync states from the device's saved bytes (Automerge.load, about 50 ms of client CPU per session, not in the latency but on the client's CPU, which blocks the other sessions' event loop meanwhile)`);
  const concurrency = Math.min(o.concurrency, o.devices);
  if (concurrency < o.concurrency) notes.push(`concurrency clamped from ${o.concurrency} to ${concurrency} (no more sessions than devices)`);

  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "mimamori-bench-automerge-"));
  tmpDir = tmp;
  const port = await freePort();
  const url = `ws://127.0.0.1:${port}`;
  let server = null;
  const out = { impl: IMPL, devices: o.devices, docs_per_device: o.docs };
  try {
    // all districts' documents are created before anything connects: a client whose event
    // loop is busy for 5-10 s misses the server's keep-alive ping and is cut off
    let t = performance.now();
    const districtDocs = Array.from({ length: districts }, (_, k) => seedDistrict(k, o.docs));
    log(`[reference] created ${districts * o.docs} documents in ${((performance.now() - t) / 1000).toFixed(1)} s`);
    if (o.prefillServer) {
      // --prefill-server: write the documents into DATA_DIR in the server's storage layout
      // (NodeFSStorageAdapter: <id[0:2]>/<id[2:]>/snapshot/<hash>) before it starts
      for (const docs of districtDocs) {
        for (const [id, bytes] of docs) {
          const doc = A.load(bytes);
          const name = createHash("sha256").update(A.getHeads(doc).sort().join(",")).digest("hex");
          A.free(doc);
          const dir = path.join(tmp, "data", id.slice(0, 2), id.slice(2), "snapshot");
          fs.mkdirSync(dir, { recursive: true });
          fs.writeFileSync(path.join(dir, name), bytes);
        }
      }
    }
    server = await startServer(tmp, port);
    serverChild = server;
    const rssIdle = procStatus(server.pid);
    log(`[reference] ${IMPL} pid ${server.pid} on ${url}, DATA_DIR in ${tmp}; ${o.devices} devices in ${districts} districts of ${o.docs} documents`);

    // --- set-up: seed each district through its seeding repo, then pre-fill the devices.
    // With --prefill-server the seeding repo instead asks the server for the documents it
    // already has on disk (`request` messages), so the server holds them all in memory as
    // after seeding, without the storage adapter's quadratic save cache ---
    t = performance.now();
    const devices = [];
    const seeders = [];
    let seedRetries = 0;
    await pool(Array.from({ length: districts }, (_, k) => k), 2, async (k) => {
      const docs = o.prefillServer ? new Map([...districtDocs[k].keys()].map((id) => [id, null])) : districtDocs[k];
      const seeder = new Device({ peerId: `seed-${k}`, storageId: randomUUID(), docs });
      // a seeding session the server cuts off is tried again, as a Repo would reconnect
      for (let attempt = 1; ; attempt++) {
        try {
          await runSession(url, seeder, { timeoutMs: 120000 });
          break;
        } catch (err) {
          if (attempt >= 5) throw err;
          seedRetries++;
          log(`[reference] seeding district ${k}: ${err.message}; trying again`);
        }
      }
      seeders[k] = seeder;
    });
    if (o.prefillServer) {
      for (let k = 0; k < districts; k++) {
        for (const [id, bytes] of districtDocs[k]) {
          const a = A.load(bytes), b = A.load(seeders[k].docs.get(id));
          const same = headsEqual(A.getHeads(a), A.getHeads(b));
          A.free(a);
          A.free(b);
          if (!same) throw new Error(`--prefill-server: document ${id} came back from the server with other heads`);
        }
      }
      notes.push("set-up with --prefill-server: the documents were written into the server's DATA_DIR before it started, then each district's seeding repo fetched them from the server (so the server holds them in memory, but its storage adapter's cache of saved chunks is empty, unlike after seeding over the network)");
    }
    if (seedRetries) notes.push(`set-up: ${seedRetries} seeding sessions were cut off by the server and tried again`);
    for (let k = 0; k < districts; k++) {
      const seeder = seeders[k];
      for (let j = 0; j < PER_DISTRICT && devices.length < o.devices; j++) {
        const n = devices.length;
        // the device's storage starts as a copy of the district's saved documents
        const dev = new Device({ peerId: `device-${n}`, storageId: randomUUID(), docs: new Map(seeder.docs), resident });
        dev.sync = new Map(seeder.sync);
        devices.push(dev);
      }
    }
    const seedMs = performance.now() - t;
    log(`[reference] seeded ${districts * o.docs} documents in ${districts} districts in ${(seedMs / 1000).toFixed(1)} s`);

    // --- optional set-up (--warmup): each device syncs once, unmeasured. Without it, each
    // device starts with the seeding repo's stored sync state for the server (shared heads =
    // the documents' heads), which is what a device has after an earlier sync; the server
    // sees a new peer id at every session anyway (see notes) ---
    let warmMs = 0;
    if (o.warmup) {
      t = performance.now();
      await pool(devices, concurrency, (d) => runSession(url, d, {}));
      warmMs = performance.now() - t;
      log(`[reference] first sync of every device (set-up) in ${(warmMs / 1000).toFixed(1)} s`);
    }
    if (resident) for (const d of devices) d.open(); // load every resident device before measuring
    const rssAfterSetup = procStatus(server.pid);

    // --- no-op syncs, closed loop ---
    const lat = [];
    const perSync = { out: 0, in: 0, bytesOut: 0, bytesIn: 0 };
    let rr = 0;
    let failed = 0;
    let firstFailure = null;
    const loadBefore = os.loadavg().map((x) => round(x, 2));
    const cpu0 = process.cpuUsage();
    const srvCpu0 = procCpuSeconds(server.pid);
    const tStart = performance.now();
    const tEnd = tStart + o.seconds * 1000;
    const loop = async () => {
      while (performance.now() < tEnd) {
        let d = null;
        for (let k = 0; k < devices.length; k++) {
          const c = devices[rr++ % devices.length];
          if (!c.busy) { d = c; break; }
        }
        d.busy = true;
        try {
          const r = await runSession(url, d, {});
          lat.push(r.ms);
          for (const key in perSync) perSync[key] += r.count[key];
        } catch (err) {
          failed++;
          if (!firstFailure) firstFailure = err.message;
        } finally {
          d.busy = false;
        }
      }
    };
    await Promise.all(Array.from({ length: concurrency }, loop));
    const elapsed = (performance.now() - tStart) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const srvCpu = procCpuSeconds(server.pid) - srvCpu0;
    lat.sort((a, b) => a - b);
    const n = lat.length;
    if (failed) notes.push(`no-op: ${failed} sessions failed and are not counted (first: ${firstFailure})`);
    out.noop = {
      syncs: n,
      seconds: round(elapsed),
      throughput: round(n / elapsed),
      p50_ms: round(percentile(lat, 50)),
      p99_ms: round(percentile(lat, 99)),
      concurrency,
      failed,
      mean_ms: round(lat.reduce((a, b) => a + b, 0) / n),
      max_ms: round(lat[n - 1]),
      messages_per_sync: round((perSync.out + perSync.in) / n, 2),
      wire_bytes_per_sync: round((perSync.bytesOut + perSync.bytesIn) / n, 1),
      client_cpu_seconds: round((cpu.user + cpu.system) / 1e6),
      server_cpu_seconds: round(srvCpu),
      server_cpu_ms_per_sync: round((srvCpu * 1000) / n, 1),
      client_cpu_ms_per_sync: round((cpu.user + cpu.system) / 1000 / n, 1),
      load_average_before: loadBefore,
      load_average_after: os.loadavg().map((x) => round(x, 2)),
    };
    log(`[reference] no-op: ${n} syncs in ${elapsed.toFixed(1)} s = ${out.noop.throughput}/s, p50 ${out.noop.p50_ms} ms, p99 ${out.noop.p99_ms} ms (C=${concurrency}); ${out.noop.messages_per_sync} messages, ${out.noop.wire_bytes_per_sync} B per sync; CPU client ${out.noop.client_cpu_seconds} s, server ${out.noop.server_cpu_seconds} s (${out.noop.server_cpu_ms_per_sync} ms per sync); load average ${out.noop.load_average_before[0]} -> ${out.noop.load_average_after[0]}`);

    // --- a day offline: device 0 edits offline, then comes back ---
    const dev = devices[0];
    const live = dev.open();
    const ids = [...live.keys()].slice(0, o.offlineDocs);
    let changeBytes = 0;
    let changeBytesCheck = 0;
    const beforeHeads = new Map(ids.map((id) => [id, A.getHeads(live.get(id).doc)]));
    for (let i = 0; i < o.offlineChanges; i++) {
      const d = live.get(ids[i % ids.length]);
      d.doc = A.change(d.doc, (doc) => { doc.visits[randomUUID()] = visit(100 + i); });
      d.dirty = true;
      changeBytes += A.getLastLocalChange(d.doc).byteLength;
    }
    for (const id of ids) {
      const d = live.get(id);
      const before = A.view(d.doc, beforeHeads.get(id));
      for (const c of A.getChanges(before, d.doc)) changeBytesCheck += c.byteLength;
    }
    if (changeBytesCheck !== changeBytes) notes.push(`change_bytes: getLastLocalChange sum ${changeBytes} != getChanges(before, after) sum ${changeBytesCheck}`);
    const GRACE = 500;
    const srvCpuD0 = procCpuSeconds(server.pid);
    let r;
    try {
      r = await dev.session(url, live, { trace: true, graceMs: GRACE });
    } finally {
      dev.close(live);
    }
    const srvCpuD = procCpuSeconds(server.pid) - srvCpuD0;
    const frames = r.frames;
    const late = frames.filter((f) => f.t > r.ms).length;
    const wire = frames.reduce((a, f) => a + f.bytes, 0);
    const framing = frames.reduce((a, f) => a + wsHeader(f.bytes, f.dir === "c>s"), 0);
    // round trips per document: client messages that the server answered
    const perDoc = new Map();
    for (const f of frames) {
      if (!f.doc) continue;
      if (!perDoc.has(f.doc)) perDoc.set(f.doc, []);
      perDoc.get(f.doc).push(f.dir);
    }
    const rtOf = (dirs) => {
      let rt = 0, open = false;
      for (const dir of dirs) {
        if (dir === "c>s") open = true;
        else if (open) { rt++; open = false; }
      }
      return rt;
    };
    const changed = new Set(ids);
    let rtChanged = 0, rtOther = 0, msgsChanged = 0, bytesChanged = 0;
    for (const [doc, dirs] of perDoc) {
      if (changed.has(doc)) rtChanged = Math.max(rtChanged, rtOf(dirs));
      else rtOther = Math.max(rtOther, rtOf(dirs));
    }
    for (const f of frames) if (f.doc && changed.has(f.doc)) { msgsChanged++; bytesChanged += f.bytes; }
    const sample = frames.filter((f) => f.doc === ids[0]).map((f) => `${f.dir} ${f.type} ${f.bytes} B`);
    // verification on the server side: a fresh ephemeral peer fetches the changed documents
    const verifier = new Device({ peerId: `verifier-${randomUUID()}`, storageId: null, docs: new Map(ids.map((id) => [id, null])), ephemeral: true });
    const vlive = verifier.open();
    await verifier.session(url, vlive, {});
    const devLive = dev.open();
    let verified = true;
    for (const id of ids) {
      if (!headsEqual(A.getHeads(vlive.get(id).doc), A.getHeads(devLive.get(id).doc))) verified = false;
    }
    const newVisits = ids.reduce((a, id) => a + Object.keys(vlive.get(id).doc.visits).length - 3, 0);
    if (newVisits !== o.offlineChanges) verified = false;
    verifier.close(vlive);
    dev.close(devLive);
    out.day_offline = {
      round_trips: 1 + rtChanged,
      messages: frames.length,
      wire_bytes: wire,
      change_bytes: changeBytes,
      ratio: round(wire / changeBytes),
      ms: round(r.ms),
      changed_docs: o.offlineDocs,
      changes: o.offlineChanges,
      changed_docs_messages: msgsChanged,
      changed_docs_wire_bytes: bytesChanged,
      ws_framing_bytes: framing,
      messages_after_in_sync: late,
      server_cpu_seconds: round(srvCpuD),
      verified_by_fresh_peer: verified,
      sample_changed_doc: sample,
    };
    if (!verified) notes.push("day_offline: the fresh peer did NOT see all offline changes on the server");
    log(`[reference] day offline: ${o.offlineChanges} changes in ${o.offlineDocs} docs (${changeBytes} B of changes): ${frames.length} messages, ${wire} B on the wire (ratio ${out.day_offline.ratio}), ${out.day_offline.round_trips} round trips, ${out.day_offline.ms} ms; verified by a fresh peer: ${verified}`);
    log(`[reference]   one changed doc: ${sample.join(" | ")}`);

    const st = procStatus(server.pid);
    out.server_rss_bytes = st.hwm;
    out.server_rss_now_bytes = st.rss;
    out.server_rss_idle_bytes = rssIdle.rss;
    out.server_rss_after_setup_bytes = rssAfterSetup.rss;
    out.setup = { districts, prefill_server: o.prefillServer, seed_seconds: round(seedMs / 1000), first_sync_seconds: round(warmMs / 1000), devices_resident: resident, device_storage: "pre-filled: a copy of the district's seeding repo's saved documents (Automerge.save) and of its stored sync states with the server (encodeSyncState)" + (o.warmup ? ", then one unmeasured sync per device" : "") };
    log(`[reference] server RSS: peak ${(st.hwm / 2 ** 20).toFixed(1)} MiB, now ${(st.rss / 2 ** 20).toFixed(1)} MiB (idle at start ${(rssIdle.rss / 2 ** 20).toFixed(1)} MiB)`);

    notes.push(
      "client: a minimal automerge-repo 1.x protocol client (device.mjs): same CBOR framing, join/peer handshake and per-document Automerge sync conversation as Repo + BrowserWebSocketClientAdapter 1.2.1, without the Repo's handle state machines, throttles and timers; it costs the shared CPU less than a full Repo would",
      "in sync = for every document, the server's heads as announced in its last sync message (syncState.theirHeads) equal the device's heads; latency runs from opening the websocket to that point, then the socket is closed (no leave message)",
      resident
        ? "devices are resident: each keeps its 200 loaded documents and sync states between sessions (as an app kept in memory); the client's wasm heap is about 15 KB per document"
        : "devices are recreated from saved bytes for every session (as an app started anew)",
      "every session uses a new random peer id (as every new Repo instance does) with the device's fixed storage id: the server keeps a sync state per peer id and document in memory and, for a peer id it has already told its heads, does not answer about an unchanged document, so a reused peer id could not confirm a no-op sync. These per-peer-id sync states are never dropped by the server, which is part of its RSS growth over a run (server_rss_after_setup_bytes vs server_rss_now_bytes)",
      `client and server share the 2 cores (client CPU seconds: this whole node process, server: utime+stime from /proc); load average at start ${os.loadavg().map((x) => x.toFixed(2)).join(" ")}, so other work on the machine may have been competing too`,
      "the server acknowledges (announces new heads) from memory: it saves documents to DATA_DIR throttled (100 ms), not before answering",
      "round_trips = 1 (join/peer) + the largest number, over the changed documents, of device messages the server answered for that document; the other documents of the device are also synced in the same session (all 200 are checked on every reconnect), their messages are in messages/wire_bytes",
      "wire_bytes = websocket message payloads (CBOR frames) both ways, without websocket headers (ws_framing_bytes) or TCP/IP",
      "server_rss_bytes is VmHWM over the whole run, set-up included; the server's NodeFSStorageAdapter also keeps every chunk it ever saved in an in-memory cache and scans all cached keys on every document load (loadRange), so seeding many documents is quadratic (about 15 minutes for 20,000 documents here) and RSS grows with everything written",
      "the server pings every client every 5 s and cuts off one whose pong has not been read by the next ping: when the server is backlogged by more than that, sessions are cut off (set-up retries them; a measured session that is cut off counts in noop.failed)",
      "devices start with a stored sync state for every document (shared heads); a real Repo saves sync states throttled per peer storage id (100 ms, not per document), so it mostly has none and sends about 11 B less per document message (checked with check-repo.mjs: a real Repo's no-op sync of 200 documents is the same 402 messages)",
      "Automerge's sync protocol sometimes needs an extra exchange for a document (round_trips 4 instead of 3 in some runs: the changes of one document went in two messages; likely a false positive of the server's Bloom filter, which covers the document's whole history for a new peer id)",
    );
  } finally {
    if (server) {
      await stopServer(server);
    }
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  out.notes = notes;
  out.total_seconds = round((performance.now() - tRun) / 1000);
  fs.writeFileSync(o.out, JSON.stringify(out, null, 1) + "\n");
  log(`[reference] wrote ${o.out} (${out.total_seconds} s in all)`);
}

// the whole run stops by itself
let serverChild = null;
let tmpDir = null;
process.on("exit", () => {
  if (serverChild && serverChild.exitCode === null) serverChild.kill("SIGKILL");
  if (tmpDir) fs.rmSync(tmpDir, { recursive: true, force: true });
});
const guard = setTimeout(() => { log("[reference] giving up after 30 minutes"); process.exit(2); }, 30 * 60 * 1000);
guard.unref();
main().then(
  () => process.exit(0),
  (err) => { log(`[reference] failed: ${err.stack || err}`); process.exit(1); },
);
