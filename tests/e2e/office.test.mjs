// Rights and the office, in Chromium against the real server: consent and the evacuation
// roster, disaster mode, the audit log with staff reads, view-only records, and a person
// leaving a volunteer's phone when reassigned.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, browser, phone, login, pending, until, sql, admin, reopen, stored } from './harness.mjs';

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
const east = () => sql(srv.db, "SELECT path FROM districts WHERE name = '東地区'")[0][0];
/** Listed people of 東地区 and whether each consented to sharing with the 自主防災組織. */
const eastListed = () => sql(srv.db,
  'SELECT p.doc_id, p.name, p.consent_bousai FROM proj_people p JOIN districts d ON d.id = p.district_id ' +
  'WHERE p.listed = 1 AND substr(d.path, 1, length(?)) = ? ORDER BY p.name', [east(), east()]);
const audits = (action) => sql(srv.db, 'SELECT count(*) FROM audit_log WHERE action = ?', [action])[0][0];
const syncNow = (page) => page.evaluate(() => window.dispatchEvent(new Event('online')));
const rosterNames = async (page) => {
  await page.getByTestId('roster-time').waitFor({ timeout: 20000 });
  return page.getByTestId('roster-entry').evaluateAll((es) => es.map((e) => [e.dataset.name, e.dataset.consented]));
};

test('disaster mode shows the 自主防災組織 everyone listed, for a limited time, and it is all in the audit log', async () => {
  const listed = eastListed();
  const consenting = listed.filter((r) => r[2] === 1);
  assert.ok(consenting.length > 0 && consenting.length < listed.length, `${consenting.length}/${listed.length}`);
  const bousai = await phone(b);
  await login(bousai.page, srv.base, 'bousai01');
  // Normal times: only those who consented.
  let shown = await rosterNames(bousai.page);
  assert.equal(shown.length, consenting.length);
  assert.ok(shown.every(([, c]) => c === 'true'));
  assert.equal(await bousai.page.getByTestId('disaster-banner').count(), 0);

  const staff = await phone(b);
  await login(staff.page, srv.base, 'staff');
  await staff.page.getByTestId('nav-settings').click();
  await staff.page.getByTestId('open-disaster').click();
  await staff.page.getByLabel('地区', { exact: true }).selectOption({ label: '東地区' });
  await staff.page.getByTestId('hours').getByRole('radio', { name: '6時間' }).click();
  await staff.page.getByLabel('理由（例: 台風10号 避難指示）').fill('大雨 避難指示（訓練）');
  staff.page.once('dialog', (d) => d.accept());
  await staff.page.getByTestId('start-disaster').click();
  await staff.page.locator('[data-testid=disaster][data-active=true]').waitFor();

  await reopen(bousai.page);
  shown = await rosterNames(bousai.page);
  assert.equal(shown.length, listed.length, 'everyone listed, consent or not');
  assert.equal(shown.filter(([, c]) => c === 'false').length, listed.length - consenting.length);
  await bousai.page.getByTestId('disaster-banner').waitFor();
  assert.ok((await bousai.page.locator('[data-consented=false]').first().textContent()).includes('同意なし・災害時のため表示'));

  // The office ends it: back to consent only.
  await staff.page.getByTestId('end-disaster').click();
  await staff.page.locator('[data-testid=disaster][data-active=false]').waitFor();
  await reopen(bousai.page);
  assert.equal((await rosterNames(bousai.page)).length, consenting.length);
  assert.ok(audits('disaster_start') >= 1 && audits('disaster_end') >= 1);
  assert.ok(audits('roster_read') >= 3);
  assert.deepEqual([...bousai.errors, ...staff.errors], []);
  await bousai.ctx.close();
  await staff.ctx.close();
});

test('a consent recorded by the 民生委員 puts a listed person on the 自主防災組織\'s roster', async () => {
  const [doc, name] = eastListed().find((r) => r[2] === 0);
  const minsei = await phone(b);
  await login(minsei.page, srv.base, 'minsei01');
  await minsei.page.evaluate((d) => { location.hash = `#/person/${d}`; }, doc);
  await minsei.page.getByTestId('edit-consent').click();
  await minsei.page.getByTestId('scopes').getByRole('button', { name: '自主防災組織と共有（避難の名簿）' }).click();
  await minsei.page.getByTestId('method').getByRole('radio', { name: '書面' }).click();
  await minsei.page.getByTestId('save').click();
  await minsei.page.getByTestId('notice').filter({ hasText: '保存しました' }).waitFor();
  await minsei.page.getByTestId('consent').getByText('自主防災組織と共有（避難の名簿）').waitFor();
  await until(async () => (await pending(minsei.page)) === 0, 'sent');
  await until(() => sql(srv.db, 'SELECT consent_bousai FROM proj_people WHERE doc_id = ?', [doc])[0][0] === 1, 'the projection');

  const bousai = await phone(b);
  await login(bousai.page, srv.base, 'bousai01');
  const shown = await rosterNames(bousai.page);
  assert.ok(shown.some(([n, c]) => n === name && c === 'true'), `${name} on the roster`);
  assert.deepEqual([...minsei.errors, ...bousai.errors], []);
  await minsei.ctx.close();
  await bousai.ctx.close();
});

