// The coordinator's desk in Chromium against the real server: the overdue board and the
// follow-up inbox follow what a field phone syncs; a report downloads as a CSV that Excel
// opens; a roster import with broken rows imports nothing and names them.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { startServer, browser, phone, login, pending, until, sql } from './harness.mjs';

let srv;
let b;
before(async () => {
  srv = await startServer({ demo: true });
  b = await browser();
});
after(async () => {
  await b?.close();
  await srv?.stop();
  srv?.cleanup();
});

const pc = () => phone(b, { width: 1280, height: 900 });
const saved = (page) => page.getByTestId('notice').filter({ hasText: '保存しました' }).waitFor();
const refresh = (page) => page.getByTestId('desk-refresh').click();

test('the overdue board and the follow-up inbox follow what a field phone syncs', async () => {
  const desk = await pc();
  await login(desk.page, srv.base, 'staff');
  await desk.page.getByTestId('nav-desk').click();
  const rows = desk.page.getByTestId('overdue-row');
  await rows.first().waitFor({ timeout: 20000 });
  // Someone on the board whose volunteer can write to their record.
  const onBoard = await rows.evaluateAll((rs) => rs.map((r) => r.dataset.doc));
  const [doc, volunteer] = sql(srv.db,
    "SELECT a.doc_id, u.login FROM assignments a JOIN users u ON u.id = a.user_id " +
    "WHERE a.can_edit = 1 AND u.login LIKE 'vol%' ORDER BY u.login").find(([d]) => onBoard.includes(d));
  assert.ok(doc, 'someone on the board has a volunteer');

  // The volunteer meets them and, later, asks for follow-up.
  const vol = await phone(b);
  await login(vol.page, srv.base, volunteer);
  await vol.page.evaluate((d) => { location.hash = `#/person/${d}`; }, doc);
  await vol.page.getByTestId('quick-met').click();
  await saved(vol.page);
  await until(async () => (await pending(vol.page)) === 0, 'the visit sent');
  // The server projects the record, then the board no longer lists the person.
  const row = desk.page.locator(`[data-testid=overdue-row][data-doc="${doc}"]`);
  await until(async () => { await refresh(desk.page); await new Promise((r) => setTimeout(r, 300)); return (await row.count()) === 0; }, 'off the board');

  const what = '手すりの取り付けを相談したい';
  await vol.page.getByTestId('detailed').click();
  await vol.page.getByLabel('フォローが必要').check();
  await vol.page.getByLabel('何をするか').fill(what);
  await vol.page.getByTestId('save').click();
  await saved(vol.page);
  await until(async () => (await pending(vol.page)) === 0, 'the follow-up sent');

  await desk.page.getByTestId('desk-followups').click();
  const item = desk.page.locator(`[data-testid=followup][data-doc="${doc}"]`).filter({ hasText: what });
  await until(async () => { await refresh(desk.page); await new Promise((r) => setTimeout(r, 300)); return (await item.count()) === 1; }, 'in the inbox');
  await item.getByTestId('record-done').click();
  await item.getByLabel('対応した内容').fill('包括に連絡し、来週訪問の予定');
  await item.getByTestId('save-done').click();
  await saved(desk.page);
  await until(async () => (await item.count()) === 0, 'gone from the inbox at once');
  await until(async () => (await pending(desk.page)) === 0, 'the follow-up done sent');
  // The server's inbox agrees.
  await until(async () => { await refresh(desk.page); await new Promise((r) => setTimeout(r, 300)); return (await item.count()) === 0; }, 'gone from the server\'s inbox');
  assert.deepEqual([...desk.errors, ...vol.errors], []);
  await desk.ctx.close();
  await vol.ctx.close();
});

test('a report downloads as a CSV that Excel opens; a roster with broken rows imports nothing', async () => {
  const desk = await pc();
  await login(desk.page, srv.base, 'staff');
  await desk.page.getByTestId('nav-desk').click();
  await desk.page.getByTestId('desk-reports').click();
  await desk.page.getByTestId('minsei-row').first().waitFor({ timeout: 20000 });
  const [download] = await Promise.all([
    desk.page.waitForEvent('download'),
    desk.page.getByTestId('report-csv').click(),
  ]);
  assert.match(download.suggestedFilename(), /民生委員活動記録.*\.csv$/);
  const bytes = readFileSync(await download.path());
  assert.deepEqual([...bytes.subarray(0, 3)], [0xef, 0xbb, 0xbf], 'UTF-8 with a BOM');
  const text = bytes.subarray(3).toString('utf8');
  const rows = text.trim().split(/\r?\n/);
  assert.ok(rows.length >= 2, text);
  assert.ok(rows[0].includes('氏名') || rows[0].includes('民生委員'), rows[0]);
  assert.equal(sql(srv.db, "SELECT count(*) FROM audit_log WHERE action = 'export'")[0][0] >= 1, true);

  // A roster: the second data row names a district that does not exist.
  const before = sql(srv.db, "SELECT count(*) FROM documents WHERE kind = 'person'")[0][0];
  await desk.page.getByTestId('desk-import').click();
  const bad = '氏名,ふりがな,住所,地区,見守り頻度\n青木 しず,あおき しず,みなと市東町1-2,東第一小学校区,月1回\n石川 とめ,いしかわ とめ,みなと市東町3-4,どこにもない地区,月2回\n,なし,みなと市東町5,東第一小学校区,月1回\n';
  await desk.page.getByLabel('CSV ファイルを選ぶ').setInputFiles({ name: 'meibo.csv', mimeType: 'text/csv', buffer: Buffer.from(bad, 'utf8') });
  await desk.page.getByTestId('import-errors').waitFor({ timeout: 20000 });
  const broken = await desk.page.getByTestId('import-error').evaluateAll((rs) => rs.map((r) => Number(r.dataset.row)));
  assert.deepEqual([...new Set(broken)].sort(), [3, 4]);
  assert.equal(sql(srv.db, "SELECT count(*) FROM documents WHERE kind = 'person'")[0][0], before, 'nothing imported');
  // Fixed, it imports both.
  const good = '氏名,ふりがな,住所,地区,見守り頻度\n青木 しず,あおき しず,みなと市東町1-2,東第一小学校区,月1回\n石川 とめ,いしかわ とめ,みなと市東町3-4,東第二小学校区,月2回\n';
  await desk.page.getByLabel('CSV ファイルを選ぶ').setInputFiles({ name: 'meibo.csv', mimeType: 'text/csv', buffer: Buffer.from(good, 'utf8') });
  await desk.page.getByTestId('import-done').waitFor({ timeout: 20000 });
  assert.equal(sql(srv.db, "SELECT count(*) FROM documents WHERE kind = 'person'")[0][0], before + 2);
  assert.deepEqual(desk.errors, []);
  await desk.ctx.close();
});

