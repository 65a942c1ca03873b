// The service worker keeps the app shell so the client opens offline once
// it has been loaded: network first (a node always serves its own current
// files), the cache when the network is gone. The API is never cached.
const CACHE = 'quizcast-shell-v1';
const SHELL = [
  './', 'index.html', 'app.css', 'icon.svg', 'manifest.webmanifest',
  'js/main.js', 'js/ui.js', 'js/api.js', 'js/live.js', 'js/teacher.js',
  'js/quizedit.js', 'js/student.js', 'js/reports.js', 'js/admin.js',
];

self.addEventListener('install', (e) => {
  e.waitUntil(caches.open(CACHE).then((c) => c.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener('activate', (e) => {
  e.waitUntil(caches.keys()
    .then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k))))
    .then(() => self.clients.claim()));
});

self.addEventListener('fetch', (e) => {
  const url = new URL(e.request.url);
  if (e.request.method !== 'GET' || url.origin !== self.location.origin || !url.pathname.startsWith('/app/')) {
    return;
  }
  e.respondWith(fetch(e.request).then((res) => {
    if (res.ok) {
      const copy = res.clone();
      caches.open(CACHE).then((c) => c.put(e.request, copy));
    }
    return res;
  }).catch(() => caches.match(e.request, { ignoreSearch: true })
    .then((hit) => hit || caches.match('index.html'))));
});
