// A field worker's day in a real Chromium against the real server with the demo 社協:
// visits and attendance taken with no signal survive a reload and reach the database;
// two co-leaders' phones merge and show a real disagreement; bad input is refused in
// plain Japanese without losing what was typed.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, browser, phone, login, pending, sql, until, admin, PASSWORD, reopen, enterPin, stored, changePassword } from './harness.mjs';

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
const today = () => new Date(Date.now() + 9 * 3600 * 1000).toISOString().slice(0, 10);

async function saved(page) {
  await until(async () => (await page.getByTestId('notice').textContent().catch(() => '')) === '保存しました', '保存しました');
}

test('offline: three visits and a session\'s attendance survive a reload and reach the server', async () => {
  const vol = await phone(b);
  const leader = await phone(b);
  const volId = userId('vol01');
  const before = sql(srv.db, 'SELECT count(*) FROM proj_visits WHERE recorded_by = ? AND date = ?', [volId, today()])[0][0];

  await login(vol.page, srv.base, 'vol01');
  await login(leader.page, srv.base, 'salon1');
  const cards = vol.page.getByTestId('person-card');
  await until(async () => (await cards.count()) >= 3, 'the assigned people');

  await vol.ctx.setOffline(true);
  await leader.ctx.setOffline(true);
  await until(async () => (await vol.page.getByTestId('sync').textContent()).includes('オフライン'), 'オフライン shown');

  // 1: 会えた・元気 in one tap from the person page.
  const names = [];
  for (let i = 0; i < 3; i++) names.push((await cards.nth(i).locator('.name').textContent()).trim());
  await cards.nth(0).click();
  await vol.page.getByTestId('quick-met').click();
  await saved(vol.page);
  assert.equal(await pending(vol.page), 1);
  // 2: 不在.
  await vol.page.getByTestId('nav-today').click();
  await vol.page.getByTestId('person-card').filter({ hasText: names[1] }).click();
  await vol.page.getByTestId('quick-not-home').click();
  await saved(vol.page);
  // 3: in detail: a phone call, worrying, health, a note and a follow-up.
  await vol.page.getByTestId('nav-today').click();
  await vol.page.getByTestId('person-card').filter({ hasText: names[2] }).click();
  await vol.page.getByTestId('detailed').click();
  await vol.page.getByTestId('kind').getByRole('radio', { name: '電話' }).click();
  await vol.page.getByTestId('condition').getByRole('radio', { name: '気になる' }).click();
  await vol.page.getByTestId('worries').getByRole('button', { name: '体調' }).click();
  await vol.page.getByLabel('メモ').fill('庭の柿の話をした。来週もう一度電話する');
  await vol.page.getByLabel('フォローが必要').check();
  await vol.page.getByLabel('何をするか').fill('地域包括に相談');
  await vol.page.getByTestId('save').click();
  await saved(vol.page);
  await vol.page.getByTestId('history').getByText('庭の柿の話をした').waitFor();
  assert.equal(await pending(vol.page), 3);

  // The salon leader opens today's session and marks two members present, one absent.
  await leader.page.getByTestId('nav-salons').click();
  await leader.page.getByTestId('salon-card').first().click();
  await leader.page.getByTestId('open-today').click();
  const members = leader.page.getByTestId('member');
  await until(async () => (await members.count()) >= 3, 'the roster');
  await members.nth(0).getByTestId('present').click();
  // A mark shows itself once it is durable (no notice covers the roster).
  await until(async () => (await members.nth(0).getByTestId('present').getAttribute('aria-pressed')) === 'true', '出席 marked');
  await members.nth(1).getByTestId('present').click();
  await until(async () => (await pending(leader.page)) >= 3, 'three saves');
  await members.nth(2).getByTestId('absent').click();
  await leader.page.getByTestId('guests').getByTestId('plus').click();
  await until(async () => (await pending(leader.page)) >= 5, 'five saves');
  const marked = await members.nth(0).getAttribute('data-name');

  // A reload with no signal: the app and every record are still there.
  await reopen(vol.page);
  await vol.page.getByTestId('history').getByText('庭の柿の話をした').waitFor({ timeout: 20000 });
  assert.equal(await pending(vol.page), 3);
  await reopen(leader.page);
  await leader.page.getByTestId('member').first().waitFor({ timeout: 20000 });
  assert.equal(await leader.page.getByTestId('member').filter({ hasText: marked }).getByTestId('present').getAttribute('aria-pressed'), 'true');
  assert.equal(await leader.page.getByTestId('guests').getByTestId('count').textContent(), '1');

  // Signal again: everything goes to the server and the indicator returns to zero.
  await vol.ctx.setOffline(false);
  await leader.ctx.setOffline(false);
  await until(async () => (await pending(vol.page)) === 0, 'vol01 all sent');
  await until(async () => (await pending(leader.page)) === 0, 'salon1 all sent');
  assert.match(await vol.page.getByTestId('sync').textContent(), /すべて送信済み/);
  await until(() => sql(srv.db, 'SELECT count(*) FROM proj_visits WHERE recorded_by = ? AND date = ?', [volId, today()])[0][0] === before + 3, 'three visits in the database');
  const detailed = sql(srv.db, "SELECT kind, outcome, condition, followup FROM proj_visits WHERE recorded_by = ? AND date = ? AND kind = 'phone'", [volId, today()]);
  assert.deepEqual(detailed, [['phone', 'met', 'concern', 1]]);
  const att = await until(() => {
    const rows = sql(srv.db, 'SELECT mark, count(*) FROM proj_attendance WHERE date = ? GROUP BY mark ORDER BY mark', [today()]);
    return rows.length === 2 ? rows : null;
  }, 'attendance in the database');
  assert.deepEqual(att, [['absent', 1], ['present', 2]]);
  const sess = sql(srv.db, 'SELECT present, guests FROM proj_sessions WHERE date = ?', [today()]);
  assert.deepEqual(sess, [[2, 1]]);
  assert.deepEqual(vol.errors, []);
  assert.deepEqual(leader.errors, []);
  await vol.ctx.close();
  await leader.ctx.close();
});

