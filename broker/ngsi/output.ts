// The NGSI-LD export as the gateway runs it: the pending store under DATA_DIR/ngsi-ld, the client,
// the exporter on its own spool cursor, and its metrics. Undefined without NGSI_LD_URL.
import { mkdir } from 'node:fs/promises'
import path from 'node:path'
import type { Registry } from 'prom-client'
import { INFLUX_RETRY, type Config } from '../config.ts'
import { createFileQuarantine } from '../influx/quarantine-file.ts'
import type { Logger } from '../log.ts'
import type { SpoolFeed } from '../spool/spool.ts'
import { createNgsiClient } from './client.ts'
import type { LocationOf } from './entities.ts'
import { createExporter, type Exporter } from './exporter.ts'
import { registerNgsiMetrics } from './metrics.ts'
import { openPendingStore } from './pending.ts'
import type { SendGuard } from './send-guard.ts'

/** The spool follower (its cursor file is `cursor.ngsi-ld.slots`). */
export const NGSI_FOLLOWER = 'ngsi-ld'

export interface NgsiOutput {
  exporter: Exporter
  close(): Promise<void>
}

export function isNgsiEnabled (config: Config): boolean {
  return config.NGSI_LD_URL !== undefined
}

/** `guard`: in cluster mode, the shared newest values every node's export sends through. */
export async function startNgsiOutput (config: Config, feed: SpoolFeed, locationOf: LocationOf, registry: Registry, log: Logger, guard?: SendGuard): Promise<NgsiOutput | undefined> {
  if (config.NGSI_LD_URL === undefined) return undefined
  const dir = path.join(config.DATA_DIR, 'ngsi-ld')
  await mkdir(dir, { recursive: true, mode: 0o700 })
  const pending = await openPendingStore(path.join(dir, 'pending.json'), log)
  const client = createNgsiClient({
    url: config.NGSI_LD_URL,
    tenant: config.NGSI_LD_TENANT,
    token: config.NGSI_LD_TOKEN,
    context: config.NGSI_LD_CONTEXT,
    timeoutMs: config.NGSI_LD_TIMEOUT_MS,
  })
  // The gauges read the exporter, which takes the counters' hooks: made in that order.
  const made: { exporter?: Exporter } = {}
  const metrics = registerNgsiMetrics(registry, function stateNow () {
    return made.exporter?.state() ?? { connected: false, pendingEntities: pending.size, oldestPendingMs: null }
  })
  const exporter = createExporter({
    feed,
    pending,
    client,
    quarantine: createFileQuarantine(path.join(dir, 'quarantine.jsonl')),
    locationOf,
    log,
    batchLines: config.NGSI_LD_BATCH_LINES,
    batchEntities: config.NGSI_LD_BATCH_ENTITIES,
    flushIntervalMs: config.NGSI_LD_FLUSH_MS,
    ...INFLUX_RETRY,
    metrics,
    guard,
  })
  made.exporter = exporter
  exporter.start()
  log.info({ url: withoutCredentials(config.NGSI_LD_URL), tenant: config.NGSI_LD_TENANT ?? null, pendingEntities: pending.size }, 'NGSI-LD export started')
  return {
    exporter,
    close () { return exporter.close() },
  }
}

/** The URL as logged: user and password, if the operator put any in it, are left out. */
function withoutCredentials (url: string): string {
  const parsed = new URL(url)
  parsed.username = ''
  parsed.password = ''
  return parsed.toString()
}
