// Whether the NATS client is connected right now, from its status events. The client reconnects by
// itself forever; this only tells callers (readiness, the telemetry log) that it is away meanwhile.
import type { NatsConnection } from '@nats-io/transport-node'
import type { Logger } from '../log.ts'

export interface ConnectionState {
  /** False from a disconnect until the client is connected again (or for good once it closed). */
  readonly isConnected: boolean
  /** Stops following the status events. */
  close(): void
}

export function watchConnection (nc: NatsConnection, log: Logger): ConnectionState {
  let isConnected = !nc.isClosed()
  let isWatching = true
  const events = nc.status()
  void (async function followStatus () {
    for await (const status of events) {
      if (!isWatching) break
      if (status.type === 'disconnect' || status.type === 'close') isConnected = false
      else if (status.type === 'reconnect') isConnected = true
    }
    isConnected = false
  })().catch(function statusEnded (err: unknown) {
    isConnected = false
    log.debug({ err }, 'NATS status events ended')
  })
  return {
    get isConnected () { return isConnected && !nc.isClosed() },
    close () {
      isWatching = false
      // The client's status iterator has stop() though its type does not say so; without it the
      // loop above would end only at the next status event.
      const stop = (events as { stop?: () => void }).stop
      if (typeof stop === 'function') stop.call(events)
    },
  }
}