test('two co-leaders take attendance offline: marks merge, a disagreement is shown and resolved', async () => {
  const a = await phone(b);
  const c = await phone(b);
  await login(a.page, srv.base, 'salon2');
  await login(c.page, srv.base, 'salon2');
  for (const p of [a, c]) {
    await p.page.getByTestId('nav-salons').click();
    await p.page.getByTestId('salon-card').first().click();
    await p.ctx.setOffline(true);
    await p.page.getByTestId('open-today').click();
    await until(async () => (await p.page.getByTestId('member').count()) >= 3, 'the roster');
  }
  const row = (p, i) => p.page.getByTestId('member').nth(i);
  const x = await row(a, 0).getAttribute('data-name');
  const y = await row(a, 1).getAttribute('data-name');
  // Phone A: X present, Y present. Phone C: X absent, Y present, one helper.
  await row(a, 0).getByTestId('present').click();
  await until(async () => (await pending(a.page)) >= 2, 'A saved');
  await row(a, 1).getByTestId('present').click();
  await until(async () => (await pending(a.page)) >= 3, 'A saved twice');
  await row(c, 0).getByTestId('absent').click();
  await until(async () => (await pending(c.page)) >= 2, 'C saved');
  await row(c, 1).getByTestId('present').click();
  await until(async () => (await pending(c.page)) >= 3, 'C saved twice');
  await c.page.getByTestId('helpers').getByTestId('plus').click();
  await until(async () => (await pending(c.page)) >= 4, 'C saved three times');

  // Signal returns: A, then C, then A again.
  for (const p of [a, c, a]) {
    await p.ctx.setOffline(false);
    await until(async () => (await pending(p.page)) === 0, 'sent');
    await reopen(p.page);
    await until(async () => (await p.page.getByTestId('last-sync').textContent()).includes('最終同期'), 'synced');
    await until(async () => (await pending(p.page)) === 0, 'sent after reload');
  }
  await reopen(c.page);
  await until(async () => (await c.page.getByTestId('last-sync').textContent()).includes('最終同期'), 'synced');

  for (const p of [a, c]) {
    // Both phones show the same: Y present, one helper, and X in dispute.
    await p.page.getByTestId('conflicts').waitFor({ timeout: 20000 });
    const conflict = p.page.getByTestId('conflict');
    assert.equal(await conflict.count(), 1);
    assert.match(await conflict.textContent(), new RegExp(x));
    assert.equal(await p.page.getByTestId('member').filter({ hasText: y }).getByTestId('present').getAttribute('aria-pressed'), 'true');
    assert.equal(await p.page.getByTestId('helpers').getByTestId('count').textContent(), '1');
  }
  // Leader A decides: X was present.
  await a.page.getByTestId('conflict').getByRole('button', { name: '「出席」にする' }).click();
  await until(async () => (await a.page.getByTestId('conflicts').count()) === 0, 'the conflict resolved on A');
  await until(async () => (await pending(a.page)) === 0, 'the choice sent');
  await reopen(c.page);
  await until(async () => (await c.page.getByTestId('member').count()) >= 3, 'the roster on C');
  await until(async () => (await c.page.getByTestId('conflicts').count()) === 0, 'the conflict gone on C');
  assert.equal(await c.page.getByTestId('member').filter({ hasText: x }).getByTestId('present').getAttribute('aria-pressed'), 'true');
  assert.deepEqual(a.errors, []);
  assert.deepEqual(c.errors, []);
  await a.ctx.close();
  await c.ctx.close();
});

