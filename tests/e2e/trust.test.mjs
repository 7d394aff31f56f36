// Records a field worker can trust, in a real Chromium against the real server with the
// demo 社協 (issue: "A field worker's whole day on the phone"): a double tap records one
// visit; 取り消す undoes a save, on the phone and on the server; the notice floats (the
// page does not move) and is gone after navigating; each user opens where their work is;
// during the first sync the list says it is loading; the administrator can record a
// consultation; the desk shows its kept copy without signal.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, browser, phone, login, setPin, sql, until, reopen, PASSWORD } from './harness.mjs';

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

const userId = (login) => sql(srv.db, 'SELECT id FROM users WHERE login = ?', [login])[0][0];
const visitsBy = (doc, user) =>
  sql(srv.db, 'SELECT count(*) FROM proj_visits WHERE doc_id = ? AND recorded_by = ?', [doc, user])[0][0];
/** The ids of the records 最近の記録 shows. */
const shownIds = (page) => page.getByTestId('record').evaluateAll((rs) => rs.map((r) => r.dataset.record));
const docOf = (page) => decodeURIComponent(new URL(page.url()).hash.split('/')[2]);

/** Opens the first person on きょう and waits for their page. */
async function openFirstPerson(page) {
  await page.getByTestId('person-card').first().click();
  await page.getByTestId('person').waitFor();
  return docOf(page);
}

test('a double tap on 会えた・元気 records one visit, on the phone and on the server', async () => {
  const p = await phone(b);
  await login(p.page, srv.base, 'vol02');
  const doc = await openFirstPerson(p.page);
  const me = userId('vol02');
  const before = new Set(await shownIds(p.page));
  const onServer = visitsBy(doc, me);
  const added = async () => (await shownIds(p.page)).filter((id) => !before.has(id));

  await p.page.getByTestId('quick-met').click();
  await p.page.waitForTimeout(1500);
  // The second tap of a double tap: the button waits while 取り消す is offered.
  await p.page.getByTestId('quick-met').click({ force: true, timeout: 2000 }).catch(() => {});
  await p.page.getByTestId('notice').filter({ hasText: '保存しました' }).waitFor();
  await until(async () => (await added()).length === 1, 'the new record shown');
  await p.page.waitForTimeout(1000);
  assert.equal((await added()).length, 1, 'the second tap recorded nothing');
  await until(() => visitsBy(doc, me) === onServer + 1, 'the visit on the server');
  await p.page.waitForTimeout(1500);
  assert.equal(visitsBy(doc, me), onServer + 1, 'one visit on the server, not two');
  assert.deepEqual(p.errors, []);
});

test('取り消す undoes a quick record: gone from the page and from the server', async () => {
  const p = await phone(b);
  await login(p.page, srv.base, 'vol03');
  const doc = await openFirstPerson(p.page);
  const me = userId('vol03');
  const before = new Set(await shownIds(p.page));
  const onServer = visitsBy(doc, me);

  await p.page.getByTestId('quick-not-home').click();
  await p.page.getByTestId('notice').filter({ hasText: '保存しました' }).waitFor();
  const made = await until(async () => (await shownIds(p.page)).find((id) => !before.has(id)), 'the new record shown');
  await until(() => visitsBy(doc, me) === onServer + 1, 'the visit on the server');
  await p.page.getByTestId('undo').click();
  await p.page.getByTestId('notice').filter({ hasText: '取り消しました' }).waitFor();
  assert.ok(!(await shownIds(p.page)).includes(made), 'the record is gone from 最近の記録');
  await until(() => visitsBy(doc, me) === onServer, 'the server no longer counts it');
  // After the undo a new quick record can be made at once.
  assert.equal(await p.page.getByTestId('quick-met').isEnabled(), true);
  assert.deepEqual(p.errors, []);
});

