// The gateway's console settings (GET /api/console/settings): map tiles or none, and the web map
// that navigate links open. Read once per page load; without an answer the console keeps its
// offline map and default web map.
import type { ConsoleSettings } from '../../broker/api/types.ts'
import { setMapsUrlTemplate } from './navigate.ts'

export type { ConsoleSettings } from '../../broker/api/types.ts'

let pending: Promise<ConsoleSettings | undefined> | undefined

async function fetchSettings (): Promise<ConsoleSettings | undefined> {
  try {
    const res = await fetch('/api/console/settings', { credentials: 'same-origin', headers: { accept: 'application/json' } })
    if (!res.ok) {
      pending = undefined // a session that ended or a gateway restart: ask again next time
      return undefined
    }
    const settings = await res.json() as ConsoleSettings
    setMapsUrlTemplate(settings.mapsUrl)
    return settings
  } catch {
    pending = undefined
    return undefined
  }
}

/** The settings, or undefined when the gateway did not give them (offline map, default web map). */
export function consoleSettings (): Promise<ConsoleSettings | undefined> {
  pending ??= fetchSettings()
  return pending
}
