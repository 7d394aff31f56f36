// A device of the reference benchmark: a minimal automerge-repo 1.x client that speaks the
// same websocket protocol as @automerge/automerge-repo's Repo with a
// BrowserWebSocketClientAdapter (network-websocket 1.2.1): CBOR frames encoded with the
// repo's own cbor helper, a `join` with peer metadata answered by `peer`, then one Automerge
// sync conversation per document (`sync` messages, or `request` for a document the device
// does not have yet), exactly as DocSynchronizer does it: on connecting, one message per
// document generated from the stored sync state (round-tripped through
// encodeSyncState/decodeSyncState, as the Repo does on reconnect), and on every message
// received, receiveSyncMessage then generateSyncMessage and send if there is one.
//
// A document counts as in sync with the server when the server's heads as last announced
// in its sync messages (syncState.theirHeads) equal the device's own heads — the same
// value the Repo records as the document's remote heads for the server's storage id.
//
// The device's storage is kept in memory as bytes (Automerge.save per document and the
// encoded sync state per document), so a device costs no resident Automerge document
// between sessions; a session loads its 200 documents before it connects (not timed).

import * as A from "@automerge/automerge";
import { cbor } from "@automerge/automerge-repo";
import { randomBytes } from "node:crypto";
import WebSocket from "ws";

const PROTOCOL_V1 = "1";

export function headsEqual(a, b) {
  if (!a || !b || a.length !== b.length) return false;
  const s = new Set(a);
  return b.every((h) => s.has(h));
}

export class Device {
  constructor({ peerId, storageId, docs, ephemeral = false, resident = false }) {
    this.peerId = peerId;
    // resident: keep the loaded documents between sessions (the app kept in memory);
    // otherwise every session loads them from the saved bytes (the app started anew)
    this.resident = resident;
    this.live = null;
    this.storageId = storageId;
    this.ephemeral = ephemeral;
    // docId -> Uint8Array (Automerge.save), or null for a document the device wants
    this.docs = docs;
    // docId -> Uint8Array (Automerge.encodeSyncState)
    this.sync = new Map();
    this.busy = false;
  }

  docIds() {
    return [...this.docs.keys()];
  }

  // Loads every document and sync state of the device (the app starting up, offline).
  open() {
    if (this.live) return this.live;
    const live = new Map();
    for (const [id, bytes] of this.docs) {
      const doc = bytes ? A.load(bytes) : A.init();
      const s = this.sync.get(id);
      live.set(id, { doc, state: s ? A.decodeSyncState(s) : A.initSyncState(), dirty: false });
    }
    if (this.resident) this.live = live;
    return live;
  }

  // Stores what a session changed and frees the documents.
  close(live) {
    if (this.resident) return;
    for (const [id, d] of live) {
      if (d.dirty) this.docs.set(id, A.save(d.doc));
      if (!this.ephemeral) this.sync.set(id, A.encodeSyncState(d.state));
      A.free(d.doc);
    }
  }

  // One online session: connect, handshake, sync every document until the server's heads
  // equal ours for all of them, then disconnect. `live` comes from open(); the caller may
  // have changed documents in it (offline edits) before. Returns timings and, with
  // `trace`, every frame both ways.
  session(url, live, { trace = false, graceMs = 0, timeoutMs = 60000 } = {}) {
    // Like a Repo instance, every session (app start) has a new random peer id; the storage
    // id stays. The server keeps a per-peer-id sync state in memory and, for a peer id it
    // has already told its heads, answers nothing about an unchanged document — a device
    // that reused its peer id could not confirm anything after a no-op reconnect.
    const peerId = `${this.peerId}-${randomBytes(4).toString("hex")}`;
    return new Promise((resolve, reject) => {
      const frames = [];
      const count = { out: 0, in: 0, bytesOut: 0, bytesIn: 0 };
      const t0 = performance.now();
      let tSynced = null;
      let serverPeerId = null;
      let pending = live.size;
      const synced = new Set();
      let finished = false;
      const ws = new WebSocket(url, { perMessageDeflate: false });
      ws.binaryType = "arraybuffer";
      const timer = setTimeout(() => fail(new Error(`session of ${peerId} timed out with ${pending} documents not in sync`)), timeoutMs);

      const send = (msg) => {
        const bytes = cbor.encode(msg);
        count.out++;
        count.bytesOut += bytes.byteLength;
        if (trace) frames.push({ dir: "c>s", t: performance.now() - t0, bytes: bytes.byteLength, type: msg.type, doc: msg.documentId });
        ws.send(bytes);
      };
      const check = (id, d) => {
        if (!synced.has(id) && headsEqual(d.state.theirHeads, A.getHeads(d.doc))) {
          synced.add(id);
          pending--;
          if (pending === 0) {
            tSynced = performance.now();
            if (graceMs > 0) setTimeout(done, graceMs);
            else done();
          }
        }
      };
      const sendFor = (id, d, first) => {
        const [state, msg] = A.generateSyncMessage(d.doc, d.state);
        d.state = state;
        if (msg) {
          const isNew = A.getHeads(d.doc).length === 0;
          send({
            type: first && isNew && state.sharedHeads.length === 0 ? "request" : "sync",
            senderId: peerId,
            targetId: serverPeerId,
            documentId: id,
            data: msg,
          });
        }
      };
      const done = () => {
        if (finished) return;
        finished = true;
        clearTimeout(timer);
        ws.close();
        resolve({ ms: tSynced - t0, count, frames });
      };
      const fail = (err) => {
        if (finished) return;
        finished = true;
        clearTimeout(timer);
        try { ws.terminate(); } catch {}
        reject(err);
      };

      ws.on("open", () => {
        send({
          type: "join",
          senderId: peerId,
          peerMetadata: this.ephemeral ? { isEphemeral: true } : { storageId: this.storageId, isEphemeral: false },
          supportedProtocolVersions: [PROTOCOL_V1],
        });
      });
      ws.on("message", (data) => {
        if (finished) return; // a late frame after the session ended: the documents are freed
        const u8 = new Uint8Array(data);
        count.in++;
        count.bytesIn += u8.byteLength;
        const msg = cbor.decode(u8);
        if (trace) frames.push({ dir: "s>c", t: performance.now() - t0, bytes: u8.byteLength, type: msg.type, doc: msg.documentId });
        if (msg.type === "peer") {
          serverPeerId = msg.senderId;
          // the Repo round-trips a stored sync state through its encoding on reconnect
          for (const [id, d] of live) {
            d.state = A.decodeSyncState(A.encodeSyncState(d.state));
            sendFor(id, d, true);
          }
        } else if (msg.type === "sync" || msg.type === "request") {
          const d = live.get(msg.documentId);
          if (!d) return fail(new Error(`server sent an unknown document ${msg.documentId}`));
          const before = A.getHeads(d.doc);
          const [doc, state] = A.receiveSyncMessage(d.doc, d.state, msg.data);
          d.doc = doc;
          d.state = state;
          if (!headsEqual(before, A.getHeads(doc))) d.dirty = true;
          sendFor(msg.documentId, d, false);
          check(msg.documentId, d);
        } else if (msg.type === "doc-unavailable") {
          fail(new Error(`server says document ${msg.documentId} is unavailable`));
        } else if (msg.type === "error") {
          fail(new Error(`server error: ${msg.message}`));
        }
      });
      ws.on("error", fail);
      ws.on("close", () => {
        if (!finished) fail(new Error(`server closed the connection of ${peerId} with ${pending} documents not in sync`));
      });
    });
  }
}
