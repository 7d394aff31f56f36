// Usable with a screen reader: on every screen of the field app, each control has a name
// in Chromium's accessibility tree, and moving to a screen puts the focus on its title.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, browser, phone, login, tileServer, unnamedControls } from './harness.mjs';

test('every control on every screen has an accessible name; focus starts at the title', async () => {
  const tiles = await tileServer();
  const srv = await startServer({ demo: true, env: { MIMAMORI_TILE_URL: tiles.url } });
  const b = await browser();
  try {
    const check = async (page, where) => {
      assert.deepEqual(await unnamedControls(page), [], `unnamed controls on ${where}`);
    };
    const titleFocused = (page) => page.evaluate(() => document.activeElement?.tagName === 'H1');

    const p = await phone(b);
    await p.page.goto(srv.base + '/');
    await p.page.getByLabel('ログインID').waitFor();
    await check(p.page, 'ログイン');
    await login(p.page, srv.base, 'minsei01');
    await check(p.page, 'きょうの訪問');
    await p.page.getByTestId('person-card').first().click();
    await p.page.getByTestId('person').waitFor();
    assert.ok(await titleFocused(p.page), 'focus on the person page title');
    await check(p.page, 'person page');
    await p.page.getByTestId('detailed').click();
    await p.page.getByTestId('visit-form').waitFor();
    assert.ok(await titleFocused(p.page), 'focus on the visit form title');
    await p.page.getByLabel('フォローが必要').check();
    await check(p.page, 'visit form');
    await p.page.goBack();
    await p.page.getByTestId('consult').click();
    await p.page.getByTestId('consult-form').waitFor();
    await check(p.page, 'consultation form');
    await p.page.getByTestId('nav-map').click();
    await p.page.getByTestId('map-card').first().click();
    await p.page.getByTestId('map').waitFor();
    await check(p.page, 'support map');
    await p.page.getByTestId('nav-settings').click();
    await p.page.getByTestId('who').waitFor();
    await check(p.page, '設定');
    await p.ctx.close();

    const s = await phone(b);
    await login(s.page, srv.base, 'salon4');
    await s.page.getByTestId('nav-salons').click();
    await s.page.getByTestId('salon-card').first().click();
    await s.page.getByTestId('open-today').waitFor();
    await check(s.page, 'salon');
    await s.page.getByTestId('open-today').click();
    await s.page.getByTestId('member').first().waitFor();
    await check(s.page, 'session');
    await s.ctx.close();
    assert.deepEqual([...p.errors, ...s.errors], []);
  } finally {
    await b.close();
    await srv.stop();
    srv.cleanup();
    await tiles.close();
  }
});
