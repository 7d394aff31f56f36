#!/usr/bin/env node
// Cross-check of device.mjs against the real client: one no-op sync of 200 documents done
// by a full @automerge/automerge-repo 1.2.1 Repo with BrowserWebSocketClientAdapter, frames
// counted at the adapter, then the same by device.mjs. Prints both counts; they should match
// (402 messages for 200 documents).
//
// node tests/bench/reference/check-repo.mjs [--docs 200]

import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import * as A from "@automerge/automerge";
import { Repo, StorageAdapter, cbor } from "@automerge/automerge-repo";
import { BrowserWebSocketClientAdapter } from "@automerge/automerge-repo-network-websocket";
import { Device, headsEqual } from "./device.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const serverEntry = path.resolve(here, "../../../node_modules/@automerge/automerge-repo-sync-server/src/index.js");
const nDocs = process.argv[2] === "--docs" ? parseInt(process.argv[3], 10) : 200;

class MemoryStorage extends StorageAdapter {
  constructor(map = new Map()) { super(); this.map = map; }
  async load(key) { return this.map.get(key.join("/")); }
  async save(key, data) { this.map.set(key.join("/"), data); }
  async remove(key) { this.map.delete(key.join("/")); }
  async loadRange(prefix) {
    const p = prefix.join("/");
    return [...this.map].filter(([k]) => k.startsWith(p)).map(([k, data]) => ({ key: k.split("/"), data }));
  }
  async removeRange(prefix) {
    const p = prefix.join("/");
    for (const k of [...this.map.keys()]) if (k.startsWith(p)) this.map.delete(k);
  }
}

class CountingAdapter extends BrowserWebSocketClientAdapter {
  count = { out: 0, in: 0, bytes: 0 };
  send(message) {
    super.send(message);
    this.count.out++;
    this.count.bytes += cbor.encode(message).byteLength;
  }
  receiveMessage(bytes) {
    this.count.in++;
    this.count.bytes += bytes.byteLength;
    super.receiveMessage(bytes);
  }
}

const port = await new Promise((res) => { const s = net.createServer().listen(0, "127.0.0.1", () => { const p = s.address().port; s.close(() => res(p)); }); });
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "mimamori-bench-check-"));
const server = spawn(process.execPath, [serverEntry], { cwd: tmp, env: { ...process.env, PORT: String(port), DATA_DIR: path.join(tmp, "data") }, stdio: ["ignore", "pipe", "inherit"] });
await new Promise((res) => server.stdout.on("data", (d) => { if (String(d).includes("Listening")) res(); }));
const url = `ws://127.0.0.1:${port}`;
const guard = setTimeout(() => { console.error("check timed out"); server.kill("SIGKILL"); process.exit(2); }, 120000);

async function syncAll(repo, adapter, handles) {
  await new Promise((resolve) => {
    let pending = handles.length;
    for (const h of handles) {
      const check = () => {
        const sid = repo.getStorageIdOfPeer(adapter.remotePeerId);
        if (!h._counted && sid && headsEqual(h.getRemoteHeads(sid), h.heads())) {
          h._counted = true;
          if (--pending === 0) resolve();
        }
      };
      h.on("remote-heads", check);
    }
  });
}

try {
  // 1. a real Repo creates the documents and sends them to the server
  const storage = new MemoryStorage();
  const seedAdapter = new CountingAdapter(url, 0);
  const seed = new Repo({ network: [seedAdapter], storage });
  const handles = [];
  for (let i = 0; i < nDocs; i++) {
    const h = seed.create({ kind: "person", schema: 1, name: `見守り ${i}`, address: "みなと市", visits: {} });
    for (let v = 0; v < 3; v++) h.change((d) => { d.visits[randomUUID()] = { date: "2026-11-01", outcome: "met", note: "お元気そうでした。" }; });
    handles.push(h);
  }
  await syncAll(seed, seedAdapter, handles);
  await new Promise((r) => setTimeout(r, 500)); // let the throttled saves land
  seedAdapter.socket.close();
  const ids = handles.map((h) => h.documentId);

  // 2. a new Repo on a copy of that storage (the app started again) connects: a no-op sync
  const storage2 = new MemoryStorage(new Map(storage.map));
  const repo = new Repo({ network: [], storage: storage2 });
  const h2 = ids.map((id) => repo.find(`automerge:${id}`));
  await Promise.all(h2.map((h) => h.whenReady()));
  const adapter = new CountingAdapter(url, 0);
  const t0 = performance.now();
  repo.networkSubsystem.addNetworkAdapter(adapter);
  await syncAll(repo, adapter, h2);
  const repoMs = performance.now() - t0;
  const repoCount = { ...adapter.count };
  adapter.socket.close();

  // 3. the same no-op sync by device.mjs, on the documents of the same storage
  const docs = new Map();
  for (const id of ids) docs.set(id, A.save(await h2[ids.indexOf(id)].doc()));
  const dev = new Device({ peerId: "check", storageId: randomUUID(), docs });
  // its first session (no stored sync state), then a second one with the stored state
  const live1 = dev.open();
  const r1 = await dev.session(url, live1, {});
  dev.close(live1);
  const live2 = dev.open();
  const r2 = await dev.session(url, live2, {});
  dev.close(live2);

  const fmt = (c) => `${c.out + c.in} messages, ${c.bytes ?? c.bytesOut + c.bytesIn} B`;
  console.log(`real Repo no-op sync of ${nDocs} documents: ${fmt(repoCount)}, ${repoMs.toFixed(1)} ms (includes the Repo's timers)`);
  console.log(`device.mjs, first session:              ${fmt(r1.count)}, ${r1.ms.toFixed(1)} ms`);
  console.log(`device.mjs, with stored sync state:     ${fmt(r2.count)}, ${r2.ms.toFixed(1)} ms`);
  const same = repoCount.out + repoCount.in === r2.count.out + r2.count.in;
  console.log(same ? "message counts match" : "message counts DIFFER");
  process.exitCode = same ? 0 : 1;
} finally {
  clearTimeout(guard);
  server.kill("SIGTERM");
  fs.rmSync(tmp, { recursive: true, force: true });
  setTimeout(() => process.exit(), 200).unref();
}
