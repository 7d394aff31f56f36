// Test harness: the real server binary on a fresh SQLite database, serving the built PWA,
// and Debian's Chromium driven by playwright-core.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import net from 'node:net';
import { chromium } from 'playwright-core';

export const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

async function freePort() {
  return new Promise((ok, fail) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
    s.on('error', fail);
  });
}

/** Starts the server; `demo` loads the demo 社協 first. Returns { base, stop, dir }. */
export async function startServer({ demo = false } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'mimamori-e2e-'));
  const bin = process.env.MIMAMORI_SERVER_BIN || join(root, 'target', 'debug', 'server');
  const env = {
    ...process.env,
    DATABASE_URL: `sqlite://${join(dir, 'e2e.db')}`,
    MIMAMORI_DIST: join(root, 'dist'),
    RUST_LOG: 'warn',
  };
  if (demo) {
    await new Promise((ok, fail) => {
      const p = spawn(bin, ['demo'], { env, stdio: 'inherit' });
      p.on('exit', (c) => (c === 0 ? ok() : fail(new Error(`demo exited ${c}`))));
    });
  }
  const port = await freePort();
  env.MIMAMORI_ADDR = `127.0.0.1:${port}`;
  const proc = spawn(bin, [], { env, stdio: ['ignore', 'ignore', 'inherit'] });
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 200; i++) {
    try {
      const r = await fetch(`${base}/healthz`);
      if (r.ok) break;
    } catch { /* not up yet */ }
    await new Promise((r) => setTimeout(r, 50));
  }
  const exited = new Promise((r) => proc.on('exit', r));
  const stop = async () => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    await exited;
  };
  return { base, stop, dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export async function browser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
  });
}
