// The PWA shell in a real Chromium: it loads from the server, installs its service
// worker, is installable, opens again with the server gone (offline), and offers a
// reload when a new version has taken over.
import test from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, browser, phone, root, login, unlock } from './harness.mjs';

async function controlled(page) {
  await page.evaluate(async () => {
    await navigator.serviceWorker.ready;
    if (!navigator.serviceWorker.controller) {
      await new Promise((r) => navigator.serviceWorker.addEventListener('controllerchange', r, { once: true }));
    }
  });
}

test('the app opens, is installable, then opens again offline from the service worker', async () => {
  const srv = await startServer();
  const b = await browser();
  try {
    const { ctx, page, errors } = await phone(b);
    await page.goto(srv.base + '/');
    await page.getByRole('heading', { name: 'みまもり' }).waitFor({ timeout: 20000 });
    // The service worker takes control and has precached every file.
    await controlled(page);
    // Chromium's own verdict on installability (a test context is always incognito).
    const cdp = await ctx.newCDPSession(page);
    const manifest = await cdp.send('Page.getAppManifest');
    assert.deepEqual(manifest.errors, []);
    const { installabilityErrors } = await cdp.send('Page.getInstallabilityErrors');
    assert.deepEqual(installabilityErrors.filter((e) => e.errorId !== 'in-incognito'), []);
    assert.deepEqual(errors, []);

    // The server goes away: the app still opens.
    await srv.stop();
    await page.reload();
    await page.getByRole('heading', { name: 'みまもり' }).waitFor({ timeout: 20000 });
    assert.deepEqual(errors, []);
    await ctx.close();
  } finally {
    await b.close();
    await srv.stop();
    srv.cleanup();
  }
});

test('a new version takes over in the background, the app offers to reload, and the PIN still opens the records', async () => {
  // A copy of the build whose service worker can be changed under the running app.
  const dist = mkdtempSync(join(tmpdir(), 'mimamori-dist-'));
  cpSync(join(root, 'dist'), dist, { recursive: true });
  const srv = await startServer({ demo: true, env: { MIMAMORI_DIST: dist } });
  const b = await browser();
  try {
    const { page, errors } = await phone(b);
    // Signed in, with records on the phone sealed under a key kept in the keyring.
    await login(page, srv.base, 'vol01');
    await controlled(page);
    assert.equal(await page.getByTestId('update').count(), 0);

    // Version 2 is deployed: a different cache version in sw.js.
    const sw = join(dist, 'sw.js');
    writeFileSync(sw, readFileSync(sw, 'utf8').replace(/const VERSION = '([^']+)'/, "const VERSION = '$1-2'"));
    rmSync(sw + '.br', { force: true });
    rmSync(sw + '.gz', { force: true });
    // The browser looks for the new version (as it does by itself on navigations and
    // periodically); asked again every few seconds in case one look fails on a busy machine.
    const banner = page.getByTestId('update');
    const end = Date.now() + 60000;
    while (!(await banner.isVisible()) && Date.now() < end) {
      await page.evaluate(async () => (await navigator.serviceWorker.getRegistration()).update().catch(() => {}));
      await banner.waitFor({ timeout: 5000 }).catch(() => {});
    }
    const state = await page.evaluate(async () => {
      const r = await navigator.serviceWorker.getRegistration();
      return { controller: navigator.serviceWorker.controller?.state, installing: r.installing?.state, waiting: r.waiting?.state, active: r.active?.state };
    });
    assert.ok(await banner.isVisible(), `no update prompt; service worker: ${JSON.stringify(state)}`);
    assert.equal(await page.getByTestId('update').textContent(), '新しい版があります。押すと更新します');
    await page.getByTestId('update').click();
    // The new service worker cleaned up the old version's cache, never the keyring: the
    // PIN opens the records again.
    await unlock(page);
    await page.getByTestId('person-card').first().waitFor({ timeout: 20000 });
    assert.ok(await page.evaluate(() => caches.has('mimamori-keyring')));
    assert.equal(await page.getByTestId('update').count(), 0);
    assert.deepEqual(errors, []);
  } finally {
    await b.close();
    await srv.stop();
    srv.cleanup();
    rmSync(dist, { recursive: true, force: true });
  }
});
