// Privacy on the phone, in a real Chromium against the real server: records encrypted at
// rest (a copied profile shows nothing), the PIN and its limited attempts, the idle lock
// (a half-written note survives it), the stale-device lock, and a revoked device wiping.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  startServer, browser, phone, login, pending, until, sql, admin, launchOwn, stored, patchLock,
  filesContaining, unlock, PIN, removeProfile,
} from './harness.mjs';

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

const saved = (page) => page.getByTestId('notice').filter({ hasText: '保存しました' }).waitFor();
const userId = (login) => sql(srv.db, 'SELECT id FROM users WHERE login = ?', [login])[0][0];
const lockScreen = (page) => page.getByTestId('locked-hello').waitFor({ timeout: 20000 });

async function lockNow(page) {
  await page.getByTestId('nav-settings').click();
  await page.getByTestId('lock-now').click();
  await lockScreen(page);
}

async function wrongPin(page, pin = '9137') {
  await page.getByLabel('PIN（4〜8けたの数字）').fill(pin);
  await page.getByRole('button', { name: '開く' }).click();
}

test('a copied profile of a logged-in, then locked, phone holds none of a person\'s name, address or notes', async () => {
  const profile = mkdtempSync(join(tmpdir(), 'mimamori-profile-'));
  const copy = mkdtempSync(join(tmpdir(), 'mimamori-copy-'));
  let c;
  try {
    c = await launchOwn(profile);
    await login(c.page, srv.base, 'vol02');
    await c.page.getByTestId('person-card').first().click();
    const person = c.page.getByTestId('person');
    await person.waitFor();
    const name = (await c.page.locator('#main h1').textContent()).trim();
    const docId = c.page.url().split('/person/')[1];
    const address = (await person.locator('p').nth(1).textContent()).trim();
    assert.ok(name.length >= 2 && address.length >= 5, `${name} / ${address}`);
    // A note only this test writes, saved and sent.
    const note = '裏庭のひまわり畑で転びかけた話をきいた';
    await c.page.getByTestId('detailed').click();
    await c.page.getByLabel('メモ').fill(note);
    await c.page.getByTestId('save').click();
    await saved(c.page);
    await until(async () => (await pending(c.page)) === 0, 'sent');
    // The phone is locked, then its profile copied as a thief would.
    await lockNow(c.page);
    await new Promise((r) => setTimeout(r, 1500));
    cpSync(profile, copy, { recursive: true });
    // The browser is then quit normally, writing out all it keeps (session restore data
    // with form contents, history …): the original profile is searched too.
    await c.quit();
    c = null;

    // The copy holds the app's database: the lock record (in the clear) is found …
    assert.ok(filesContaining(copy, '"pin_registered"').length > 0, 'the grep sees the app\'s IndexedDB');
    // … and the records of this very person (stored under its id, sealed) …
    assert.ok(filesContaining(copy, docId).length > 0, 'the person\'s records are in the copy');
    // … but nothing of the person, in the copy or in what the browser left on disk.
    for (const dir of [copy, profile]) {
      for (const secret of [name, address, note, name.split(/\s+/)[0] + ' ' + name.split(/\s+/)[1]]) {
        assert.deepEqual(filesContaining(dir, secret), [], `"${secret}" found in ${dir}`);
      }
    }
    // Opening it again with the PIN shows everything (the data is there, sealed).
    c = await launchOwn(profile);
    await c.page.goto(srv.base + '/');
    await unlock(c.page);
    await c.page.getByTestId('person-card').filter({ hasText: name }).first().click();
    await c.page.getByTestId('history').getByText(note).waitFor();
    assert.deepEqual(c.errors, []);
  } finally {
    await c?.kill();
    removeProfile(profile);
    removeProfile(copy);
  }
});

