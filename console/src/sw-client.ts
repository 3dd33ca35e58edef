// The page's side of the service worker (/sw.js): registers it (keeps the console's shell
// available offline) and follows a clicked notification to its alarm.

export function registerServiceWorker (onShowAlarm: (alarmId: string) => void): void {
  if (!('serviceWorker' in navigator)) return
  navigator.serviceWorker.addEventListener('message', function fromWorker (event: MessageEvent<unknown>) {
    const data = event.data as { type?: unknown; alarmId?: unknown } | null
    if (data?.type === 'show-alarm' && typeof data.alarmId === 'string') onShowAlarm(data.alarmId)
  })
  // Vite's dev server has no /sw.js; a failed registration only costs the offline shell.
  navigator.serviceWorker.register('/sw.js', { scope: '/' }).catch(function noWorker () { /* works online without it */ })
}
