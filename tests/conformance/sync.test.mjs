// Conformance of the server's sync protocol, as an outside client sees it.
//
// This client is written from the published documents only — docs/sync-protocol.md,
// docs/api.md, docs/data-model.md and docs/reports.md — with the JavaScript Automerge
// (npm `@automerge/automerge` 3.x, installed as `automerge-3` beside the 2.x that the
// benchmark pins), not from the project's Rust client. It signs in as the demo 社協's users,
// syncs, writes records, and checks what the server answers, what another device then
// holds, and what the desk's reports count.
//
// Runs on a fresh SQLite database, and a second time on a fresh PostgreSQL database when
// MIMAMORI_TEST_PG names a PostgreSQL server (as scripts/test sets it).
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import * as A from 'automerge-3';
import { startServer, PASSWORD, until } from '../server.mjs';

const APP = 'conformance-test';

// ───────────────────────────── small helpers ─────────────────────────────

const b64 = (bytes) => Buffer.from(bytes).toString('base64');
const STD_B64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
/** Decodes a base64 value of the server, checking it is standard, padded base64. */
function unb64(s) {
  assert.equal(typeof s, 'string', 'binary values are base64 strings');
  assert.match(s, STD_B64, 'standard alphabet, padded');
  return new Uint8Array(Buffer.from(s, 'base64'));
}
/** A string field of a record: a plain string value (not collaborative text). */
const s = (v) => new A.ImmutableString(v);
/** Reads a string field, whichever way it was stored. */
function str(v) {
  if (v == null) return v;
  if (typeof v === 'string') return v;
  if (A.isImmutableString(v)) return v.val;
  return String(v);
}
const sorted = (xs) => [...xs].sort();
/** Today in Japan, `YYYY-MM-DD` (record dates are Japanese calendar days). */
const jstToday = () => new Date(Date.now() + 9 * 3600_000).toISOString().slice(0, 10);

/** A UUID v7 (record ids are UUID v7 text by convention). */
function uuidv7() {
  const b = randomBytes(16);
  const ts = BigInt(Date.now());
  for (let i = 0; i < 6; i++) b[i] = Number((ts >> BigInt(8 * (5 - i))) & 0xffn);
  b[6] = (b[6] & 0x0f) | 0x70;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** A copy of a document with its own, new actor (for changes made outside a device). */
const fork = (doc) => A.load(A.save(doc));
/** The hash of one change in its binary encoding. */
const hashOf = (bytes) => A.decodeChange(bytes).hash;

/** One HTTP call; `body` is sent as JSON, `raw` as is. */
async function call(base, method, path, { token, body, raw, headers = {} } = {}) {
  const h = { ...headers };
  if (token) h.authorization = `Bearer ${token}`;
  let payload;
  if (raw !== undefined) {
    payload = raw;
    h['content-type'] ??= 'application/json';
  } else if (body !== undefined) {
    payload = JSON.stringify(body);
    h['content-type'] = 'application/json';
  }
  let r;
  let text;
  for (let attempt = 1; ; attempt++) {
    try {
      r = await fetch(base + path, { method, headers: h, body: payload });
      text = await r.text();
      break;
    } catch (e) {
      // A kept-alive connection the server closed as idle (15 s) while this process was
      // busy applying documents: no answer came, so the request is sent again, as
      // sync-protocol.md tells a device to ("no answer … send the same changes again").
      const code = e.cause?.code;
      if (attempt < 2 && (code === 'UND_ERR_SOCKET' || code === 'ECONNRESET')) {
        console.log(`# conformance: ${method} ${path} got no answer (${code}); sent again`);
        continue;
      }
      throw new Error(`${method} ${path}: ${e.message} (${code || e.cause || 'no cause'})`);
    }
  }
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: r.status, headers: r.headers, json, text };
}

/**
 * A POST that offers its body with `Expect: 100-continue` and sends it only if the server
 * asks for it: a server that refuses from the headers answers without reading the body.
 */
function postExpectContinue(base, path, headers, body) {
  return new Promise((ok, fail) => {
    const u = new URL(base + path);
    const req = http.request({
      host: u.hostname, port: u.port, path: u.pathname, method: 'POST',
      headers: { ...headers, 'content-length': Buffer.byteLength(body), expect: '100-continue' },
    });
    let answered = false;
    req.on('continue', () => { req.bodyAsked = true; req.end(body); });
    req.on('response', (res) => {
      answered = true;
      const parts = [];
      res.on('data', (d) => parts.push(d));
      res.on('end', () => {
        const text = Buffer.concat(parts).toString();
        let json = null;
        try { json = JSON.parse(text); } catch { /* not JSON */ }
        ok({ status: res.statusCode, headers: new Headers(res.headers), json, text, bodyAsked: !!req.bodyAsked });
      });
      res.on('error', fail);
    });
    req.on('error', (e) => { if (!answered) fail(e); });
    req.flushHeaders();
  });
}

/** An error answer: the status, JSON `{"error": code, "message": text, …}`. */
function assertError(r, status, code, what) {
  assert.equal(r.status, status, `${what}: status (body: ${r.text.slice(0, 300)})`);
  assert.match(r.headers.get('content-type') || '', /^application\/json/, `${what}: a JSON error`);
  assert.ok(r.json, `${what}: the body is JSON`);
  assert.equal(r.json.error, code, `${what}: error code (body: ${r.text.slice(0, 300)})`);
  assert.equal(typeof r.json.message, 'string', `${what}: a message`);
}

