// The cluster's maintenance store on a real nats-server: two stores on their own connections (two
// gateway nodes) and the CLI's admin view share one bucket. A window added on one node is seen by
// the other (onChange); the CLI's end reaches both, once; an entry that does not validate counts
// as absent; a gate on the other node reports the end.
import { afterEach, beforeEach, expect, it } from 'vitest'
import { kvMaintenanceAdmin, openMaintenanceBucket, type MaintenanceBucket } from '../../../broker/cluster/maintenance-bucket.ts'
import { openKvMaintenanceStore } from '../../../broker/cluster/maintenance-kv-store.ts'
import { createLogger } from '../../../broker/log.ts'
import { startMaintenanceGate } from '../../../broker/maintenance/gate.ts'
import { planWindow, type MaintenanceStore } from '../../../broker/maintenance/store.ts'
import type { MaintenanceWindow } from '../../../broker/maintenance/window.ts'
import { useNatsConnections } from '../../helpers/nats.ts'

const log = createLogger('silent')
const HOUR = 3_600_000
const connections = useNatsConnections(3)
let bucketCount = 0
let bucketName: string
const stores: MaintenanceStore[] = []

beforeEach(() => { bucketName = `maintenance-test-${++bucketCount}` })
afterEach(async () => {
  for (const store of stores.splice(0)) await store.close()
})

function bucket (index: number): Promise<MaintenanceBucket> {
  return openMaintenanceBucket(connections[index]!, 1, bucketName)
}

async function openStore (index: number): Promise<MaintenanceStore> {
  const store = await openKvMaintenanceStore({ bucket: await bucket(index), log })
  stores.push(store)
  return store
}

function window (name: string, fromMs = Date.now(), toMs = fromMs + HOUR): MaintenanceWindow {
  const planned = planWindow({ scope: { kind: 'device', name }, fromMs, toMs, reason: 'works', createdBy: 'cli' }, Date.now())
  if (!planned.ok) throw new Error(planned.message)
  return planned.window
}

it('a window added on one node holds on the other; the CLI ends it on both, once', async () => {
  const [a, b] = [await openStore(0), await openStore(1)]
  let changesOnB = 0
  b.onChange(() => { changesOnB++ })
  const gateB = startMaintenanceGate({ store: b, groupOf: () => undefined, log })
  const ended: string[] = []
  gateB.onEnded((windows) => { ended.push(...windows.map((w) => w.id)) })
  const w = window('mh-1')
  await a.add(w)
  expect(a.current()).toEqual([w])
  await expect.poll(() => gateB.isUnderMaintenance({ id: 'mh-1', district: 'north' }, Date.now()), { timeout: 5000 }).toBe(true)
  expect(changesOnB).toBeGreaterThanOrEqual(1)

  const cli = kvMaintenanceAdmin(await bucket(2), log)
  expect((await cli.list()).map((x) => x.id)).toEqual([w.id])
  const byCli = await cli.end(w.id, 'cli', Date.now())
  expect(byCli).toMatchObject({ id: w.id, endedBy: 'cli' })
  expect(await cli.end(w.id, 'cli', Date.now())).toBeUndefined()
  expect(await a.end(w.id, 'ops', Date.now())).toBeUndefined()
  await expect.poll(() => ended, { timeout: 5000 }).toEqual([w.id])
  expect(gateB.isUnderMaintenance({ id: 'mh-1', district: 'north' }, Date.now())).toBe(false)
  await expect.poll(() => a.current()[0]?.endedBy, { timeout: 5000 }).toBe('cli')
  gateB.close()
})

it('an entry that does not validate counts as absent; the others stay', async () => {
  const raw = await bucket(0)
  const good = window('mh-2')
  await raw.kv.put('abcdefghijkl', JSON.stringify({ ...good, id: 'abcdefghijkl', to: 'tomorrow' }))
  await raw.kv.put('mnopqrstuvwx', 'not json')
  await raw.kv.put(good.id, JSON.stringify(good))
  const store = await openStore(1)
  expect(store.current()).toEqual([good])
})
