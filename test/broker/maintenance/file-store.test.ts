// The single-node maintenance store on a real DATA_DIR: windows survive reopening, the file is 0600,
// a change made by the CLI (another process writing the file) reaches an open store without a
// restart, ending is once only, and a damaged entry is dropped without losing the others.
import { readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createLogger } from '../../../broker/log.ts'
import { fileMaintenanceAdmin, openFileMaintenanceStore } from '../../../broker/maintenance/file-store.ts'
import { planWindow, sortWindows, type MaintenanceStore } from '../../../broker/maintenance/store.ts'
import type { MaintenanceScope, MaintenanceWindow } from '../../../broker/maintenance/window.ts'
import { makeTempDir, removeTempDir } from '../../helpers/server-process.ts'
import { eventually } from '../../helpers/wait.ts'

const log = createLogger('silent')
const HOUR = 3_600_000
let dir: string
let file: string
const open: MaintenanceStore[] = []

beforeEach(async () => {
  dir = await makeTempDir('csg-maintenance-')
  file = join(dir, 'maintenance.json')
})
afterEach(async () => {
  for (const store of open.splice(0)) await store.close()
  await removeTempDir(dir)
})

async function openStore (): Promise<MaintenanceStore> {
  const store = await openFileMaintenanceStore({ file, pollMs: 50, log })
  open.push(store)
  return store
}

function window (scope: MaintenanceScope, fromMs: number, toMs: number, nowMs = Date.now()): MaintenanceWindow {
  const planned = planWindow({ scope, fromMs, toMs, reason: 'works', createdBy: 'cli' }, nowMs)
  if (!planned.ok) throw new Error(planned.message)
  return planned.window
}

describe('file maintenance store', () => {
  it('keeps windows across reopening in a 0600 file', async () => {
    const now = Date.now()
    const store = await openStore()
    const w = window({ kind: 'device', name: 'mh-1' }, now, now + HOUR)
    await store.add(w)
    expect(store.current()).toEqual([w])
    await store.close()
    open.pop()
    expect((await stat(file)).mode & 0o777).toBe(0o600)
    expect((await openStore()).current()).toEqual([w])
  })

  it('sees windows the CLI adds and ends without a restart; ends a window once', async () => {
    const store = await openStore()
    let changes = 0
    store.onChange(() => { changes++ })
    const now = Date.now()
    const cli = fileMaintenanceAdmin(file, log)
    const w = window({ kind: 'district', name: 'north' }, now, now + HOUR)
    await cli.add(w)
    await eventually(() => store.current().length, (n) => n === 1, { what: 'the CLI window in the store' })
    const ended = await cli.end(w.id, 'cli', now + 1000)
    expect(ended).toMatchObject({ id: w.id, to: new Date(now + 1000).toISOString(), endedBy: 'cli' })
    expect(await cli.end(w.id, 'cli', now + 2000)).toBeUndefined()
    expect(await store.end(w.id, 'ops', now + 3000)).toBeUndefined()
    await eventually(() => store.current()[0]?.endedBy, (by) => by === 'cli', { what: 'the end in the store' })
    expect(changes).toBeGreaterThanOrEqual(2)
  })

  it('cancels a window still to come: it ends now, before its start, and never runs', async () => {
    const store = await openStore()
    const now = Date.now()
    const w = window({ kind: 'group', name: 'feeder-12' }, now + HOUR, now + 2 * HOUR)
    await store.add(w)
    const ended = await store.end(w.id, 'ops', now)
    expect(Date.parse(ended!.to)).toBe(now)
    expect(ended!.from).toBe(w.from)
    expect((await openStore()).current()).toEqual([ended])
  })

  it('drops an invalid entry with a warning and keeps the valid ones; a file that is not JSON counts as empty', async () => {
    const now = Date.now()
    const w = window({ kind: 'device', name: 'mh-1' }, now, now + HOUR)
    await writeFile(file, JSON.stringify({ version: 1, windows: [w, { ...w, id: 'x' }, { ...w, id: 'abcdefghijkl', to: w.from }] }))
    expect((await openStore()).current()).toEqual([w])
    await writeFile(file, 'not json')
    expect(await fileMaintenanceAdmin(file, log).list()).toEqual([])
  })

  it('drops windows ended more than 7 days ago when it writes', async () => {
    const now = Date.now()
    const old = window({ kind: 'device', name: 'mh-1' }, now - 10 * 24 * HOUR, now - 9 * 24 * HOUR, now - 10 * 24 * HOUR)
    const recent = window({ kind: 'device', name: 'mh-2' }, now - 2 * HOUR, now - HOUR, now - 2 * HOUR)
    await writeFile(file, JSON.stringify({ version: 1, windows: [old, recent] }))
    const store = await openStore()
    await store.add(window({ kind: 'device', name: 'mh-3' }, now, now + HOUR))
    const ids = (JSON.parse(await readFile(file, 'utf8')) as { windows: MaintenanceWindow[] }).windows.map((w) => w.scope.name)
    expect(ids).toEqual(['mh-2', 'mh-3'])
    expect(sortWindows(store.current(), now).map((w) => w.scope.name)).toEqual(['mh-3', 'mh-2'])
  })

  it('refuses windows that end before they start, are over, or last beyond 90 days', () => {
    const now = Date.now()
    const plan = (fromMs: number, toMs: number) => planWindow({ scope: { kind: 'device', name: 'mh-1' }, fromMs, toMs, reason: 'x', createdBy: 'cli' }, now)
    expect(plan(now, now)).toMatchObject({ ok: false, problem: 'to_not_after_from' })
    expect(plan(now - 2 * HOUR, now - HOUR)).toMatchObject({ ok: false, problem: 'already_over' })
    expect(plan(now, now + 91 * 24 * HOUR)).toMatchObject({ ok: false, problem: 'too_long' })
    expect(plan(now - HOUR, now + HOUR)).toMatchObject({ ok: true })
  })
})