/** A minimal sync request body. */
const syncBody = (fields = {}) => ({ v: 1, cursor: null, app: APP, push: [], fallback: [], ...fields });

// ───────────────────────────── a device ─────────────────────────────

/**
 * A phone as sync-protocol.md describes it: a token, a cursor, Automerge documents, an
 * outbox of unacknowledged changes per document.
 */
class Device {
  constructor(base, login, name = `${login} (conformance)`) {
    this.base = base;
    this.login = login;
    this.name = name;
    this.docs = new Map();
    this.kinds = new Map();
    this.placements = new Map();
    this.outbox = new Map();
    this.cursor = null;
    this.directoryVersion = null;
  }

  async signIn() {
    const r = await call(this.base, 'POST', '/api/login', {
      body: { login: this.login, password: PASSWORD, device_name: this.name, app: APP },
    });
    assert.equal(r.status, 200, `sign-in of ${this.login}: ${r.text}`);
    const { token, device_id: deviceId, user, keys } = r.json;
    assert.ok(typeof token === 'string' && token.length > 0, 'a token');
    assert.ok(typeof deviceId === 'string' && deviceId.length > 0, 'a device id');
    assert.equal(user.login, this.login);
    assert.ok(typeof user.id === 'string' && user.id.length > 0, 'the user id');
    assert.equal(unb64(keys.wrap_secret).length, 32, 'keys.wrap_secret: 32 bytes');
    assert.equal(typeof keys.lock_after_days, 'number');
    this.token = token;
    this.deviceId = deviceId;
    this.user = user;
    return this;
  }

  post(body, opts = {}) {
    return call(this.base, 'POST', '/api/sync', { token: this.token, body, ...opts });
  }

  get(path) {
    return call(this.base, 'GET', path, { token: this.token });
  }

  /** Applies an answer's documents and removals (docs[].chunks with loadIncremental). */
  apply(answer) {
    for (const u of answer.docs) {
      assert.ok(typeof u.doc === 'string' && /^[A-Za-z0-9_-]{1,64}$/.test(u.doc), `a document id: ${u.doc}`);
      assert.ok(Array.isArray(u.chunks) && u.chunks.length > 0, `chunks for ${u.doc}`);
      let doc = this.docs.get(u.doc) ?? A.init();
      for (const c of u.chunks) doc = A.loadIncremental(doc, unb64(c));
      this.docs.set(u.doc, doc);
      this.kinds.set(u.doc, u.kind);
      if (u.placement) this.placements.set(u.doc, u.placement);
    }
    for (const id of answer.removed) {
      this.docs.delete(id);
      this.kinds.delete(id);
    }
  }

  /**
   * One sync: the outbox in `push`, the given fallback messages; on 200 the answer is
   * checked for shape and applied, the outbox acknowledged, the cursor kept (unless
   * `keepCursor`). Returns the HTTP result.
   */
  async sync({ fallback = [], cursor = this.cursor, keepCursor = false, create = {} } = {}) {
    const push = [...this.outbox].map(([doc, changes]) => ({
      doc,
      ...(create[doc] ? { create: create[doc] } : {}),
      changes: changes.map(b64),
    }));
    const r = await this.post({ v: 1, cursor, app: APP, push, fallback });
    if (r.status !== 200) return r;
    const a = r.json;
    assert.equal(a.v, 1, 'answer v');
    assert.equal(typeof a.cursor, 'string', 'answer cursor');
    assert.equal(typeof a.more, 'boolean', 'answer more');
    assert.ok(Array.isArray(a.docs) && Array.isArray(a.removed) && Array.isArray(a.fallback), 'answer lists');
    assert.equal(typeof a.directory, 'number', 'answer directory version');
    this.apply(a);
    this.outbox.clear();
    if (!keepCursor && !a.resync) this.cursor = a.cursor;
    this.directoryVersion = a.directory;
    return r;
  }

  /** Syncs until `more` is false; returns the answers. */
  async syncAll() {
    const answers = [];
    for (;;) {
      const r = await this.sync();
      assert.equal(r.status, 200, `sync of ${this.login}: ${r.text.slice(0, 300)}`);
      answers.push(r.json);
      if (!r.json.more) return answers;
      assert.ok(answers.length < 500, 'more never ends');
    }
  }

  /** Changes a document locally; the change goes to the outbox. Returns its bytes. */
  edit(id, fn) {
    const before = this.docs.get(id);
    assert.ok(before, `the device holds ${id}`);
    const after = A.change(before, fn);
    const changes = A.getChanges(before, after);
    this.docs.set(id, after);
    this.outbox.set(id, [...(this.outbox.get(id) || []), ...changes]);
    return changes;
  }

  async directory() {
    const r = await this.get('/api/directory');
    assert.equal(r.status, 200, `directory of ${this.login}: ${r.text}`);
    this.dir = r.json;
    return r.json;
  }

