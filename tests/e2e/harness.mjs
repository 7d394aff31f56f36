// Test harness: the real server binary on a fresh SQLite database, serving the built PWA
// (../server.mjs), and Debian's Chromium driven by playwright-core.
import { spawn } from 'node:child_process';
import { rmSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import http from 'node:http';
import zlib from 'node:zlib';
import { chromium } from 'playwright-core';

// Starting the server and the helpers around it live in ../server.mjs (no browser there),
// shared with the conformance tests.
export { root, PASSWORD, startServer, admin, sql, until } from '../server.mjs';
import { PASSWORD, until } from '../server.mjs';

export async function browser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
  });
}

/** Debian's Chromium as its own process on a profile directory, so the test can kill it. */
export async function launchOwn(profile) {
  const proc = spawn(process.env.CHROMIUM || '/usr/bin/chromium', [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--remote-debugging-port=0', `--user-data-dir=${profile}`, '--window-size=360,640', 'about:blank',
  ], { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  const ws = await new Promise((ok, fail) => {
    let buf = '';
    proc.stderr.on('data', (d) => {
      buf += d;
      const m = buf.match(/DevTools listening on (ws:\/\/\S+)/);
      if (m) ok(m[1]);
    });
    proc.on('exit', (c) => fail(new Error(`chromium exited ${c}: ${buf}`)));
  });
  const b = await chromium.connectOverCDP(ws);
  const ctx = b.contexts()[0];
  const page = ctx.pages()[0] || await ctx.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  const exited = new Promise((r) => proc.on('exit', r));
  return {
    b, ctx, page, errors,
    // The whole process group: the browser and its helper processes, as a crash would.
    kill: async () => {
      try { process.kill(-proc.pid, 'SIGKILL'); } catch { proc.kill('SIGKILL'); }
      await exited;
    },
    // A normal quit: the browser writes out everything it keeps (session, history …).
    quit: async () => {
      const s = await b.newBrowserCDPSession();
      await s.send('Browser.close').catch(() => {});
      await exited;
    },
  };
}

/** A phone: a fresh browser context (its own storage) at 360×640, Japanese. */
export async function phone(b, { width = 360, height = 640 } = {}) {
  const ctx = await b.newContext({ locale: 'ja-JP', viewport: { width, height }, hasTouch: true, acceptDownloads: true });
  const page = await ctx.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  // A Content-Security-Policy refusal is a bug (a style or script the server's CSP blocks).
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy/.test(m.text())) errors.push(m.text());
  });
  return { ctx, page, errors };
}

/** Logs in and waits for the first sync to finish (未送信 0, 最終同期 shown). */
export async function login(page, base, loginId) {
  await page.goto(base + '/');
  await page.getByLabel('ログインID').fill(loginId);
  await page.getByLabel('パスワード').fill(PASSWORD);
  await page.getByRole('button', { name: 'ログインする' }).click();
  await setPin(page);
  await page.getByTestId('sync').waitFor();
  await until(async () => (await page.getByTestId('last-sync').textContent()).includes('最終同期'), 'first sync', 60000);
  // The service worker controls the page, so a reload works offline.
  await page.evaluate(async () => {
    await navigator.serviceWorker.ready;
    if (!navigator.serviceWorker.controller) {
      await new Promise((r) => navigator.serviceWorker.addEventListener('controllerchange', r, { once: true }));
    }
  });
}

/** The PIN every test user chooses after logging in. */
export const PIN = '2580';

/** Chooses the PIN after a first log-in (the screen that follows it). */
export async function setPin(page, pin = PIN) {
  await page.getByLabel('PIN（4〜8けたの数字）').fill(pin, { timeout: 20000 });
  await page.getByLabel('もう一度 同じ PIN').fill(pin);
  await page.getByRole('button', { name: 'この PIN にする' }).click();
}

/** Opens the locked app with the PIN (after a reload, a restart or the idle lock). */
export async function unlock(page, pin = PIN) {
  await enterPin(page, pin);
  await page.getByTestId('sync').waitFor({ timeout: 20000 });
}

/** Types a PIN into the lock screen and presses 開く (without waiting for the app). */
export async function enterPin(page, pin = PIN) {
  await page.getByLabel(/PIN（4〜8けたの数字）|PIN \(4 to 8 digits\)/).fill(pin, { timeout: 20000 });
  await page.getByRole('button', { name: /^(開く|Open)$/ }).click();
}

/** Changes `login`'s password through the API, as the user would on another device. */
export async function changePassword(base, login, current, next) {
  const r = await fetch(base + '/api/login', {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ login, password: current, device_name: 'PC' }),
  });
  const { token } = await r.json();
  const c = await fetch(base + '/api/password', {
    method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ current, new: next }),
  });
  if (!c.ok) throw new Error(`password change: ${c.status} ${await c.text()}`);
}