test('the notice floats over the page and is gone after navigating', async () => {
  const p = await phone(b);
  await login(p.page, srv.base, 'vol04');
  await openFirstPerson(p.page);
  const met = p.page.getByTestId('quick-met');
  const where = await met.boundingBox();
  await met.click();
  const notice = p.page.getByTestId('notice');
  await notice.filter({ hasText: '保存しました' }).waitFor();
  const after = await p.page.getByTestId('quick-not-home').boundingBox();
  const metAfter = await met.boundingBox();
  assert.equal(metAfter.y, where.y, '会えた・元気 did not move');
  assert.ok(after.y + after.height <= 640, '不在だった is still on the screen');
  // role="status", so a screen reader says it without moving the focus.
  assert.equal(await p.page.locator('.notice-layer').getAttribute('role'), 'status');

  for (const nav of ['nav-today', 'nav-settings']) {
    await p.page.getByTestId(nav).click();
    await p.page.locator('h1').first().waitFor();
    assert.equal(await notice.count(), 0, `no notice after going to ${nav}`);
  }
  // Another person's page shows no notice either.
  await p.page.getByTestId('nav-today').click();
  await p.page.getByTestId('person-card').nth(1).click();
  await p.page.getByTestId('person').waitFor();
  assert.equal(await notice.count(), 0, 'no notice on another person');
  assert.deepEqual(p.errors, []);
});

test('a salon leader opens on サロン, not on きょうの訪問', async () => {
  const p = await phone(b);
  await login(p.page, srv.base, 'salon2');
  await p.page.getByTestId('salon-card').first().waitFor();
  const text = await p.page.locator('main').textContent();
  assert.ok(!text.includes('見守りの担当がまだありません'), text);
  assert.equal(await p.page.getByTestId('nav-salons').getAttribute('aria-current'), 'page');
  assert.equal(await p.page.getByTestId('nav-today').count(), 0, 'no きょう tab without people');
  assert.deepEqual(p.errors, []);
});

test('during the first sync the list says it is loading, never "nobody assigned"', async () => {
  // No service worker, so the test's slow network reaches the app's own requests.
  const ctx = await b.newContext({ locale: 'ja-JP', viewport: { width: 360, height: 640 }, hasTouch: true, serviceWorkers: 'block' });
  const page = await ctx.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  let slow = false;
  await page.route('**/api/{sync,directory}', async (route) => {
    if (slow) await new Promise((r) => setTimeout(r, 2500));
    await route.continue();
  });
  await page.goto(srv.base + '/');
  await page.getByLabel('ログインID').fill('vol05');
  await page.getByLabel('パスワード').fill(PASSWORD);
  await page.getByRole('button', { name: 'ログインする' }).click();
  slow = true;
  await setPin(page);
  const loading = page.getByTestId('first-sync');
  await loading.waitFor({ timeout: 20000 });
  assert.match(await loading.textContent(), /受け取っています/);
  assert.equal(await page.getByTestId('nobody').count(), 0);
  const seenNobody = [];
  const watch = setInterval(async () => {
    if (await page.getByTestId('nobody').count().catch(() => 0)) seenNobody.push(Date.now());
  }, 100);
  await page.getByTestId('person-card').first().waitFor({ timeout: 60000 });
  clearInterval(watch);
  assert.deepEqual(seenNobody, [], '"nobody assigned" was never shown to a volunteer who has people');
  await until(async () => (await page.getByTestId('first-sync').count()) === 0, 'the loading line goes');
  assert.deepEqual(errors, []);
  await ctx.close();
});

test('the administrator records a consultation; it reaches the server', async () => {
  const p = await phone(b);
  await login(p.page, srv.base, 'admin');
  const doc = await openFirstPerson(p.page);
  const count = () => sql(srv.db, 'SELECT count(*) FROM proj_consultations WHERE doc_id = ?', [doc])[0][0];
  const before = count();
  await p.page.getByTestId('consult').click();
  await p.page.getByTestId('consult-form').waitFor();
  await p.page.getByTestId('topics').locator('button').first().click();
  await p.page.getByLabel('相談されたこと').fill('管理者が記録した相談');
  await p.page.getByTestId('save').click();
  await p.page.getByTestId('notice').filter({ hasText: '保存しました' }).waitFor();
  await p.page.getByTestId('person').waitFor();
  await until(() => count() === before + 1, 'the consultation on the server');
  assert.deepEqual(p.errors, []);
});

