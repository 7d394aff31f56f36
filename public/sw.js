// Mimamori service worker.
// `cargo run -p xtask -- dist` replaces the two placeholders below: the cache version (a hash
// over every precached file) and the precache list (every file of the build except sw.js).
'use strict';

const VERSION = '__MIMAMORI_VERSION__';
const PRECACHE = __MIMAMORI_PRECACHE__;
const CACHE = 'mimamori-' + VERSION;
const SHELL = '/index.html';
// Map tiles (/tiles/, proxied by our server) live in their own cache that survives new
// versions, so the area viewed before still shows offline. Bounded to about MAX_TILES.
const TILES = 'mimamori-tiles';
const MAX_TILES = 3000;
// Written by the app (app/src/lock.rs, KEYRING_CACHE); the service worker never touches it.
const KEYRING = 'mimamori-keyring';
// Check the bound after this many stored tiles rather than on every one.
const TRIM_EVERY = 50;
let storedSinceTrim = 0;

self.addEventListener('install', (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(CACHE);
    // cache: 'reload' skips the HTTP cache, so a new version never precaches stale files.
    await cache.addAll(PRECACHE.map((url) => new Request(url, { cache: 'reload' })));
    await self.skipWaiting();
  })());
});

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    for (const key of await caches.keys()) {
      // Old versions' caches only. Never the tiles, and never the app's keyring (the
      // sealed data key: deleting it would make every record on the phone unreadable).
      if (key.startsWith('mimamori-') && key !== CACHE && key !== TILES && key !== KEYRING) await caches.delete(key);
    }
    await self.clients.claim();
  })());
});

self.addEventListener('fetch', (event) => {
  const request = event.request;
  if (request.method !== 'GET') return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  // The API always goes to the network: sync and sign-in must never see a cached answer.
  if (url.pathname.startsWith('/api/')) return;

  if (url.pathname.startsWith('/tiles/')) {
    event.respondWith(tile(event, url));
    return;
  }

  if (request.mode === 'navigate') {
    // Any page of the app is the app shell; the router inside the app does the rest.
    event.respondWith((async () => {
      const cache = await caches.open(CACHE);
      const hit = await cache.match(SHELL);
      return hit || fetch(request);
    })());
    return;
  }

  if (PRECACHE.includes(url.pathname)) {
    event.respondWith((async () => {
      const cache = await caches.open(CACHE);
      const hit = await cache.match(url.pathname);
      return hit || fetch(request);
    })());
  }
  // Anything else: the network, as if there were no service worker.
});

// Cache-first: a stored tile, else the network (storing a successful answer).
async function tile(event, url) {
  const cache = await caches.open(TILES);
  const key = url.origin + url.pathname;
  const hit = await cache.match(key);
  if (hit) return hit;
  // The server's tile proxy answers signed-in devices only: the page showing the map holds
  // the device token (in memory, after the PIN) and is asked for it.
  const token = await tokenFrom(event.clientId);
  const headers = token ? { Authorization: `Bearer ${token}` } : {};
  const response = await fetch(key, { credentials: 'omit', referrerPolicy: 'no-referrer', headers });
  if (response.ok && response.status === 200) {
    event.waitUntil((async () => {
      await cache.put(key, response.clone());
      if (++storedSinceTrim >= TRIM_EVERY) {
        storedSinceTrim = 0;
        await trimTiles(cache);
      }
    })());
  }
  return response;
}

// Asks the window that made a request for the device token, over a MessageChannel (a
// service worker keeps nothing between its starts, and must not: the token is the page's).
async function tokenFrom(clientId) {
  const client = clientId ? await self.clients.get(clientId) : null;
  if (!client) return null;
  return new Promise((resolve) => {
    const channel = new MessageChannel();
    const timer = setTimeout(() => resolve(null), 3000);
    channel.port1.onmessage = (e) => {
      clearTimeout(timer);
      resolve(typeof e.data === 'string' && e.data ? e.data : null);
    };
    client.postMessage('mimamori-token', [channel.port2]);
  });
}

// Keys come back in insertion order: drop the oldest beyond MAX_TILES.
async function trimTiles(cache) {
  const keys = await cache.keys();
  for (const old of keys.slice(0, Math.max(0, keys.length - MAX_TILES))) {
    await cache.delete(old);
  }
}

// Background Sync: the app registers 'mimamori-sync' when a save happens with no signal;
// when the browser sees signal again it fires this, and an open window of the app sends
// its unsent records (the documents and the device key live in the page, not here).
self.addEventListener('sync', (event) => {
  if (event.tag !== 'mimamori-sync') return;
  event.waitUntil((async () => {
    const windows = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
    for (const w of windows) w.postMessage('mimamori-sync');
  })());
});