test('bad input gets a plain Japanese message and keeps what was typed', async () => {
  const p = await phone(b);
  // A wrong password.
  await p.page.goto(srv.base + '/');
  await p.page.getByLabel('ログインID').fill('minsei03');
  await p.page.getByLabel('パスワード').fill('wrong');
  await p.page.getByRole('button', { name: 'ログインする' }).click();
  await until(async () => (await p.page.getByTestId('login-error').textContent().catch(() => '')).includes('IDまたはパスワードが違います'), 'the log-in error');
  assert.equal(await p.page.getByLabel('ログインID').inputValue(), 'minsei03');

  await login(p.page, srv.base, 'minsei03');
  await p.page.getByTestId('person-card').first().click();
  await p.page.getByTestId('person').waitFor();
  await p.page.getByTestId('history').waitFor({ state: 'attached' });
  const visits = await p.page.getByTestId('history').locator('li').count();
  await p.page.getByTestId('detailed').click();
  // A future date, a 10,000-character note, a follow-up without saying what.
  const future = new Date(Date.now() + 9 * 3600 * 1000 + 3 * 86400 * 1000).toISOString().slice(0, 10);
  await p.page.getByLabel('日付').fill(future);
  const long = 'あ'.repeat(10000);
  await p.page.getByLabel('メモ').fill(long);
  await p.page.getByLabel('フォローが必要').check();
  await p.page.getByTestId('save').click();
  await p.page.getByTestId('error-date').waitFor();
  assert.equal(await p.page.getByTestId('error-date').textContent(), '未来の日付は入力できません');
  assert.match(await p.page.getByTestId('error-note').textContent(), /2000文字以内/);
  assert.equal(await p.page.getByTestId('error-followup_what').textContent(), '何をフォローするか書いてください');
  assert.equal(await p.page.getByTestId('notice').textContent(), '赤い所を直してください。入力した内容は残っています。');
  assert.equal((await p.page.getByLabel('メモ').inputValue()).length, 10000);
  assert.equal(await pending(p.page), 0);
  // Fixed, it saves.
  await p.page.getByLabel('日付').fill(today());
  await p.page.getByLabel('メモ').fill('元気そうだった');
  await p.page.getByLabel('何をするか').fill('次回は娘さんにも会う');
  await p.page.getByTestId('save').click();
  await p.page.getByTestId('history').getByText('元気そうだった').waitFor();
  assert.equal(await p.page.getByTestId('history').locator('li').count(), Math.min(visits + 1, 10));

  // A consultation with no topic chosen.
  await p.page.getByTestId('consult').click();
  await p.page.getByLabel('相談されたこと').fill('介護保険の申請について');
  await p.page.getByTestId('save').click();
  await p.page.getByTestId('error-topics').waitFor();
  assert.equal(await p.page.getByLabel('相談されたこと').inputValue(), '介護保険の申請について');
  await p.page.getByTestId('topics').getByRole('button', { name: '介護保険' }).click();
  await p.page.getByTestId('save').click();
  await p.page.getByTestId('person').waitFor();
  await p.ctx.close();

  // A roster member with no name; a session note too long.
  const s = await phone(b);
  await login(s.page, srv.base, 'salon3');
  await s.page.getByTestId('nav-salons').click();
  await s.page.getByTestId('salon-card').first().click();
  await s.page.getByTestId('add-member').click();
  await s.page.getByLabel('ふりがな').fill('やまだ はなこ');
  await s.page.getByTestId('save').click();
  assert.equal(await s.page.getByTestId('error-name').textContent(), '入力してください');
  assert.equal(await s.page.getByLabel('ふりがな').inputValue(), 'やまだ はなこ');
  await s.page.getByLabel('名前').fill('山田 花子');
  await s.page.getByTestId('save').click();
  await s.page.getByTestId('open-today').click();
  await s.page.getByTestId('member').filter({ hasText: '山田 花子' }).waitFor();
  await s.page.getByTestId('session-details').getByLabel('メモ').fill(long);
  await s.page.getByTestId('save-details').click();
  assert.match(await s.page.getByTestId('error-note').textContent(), /2000文字以内/);
  assert.equal((await s.page.getByTestId('session-details').getByLabel('メモ').inputValue()).length, 10000);
  assert.deepEqual(p.errors, []);
  assert.deepEqual(s.errors, []);
  await s.ctx.close();
});