test('the desk shows its kept copy without signal', async () => {
  const p = await phone(b, { width: 1280, height: 900 });
  await login(p.page, srv.base, 'staff');
  await p.page.getByTestId('nav-desk').click();
  await p.page.getByTestId('overdue-row').first().waitFor({ timeout: 20000 });
  const rows = await p.page.getByTestId('overdue-row').count();
  // The kept copy is sealed in IndexedDB by now; a reload without signal shows it.
  await p.page.waitForTimeout(500);
  await p.ctx.setOffline(true);
  await reopen(p.page);
  await p.page.getByTestId('desk-stale').waitFor({ timeout: 20000 });
  assert.match(await p.page.getByTestId('desk-stale').textContent(), /時点/);
  assert.equal(await p.page.getByTestId('overdue-row').count(), rows);
  assert.deepEqual(p.errors, []);
});

/** The 訪問・連絡活動 count of user `login` (an id) in the 民生委員 活動記録 of `month`. */
const minseiVisits = (login, month) => minseiFigure(login, month, 'visits');

/** Figure `key` of user `login` (an id) in the 民生委員 活動記録 of `month`. */
async function minseiFigure(login, month, key) {
  const r = await fetch(srv.base + '/api/login', {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ login: 'staff', password: PASSWORD, device_name: 'report test' }),
  });
  const { token } = await r.json();
  const rep = await (await fetch(`${srv.base}/api/reports/minsei?month=${month}`, {
    headers: { authorization: `Bearer ${token}` },
  })).json();
  const row = rep.members.find((m) => m.user?.id === login);
  return row ? row[key] : 0;
}

const jst = (d) => new Date(d.getTime() + 9 * 3600 * 1000);
const monthOf = (d) => jst(d).toISOString().slice(0, 7);

/** Now, this month (JST), a day of last month and that month. */
function months() {
  const now = new Date();
  const thisMonth = monthOf(now);
  const firstOfMonth = new Date(`${thisMonth}-01T00:00:00+09:00`);
  const lastMonthDay = jst(new Date(firstOfMonth.getTime() - 5 * 24 * 3600 * 1000)).toISOString().slice(0, 10);
  return { now, thisMonth, lastMonthDay, lastMonth: lastMonthDay.slice(0, 7) };
}

test('a corrected and a withdrawn visit change the 民生委員 report as expected', async () => {
  const { now, thisMonth, lastMonthDay, lastMonth } = months();
  const me = userId('minsei03');
  const count = (m) => minseiVisits(me, m);

  const p = await phone(b);
  await login(p.page, srv.base, 'minsei03');
  const doc = await openFirstPerson(p.page);
  const onServer = () => visitsBy(doc, me);
  const base = { now: await count(thisMonth), last: await count(lastMonth), doc: onServer() };

  // Two quick visits today (the second once 取り消す is no longer offered).
  const newest = () => p.page.getByTestId('record').first().getAttribute('data-record');
  await p.page.getByTestId('quick-met').click();
  await p.page.getByTestId('notice').filter({ hasText: '保存しました' }).waitFor();
  const firstId = await newest();
  await until(async () => p.page.getByTestId('quick-met').isEnabled(), 'quick buttons back', 15000);
  await p.page.getByTestId('quick-not-home').click();
  await until(async () => (await newest()) !== firstId, 'the second record shown');
  const otherId = await newest();
  await until(() => onServer() === base.doc + 2, 'both visits on the server');
  await until(async () => (await count(thisMonth)) === base.now + 2, 'both counted this month');

  // 直す: the first one happened last month.
  await p.page.locator(`[data-record="${firstId}"] [data-testid="correct"]`).click();
  await p.page.getByTestId('visit-form').waitFor();
  assert.equal(await p.page.getByLabel('日付').inputValue(), jst(now).toISOString().slice(0, 10), 'the form starts as recorded');
  await p.page.getByLabel('日付').fill(lastMonthDay);
  await p.page.getByTestId('save').click();
  await p.page.getByTestId('person').waitFor();
  await p.page.getByTestId('notice').filter({ hasText: '保存しました' }).waitFor();
  await until(async () => (await count(lastMonth)) === base.last + 1, 'counted last month after the correction');
  assert.equal(await count(thisMonth), base.now + 1, 'no longer counted this month');
  assert.equal(onServer(), base.doc + 2, 'corrected, not a new record');

  // 取り下げる: the other one was a mistake; it stays on the phone, marked, uncounted.
  p.page.once('dialog', (d) => d.accept());
  await p.page.locator(`[data-record="${otherId}"] [data-testid="withdraw"]`).click();
  await p.page.getByTestId('notice').filter({ hasText: '取り下げました' }).waitFor();
  await p.page.locator(`[data-record="${otherId}"] [data-testid="withdrawn"]`).waitFor();
  await until(async () => (await count(thisMonth)) === base.now, 'a withdrawn visit is not counted');
  assert.equal(await count(lastMonth), base.last + 1);
  assert.equal(onServer(), base.doc + 1, 'the projection leaves the withdrawn visit out');
  assert.deepEqual(p.errors, []);
});

