// The console's side of the gateway API (/api/openapi.json): typed fetch wrappers that send the
// session cookie, and the live alarm stream (EventSource on /api/alarms/stream).

import type { Alarm, AlarmList, DeviceDetail, DeviceList, Principal, Series } from './api-types.ts'

export type { Alarm, Incident, Device, DeviceDetail, FieldInfo, Location, Principal, Series, Severity } from './api-types.ts'

export class ApiError extends Error {
  constructor (readonly status: number, message: string) { super(message) }
}

/** Dispatched on window when any call is answered 401: the session behind the page has ended. */
export const SESSION_ENDED_EVENT = 'citygw:session-ended'

/** True for a failed fetch (no network, gateway down), as opposed to an answer with an error status. */
export function isNetworkFailure (err: unknown): boolean {
  return !(err instanceof ApiError)
}

async function call<T> (method: string, path: string, body?: unknown): Promise<T> {
  const init: RequestInit = { method, credentials: 'same-origin', headers: { accept: 'application/json' } }
  if (body !== undefined) {
    init.headers = { accept: 'application/json', 'content-type': 'application/json' }
    init.body = JSON.stringify(body)
  }
  const res = await fetch(path, init)
  if (res.status === 204) return undefined as T
  const data = await res.json().catch(function notJson () { return {} }) as { message?: string }
  if (res.status === 401) window.dispatchEvent(new Event(SESSION_ENDED_EVENT))
  if (!res.ok) throw new ApiError(res.status, data.message ?? res.statusText)
  return data as T
}

/** GET of any API path, with the errors and the session-ended signal of every other call. */
export function apiGet<T> (path: string): Promise<T> {
  return call<T>('GET', path)
}

/** POST to any API path (JSON body), with the errors and the session-ended signal of every other call. */
export function apiPost<T> (path: string, body?: unknown): Promise<T> {
  return call<T>('POST', path, body)
}

export const api = {
  session () { return call<Principal>('GET', '/api/session') },
  /** `remember`: the gateway also sets a device cookie (about 30 days) for a one-step sign-in later. */
  async signIn (name: string, secret: string, remember: boolean): Promise<Principal> {
    if (!remember) return call<Principal>('POST', '/api/session', { name, secret })
    try {
      return await call<Principal>('POST', '/api/session', { name, secret, remember })
    } catch (err) {
      // A gateway without device sign-in refuses the unknown field: sign in for this session only.
      if (err instanceof ApiError && err.status === 400) return call<Principal>('POST', '/api/session', { name, secret })
      throw err
    }
  },
  /** A fresh session from this browser's device cookie (401 without a valid one). */
  resume () { return call<Principal>('POST', '/api/session/resume') },
  /** The account this browser's device cookie belongs to, or null (no cookie, revoked, or not offered). */
  async deviceAccount (): Promise<string | null> {
    try {
      const answer = await call<{ name?: unknown }>('GET', '/api/session/device')
      return typeof answer.name === 'string' && answer.name !== '' ? answer.name : null
    } catch {
      return null
    }
  },
  /** `forgetDevice`: also revoke this browser's device cookie. */
  signOut (forgetDevice = false) { return call<undefined>('DELETE', forgetDevice ? '/api/session?forget=device' : '/api/session') },
  async openAlarms () { return (await call<AlarmList>('GET', '/api/alarms?state=open')).alarms },
  acknowledge (id: string, note: string) { return call<Alarm>('POST', `/api/alarms/${encodeURIComponent(id)}/ack`, note === '' ? {} : { note }) },
  async devices () { return (await call<DeviceList>('GET', '/api/devices')).devices },
  device (id: string) { return call<DeviceDetail>('GET', `/api/devices/${encodeURIComponent(id)}`) },
  series (id: string, field: string, minutes: number) {
    return call<Series>('GET', `/api/devices/${encodeURIComponent(id)}/series?field=${encodeURIComponent(field)}&minutes=${minutes}`)
  },
}

export interface AlarmStreamHandlers {
  /** The stream (re)connected: state may have changed meanwhile, reload it. */
  onReady(): void
  onAlarm(change: string, alarm: Alarm): void
  /** The stream failed and the browser will retry; `closed` = it gave up (e.g. 401). */
  onTrouble(closed: boolean): void
}

export function openAlarmStream (handlers: AlarmStreamHandlers): () => void {
  const source = new EventSource('/api/alarms/stream')
  source.addEventListener('ready', function ready () { handlers.onReady() })
  source.addEventListener('alarm', function alarm (event: MessageEvent<string>) {
    const data = JSON.parse(event.data) as { change: string; alarm: Alarm }
    handlers.onAlarm(data.change, data.alarm)
  })
  source.addEventListener('error', function trouble () { handlers.onTrouble(source.readyState === EventSource.CLOSED) })
  return function close () { source.close() }
}