test('settings: larger text and English stay after a reload', async () => {
  const p = await phone(b);
  await login(p.page, srv.base, 'vol04');
  const rootSize = () => p.page.evaluate(() => parseFloat(getComputedStyle(document.documentElement).fontSize));
  const before = await rootSize();
  await p.page.getByTestId('nav-settings').click();
  await p.page.getByRole('radio', { name: 'とても大きい' }).click();
  assert.ok(await rootSize() > before * 1.3, 'the text is larger');
  await p.page.getByTestId('lang-en').click();
  await p.page.getByTestId('nav-today').getByText("Today's visits").waitFor();
  await reopen(p.page);
  await p.page.getByTestId('nav-today').getByText("Today's visits").waitFor({ timeout: 20000 });
  assert.equal(await p.page.evaluate(() => document.documentElement.lang), 'en');
  assert.ok(await rootSize() > before * 1.3, 'still larger after a reload');
  // Every button a finger needs is at least 48 px tall on the small phone.
  await p.page.getByTestId('nav-today').click();
  await p.page.getByTestId('person-card').first().click();
  for (const id of ['quick-met', 'quick-not-home', 'detailed']) {
    const box = await p.page.getByTestId(id).boundingBox();
    assert.ok(box.height >= 48, `${id} is ${box.height}px tall`);
  }
  assert.deepEqual(p.errors, []);
  await p.ctx.close();
});

test('a phone signed out by a password change elsewhere keeps its unsent visit and sends it after the user signs in again', async () => {
  const p = await phone(b);
  await login(p.page, srv.base, 'vol05');
  const volId = userId('vol05');
  const visits = () => sql(srv.db, 'SELECT count(*) FROM proj_visits WHERE recorded_by = ? AND date = ?', [volId, today()])[0][0];
  const before = visits();
  await p.ctx.setOffline(true);
  await p.page.getByTestId('person-card').first().click();
  await p.page.getByTestId('quick-met').click();
  await saved(p.page);
  assert.equal(await pending(p.page), 1);
  // The user changes the password on the office PC while the phone has no signal.
  await changePassword(srv.base, 'vol05', PASSWORD, 'hanamizuki-2026');
  await p.ctx.setOffline(false);
  await p.page.getByTestId('session-ended').waitFor({ timeout: 20000 });
  assert.equal(await pending(p.page), 1, 'the unsent visit is kept');
  await p.page.getByTestId('relogin').click();
  await p.page.getByLabel('ログインID').fill('vol05');
  await p.page.getByLabel('パスワード').fill('hanamizuki-2026');
  await p.page.getByRole('button', { name: 'ログインする' }).click();
  await until(async () => (await pending(p.page)) === 0, 'sent after the new log-in');
  await until(() => visits() === before + 1, 'the visit in the database');
  // The data key was wrapped again for the new sign-in: the PIN still opens the phone.
  await reopen(p.page);
  assert.deepEqual(p.errors, []);
  await p.ctx.close();
});