test('a corrected and a withdrawn consultation change the 民生委員 report as expected', async () => {
  const { now, thisMonth, lastMonthDay, lastMonth } = months();
  const me = userId('minsei03');
  const count = (m) => minseiFigure(me, m, 'consultations');

  const p = await phone(b);
  await login(p.page, srv.base, 'minsei03');
  const doc = await openFirstPerson(p.page);
  const onServer = () => sql(srv.db,
    'SELECT count(*) FROM proj_consultations WHERE doc_id = ? AND recorded_by = ?', [doc, me])[0][0];
  const base = { now: await count(thisMonth), last: await count(lastMonth), doc: onServer() };

  const record = async (summary) => {
    await p.page.getByTestId('consult').click();
    await p.page.getByTestId('consult-form').waitFor();
    await p.page.getByTestId('topics').getByRole('button', { name: '介護保険' }).click();
    await p.page.getByLabel('相談されたこと').fill(summary);
    await p.page.getByTestId('save').click();
    await p.page.getByTestId('person').waitFor();
    const item = p.page.getByTestId('consultation').filter({ hasText: summary });
    await item.waitFor();
    return item.getAttribute('data-record');
  };
  const first = await record('介護保険の申請の相談');
  const other = await record('まちがえて記録した相談');
  await until(() => onServer() === base.doc + 2, 'both consultations on the server');
  await until(async () => (await count(thisMonth)) === base.now + 2, 'both counted this month');

  // 直す: the first one happened last month; the form starts as recorded.
  await p.page.locator(`[data-testid=consultation][data-record="${first}"] [data-testid="correct"]`).click();
  await p.page.getByTestId('consult-form').waitFor();
  assert.equal(await p.page.getByLabel('相談されたこと').inputValue(), '介護保険の申請の相談');
  assert.equal(await p.page.getByLabel('日付').inputValue(), jst(now).toISOString().slice(0, 10));
  await p.page.getByLabel('日付').fill(lastMonthDay);
  await p.page.getByTestId('save').click();
  await p.page.getByTestId('person').waitFor();
  await until(async () => (await count(lastMonth)) === base.last + 1, 'counted last month after the correction');
  assert.equal(await count(thisMonth), base.now + 1, 'no longer counted this month');
  assert.equal(onServer(), base.doc + 2, 'corrected, not a new record');

  // 取り下げる: the other one was a mistake; it stays on the phone, marked, uncounted.
  p.page.once('dialog', (d) => d.accept());
  await p.page.locator(`[data-testid=consultation][data-record="${other}"] [data-testid="withdraw"]`).click();
  await p.page.getByTestId('notice').filter({ hasText: '取り下げました' }).waitFor();
  await p.page.locator(`[data-testid=consultation][data-record="${other}"] [data-testid="withdrawn"]`).waitFor();
  await until(async () => (await count(thisMonth)) === base.now, 'a withdrawn consultation is not counted');
  assert.equal(await count(lastMonth), base.last + 1);
  assert.equal(onServer(), base.doc + 1, 'the projection leaves the withdrawn consultation out');
  assert.deepEqual(p.errors, []);
});