test('staff opening a person\'s record is audited, and staff find it in the audit log', async () => {
  const staff = await phone(b);
  await login(staff.page, srv.base, 'staff');
  const before = sql(srv.db, "SELECT count(*) FROM audit_log WHERE action = 'person_read' AND user_id = ?", [userId('staff')])[0][0];
  await staff.page.getByTestId('person-card').first().click();
  await staff.page.getByTestId('person').waitFor();
  const doc = staff.page.url().split('/person/')[1];
  await syncNow(staff.page);
  await until(() => sql(srv.db, "SELECT count(*) FROM audit_log WHERE action = 'person_read' AND user_id = ? AND doc_id = ?", [userId('staff'), doc])[0][0] >= 1, 'the read in the audit log');
  assert.ok(sql(srv.db, "SELECT count(*) FROM audit_log WHERE action = 'person_read' AND user_id = ?", [userId('staff')])[0][0] > before);
  // The audit log never holds the record's content.
  const [[name]] = sql(srv.db, 'SELECT name FROM proj_people WHERE doc_id = ?', [doc]);
  assert.equal(sql(srv.db, 'SELECT count(*) FROM audit_log WHERE detail LIKE ?', [`%${name}%`])[0][0], 0);

  await staff.page.getByTestId('nav-settings').click();
  await staff.page.getByTestId('open-audit').click();
  await staff.page.getByTestId('audit-entry').first().waitFor();
  await staff.page.getByLabel('操作', { exact: true }).selectOption({ label: '職員が記録を見た' });
  await staff.page.getByTestId('audit-show').click();
  await until(async () => {
    const actions = await staff.page.getByTestId('audit-entry').evaluateAll((es) => es.map((e) => e.dataset.action));
    return actions.length > 0 && actions.every((a) => a === 'person_read');
  }, 'only reads listed');
  assert.ok(audits('audit_read') >= 2);
  assert.deepEqual(staff.errors, []);
  await staff.ctx.close();
});

test('a view-only record offers nothing to write; a person reassigned away leaves the phone; staff sign a lost phone out', async () => {
  const vol = await phone(b);
  await login(vol.page, srv.base, 'vol40');
  const [[viewOnly]] = sql(srv.db, 'SELECT doc_id FROM assignments WHERE user_id = ? AND can_edit = 0', [userId('vol40')]);
  await vol.page.evaluate((d) => { location.hash = `#/person/${d}`; }, viewOnly);
  await vol.page.getByTestId('view-only').waitFor();
  assert.equal(await vol.page.getByTestId('quick-met').count(), 0);
  assert.equal(await vol.page.getByTestId('edit-consent').count(), 0);

  // The office moves one of vol40's people to another volunteer.
  const [[moved]] = sql(srv.db, 'SELECT doc_id FROM assignments WHERE user_id = ? AND can_edit = 1 LIMIT 1', [userId('vol40')]);
  const [[name]] = sql(srv.db, 'SELECT name FROM proj_people WHERE doc_id = ?', [moved]);
  await vol.page.getByTestId('nav-today').click();
  await vol.page.getByTestId('person-card').filter({ hasText: name }).waitFor();
  const docsBefore = (await stored(vol.page)).docs;
  admin(srv, 'admin', 'unassign', 'vol40', moved);
  await syncNow(vol.page);
  await until(async () => (await vol.page.getByTestId('person-card').filter({ hasText: name }).count()) === 0, 'gone from the list');
  await until(async () => (await stored(vol.page)).docs === docsBefore - 1, 'gone from the phone');

  // The phone is lost: the office finds it among vol40's devices and signs it out.
  const staff = await phone(b);
  await login(staff.page, srv.base, 'staff');
  await staff.page.getByTestId('nav-settings').click();
  await staff.page.getByTestId('open-user-devices').click();
  const [[volName]] = sql(srv.db, "SELECT name FROM users WHERE login = 'vol40'");
  await staff.page.getByLabel('だれが').selectOption({ label: volName });
  await staff.page.getByTestId('show-devices').click();
  const device = staff.page.getByTestId('device').filter({ hasNotText: 'ログアウト済み' });
  await until(async () => (await device.count()) === 1, 'vol40\'s phone listed');
  await device.getByTestId('sign-out-device').click();
  await staff.page.getByTestId('device').getByText('ログアウト済み').waitFor();
  await syncNow(vol.page);
  await vol.page.getByTestId('wiped').waitFor({ timeout: 20000 });
  assert.equal((await stored(vol.page)).docs, 0);
  assert.deepEqual([...vol.errors, ...staff.errors], []);
  await vol.ctx.close();
  await staff.ctx.close();
});
