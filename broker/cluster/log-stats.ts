// Enters: the telemetry stream's info, asked for in the background every interval.
// Leaves: its depth (bytes, messages) and the age of its oldest message, at once and without I/O,
// for metrics and the writer's logs; whether the last look succeeded, and when.
import { setTimeout as sleep } from 'node:timers/promises'
import type { JetStreamManager, StreamState } from '@nats-io/jetstream'
import type { Logger } from '../log.ts'

export interface StreamDepth {
  bytes: number
  messages: number
  /** Epoch ms of the oldest message still in the stream; null when it is empty. */
  oldestMs: number | null
}

export interface StreamWatch {
  /** The last depth seen (zeros until the first look). */
  depth(): StreamDepth
  /** Epoch ms at which the last successful look was asked for; null before one. */
  readonly lastOkMs: number | null
  close(): Promise<void>
}

export function depthOf (state: StreamState): StreamDepth {
  const oldestMs = state.messages > 0 ? Date.parse(state.first_ts) : Number.NaN
  return { bytes: state.bytes, messages: state.messages, oldestMs: Number.isFinite(oldestMs) ? oldestMs : null }
}

/** Polls the stream's state every intervalMs until closed; `onLook` is told of every successful look. */
export function watchStream (jsm: JetStreamManager, stream: string, intervalMs: number, log: Logger, initial: StreamState, onLook: (askedAtMs: number) => void): StreamWatch {
  let depth = depthOf(initial)
  let lastOkMs: number | null = null
  let isFailing = false
  const stopping = new AbortController()

  async function look (): Promise<void> {
    const askedAtMs = Date.now()
    try {
      const info = await jsm.streams.info(stream)
      depth = depthOf(info.state)
      lastOkMs = askedAtMs
      if (isFailing) log.info({ stream }, 'stream info answered again')
      isFailing = false
      onLook(askedAtMs)
    } catch (err) {
      if (!isFailing) log.warn({ err, stream }, 'could not read the stream info; depth figures are stale')
      isFailing = true
    }
  }

  const loop = (async function pollStream () {
    while (!stopping.signal.aborted) {
      try {
        await sleep(intervalMs, undefined, { signal: stopping.signal })
      } catch {
        return
      }
      await look()
    }
  })()

  return {
    depth () { return depth },
    get lastOkMs () { return lastOkMs },
    async close () {
      stopping.abort()
      await loop
    },
  }
}
