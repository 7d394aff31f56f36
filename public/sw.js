// Mimamori service worker.
// `cargo run -p xtask -- dist` replaces the two placeholders below: the cache version (a hash
// over every precached file) and the precache list (every file of the build except sw.js).
'use strict';

const VERSION = '__MIMAMORI_VERSION__';
const PRECACHE = __MIMAMORI_PRECACHE__;
const CACHE = 'mimamori-' + VERSION;
const SHELL = '/index.html';

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
      if (key.startsWith('mimamori-') && key !== CACHE) await caches.delete(key);
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
