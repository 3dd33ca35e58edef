// The console's service worker (/sw.js, scope "/"): keeps this build's app shell (index.html,
// its hashed assets, manifest and icons) in a cache named after the build, serves the shell when
// the network is down, and never touches /api (alarms must be live or visibly absent). A clicked
// alarm notification focuses the console on that alarm.
const worker = self as unknown as ServiceWorkerGlobalScope

interface ShellManifest { version: string; files: string[] }

/** Replaced at build time with this build's file list (see vite.console.config.ts). */
const SHELL: ShellManifest = JSON.parse('__SHELL_MANIFEST__') as ShellManifest
const CACHE = `console-shell-${SHELL.version}`
const PREFIX = 'console-shell-'

worker.addEventListener('install', function install (event) {
  event.waitUntil(caches.open(CACHE).then(function fill (cache) { return cache.addAll(['/', ...SHELL.files]) }).then(function activateNow () { return worker.skipWaiting() }))
})

worker.addEventListener('activate', function activate (event) {
  event.waitUntil(caches.keys().then(function dropOld (names) {
    return Promise.all(names.filter(function isOld (name) { return name.startsWith(PREFIX) && name !== CACHE }).map(function drop (name) { return caches.delete(name) }))
  }).then(function control () { return worker.clients.claim() }))
})

worker.addEventListener('fetch', function fetchShell (event) {
  const request = event.request
  const url = new URL(request.url)
  if (request.method !== 'GET' || url.origin !== worker.location.origin || url.pathname.startsWith('/api/') || url.pathname === '/api') return
  if (request.mode === 'navigate') {
    // The newest page when the network answers; this build's shell when it does not.
    event.respondWith(fetch(request).catch(async function offlineShell () {
      return (await caches.match('/', { cacheName: CACHE })) ?? Response.error()
    }))
    return
  }
  event.respondWith(caches.match(request, { cacheName: CACHE }).then(function cachedOrNetwork (cached) { return cached ?? fetch(request) }))
})

worker.addEventListener('notificationclick', function openAlarm (event) {
  event.notification.close()
  const data = event.notification.data as { alarmId?: unknown } | null
  const alarmId = typeof data?.alarmId === 'string' ? data.alarmId : undefined
  event.waitUntil(worker.clients.matchAll({ type: 'window', includeUncontrolled: true }).then(async function focusConsole (windows) {
    const client = windows[0]
    if (client === undefined) {
      await worker.clients.openWindow('/#/')
      return
    }
    const focused = await client.focus()
    if (alarmId !== undefined) focused.postMessage({ type: 'show-alarm', alarmId })
  }))
})