test('the desk assigns a visitor, sets the watch plan and moves a 民生委員 to another district', async () => {
  const desk = await pc();
  await login(desk.page, srv.base, 'staff');
  await desk.page.getByTestId('nav-desk').click();
  await desk.page.getByTestId('desk-people').click();
  const person = await desk.page.getByLabel('氏名').inputValue();
  const [[volId, volName]] = sql(srv.db, "SELECT id, name FROM users WHERE login = 'vol33'");
  const label = await desk.page.locator('#p-user option').filter({ hasText: '（vol33・' }).textContent();
  await desk.page.getByLabel('担当', { exact: true }).selectOption({ label });
  await desk.page.getByTestId('assign').click();
  await until(() => sql(srv.db, 'SELECT count(*) FROM assignments WHERE user_id = ? AND doc_id = ?', [volId, person])[0][0] === 1, 'assigned');
  assert.ok(volName);

  await desk.page.getByTestId('frequency').getByRole('radio', { name: '週1回' }).click();
  await desk.page.getByTestId('save-frequency').click();
  await saved(desk.page);
  await until(() => sql(srv.db, 'SELECT frequency FROM proj_people WHERE doc_id = ?', [person])[0]?.[0] === 'weekly', 'the watch plan on the server');

  // A 民生委員 takes over another 小学校区.
  const [[minId, minName, from]] = sql(srv.db, "SELECT u.id, u.name, m.district_id FROM users u JOIN memberships m ON m.user_id = u.id WHERE u.login = 'minsei10' AND m.role = 'minsei'");
  const [[to, toName]] = sql(srv.db, "SELECT id, name FROM districts WHERE level = '小学校区' AND id <> ? ORDER BY name LIMIT 1", [from]);
  await desk.page.getByLabel('だれが').selectOption({ label: `${minName}（minsei10）` });
  await desk.page.locator('#g-to').selectOption({ label: toName });
  await desk.page.getByTestId('move-grant').click();
  await until(() => sql(srv.db, "SELECT district_id FROM memberships WHERE user_id = ? AND role = 'minsei'", [minId])[0][0] === to, 'the grant moved');
  assert.deepEqual(desk.errors, []);
  await desk.ctx.close();
});

test('on a 360×640 phone the desk tables are cards: nothing wider than the screen, each figure named', async () => {
  const { page } = await phone(b);
  await login(page, srv.base, 'staff');
  await page.getByTestId('nav-desk').click();
  const rows = page.getByTestId('overdue-row');
  await rows.first().waitFor({ timeout: 20000 });
  const overflow = () => page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  assert.equal(await overflow(), 0, 'the overdue board fits the screen');
  // A row is a card: its cells stack, each with its column's name before the value.
  const box = await rows.first().boundingBox();
  assert.ok(box.width <= 360, `a row is ${box.width} px wide`);
  const cell = rows.first().locator('td[data-label="担当"]');
  const before = await cell.evaluate((td) => getComputedStyle(td, '::before').content);
  assert.equal(before, '"担当："');
  assert.equal(await page.locator('[data-testid=overdue] thead').isVisible(), true, 'the header stays for screen readers');

  await page.getByTestId('desk-followups').click();
  await page.getByTestId('followups').waitFor();
  assert.equal(await overflow(), 0, 'the follow-up inbox fits the screen');
  await page.getByTestId('desk-reports').click();
  for (const [kind, table] of [['minsei', 'minsei-report'], ['salons', 'salon-report'], ['districts', 'district-report']]) {
    await page.locator('#r-kind').selectOption(kind);
    await page.getByTestId(table).waitFor();
    assert.equal(await overflow(), 0, `the ${kind} report fits the screen`);
  }
  const figure = page.locator('[data-testid=district-row] td[data-label="訪問・連絡"]').first();
  assert.equal(await figure.evaluate((td) => getComputedStyle(td, '::before').content), '"訪問・連絡："');
  await page.getByTestId('desk-import').click();
  await page.locator('#import-file').waitFor();
  assert.equal(await overflow(), 0, 'the roster import fits the screen');
});