/** Reloads the page and unlocks it again. */
export async function reopen(page, pin = PIN) {
  await page.reload();
  await unlock(page, pin);
}

/** The 未送信 count the indicator shows. */
export async function pending(page) {
  return Number(await page.getByTestId('pending').getAttribute('data-count'));
}

/** A 256×256 PNG of one colour (a map tile fixture). */
export function tilePng() {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (buf) => {
    let c = 0xffffffff;
    for (const b of buf) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type, data) => {
    const len = Buffer.alloc(4); len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type), data]);
    const c = Buffer.alloc(4); c.writeUInt32BE(crc(td));
    return Buffer.concat([len, td, c]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(256, 0); ihdr.writeUInt32BE(256, 4);
  ihdr[8] = 8; ihdr[9] = 2; ihdr[10] = 0; ihdr[11] = 0; ihdr[12] = 0;
  const row = Buffer.concat([Buffer.from([0]), Buffer.alloc(256 * 3, 0xdd)]);
  const raw = Buffer.concat(Array.from({ length: 256 }, () => row));
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr), chunk('IDAT', zlib.deflateSync(raw)), chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** A local tile server standing in for 地理院タイル; counts the tiles asked for. */
export async function tileServer() {
  const png = tilePng();
  const seen = [];
  const srv = http.createServer((req, res) => {
    seen.push(req.url);
    res.writeHead(200, { 'content-type': 'image/png', 'content-length': png.length });
    res.end(png);
  });
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address();
  return { url: `http://127.0.0.1:${port}/{z}/{x}/{y}.png`, seen, close: () => new Promise((r) => srv.close(r)) };
}

/**
 * What a screen reader would find unnamed on the page: controls (buttons, links, fields,
 * choices) whose accessible name is empty, from Chromium's own accessibility tree.
 */
export async function unnamedControls(page) {
  const cdp = await page.context().newCDPSession(page);
  const { nodes } = await cdp.send('Accessibility.getFullAXTree');
  await cdp.detach();
  const roles = new Set(['button', 'link', 'textbox', 'checkbox', 'radio', 'combobox', 'spinbutton', 'searchbox']);
  return nodes
    .filter((n) => !n.ignored && roles.has(n.role?.value) && !(n.name?.value || '').trim())
    .map((n) => `${n.role.value}#${n.backendDOMNodeId}`);
}

/** What the app's IndexedDB holds: document count, meta keys, and the plain lock record. */
export function stored(page) {
  return page.evaluate(() => new Promise((ok, fail) => {
    const r = indexedDB.open('mimamori');
    r.onerror = () => fail(r.error);
    r.onsuccess = () => {
      const db = r.result;
      const names = [...db.objectStoreNames];
      if (!names.includes('docs')) { db.close(); ok({ docs: 0, meta: [], lock: null }); return; }
      const t = db.transaction(['docs', 'meta']);
      const d = t.objectStore('docs').count();
      const m = t.objectStore('meta').getAllKeys();
      const l = t.objectStore('meta').get('lock');
      t.oncomplete = () => { db.close(); ok({ docs: d.result, meta: m.result, lock: l.result ? JSON.parse(l.result) : null }); };
    };
  }));
}

/** Changes fields of the plain lock record (as time passing would, e.g. the secret's deadline). */
export function patchLock(page, patch) {
  return page.evaluate((patch) => new Promise((ok, fail) => {
    const r = indexedDB.open('mimamori');
    r.onerror = () => fail(r.error);
    r.onsuccess = () => {
      const db = r.result;
      const t = db.transaction(['meta'], 'readwrite');
      const s = t.objectStore('meta');
      const g = s.get('lock');
      g.onsuccess = () => s.put(JSON.stringify({ ...JSON.parse(g.result), ...patch }), 'lock');
      t.oncomplete = () => { db.close(); ok(); };
      t.onerror = () => fail(t.error);
    };
  }), patch);
}

/** Removes a browser profile directory (quietly: helper processes may linger a moment). */
export function removeProfile(dir) {
  try { rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 }); } catch { /* a temp dir */ }
}

/** Every file under `dir` that contains `text` (UTF-8 or UTF-16LE, as browsers store strings). */
export function filesContaining(dir, text) {
  const needles = [Buffer.from(text, 'utf8'), Buffer.from(text, 'utf16le')];
  const hits = [];
  const walk = (d) => {
    let entries;
    // The browser may be removing a directory while it is searched.
    try { entries = readdirSync(d, { withFileTypes: true }); } catch { return; }
    for (const e of entries) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) {
        let buf;
        try { buf = readFileSync(p); } catch { continue; }
        if (needles.some((n) => buf.includes(n))) hits.push(p);
      }
    }
  };
  walk(dir);
  return hits;
}