  /**
   * The fallback for one document (sync-protocol.md, *Fallback*): generateSyncMessage /
   * receiveSyncMessage through `fallback[]` until this side has nothing more to say after
   * the server's last reply. Returns the number of rounds.
   */
  async reconcile(id, { cursor = this.cursor, keepCursor = false } = {}) {
    let state = A.initSyncState();
    let rounds = 0;
    for (;;) {
      const doc = this.docs.get(id) ?? A.init();
      const [next, msg] = A.generateSyncMessage(doc, state);
      state = next;
      if (!msg) return rounds;
      rounds += 1;
      assert.ok(rounds <= 12, `the fallback for ${id} does not finish`);
      const r = await this.sync({ fallback: [{ doc: id, msg: b64(msg) }], cursor, keepCursor });
      assert.equal(r.status, 200, `fallback round ${rounds}: ${r.text.slice(0, 300)}`);
      const replies = r.json.fallback.filter((f) => f.doc === id);
      assert.ok(replies.length > 0, `the server answers a sync message for ${id} (round ${rounds})`);
      for (const f of replies) {
        let d = this.docs.get(id) ?? A.init();
        [d, state] = A.receiveSyncMessage(d, state, unb64(f.msg));
        this.docs.set(id, d);
      }
      this.lastAnswer = r.json;
    }
  }
}

/** The visit record of data-model.md, *Record layout*. */
function visitRecord(user, fields = {}) {
  return {
    date: s(jstToday()),
    time: s('10:30'),
    kind: s('visit'),
    outcome: s('not_home'),
    condition: null,
    worries: [],
    note: s('conformance test: 玄関先で声かけ'),
    followup: false,
    followup_what: s(''),
    referrals: [],
    next_contact: null,
    visitors: [s(user.id)],
    recorded_by: s(user.id),
    recorded_at: Date.now(),
    withdrawn: false,
    ...fields,
  };
}

/**
 * What reports.md says a 民生委員's 訪問・連絡活動 is for `month`, counted from the documents
 * a device holds: visits in person records they made (`visitors`, or `recorded_by` when no
 * visitor is listed), not withdrawn, dated in the month, plus the `visit_contact`
 * activities of their activity document (`count`, at least 1).
 */
function minseiVisitsFromDocs(dev, userId, activityDoc, month) {
  let n = 0;
  for (const [id, doc] of dev.docs) {
    if (dev.kinds.get(id) !== 'person') continue;
    for (const v of Object.values(doc.visits || {})) {
      if (!v || v.withdrawn || !str(v.date)?.startsWith(month)) continue;
      const visitors = (v.visitors || []).map(str);
      if (visitors.length ? visitors.includes(userId) : str(v.recorded_by) === userId) n += 1;
    }
  }
  const act = activityDoc && dev.docs.get(activityDoc);
  for (const a of Object.values(act?.activities || {})) {
    if (!a || a.withdrawn || str(a.kind) !== 'visit_contact' || !str(a.date)?.startsWith(month)) continue;
    n += Math.max(1, Number(a.count) || 0);
  }
  return n;
}

/** Visits (not withdrawn) in `month` in person documents placed in `district`. */
function districtVisitsFromDocs(dev, district, month) {
  let n = 0;
  for (const [id, doc] of dev.docs) {
    if (dev.kinds.get(id) !== 'person' || dev.placements.get(id)?.district !== district) continue;
    for (const v of Object.values(doc.visits || {})) {
      if (v && !v.withdrawn && str(v.date)?.startsWith(month)) n += 1;
    }
  }
  return n;
}

// ───────────────────────────── the databases ─────────────────────────────

