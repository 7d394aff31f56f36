// The real server binary on a fresh database, for the end-to-end tests (tests/e2e, through
// harness.mjs) and the conformance tests (tests/conformance). No browser here.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import net from 'node:net';

export const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const PASSWORD = 'mimamori-demo';

export async function freePort() {
  return new Promise((ok, fail) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
    s.on('error', fail);
  });
}

const bin = () => process.env.MIMAMORI_SERVER_BIN || join(root, 'target', 'debug', 'server');

/**
 * Starts the server; `demo` loads the demo 社協 first; `env` adds variables (e.g. the tile
 * URL); `databaseUrl` names an empty database to use (e.g. a fresh PostgreSQL database)
 * instead of a new SQLite file. Returns { base, url, stop, start, dir, db, cleanup }:
 * `stop` kills it (the database stays), `start` brings it back on the same port and
 * database; `db` is the SQLite file (null on another database).
 */
export async function startServer({ demo = false, env: extra = {}, databaseUrl = null } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'mimamori-e2e-'));
  const db = databaseUrl ? null : join(dir, 'e2e.db');
  const url = databaseUrl || `sqlite://${db}`;
  const env = {
    ...process.env,
    DATABASE_URL: url,
    MIMAMORI_DIST: join(root, 'dist'),
    RUST_LOG: 'warn',
    ...extra,
  };
  if (demo) {
    await new Promise((ok, fail) => {
      const p = spawn(bin(), ['demo'], { env, stdio: ['ignore', 'ignore', 'inherit'] });
      p.on('exit', (c) => (c === 0 ? ok() : fail(new Error(`demo exited ${c}`))));
    });
  }
  const port = await freePort();
  env.MIMAMORI_ADDR = `127.0.0.1:${port}`;
  const base = `http://127.0.0.1:${port}`;
  let proc = null;
  let exited = null;
  const start = async () => {
    proc = spawn(bin(), [], { env, stdio: ['ignore', 'ignore', 'inherit'] });
    exited = new Promise((r) => proc.on('exit', r));
    for (let i = 0; i < 200; i++) {
      try {
        const r = await fetch(`${base}/healthz`);
        if (r.ok) return;
      } catch { /* not up yet */ }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error('server did not start');
  };
  const stop = async () => {
    if (proc && proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    if (exited) await exited;
  };
  await start();
  return { base, url, stop, start, dir, db, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Runs `server admin …` (or any server sub-command) on the test database. */
export function admin(srv, ...args) {
  return execFileSync(bin(), args, { env: { ...process.env, DATABASE_URL: srv.url, RUST_LOG: 'warn' } }).toString();
}

/** Runs one SQL query on a SQLite test database (Python's sqlite3) and returns rows as arrays. */
export function sql(db, query, params = []) {
  const script = 'import sqlite3,sys,json; c=sqlite3.connect(sys.argv[1]); ' +
    'print(json.dumps(c.execute(sys.argv[2], json.loads(sys.argv[3])).fetchall()))';
  return JSON.parse(execFileSync('python3', ['-c', script, db, query, JSON.stringify(params)]).toString());
}

/** Waits until `f()` returns a truthy value (polling), or fails with `what`. */
export async function until(f, what, ms = 20000) {
  const end = Date.now() + ms;
  let last;
  while (Date.now() < end) {
    last = await f();
    if (last) return last;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what} (last: ${JSON.stringify(last)})`);
}
