// The PWA shell in a real Chromium: it loads from the server, installs its service
// worker, and opens again with the server gone (offline).
import test from 'node:test';
import assert from 'node:assert/strict';
import { startServer, browser } from './harness.mjs';

test('the app opens, then opens again offline from the service worker', async () => {
  const srv = await startServer();
  const b = await browser();
  try {
    const ctx = await b.newContext({ locale: 'ja-JP' });
    const page = await ctx.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(srv.base + '/');
    await page.getByRole('heading', { name: 'みまもり' }).waitFor({ timeout: 20000 });
    // The service worker takes control and has precached every file.
    await page.evaluate(async () => {
      await navigator.serviceWorker.ready;
      if (!navigator.serviceWorker.controller) {
        await new Promise((r) => navigator.serviceWorker.addEventListener('controllerchange', r, { once: true }));
      }
    });
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
