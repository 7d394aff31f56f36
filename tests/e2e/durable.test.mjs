// A save is durable before the screen says 保存しました: the browser killed (SIGKILL) a
// moment later loses nothing. A second tab of the app does not open the data at all.
// Log-out empties what the app keeps in the browser.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, browser, phone, login, pending, until, sql, tileServer, unlock, reopen, launchOwn, stored, removeProfile } from './harness.mjs';

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
    removeProfile(profile);
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
    const before = await stored(p.page);
    assert.ok(before.docs > 10 && before.meta.includes('session'), JSON.stringify(before));

    await p.page.getByTestId('nav-settings').click();
    await p.page.getByTestId('logout').click();
    await p.page.getByLabel('ログインID').waitFor();
    const after = await stored(p.page);
    assert.equal(after.docs, 0);
    assert.deepEqual(after.meta, [], 'no session, directory, cursor or lock record');
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