test('another user logging in on a phone with unsent records is asked first; declining keeps them', async () => {
  const p = await phone(b);
  await login(p.page, srv.base, 'vol06');
  await p.ctx.setOffline(true);
  await p.page.getByTestId('person-card').first().click();
  await p.page.getByTestId('quick-met').click();
  await saved(p.page);
  await changePassword(srv.base, 'vol06', PASSWORD, 'hanamizuki-2027');
  await p.ctx.setOffline(false);
  await p.page.getByTestId('session-ended').waitFor({ timeout: 20000 });
  await p.page.getByTestId('relogin').click();
  const asked = [];
  p.page.on('dialog', async (d) => { asked.push(d.message()); await (asked.length === 1 ? d.dismiss() : d.accept()); });
  const logInAs = async (id, password = PASSWORD) => {
    await p.page.getByLabel('ログインID').fill(id);
    await p.page.getByLabel('パスワード').fill(password);
    await p.page.getByRole('button', { name: 'ログインする' }).click();
  };
  await logInAs('vol07');
  await until(() => asked.length === 1, 'the question');
  assert.match(asked[0], /未送信の記録が1件/);
  // Declined: still the log-in screen, and vol06's visit is still on the phone.
  await p.page.getByRole('button', { name: 'ログインする' }).waitFor();
  await logInAs('vol06', 'hanamizuki-2027');
  await until(async () => (await pending(p.page).catch(() => -1)) === 0, 'vol06 sends the kept visit');
  assert.equal(asked.length, 1, 'the same user is not asked');
  assert.deepEqual(p.errors, []);
  await p.ctx.close();
});

test('changing the password in 設定 signs out the other phone at its next sync', async () => {
  const a = await phone(b);
  const c = await phone(b);
  await login(a.page, srv.base, 'vol08');
  await login(c.page, srv.base, 'vol08');
  await a.page.getByTestId('nav-settings').click();
  await a.page.getByText('パスワードを変える').click();
  const form = a.page.getByTestId('password-form');
  await form.getByLabel('いまのパスワード').fill(PASSWORD);
  await form.getByLabel('新しいパスワード（8文字以上）').fill('asagao-2026');
  await form.getByLabel('新しいパスワード（もう一度）').fill('asagao-2062');
  await form.getByRole('button', { name: '変更する' }).click();
  assert.equal(await a.page.getByTestId('error-new_password_again').textContent(), '二つの新しいパスワードが違います');
  await form.getByLabel('新しいパスワード（もう一度）').fill('asagao-2026');
  await form.getByRole('button', { name: '変更する' }).click();
  await until(async () => (await a.page.getByTestId('notice').textContent()).startsWith('パスワードを変えました'), 'changed');
  // The other phone finds out at its next sync.
  await reopen(c.page);
  await c.page.getByTestId('session-ended').waitFor({ timeout: 20000 });
  assert.deepEqual([...a.errors, ...c.errors], []);
  await a.ctx.close();
  await c.ctx.close();
});

test('a lost phone is logged out from another one in 設定', async () => {
  const a = await phone(b);
  const lost = await phone(b);
  await login(a.page, srv.base, 'vol09');
  await login(lost.page, srv.base, 'vol09');
  await a.page.getByTestId('nav-settings').click();
  await a.page.getByTestId('show-devices').click();
  const devices = a.page.getByTestId('device');
  await until(async () => (await devices.count()) === 2, 'two devices listed');
  assert.equal(await a.page.locator('[data-testid=device][data-this=true]').count(), 1);
  await a.page.locator('[data-testid=device][data-this=false]').getByTestId('sign-out-device').click();
  await until(async () => (await a.page.getByTestId('notice').textContent()) === 'その端末をログアウトさせました', 'signed out');
  await a.page.locator('[data-testid=device][data-this=false]').getByText('ログアウト済み').waitFor();
  // The lost phone, opened with its PIN, deletes everything at its next contact.
  await lost.page.reload();
  await enterPin(lost.page);
  await lost.page.getByTestId('wiped').waitFor({ timeout: 20000 });
  assert.equal((await stored(lost.page)).docs, 0);
  assert.deepEqual([...a.errors, ...lost.errors], []);
  await a.ctx.close();
  await lost.ctx.close();
});