test('five wrong PINs delete the phone\'s records, after a warning that names the unsent ones', async () => {
  const p = await phone(b);
  await login(p.page, srv.base, 'vol11');
  await p.ctx.setOffline(true);
  await p.page.getByTestId('person-card').first().click();
  await p.page.getByTestId('quick-met').click();
  await saved(p.page);
  await lockNow(p.page);
  for (let left = 4; left >= 1; left--) {
    await wrongPin(p.page);
    await until(async () => (await p.page.getByTestId('unlock-error').textContent().catch(() => '')).includes(`あと${left}回`), `${left} tries left`);
  }
  // Before the last try: what would be lost.
  assert.match(await p.page.getByTestId('last-try').textContent(), /送信していない記録1件/);
  await wrongPin(p.page);
  await p.page.getByTestId('wiped').waitFor({ timeout: 20000 });
  assert.match(await p.page.getByTestId('wiped').textContent(), /PIN を何回もまちがえた/);
  const left = await stored(p.page);
  assert.equal(left.docs, 0);
  assert.equal(left.lock, null);
  // With signal, the same user can log in again and start afresh.
  await p.ctx.setOffline(false);
  await login(p.page, srv.base, 'vol11');
  assert.deepEqual(p.errors, []);
  await p.ctx.close();
});

test('the app locks itself when left alone, and what was being typed is there after the PIN', async () => {
  const p = await phone(b);
  await login(p.page, srv.base, 'vol12');
  await p.page.getByTestId('nav-settings').click();
  await p.page.getByTestId('idle-1').click();
  assert.equal((await stored(p.page)).lock.idle_minutes, 1);
  await p.page.getByTestId('nav-today').click();
  await p.page.getByTestId('person-card').first().click();
  await p.page.getByTestId('detailed').click();
  const note = '途中まで書いたメモ：玄関の鍵が壊れている';
  await p.page.getByLabel('メモ').fill(note);
  // A minute with nobody touching the phone.
  await until(async () => (await p.page.getByTestId('locked-hello').count()) === 1, 'the idle lock', 90000);
  assert.equal(await p.page.getByText(note).count(), 0, 'nothing of the note on the locked screen');
  await unlock(p.page);
  await until(async () => (await p.page.getByLabel('メモ').inputValue().catch(() => '')) === note, 'the draft back');
  await p.page.getByTestId('notice').filter({ hasText: 'ロックする前に書いていた内容を戻しました' }).waitFor();
  await p.page.getByTestId('save').click();
  await saved(p.page);
  assert.deepEqual(p.errors, []);
  await p.ctx.close();
});

test('a phone out of contact for too long unlocks only online, where the server counts wrong PINs', async () => {
  const p = await phone(b);
  await login(p.page, srv.base, 'vol13');
  await until(async () => (await stored(p.page)).lock?.pin_registered === true, 'the PIN proof on the server');
  // Days pass with no contact: the deadline for keeping the server's secret is over.
  await patchLock(p.page, { secret_until: 1 });
  await p.ctx.setOffline(true);
  await p.page.reload();
  await lockScreen(p.page);
  assert.equal((await stored(p.page)).lock.secret, null, 'the secret is dropped at start');
  await wrongPin(p.page, PIN);
  await until(async () => (await p.page.getByTestId('unlock-error').textContent().catch(() => '')).includes('電波のある所で'), 'asks for signal');
  await p.ctx.setOffline(false);
  await wrongPin(p.page);
  await until(async () => (await p.page.getByTestId('unlock-error').textContent().catch(() => '')).includes('あと4回'), 'the server counted');
  await unlock(p.page);
  assert.ok((await stored(p.page)).lock.secret, 'the secret is kept again');
  const actions = sql(srv.db, "SELECT action FROM audit_log WHERE user_id = ? AND action IN ('unlock', 'unlock_failed') ORDER BY id", [userId('vol13')]).map((r) => r[0]);
  assert.deepEqual(actions, ['unlock_failed', 'unlock']);
  assert.deepEqual(p.errors, []);
  await p.ctx.close();
});