/** SQLite always; PostgreSQL too when MIMAMORI_TEST_PG is set (a fresh database on it). */
function backends() {
  const list = [{ name: 'SQLite', url: null }];
  const admin = process.env.MIMAMORI_TEST_PG;
  if (!admin) {
    if (process.env.MIMAMORI_REQUIRE_PG === '1') throw new Error('MIMAMORI_REQUIRE_PG=1 but MIMAMORI_TEST_PG is not set');
    console.log('# conformance: PostgreSQL skipped (MIMAMORI_TEST_PG is not set)');
    return list;
  }
  const name = `mm_conformance_${randomBytes(6).toString('hex')}`;
  try {
    execFileSync('psql', [admin, '-v', 'ON_ERROR_STOP=1', '-qc', `CREATE DATABASE ${name}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const why = `cannot create a database on MIMAMORI_TEST_PG with psql: ${String(e.stderr || e.message).trim()}`;
    if (process.env.MIMAMORI_REQUIRE_PG === '1') throw new Error(why);
    console.log(`# conformance: PostgreSQL skipped (${why})`);
    list.push({ name: 'PostgreSQL', skip: why });
    return list;
  }
  const u = new URL(admin);
  u.pathname = `/${name}`;
  list.push({
    name: 'PostgreSQL',
    url: u.toString(),
    drop: () => execFileSync('psql', [admin, '-qc', `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`], { stdio: 'ignore' }),
  });
  return list;
}

// ───────────────────────────── the suite ─────────────────────────────

for (const backend of backends()) {
  describe(`sync protocol conformance on ${backend.name}`, { skip: backend.skip }, () => {
    /** What the tests share, in order: the server and the devices of the first test. */
    const w = {};

    before(async () => {
      w.srv = await startServer({ demo: true, databaseUrl: backend.url });
    });
    after(async () => {
      await w.srv?.stop();
      w.srv?.cleanup();
      try { backend.drop?.(); } catch { /* a throw-away database */ }
    });

    const need = (...keys) => {
      for (const k of keys) assert.ok(w[k], `needs ${k} from an earlier test`);
    };

    test('1. sign-in, first sync in pages, every document loads, the directory matches', async () => {
      for (const login of ['staff', 'minsei03', 'vol01']) {
        const d = await new Device(w.srv.base, login).signIn();
        const answers = await d.syncAll();
        const received = new Map();
        for (const a of answers) {
          assert.equal(a.resync ?? null, null, 'no resync on a first sync');
          for (const u of a.docs) {
            // Sent whole on a first sync: with its placement.
            assert.ok(u.placement, `${u.doc} comes with its placement`);
            assert.equal(u.placement.kind, u.kind, `${u.doc}: placement.kind`);
            received.set(u.doc, u.kind);
          }
        }
        const bytes = answers.flatMap((a) => a.docs.flatMap((u) => u.chunks)).reduce((n, c) => n + c.length * 0.75, 0);
        if (bytes > 3 * 1024 * 1024) assert.ok(answers.length > 1, `${login}: ${Math.round(bytes / 1024)} KiB came in pages (more)`);
        assert.ok(received.size > 0, `${login} received documents`);

        for (const [id, kind] of received) {
          const doc = d.docs.get(id);
          assert.deepEqual(A.getMissingDeps(doc, []), [], `${id} is complete`);
          assert.ok(A.getHeads(doc).length > 0, `${id} has changes`);
          assert.equal(str(doc.kind), kind, `${id}: the root's kind is the document's kind`);
          assert.equal(Number(doc.schema), 1, `${id}: schema 1`);
        }

        const dir = await d.directory();
        assert.equal(dir.user.id, d.user.id);
        assert.equal(dir.version, d.directoryVersion, 'the sync answer carries the directory version');
        const listed = new Map(dir.docs.map((e) => [e.doc, e.kind]));
        assert.equal(listed.size, dir.docs.length, 'the directory lists each document once');
        assert.deepEqual(sorted(listed.keys()), sorted(received.keys()), `${login}: the directory's documents are the documents received`);
        for (const [id, kind] of listed) assert.equal(received.get(id), kind, `${id}: kind`);
        for (const e of dir.docs) assert.equal(typeof e.can_edit, 'boolean');
        for (const p of dir.people) {
          assert.equal(listed.get(p.doc), 'person', `person ${p.doc} is a person document in scope`);
          assert.equal(d.placements.get(p.doc)?.district, p.district, `${p.doc}: its district`);
        }
        for (const sa of dir.salons) assert.equal(listed.get(sa.doc), 'salon', `salon ${sa.doc}`);
        for (const di of dir.districts) if (di.map_doc) assert.equal(listed.get(di.map_doc), 'map', `map ${di.map_doc}`);
        if (dir.activity_doc) assert.equal(listed.get(dir.activity_doc), 'activity');
        if (login === 'vol01') {
          // data-model.md: a volunteer sees the people assigned to them.
          for (const p of dir.people) assert.ok(p.visitors.includes(d.user.id), `vol01 is assigned to ${p.doc}`);
        }
        w[login] = d;
      }
    });

    test('2. a visit written on one device reaches another and the 活動記録 report counts it', async () => {
      need('minsei03', 'staff');
      const a = w.minsei03;
      const b = w.staff;
      const entry = a.dir.docs.find((e) => e.kind === 'person' && e.can_edit && b.docs.has(e.doc));
      assert.ok(entry, 'minsei03 may edit a person whom staff also sees');
      const doc = entry.doc;
      const month = jstToday().slice(0, 7);
      const district = b.placements.get(doc).district;
      const uid = a.user.id;
      const act = a.dir.activity_doc;
      const minseiRow = async () => {
        const r = await b.get(`/api/reports/minsei?month=${month}`);
        assert.equal(r.status, 200, r.text);
        return r.json.members.find((m) => m.user?.id === uid)?.visits;
      };
      const districtRow = async () => {
        const r = await b.get(`/api/reports/districts?month=${month}`);
        assert.equal(r.status, 200, r.text);
        return r.json.districts.find((x) => x.district === district)?.visits;
      };

      // Before: the report counts what the documents hold (projections settle in a moment).
      const before = minseiVisitsFromDocs(b, uid, act, month);
      const beforeDistrict = districtVisitsFromDocs(b, district, month);
      await until(async () => (await minseiRow()) === before, `minsei03's 訪問・連絡活動 = ${before} (from the documents)`);
      await until(async () => (await districtRow()) === beforeDistrict, `the district's visits = ${beforeDistrict}`);

      assert.equal(typeof a.docs.get(doc).visits, 'object', 'a person document has visits from its first change');
      const id = uuidv7();
      const record = visitRecord(a.user);
      const [change] = a.edit(doc, (d) => { d.visits[id] = record; });
      const pushed = await a.sync();
      assert.equal(pushed.status, 200, pushed.text);
      assert.equal(a.outbox.size, 0);
      assert.ok(!pushed.json.docs.some((u) => u.doc === doc), 'the device does not get its own change back');

      const got = await b.sync();
      assert.equal(got.status, 200, got.text);
      assert.ok(got.json.docs.some((u) => u.doc === doc), 'the second device receives the document');
      const v = b.docs.get(doc).visits[id];
      assert.ok(v, 'the second device holds the visit');
      assert.equal(str(v.date), jstToday());
      assert.equal(str(v.outcome), 'not_home');
      assert.equal(str(v.recorded_by), uid);
      assert.equal(v.recorded_at, record.recorded_at);
      assert.deepEqual(v.visitors.map(str), [uid]);
      assert.ok(A.hasHeads(b.docs.get(doc), [hashOf(change)]));
      assert.deepEqual(sorted(A.getHeads(b.docs.get(doc))), sorted(A.getHeads(a.docs.get(doc))), 'same heads');

      assert.equal(minseiVisitsFromDocs(b, uid, act, month), before + 1);
      await until(async () => (await minseiRow()) === before + 1, `minsei03's 訪問・連絡活動 = ${before + 1}`);
      await until(async () => (await districtRow()) === beforeDistrict + 1, `the district's visits = ${beforeDistrict + 1}`);
      w.visit = { doc, id };

      // The 民生委員's own activity record: created by the device when it has none yet
      // (`push[].create` {kind: "activity"}), with 2 visits/contacts (visit_contact) today.
      let actDoc = act;
      const create = {};
      if (!actDoc) {
        actDoc = uuidv7();
        a.docs.set(actDoc, A.change(A.init(), (d) => {
          d.kind = s('activity');
          d.schema = 1;
          d.activities = {};
          d.consultations = {};
        }));
        a.kinds.set(actDoc, 'activity');
        a.outbox.set(actDoc, A.getAllChanges(a.docs.get(actDoc)));
        create[actDoc] = { kind: 'activity' };
      }
      a.edit(actDoc, (d) => {
        d.activities[uuidv7()] = {
          date: s(jstToday()), kind: s('visit_contact'), field: s('elderly'), count: 2,
          note: s(''), recorded_at: Date.now(), withdrawn: false,
        };
      });
      const made = await a.sync({ create });
      assert.equal(made.status, 200, made.text);
      assert.equal((await a.directory()).activity_doc, actDoc, 'the directory names the activity document');
      assert.equal((await b.sync()).status, 200);
      assert.equal(b.kinds.get(actDoc), 'activity', 'staff receives the activity document');
      if (create[actDoc]) assert.equal(b.placements.get(actDoc)?.kind, 'activity', 'a document created after the cursor comes with its placement');
      assert.deepEqual(sorted(A.getHeads(b.docs.get(actDoc))), sorted(A.getHeads(a.docs.get(actDoc))));
      assert.equal(minseiVisitsFromDocs(b, uid, actDoc, month), before + 3);
      await until(async () => (await minseiRow()) === before + 3, `minsei03's 訪問・連絡活動 = ${before + 3} with the activities`);
    });

    test('3. concurrent edits of one field converge, with the conflict visible on both devices', async () => {
      need('minsei03', 'staff', 'visit');
      const a = w.minsei03;
      const b = w.staff;
      const { doc, id } = w.visit;
      // Both offline: each changes the outcome its own way.
      a.edit(doc, (d) => { d.visits[id].outcome = s('met'); });
      b.edit(doc, (d) => { d.visits[id].outcome = s('family'); });
      for (const dev of [a, b, a]) {
        const r = await dev.sync();
        assert.equal(r.status, 200, r.text);
      }
      const da = a.docs.get(doc);
      const db = b.docs.get(doc);
      assert.deepEqual(sorted(A.getHeads(da)), sorted(A.getHeads(db)), 'same heads');
      assert.equal(A.getHeads(da).length, 2, 'two concurrent heads');
      assert.equal(str(da.visits[id].outcome), str(db.visits[id].outcome), 'the same winner');
      for (const d of [da, db]) {
        const conflicts = A.getConflicts(d.visits[id], 'outcome');
        assert.ok(conflicts, 'the conflict is visible');
        assert.deepEqual(sorted(Object.values(conflicts).map(str)), ['family', 'met']);
      }
      // A device signing in now gets the same document from the server.
      const c = await new Device(w.srv.base, 'minsei03', 'minsei03 third phone').signIn();
      await c.syncAll();
      assert.deepEqual(sorted(A.getHeads(c.docs.get(doc))), sorted(A.getHeads(da)), 'the server holds both');
    });

    test('4a. fallback: a document lacking a change is reconciled with sync messages', async () => {
      need('minsei03', 'staff', 'visit');
      const a = w.minsei03;
      const b = w.staff;
      const { doc, id } = w.visit;
      // Two changes on A, pushed.
      const [x1] = a.edit(doc, (d) => { d.visits[id].time = s('11:00'); });
      const [x2] = a.edit(doc, (d) => { d.visits[id].note = s('conformance test: 2回目の声かけ'); });
      assert.equal((await a.sync()).status, 200);
      // B gets them, but loses the first (a damaged copy): the document lacks x1.
      const old = A.clone(b.docs.get(doc));
      const r = await b.sync();
      assert.equal(r.status, 200, r.text);
      const whole = b.docs.get(doc);
      assert.ok(A.hasHeads(whole, [hashOf(x2)]), 'B received both changes');
      b.docs.set(doc, A.applyChanges(old, [x2])[0]);
      assert.deepEqual(A.getMissingDeps(b.docs.get(doc), []), [hashOf(x1)], 'B lacks x1');
      // B also makes a change of its own, sent only through the fallback.
      const lacking = b.docs.get(doc);
      const withY = A.change(lacking, (d) => { d.visits[id].followup_what = s('家族に連絡'); });
      const [y] = A.getChanges(lacking, withY);
      b.docs.set(doc, withY);
      b.outbox.clear();

      const rounds = await b.reconcile(doc);
      assert.ok(rounds >= 1);
      const fixed = b.docs.get(doc);
      assert.deepEqual(A.getMissingDeps(fixed, []), [], 'nothing missing after the fallback');
      assert.ok(A.hasHeads(fixed, [hashOf(x1), hashOf(x2), hashOf(y)]));
      // The server stored y: A receives it with a plain sync.
      assert.equal((await a.sync()).status, 200);
      assert.deepEqual(sorted(A.getHeads(a.docs.get(doc))), sorted(A.getHeads(fixed)), 'heads equal');
      assert.equal(str(a.docs.get(doc).visits[id].followup_what), '家族に連絡');
    });

    test('4b. fallback after resync: a cursor the server did not give lists every document with its heads', async () => {
      need('minsei03', 'visit');
      const a = w.minsei03;
      const d = await new Device(w.srv.base, 'minsei03', 'minsei03 restored phone').signIn();
      await d.syncAll();
      const goodCursor = d.cursor;
      const { doc, id } = w.visit;
      // An offline change, not pushed: after a restore the device reconciles instead.
      const before = d.docs.get(doc);
      const after = A.change(before, (x) => { x.visits[id].referrals = [s('houkatsu')]; });
      const [z] = A.getChanges(before, after);
      d.docs.set(doc, after);

      const foreign = `x${goodCursor}`; // a cursor this server did not give
      const r = await d.sync({ cursor: foreign, keepCursor: true });
      assert.equal(r.status, 200, r.text);
      const list = r.json.resync;
      assert.ok(Array.isArray(list), 'the answer carries resync');
      const dir = await d.directory();
      assert.deepEqual(sorted(list.map((e) => e.doc)), sorted(dir.docs.map((e) => e.doc)), 'resync lists every document in scope');
      for (const e of list) {
        assert.equal(e.kind, d.kinds.get(e.doc), `${e.doc}: kind`);
        for (const h of e.heads) assert.match(h, /^[0-9a-f]{64}$/, 'heads are hex hashes');
        const mine = sorted(A.getHeads(d.docs.get(e.doc)));
        if (e.doc === doc) assert.notDeepEqual(sorted(e.heads), mine, 'the changed document differs');
        else assert.deepEqual(sorted(e.heads), mine, `${e.doc}: same heads as the device`);
      }
      // Reconcile the one that differs, keeping the old cursor meanwhile.
      await d.reconcile(doc, { cursor: foreign, keepCursor: true });
      assert.ok(d.lastAnswer.resync, 'the resync is repeated while the old cursor is kept');
      const serverHeads = d.lastAnswer.resync.find((e) => e.doc === doc).heads;
      assert.deepEqual(sorted(serverHeads), sorted(A.getHeads(d.docs.get(doc))), 'the server now has the device\'s heads');
      d.cursor = d.lastAnswer.cursor;
      const next = await d.sync();
      assert.equal(next.status, 200, next.text);
      assert.equal(next.json.resync ?? null, null, 'the new cursor is recognised');
      assert.equal((await a.sync()).status, 200);
      assert.ok(A.hasHeads(a.docs.get(doc), [hashOf(z)]), 'another device receives the reconciled change');
      assert.deepEqual(sorted(A.getHeads(a.docs.get(doc))), sorted(A.getHeads(d.docs.get(doc))));
    });

    // ─────────────── refusals (sync-protocol.md *Errors*, api.md) ───────────────

    /** A valid change to an editable document of `dev`, made on a fork (not in the device). */
    const sideChange = (dev) => {
      const e = dev.dir.docs.find((x) => x.kind === 'person' && x.can_edit);
      const base = dev.docs.get(e.doc);
      const f = A.change(fork(base), (d) => { d.visits[uuidv7()] = visitRecord(dev.user, { note: s('refused request') }); });
      return { doc: e.doc, bytes: A.getChanges(base, f)[0] };
    };
    /** Staff's device syncs and must not hold `hash` of `doc`. */
    const neverStored = async (doc, bytes) => {
      const r = await w.staff.sync();
      assert.equal(r.status, 200, r.text);
      assert.ok(!A.hasHeads(w.staff.docs.get(doc), [hashOf(bytes)]), 'nothing of the refused request was stored');
    };

    test('5a. 401: no token, an unknown token, a wrong password, a signed-out and a revoked device', async () => {
      need('vol01');
      const base = w.srv.base;
      assertError(await call(base, 'POST', '/api/sync', { body: syncBody() }), 401, 'unauthorized', 'no token');
      assertError(await call(base, 'POST', '/api/sync', { token: randomBytes(32).toString('hex'), body: syncBody() }), 401, 'unauthorized', 'unknown token');
      assertError(await call(base, 'GET', '/api/directory', { token: 'nonsense' }), 401, 'unauthorized', 'directory, unknown token');
      // No valid token: 401 at once, before the (oversized) body is read.
      const big = `{"v":1,"cursor":null,"app":"${'x'.repeat(5 * 1024 * 1024)}"}`;
      const early = await postExpectContinue(base, '/api/sync', { 'content-type': 'application/json' }, big);
      assertError(early, 401, 'unauthorized', 'no token, oversized body');
      assert.equal(early.bodyAsked, false, 'the body was not asked for');
      assertError(await call(base, 'POST', '/api/login', { body: { login: 'vol01', password: 'not-the-password', device_name: 'x', app: APP } }), 401, 'unauthorized', 'wrong password');

      const out = await new Device(base, 'vol01', 'vol01 signing out').signIn();
      assert.equal((await out.sync()).status, 200);
      const lo = await call(base, 'POST', '/api/logout', { token: out.token });
      assert.equal(lo.status, 200, lo.text);
      assert.equal(lo.json.ok, true);
      assertError(await out.sync(), 401, 'signed_out', 'a signed-out device');

      const lost = await new Device(base, 'vol01', 'vol01 lost phone').signIn();
      const rv = await call(base, 'POST', `/api/devices/${lost.deviceId}/revoke`, { token: w.vol01.token });
      assert.equal(rv.status, 200, rv.text);
      assertError(await lost.sync(), 401, 'revoked', 'a revoked device');
      assertError(await lost.get('/api/directory'), 401, 'revoked', 'a revoked device, directory');
    });

    test('5b. 400 bad_request: version, JSON, document id, base64, change bytes, sync message', async () => {
      need('minsei03', 'staff');
      const a = w.minsei03;
      const { doc, bytes } = sideChange(a);
      const good = b64(bytes);
      const cases = [
        ['v: 2', syncBody({ v: 2 })],
        ['v missing', { cursor: null, app: APP }],
        ['push is not a list', syncBody({ push: 'nope' })],
        ['a bad document id', syncBody({ push: [{ doc: 'not a valid id!', changes: [good] }] })],
        ['bad base64', syncBody({ push: [{ doc, changes: [good, '%%%not base64%%%'] }] })],
        ['garbage change bytes', syncBody({ push: [{ doc, changes: [good, b64(randomBytes(200))] }] })],
        ['a truncated change', syncBody({ push: [{ doc, changes: [b64(bytes.slice(0, bytes.length - 5))] }] })],
        ['a garbage sync message', syncBody({ push: [{ doc, changes: [good] }], fallback: [{ doc, msg: b64(randomBytes(64)) }] })],
      ];
      for (const [what, body] of cases) assertError(await a.post(body), 400, 'bad_request', what);
      assertError(await a.post(undefined, { raw: '{"v":1,' }), 400, 'bad_request', 'broken JSON');
      await neverStored(doc, bytes);
    });

    test('5c. 403 forbidden: a document out of the user\'s scope refuses the whole request', async () => {
      need('vol01', 'staff');
      const v = w.vol01;
      const outside = w.staff.dir.docs.find((e) => e.kind === 'person' && !v.docs.has(e.doc));
      assert.ok(outside, 'a person vol01 does not see');
      const base = w.staff.docs.get(outside.doc);
      const f = A.change(fork(base), (d) => { d.visits[uuidv7()] = visitRecord(v.user); });
      const foreignChange = A.getChanges(base, f)[0];
      const own = sideChange(v);
      const r = await v.post(syncBody({
        cursor: v.cursor,
        push: [{ doc: own.doc, changes: [b64(own.bytes)] }, { doc: outside.doc, changes: [b64(foreignChange)] }],
      }));
      assertError(r, 403, 'forbidden', 'out of scope');
      assert.deepEqual(r.json.docs, [outside.doc], 'docs lists the refused document');
      // A sync message for it is refused the same way.
      const [, msg] = A.generateSyncMessage(A.init(), A.initSyncState());
      const r2 = await v.post(syncBody({ cursor: v.cursor, fallback: [{ doc: outside.doc, msg: b64(msg) }] }));
      assertError(r2, 403, 'forbidden', 'sync message out of scope');
      assert.deepEqual(r2.json.docs, [outside.doc]);
      // Creating a document where the user may not create one.
      const created = A.change(A.init(), (d) => { d.kind = s('person'); d.schema = 1; });
      const newId = uuidv7();
      const r3 = await v.post(syncBody({
        cursor: v.cursor,
        push: [{ doc: newId, create: { kind: 'person', district: w.staff.placements.get(outside.doc).district }, changes: A.getAllChanges(created).map(b64) }],
      }));
      assertError(r3, 403, 'forbidden', 'create out of scope');
      assert.deepEqual(r3.json.docs, [newId]);
      await neverStored(own.doc, own.bytes);
      await neverStored(outside.doc, foreignChange);
    });

    test('5d. 403 read_only: a document the user may only view takes no change', async () => {
      need('staff');
      // Whoever has a document with can_edit false in their directory (the demo: vol40).
      let dev = null;
      let entry = null;
      for (const login of ['vol40', 'vol39', 'vol01']) {
        const d = await new Device(w.srv.base, login).signIn();
        const dir = await d.directory();
        entry = dir.docs.find((e) => !e.can_edit);
        if (entry) { dev = d; break; }
      }
      assert.ok(dev, 'a user with a view-only document');
      await dev.syncAll();
      assert.ok(dev.docs.has(entry.doc), 'a view-only document is still received');
      const base = dev.docs.get(entry.doc);
      const f = A.change(fork(base), (d) => { d.visits[uuidv7()] = visitRecord(dev.user); });
      const bytes = A.getChanges(base, f)[0];
      const r = await dev.post(syncBody({ cursor: dev.cursor, push: [{ doc: entry.doc, changes: [b64(bytes)] }] }));
      assertError(r, 403, 'read_only', 'view only');
      assert.deepEqual(r.json.docs, [entry.doc]);
      // Through the fallback too.
      const [, msg] = A.generateSyncMessage(f, A.initSyncState());
      let state = A.initSyncState();
      let doc = f;
      let refused = null;
      let m = msg;
      for (let i = 0; i < 6 && m; i++) {
        const rr = await dev.post(syncBody({ cursor: dev.cursor, fallback: [{ doc: entry.doc, msg: b64(m) }] }));
        if (rr.status !== 200) { refused = rr; break; }
        for (const x of rr.json.fallback) [doc, state] = A.receiveSyncMessage(doc, state, unb64(x.msg));
        [state, m] = A.generateSyncMessage(doc, state);
      }
      assert.ok(refused, 'the change offered through a sync message is refused');
      assertError(refused, 403, 'read_only', 'view only, sync message');
      assert.deepEqual(refused.json.docs, [entry.doc]);
      await neverStored(entry.doc, bytes);
    });

    test('5e. 413 too_large: body over 4 MiB, more than 5,000 documents, a change over 512 KiB', async () => {
      need('minsei03', 'staff');
      const a = w.minsei03;
      const big = `{"v":1,"cursor":null,"app":"${'x'.repeat(4 * 1024 * 1024)}"}`;
      assertError(await a.post(undefined, { raw: big }), 413, 'too_large', 'body over 4 MiB');
      const many = Array.from({ length: 5001 }, (_, i) => ({ doc: `d${i}`, changes: [] }));
      assertError(await a.post(syncBody({ push: many })), 413, 'too_large', '5,001 documents');
      const e = a.dir.docs.find((x) => x.kind === 'person' && x.can_edit);
      const base = a.docs.get(e.doc);
      const f = A.change(fork(base), (d) => { d.visits[uuidv7()] = visitRecord(a.user, { note: s(randomBytes(600 * 1024).toString('base64')) }); });
      const bytes = A.getChanges(base, f)[0];
      assert.ok(bytes.length > 512 * 1024, `the change is ${bytes.length} bytes`);
      assertError(await a.post(syncBody({ push: [{ doc: e.doc, changes: [b64(bytes)] }] })), 413, 'too_large', 'a change over 512 KiB');
      await neverStored(e.doc, bytes);
    });

    test('5f. 405 for a wrong method, 404 for an unknown API path, 403 for a foreign Origin, all JSON', async () => {
      need('minsei03', 'staff');
      const a = w.minsei03;
      for (const method of ['GET', 'PUT', 'DELETE']) {
        const r = await call(w.srv.base, method, '/api/sync', { token: a.token });
        assertError(r, 405, 'method_not_allowed', `${method} /api/sync`);
        assert.match(r.headers.get('allow') || '', /POST/, 'Allow lists POST');
      }
      assertError(await a.get('/api/no-such-route'), 404, 'not_found', 'unknown API path');
      const { doc, bytes } = sideChange(a);
      const r = await a.post(syncBody({ cursor: a.cursor, push: [{ doc, changes: [b64(bytes)] }] }), { headers: { origin: 'https://attacker.example' } });
      assertError(r, 403, 'forbidden', 'foreign Origin');
      await neverStored(doc, bytes);
    });

    // ─────────────── refusals being added (issue: the server holds under bad data) ───────────────

    const invalidVisit = (what, fields) => test(`6. 422 invalid_record: a visit whose ${what}`, async () => {
      need('minsei03', 'staff');
      const a = w.minsei03;
      const e = a.dir.docs.find((x) => x.kind === 'person' && x.can_edit && w.staff.docs.has(x.doc));
      const base = a.docs.get(e.doc);
      const id = uuidv7();
      const f = A.change(fork(base), (d) => { d.visits[id] = visitRecord(a.user, fields); });
      const bytes = A.getChanges(base, f)[0];
      const r = await a.post(syncBody({ cursor: a.cursor, push: [{ doc: e.doc, changes: [b64(bytes)] }] }));
      assertError(r, 422, 'invalid_record', what);
      assert.deepEqual(r.json.docs, [e.doc]);
      assert.ok(Array.isArray(r.json.records) && r.json.records.length > 0, 'records lists what is wrong');
      const field = Object.keys(fields)[0];
      const hit = r.json.records.find((x) => x.doc === e.doc && x.field === field);
      assert.ok(hit, `a record names the field ${field}: ${JSON.stringify(r.json.records)}`);
      assert.ok(JSON.stringify(hit.path).includes(id), `its path leads to visits/${id}: ${JSON.stringify(hit.path)}`);
      assert.ok(typeof hit.rule === 'string' && hit.rule.length > 0, 'a rule');
      assert.ok(typeof hit.message === 'string' && hit.message.length > 0, 'a message');
      await neverStored(e.doc, bytes);
    });
    invalidVisit('recorded_at is text', { recorded_at: s('2026-01-01T10:00') });
    invalidVisit('date is a year in the future', { date: s(`${Number(jstToday().slice(0, 4)) + 1}${jstToday().slice(4)}`) });
    invalidVisit('note is 10,000 characters', { note: s('あ'.repeat(10_000)) });

    test('7. 409 missing_deps: a change whose predecessor was never sent', async () => {
      need('minsei03', 'staff');
      const a = w.minsei03;
      const e = a.dir.docs.find((x) => x.kind === 'person' && x.can_edit && w.staff.docs.has(x.doc));
      const base = a.docs.get(e.doc);
      const id = uuidv7();
      const f1 = A.change(fork(base), (d) => { d.visits[id] = visitRecord(a.user); });
      const f2 = A.change(f1, (d) => { d.visits[id].outcome = s('met'); });
      const [x1] = A.getChanges(base, f1);
      const [x2] = A.getChanges(f1, f2);
      const r = await a.post(syncBody({ cursor: a.cursor, push: [{ doc: e.doc, changes: [b64(x2)] }] }));
      assertError(r, 409, 'missing_deps', 'predecessor never sent');
      assert.deepEqual(r.json.docs, [e.doc]);
      assert.deepEqual(r.json.missing, [{ doc: e.doc, hashes: [hashOf(x1)] }]);
      await neverStored(e.doc, x2);
    });
  });
}
