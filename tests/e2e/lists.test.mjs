// Lists for hundreds of households on a 360×640 phone, in a real Chromium against the real
// server with the demo 社協: search by name or ふりがな (ひらがな and カタカナ find each
// other), the 期限切れ filter, compact rows (six or more people on the first screen), and
// the salon's attendance checklist (eight or more members on a screen, 出席 N人 in view).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, browser, phone, login, sql, until } from './harness.mjs';

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

/** How many of `locator`'s elements are wholly on the screen, between the bars. */
async function whollyVisible(page, locator) {
  const navTop = await page.getByRole('navigation').last().evaluate((n) => n.getBoundingClientRect().top);
  const barBottom = await page.getByTestId('sync').evaluate((n) => n.getBoundingClientRect().bottom);
  return locator.evaluateAll((els, [top, bottom]) => els.filter((e) => {
    const r = e.getBoundingClientRect();
    return r.height > 0 && r.top >= top && r.bottom <= bottom;
  }).length, [barBottom, navTop]);
}

test('search by ふりがな: 「たかはし」 and 「タカハシ」 both find 高橋', async () => {
  const takahashi = sql(srv.db, "SELECT count(*) FROM proj_people WHERE name LIKE '高橋%'")[0][0];
  assert.ok(takahashi > 0, 'the demo has someone called 高橋');
  const p = await phone(b);
  await login(p.page, srv.base, 'staff');
  const cards = p.page.getByTestId('person-card');
  await until(async () => (await cards.count()) >= 300, 'everyone on the list', 60000);
  assert.match(await p.page.getByTestId('count').textContent(), /300人/);

  for (const q of ['たかはし', 'タカハシ', 'たか はし', '高橋']) {
    await p.page.getByTestId('search').fill(q);
    await until(async () => (await cards.count()) === takahashi, `${q} finds every 高橋`);
    const names = await cards.locator('.name').allTextContents();
    assert.ok(names.every((n) => n.startsWith('高橋')), `${q}: ${names}`);
    assert.equal(await p.page.getByTestId('count').textContent(), `300人中 ${takahashi}人`);
  }
  await p.page.getByTestId('search').fill('該当しない名前');
  await p.page.getByTestId('no-match').waitFor();
  assert.equal(await cards.count(), 0);
  assert.deepEqual(p.errors, []);
});

test('a 民生委員 sees six or more people on the first screen, and 期限切れ narrows them', async () => {
  const p = await phone(b);
  await login(p.page, srv.base, 'minsei03');
  const cards = p.page.getByTestId('person-card');
  await until(async () => (await cards.count()) >= 20, 'the 小学校区\'s people', 60000);
  const all = await cards.count();
  const seen = await whollyVisible(p.page, cards);
  assert.ok(seen >= 6, `only ${seen} people wholly on the first screen`);

  await p.page.getByTestId('due-filter').selectOption('overdue');
  await until(async () => (await cards.count()) < all, 'fewer after 期限切れ');
  const shown = await cards.count();
  assert.ok(shown > 0, 'the demo has overdue people');
  assert.equal(await p.page.locator('.row-card.overdue').count(), shown, 'only overdue people');
  assert.equal(await p.page.getByTestId('count').textContent(), `${all}人中 ${shown}人`);
  assert.deepEqual(p.errors, []);
});

test('the attendance checklist: eight or more members on a screen, one tap marks and unmarks 出席', async () => {
  const p = await phone(b);
  await login(p.page, srv.base, 'salon1');
  await p.page.getByTestId('salon-card').first().click();
  await p.page.getByTestId('open-today').click();
  const members = p.page.getByTestId('member');
  await members.first().waitFor();
  const n = await members.count();
  assert.ok(n >= 8, `the demo salon has ${n} members`);
  await members.first().scrollIntoViewIfNeeded();
  await p.page.evaluate(() => window.scrollBy(0, document.querySelector('[data-testid="member"]').getBoundingClientRect().top - 120));
  const seen = await whollyVisible(p.page, members);
  assert.ok(seen >= 8, `only ${seen} members wholly on the screen`);

  // 出席 N人 stays in view while the list scrolls.
  const summary = p.page.getByTestId('summary');
  const before = await summary.textContent();
  const first = members.first().getByTestId('present');
  const was = await first.getAttribute('aria-pressed');
  await first.click();
  await until(async () => (await first.getAttribute('aria-pressed')) !== was, 'the mark changed');
  await until(async () => (await summary.textContent()) !== before, 'the summary follows');
  const box = await summary.boundingBox();
  assert.ok(box.y >= 0 && box.y + box.height <= 640, 'the summary is on the screen');
  await first.click();
  await until(async () => (await first.getAttribute('aria-pressed')) === was, 'a second tap takes it back');
  await until(async () => (await summary.textContent()) === before, 'the summary is back');
  assert.deepEqual(p.errors, []);
});

/**
 * The date and time fields whose value does not fit: the longest way Chromium shows it
 * (its controls follow the browser's own locale: 2026/12/03 or 12/03/2026, 18:59 or
 * 12:59 PM), measured in the field's own font, plus the picker icon, against the field's
 * inner width.
 */
const cutFields = (page) => page.evaluate(() => [...document.querySelectorAll('input[type=date], input[type=time]')].filter((i) => {
  const cs = getComputedStyle(i);
  const ctx = document.createElement('canvas').getContext('2d');
  ctx.font = `${cs.fontWeight} ${cs.fontSize} ${cs.fontFamily}`;
  const shown = i.type === 'date' ? '2026/12/03' : '12:59 PM';
  const need = ctx.measureText(shown).width + 1.5 * parseFloat(cs.fontSize);
  const room = i.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight);
  return need > room;
}).map((i) => `${i.type} ${i.clientWidth}px`));

/** Whether the page is wider than the screen (a field cut or a sideways scroll). */
const overflows = (page) => page.evaluate(() => document.documentElement.scrollWidth > document.documentElement.clientWidth);

for (const mode of ['とても大きい', 'a 24 px browser default']) {
  test(`large text (${mode}): no field screen overflows sideways, and 会えた・元気 is on the first screen`, async () => {
    const p = await phone(b);
    if (mode !== 'とても大きい') {
      const cdp = await p.ctx.newCDPSession(p.page);
      await cdp.send('Page.setFontSizes', { fontSizes: { standard: 24 } });
    }
    await login(p.page, srv.base, 'minsei04');
    if (mode === 'とても大きい') {
      await p.page.getByTestId('nav-settings').click();
      await p.page.getByRole('radio', { name: 'とても大きい' }).click();
      assert.equal(await overflows(p.page), false, 'settings');
    }
    await p.page.getByTestId('nav-today').click();
    await p.page.getByTestId('person-card').first().waitFor();
    assert.equal(await overflows(p.page), false, 'きょう');
    await p.page.getByTestId('person-card').first().click();
    await p.page.getByTestId('person').waitFor();
    assert.equal(await overflows(p.page), false, 'the person');
    const met = await p.page.getByTestId('quick-met').boundingBox();
    assert.ok(met.y + met.height <= 640, `会えた・元気 ends at ${met.y + met.height}`);
    await p.page.getByTestId('detailed').click();
    await p.page.getByTestId('visit-form').waitFor();
    assert.equal(await overflows(p.page), false, 'the visit form');
    assert.deepEqual(await cutFields(p.page), [], 'the date and the time are shown whole');
    await p.page.goBack();
    await p.page.getByTestId('consult').click();
    await p.page.getByTestId('consult-form').waitFor();
    assert.equal(await overflows(p.page), false, 'the consultation form');
    assert.deepEqual(p.errors, []);
  });
}