test('a device signed out by the office deletes its records at its next contact', async () => {
  const p = await phone(b);
  await login(p.page, srv.base, 'vol14');
  assert.ok((await stored(p.page)).docs > 0);
  const [[device]] = sql(srv.db, 'SELECT id FROM devices WHERE user_id = ? AND revoked_at IS NULL', [userId('vol14')]);
  admin(srv, 'admin', 'revoke', device);
  // Its next contact: the sync when the app comes back online.
  await p.page.evaluate(() => window.dispatchEvent(new Event('online')));
  await p.page.getByTestId('wiped').waitFor({ timeout: 20000 });
  assert.match(await p.page.getByTestId('wiped').textContent(), /ログアウトされたため/);
  const left = await stored(p.page);
  assert.equal(left.docs, 0);
  assert.equal(left.lock, null);
  assert.deepEqual(p.errors, []);
  await p.ctx.close();
});

test('after a revocation and one sync, and after a log-out, nothing of the user is left in the browser\'s files', async () => {
  const profile = mkdtempSync(join(tmpdir(), 'mimamori-profile-'));
  let c;
  // Logs in, records a visit with a note only this test writes, and returns what must
  // not be left behind: the person's name and address, the note, the user's own name and
  // log-in id; and the person's document id (kept in the clear beside its sealed records).
  const use = async (loginId, note) => {
    await login(c.page, srv.base, loginId);
    await c.page.getByTestId('person-card').first().click();
    const person = c.page.getByTestId('person');
    await person.waitFor();
    const name = (await c.page.locator('#main h1').textContent()).trim();
    const address = (await person.locator('p').nth(1).textContent()).trim();
    await c.page.getByTestId('detailed').click();
    await c.page.getByLabel('メモ').fill(note);
    await c.page.getByTestId('save').click();
    await saved(c.page);
    await until(async () => (await pending(c.page)) === 0, 'sent');
    const [[userName]] = sql(srv.db, 'SELECT name FROM users WHERE login = ?', [loginId]);
    const docId = c.page.url().split('/person/')[1].split('/')[0];
    return { secrets: [name, address, note, userName, `"${loginId}"`], docId };
  };
  const left = (secrets) => secrets.flatMap((t) => filesContaining(profile, t).map((f) => `${t}: ${f}`));
  try {
    c = await launchOwn(profile);
    const { secrets: first, docId } = await use('vol15', '物置の奥に古い灯油缶がある（回収を相談）');
    // While signed in, the person's records are on disk (sealed): the search sees their id.
    await until(() => left([docId]).length > 0, 'the person\'s records in the profile while signed in');
    // The office signs the phone out; at its next contact it deletes everything.
    const [[device]] = sql(srv.db, 'SELECT id FROM devices WHERE user_id = ? AND revoked_at IS NULL', [userId('vol15')]);
    admin(srv, 'admin', 'revoke', device);
    await c.page.evaluate(() => window.dispatchEvent(new Event('online')));
    await c.page.getByTestId('wiped').waitFor({ timeout: 20000 });
    // Chromium removes a deleted cache's files once the page that used it is gone (the
    // wipe reloads the page): give it a few seconds, then quit and look.
    await until(() => left(first).length === 0, 'the browser to remove the deleted files', 10000).catch(() => {});
    await c.quit();
    assert.deepEqual(left(first), [], 'left after the revocation');

    // The next user of the same browser, who logs out.
    c = await launchOwn(profile);
    const { secrets: second } = await use('vol16', '雨どいが外れかけている（大家さんに連絡済み）');
    await c.page.getByTestId('nav-settings').click();
    await c.page.getByTestId('logout').click();
    await c.page.getByLabel('ログインID').waitFor({ timeout: 20000 });
    await until(() => left(second).length === 0, 'the browser to remove the deleted files', 10000).catch(() => {});
    await c.quit();
    c = null;
    assert.deepEqual(left(second), [], 'left after the log-out');
  } finally {
    await c?.kill();
    removeProfile(profile);
  }
});
