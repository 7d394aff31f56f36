// A save is durable before the screen says 保存しました: the browser killed (SIGKILL) a
// moment later loses nothing. A second tab of the app does not open the data at all.
// Log-out empties what the app keeps in the browser.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { startServer, browser, phone, login, pending, until, sql, tileServer, unlock, reopen } from './harness.mjs';

/** Debian's Chromium as its own process on a profile directory, so the test can kill it. */
async function launchOwn(profile) {
  const proc = spawn(process.env.CHROMIUM || '/usr/bin/chromium', [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--remote-debugging-port=0', `--user-data-dir=${profile}`, '--window-size=360,640', 'about:blank',
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
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
  return { b, ctx, page, errors, kill: async () => { proc.kill('SIGKILL'); await exited; } };
}

test('a visit saved with no signal survives the browser being killed right after 保存しました', async () => {
  const srv = await startServer({ demo: true });
  const profile = mkdtempSync(join(tmpdir(), 'mimamori-profile-'));
  try {
    let c = await launchOwn(profile);
    await login(c.page, srv.base, 'vol02');
    await c.page.getByTestId('person-card').first().click();
    await c.page.getByTestId('person').waitFor();
    await c.page.getByTestId('history').waitFor({ state: 'attached' });
    const name = await c.page.locator('.screen-title').textContent();
    await c.ctx.setOffline(true);
    const before = await c.page.getByTestId('history').locator('li').count();
    await c.page.getByTestId('detailed').click();
    await c.page.getByLabel('メモ').fill('玄関先で少し話した（強制終了の前）');
    await c.page.getByTestId('save').click();
    await c.page.getByTestId('notice').filter({ hasText: '保存しました' }).waitFor();
    await c.kill();

    // The server is gone too: the phone starts with no signal at all.
    await srv.stop();
    c = await launchOwn(profile);
    await c.page.goto(srv.base + '/');
    await unlock(c.page);
    await c.page.getByTestId('person-card').filter({ hasText: name.trim() }).click({ timeout: 20000 });
    await c.page.getByTestId('history').getByText('玄関先で少し話した（強制終了の前）').waitFor();
    assert.equal(await c.page.getByTestId('history').locator('li').count(), Math.min(before + 1, 10));
    assert.equal(await pending(c.page), 1);

    // Signal again: it reaches the server.
    await srv.start();
    await c.page.getByTestId('sync-now').click();
    await until(async () => (await pending(c.page)) === 0, 'sent after the restart');
    assert.deepEqual(c.errors, []);
    await c.kill();
  } finally {
    await srv.stop();
    srv.cleanup();
    rmSync(profile, { recursive: true, force: true });
  }
});

test('a second tab of the app says to use the first one and opens nothing', async () => {
  const srv = await startServer({ demo: true });
  const b = await browser();
  try {
    const p = await phone(b);
    await login(p.page, srv.base, 'vol03');
    const second = await p.ctx.newPage();
    await second.goto(srv.base + '/');
    await second.getByText('このアプリは別のタブ（画面）で開いています').waitFor();
    assert.equal(await second.getByTestId('person-card').count(), 0);
    // Closing the first tab frees the app for the other.
    await p.page.close();
    await reopen(second);
    await second.getByTestId('person-card').first().waitFor({ timeout: 20000 });
    await p.ctx.close();
  } finally {
    await b.close();
    await srv.stop();
    srv.cleanup();
  }
});

test('log-out empties the app\'s IndexedDB, its tile cache and the page', async () => {
  const tiles = await tileServer();
  const srv = await startServer({ demo: true, env: { MIMAMORI_TILE_URL: tiles.url } });
  const b = await browser();
  try {
    const p = await phone(b);
    await login(p.page, srv.base, 'minsei04');
    const [[userName]] = sql(srv.db, "SELECT name FROM users WHERE login = 'minsei04'");
    await p.page.getByTestId('nav-map').click();
    await p.page.getByTestId('map').waitFor();
    const cachedTiles = () => p.page.evaluate(async () => (await caches.has('mimamori-tiles')) ? (await (await caches.open('mimamori-tiles')).keys()).length : 0);
    await until(async () => (await cachedTiles()) > 0, 'tiles in the cache');
    const stored = () => p.page.evaluate(() => new Promise((ok, fail) => {
      const r = indexedDB.open('mimamori');
      r.onerror = () => fail(r.error);
      r.onsuccess = () => {
        const db = r.result;
        const names = [...db.objectStoreNames];
        if (!names.includes('docs')) { db.close(); ok({ docs: 0, meta: [] }); return; }
        const t = db.transaction(['docs', 'meta']);
        const d = t.objectStore('docs').count();
        const m = t.objectStore('meta').getAllKeys();
        t.oncomplete = () => { db.close(); ok({ docs: d.result, meta: m.result }); };
      };
    }));
    const before = await stored();
    assert.ok(before.docs > 10 && before.meta.includes('session'), JSON.stringify(before));

    await p.page.getByTestId('nav-settings').click();
    await p.page.getByTestId('logout').click();
    await p.page.getByLabel('ログインID').waitFor();
    const after = await stored();
    assert.equal(after.docs, 0);
    assert.deepEqual(after.meta.filter((k) => k !== 'actor'), [], 'no session, directory or cursor');
    assert.equal(await cachedTiles(), 0);
    assert.ok(!(await p.page.content()).includes(userName), 'the page no longer shows the user');
    const local = await p.page.evaluate(() => Object.keys(localStorage));
    assert.ok(local.every((k) => k === 'mimamori.lang' || k === 'mimamori.text_size'), JSON.stringify(local));
    // The server no longer accepts the device's token.
    const [[revoked]] = sql(srv.db, "SELECT count(*) FROM devices d JOIN users u ON u.id = d.user_id WHERE u.login = 'minsei04' AND d.revoked_at IS NOT NULL");
    assert.equal(revoked, 1);
    assert.deepEqual(p.errors, []);
    await p.ctx.close();
  } finally {
    await b.close();
    await srv.stop();
    srv.cleanup();
    await tiles.close();
  }
});
