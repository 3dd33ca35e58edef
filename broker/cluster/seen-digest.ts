// Shared last-seen for the offline check: every check interval each node publishes on core NATS
// (SEEN_SUBJECT) the ids of the devices it heard from since its last digest; every node folds the
// digests of the others into its engine. A message is the writer's id, then one device id per line
// (device ids have no line breaks), split so that none comes near the server's max_payload.
// Core NATS keeps nothing: a digest lost in a NATS outage only makes a device look silent longer.
import type { NatsConnection, Subscription } from '@nats-io/transport-node'
import type { Logger } from '../log.ts'
import { SEEN_SUBJECT } from './names.ts'

/** Upper bound of one digest message, bytes. */
const MAX_DIGEST_BYTES = 64 * 1024

export interface SeenDigestOptions {
  nc: NatsConnection
  /** This run of this node (`<NODE_NAME>#<random>`): its own digests are skipped. */
  writer: string
  log: Logger
  /** Device ids another node heard from since its previous digest, received at `atMs`. */
  onSeen(deviceIds: readonly string[], atMs: number): void
}

export interface SeenDigest {
  /** Notes a device this node heard from. */
  heard(deviceId: string): void
  /** Publishes the devices heard since the last call (nothing when none). */
  publish(): void
  close(): Promise<void>
}

export function createSeenDigest (options: SeenDigestOptions): SeenDigest {
  const { nc, writer } = options
  const log = options.log.child({ module: 'seen-digest' })
  let heardSince = new Set<string>()
  const maxBytes = Math.min(MAX_DIGEST_BYTES, Math.floor((nc.info?.max_payload ?? MAX_DIGEST_BYTES) / 2))
  let isFailing = false

  const subscription: Subscription = nc.subscribe(SEEN_SUBJECT, {
    callback: function onDigest (err, msg) {
      if (err !== null) {
        log.warn({ err, reason: 'subscription error' }, 'seen digests not received')
        return
      }
      const lines = msg.string().split('\n')
      if (lines[0] === writer) return
      const ids = lines.slice(1).filter(function isId (line) { return line !== '' })
      if (ids.length > 0) options.onSeen(ids, Date.now())
    },
  })

  function send (body: string): void {
    try {
      nc.publish(SEEN_SUBJECT, body)
      isFailing = false
    } catch (err) {
      if (!isFailing) log.warn({ err, reason: 'NATS unavailable' }, 'seen digest not published')
      isFailing = true
    }
  }

  return {
    heard (deviceId) {
      heardSince.add(deviceId)
    },
    publish () {
      if (heardSince.size === 0) return
      const ids = heardSince
      heardSince = new Set()
      let body = writer
      for (const id of ids) {
        if (body.length + id.length + 1 > maxBytes && body !== writer) {
          send(body)
          body = writer
        }
        body += `\n${id}`
      }
      send(body)
    },
    async close () {
      if (!nc.isClosed()) subscription.unsubscribe()
      await subscription.closed
    },
  }
}
