// Each node keeps one key alive in the nodes bucket (the bucket's max age drops it once the node
// stops renewing): `citygw cluster status` lists the live nodes from it.
import type { KV } from '@nats-io/kv'
import { z } from 'zod'
import type { Logger } from '../log.ts'
import { kvKeyOf } from './kv-key.ts'

export const nodeRecordSchema = z.object({
  node: z.string(),
  host: z.string(),
  pid: z.number(),
  startedAt: z.string(),
  updatedAt: z.string(),
  ports: z.record(z.string(), z.number()),
  connections: z.number(),
})
export type NodeRecord = z.infer<typeof nodeRecordSchema>

/** Renewal period; the bucket's max age is NODE_TTL_MS, so a node is listed up to that long after it died. */
export const NODE_HEARTBEAT_MS = 5000
export const NODE_TTL_MS = 3 * NODE_HEARTBEAT_MS

export interface NodeHeartbeatOptions {
  kv: KV
  nodeName: string
  host: string
  ports: Record<string, number>
  connections(): number
  log: Logger
}

export interface NodeHeartbeat {
  close(): Promise<void>
}

export function startNodeHeartbeat (options: NodeHeartbeatOptions): NodeHeartbeat {
  const key = kvKeyOf(options.nodeName)
  const startedAt = new Date().toISOString()
  let beating: Promise<void> = Promise.resolve()

  async function beat (): Promise<void> {
    const record: NodeRecord = {
      node: options.nodeName,
      host: options.host,
      pid: process.pid,
      startedAt,
      updatedAt: new Date().toISOString(),
      ports: options.ports,
      connections: options.connections(),
    }
    try {
      await options.kv.put(key, JSON.stringify(record))
    } catch (err) {
      options.log.debug({ err, reason: 'nats_unavailable' }, 'node heartbeat not written')
    }
  }
  beating = beat()
  const timer = setInterval(function renew () { beating = beating.then(beat) }, NODE_HEARTBEAT_MS)
  timer.unref()

  return {
    async close () {
      clearInterval(timer)
      await beating
      await options.kv.delete(key).catch(function ignore () { /* expires by itself */ })
    },
  }
}
