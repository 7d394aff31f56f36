// Usable with a screen reader: on every screen of the field app, each control has a name
// in Chromium's accessibility tree, and moving to a screen puts the focus on its title.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, browser, phone, login, tileServer, unnamedControls, setPin, PASSWORD, unlock, until } from './harness.mjs';

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
    await p.page.getByLabel('ログインID').fill('minsei01');
    await p.page.getByLabel('パスワード').fill(PASSWORD);
    await p.page.getByRole('button', { name: 'ログインする' }).click();
    await p.page.getByLabel('もう一度 同じ PIN').waitFor({ timeout: 20000 });
    await check(p.page, 'PIN を決める');
    await setPin(p.page);
    await p.page.getByTestId('sync').waitFor({ timeout: 20000 });
    await until(async () => (await p.page.getByTestId('last-sync').textContent()).includes('最終同期'), 'first sync', 60000);
    await check(p.page, 'きょうの訪問');
    await p.page.reload();
    await p.page.getByTestId('locked-hello').waitFor({ timeout: 20000 });
    await check(p.page, 'ロック中');
    await unlock(p.page);
    await p.page.getByTestId('open-roster').click();
    await p.page.getByTestId('roster-time').waitFor({ timeout: 20000 });
    assert.ok(await titleFocused(p.page), 'focus on the roster title');
    await check(p.page, '避難支援の名簿');
    await p.page.goBack();
    await p.page.getByTestId('person-card').first().click();
    await p.page.getByTestId('person').waitFor();
    assert.ok(await titleFocused(p.page), 'focus on the person page title');
    await check(p.page, 'person page');
    await p.page.getByTestId('edit-consent').click();
    await p.page.getByTestId('consent-form').waitFor();
    await check(p.page, 'consent form');
    await p.page.goBack();
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

    const o = await phone(b);
    await login(o.page, srv.base, 'staff');
    await o.page.getByTestId('nav-settings').click();
    await o.page.getByTestId('open-disaster').click();
    await o.page.getByTestId('disaster-form').waitFor();
    await check(o.page, '災害モード');
    await o.page.goBack();
    await o.page.getByTestId('open-audit').click();
    await o.page.getByTestId('audit-entry').first().waitFor();
    await check(o.page, '監査ログ');
    await o.page.getByTestId('nav-desk').click();
    await o.page.getByTestId('overdue-row').first().waitFor({ timeout: 20000 });
    await check(o.page, 'デスク: 見守りが遅れている人');
    for (const [tab, ready, where] of [
      ['followups', 'followups', 'フォローが必要なこと'],
      ['reports', 'minsei-report', '報告'],
      ['people', 'assign', '担当の割り当て'],
      ['import', null, '名簿の取り込み'],
    ]) {
      await o.page.getByTestId(`desk-${tab}`).click();
      if (ready) await o.page.getByTestId(ready).first().waitFor({ timeout: 20000 });
      else await o.page.getByLabel('CSV ファイルを選ぶ').waitFor();
      await check(o.page, `デスク: ${where}`);
    }
    await o.ctx.close();
    assert.deepEqual([...p.errors, ...s.errors, ...o.errors], []);
  } finally {
    await b.close();
    await srv.stop();
    srv.cleanup();
    await tiles.close();
  }
});
