// 支え合いマップ in a real Chromium: base tiles come through our server (the browser never
// asks the tile provider), a place and a link added with no signal survive a reload, and
// after sync a second phone sees them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, browser, phone, login, pending, tileServer, until, reopen } from './harness.mjs';

test('support map: add places and a link offline; another phone sees them after sync', async () => {
  const tiles = await tileServer();
  const srv = await startServer({ demo: true, env: { MIMAMORI_TILE_URL: tiles.url } });
  const b = await browser();
  try {
    const a = await phone(b);
    const origins = new Set();
    a.page.on('request', (r) => origins.add(new URL(r.url()).origin));
    await login(a.page, srv.base, 'minsei03');
    await a.page.getByTestId('nav-map').click();
    const map = a.page.getByTestId('map');
    await map.waitFor();
    // Tiles arrive through /tiles/ and the local stand-in for 地理院タイル.
    const loadedTiles = () => a.page.evaluate(() => [...document.querySelectorAll('[data-testid=map] img')]
      .filter((i) => i.complete && i.naturalWidth === 256 && getComputedStyle(i).display !== 'none').length);
    await until(async () => (await loadedTiles()) > 0, 'tiles shown');
    assert.ok(tiles.seen.length > 0 && tiles.seen.every((u) => /^\/1[0-8]\/\d+\/\d+\.png$/.test(u)), JSON.stringify(tiles.seen));
    assert.deepEqual([...origins], [srv.base], 'the browser talks only to our server');

    await a.ctx.setOffline(true);
    // Taps the map at (dx, dy) from its centre, wherever the page has scrolled.
    const tapMap = async (dx, dy) => {
      await map.scrollIntoViewIfNeeded();
      const box = await map.boundingBox();
      await a.page.mouse.click(box.x + box.width / 2 + dx, box.y + box.height / 2 + dy);
    };
    const addPlace = async (dx, dy, kind, label) => {
      await a.page.getByTestId('add-place').click();
      await tapMap(dx, dy);
      const form = a.page.getByTestId('place-form');
      await form.waitFor();
      await form.getByRole('radio', { name: kind }).click();
      await form.getByLabel('名前・目印').fill(label);
      await form.getByTestId('save-place').click();
      await a.page.locator(`[data-testid=place][data-label="${label}"]`).waitFor();
    };
    // An empty name is refused in Japanese, and the form stays.
    await a.page.getByTestId('add-place').click();
    await tapMap(-60, -40);
    await a.page.getByTestId('place-form').getByTestId('save-place').click();
    await a.page.getByTestId('place-form').getByText('入力してください').waitFor();
    await a.page.getByTestId('place-form').getByLabel('名前・目印').fill('みなと公民館');
    await a.page.getByTestId('place-form').getByTestId('save-place').click();
    await a.page.locator('[data-testid=place][data-label="みなと公民館"]').waitFor();
    await addPlace(60, 40, '支援が必要な人', '鈴木さん宅');

    await a.page.getByTestId('add-link').click();
    await a.page.locator('[data-testid=place][data-label="みなと公民館"]').click();
    await a.page.locator('[data-testid=place][data-label="鈴木さん宅"]').click();
    const lf = a.page.getByTestId('link-form');
    await lf.waitFor();
    await lf.getByRole('radio', { name: '見守り' }).click();
    await lf.getByTestId('save-link').click();
    await a.page.getByTestId('link').first().waitFor();
    assert.equal(await pending(a.page), 3);

    // Reload with no signal: the map, its marks and the tiles seen before are all there.
    await reopen(a.page);
    await a.page.getByTestId('nav-map').click();
    await a.page.locator('[data-testid=place][data-label="鈴木さん宅"]').waitFor({ timeout: 20000 });
    assert.equal(await a.page.getByTestId('link').count(), 1);
    await until(async () => (await loadedTiles()) > 0, 'tiles from the cache, offline');

    await a.ctx.setOffline(false);
    await until(async () => (await pending(a.page)) === 0, 'sent');

    const c = await phone(b);
    await login(c.page, srv.base, 'minsei03');
    await c.page.getByTestId('nav-map').click();
    await c.page.locator('[data-testid=place][data-label="みなと公民館"]').waitFor({ timeout: 20000 });
    await c.page.locator('[data-testid=place][data-label="鈴木さん宅"]').waitFor();
    assert.equal(await c.page.getByTestId('link').count(), 1);
    assert.equal(await c.page.getByTestId('link').getAttribute('data-kind'), 'watch');
    assert.deepEqual(a.errors, []);
    assert.deepEqual(c.errors, []);
  } finally {
    await b.close();
    await srv.stop();
    srv.cleanup();
    await tiles.close();
  }
});
