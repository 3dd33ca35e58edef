// Optional webhooks: every alarm change POSTed as JSON to each configured URL, retried with
// jittered backoff in the background. A bounded queue per URL: ingestion never waits, and an
// unreachable receiver costs at most `maxQueued` messages of memory (the oldest are dropped, logged).
import { setTimeout as sleep } from 'node:timers/promises'
import type { Logger } from '../log.ts'
import { backoffDelayMs } from '../backoff.ts'
import type { AlarmEvent } from './alarm.ts'

export interface WebhookOptions {
  urls: readonly string[]
  log: Logger
  /** Per request, ms. */
  timeoutMs: number
  /** Attempts per alarm change before it is given up (logged). */
  maxAttempts: number
  /** Changes queued per URL; beyond it the oldest is dropped. */
  maxQueued: number
  /** Backoff between attempts: from this, doubling, jittered, ms. */
  retryBaseMs: number
  /** Longest backoff between two attempts, ms. */
  retryMaxMs: number
  onFailure?: () => void
}

export interface Webhooks {
  send(event: AlarmEvent): void
  /** Stops retrying; waits for requests in flight (bounded by the timeout). */
  close(): Promise<void>
}

export function createWebhooks (options: WebhookOptions): Webhooks {
  const log = options.log.child({ module: 'webhooks' })
  const { timeoutMs, maxAttempts, maxQueued, retryBaseMs, retryMaxMs } = options
  const stopping = new AbortController()
  const queues = options.urls.map(function makeQueue (url) { return { url, items: [] as AlarmEvent[], running: undefined as Promise<void> | undefined } })

  async function post (url: string, event: AlarmEvent): Promise<void> {
    for (let attempt = 0; attempt < maxAttempts && !stopping.signal.aborted; attempt++) {
      try {
        const res = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ change: event.change, alarm: event.alarm }),
          signal: AbortSignal.any([stopping.signal, AbortSignal.timeout(timeoutMs)]),
        })
        await res.body?.cancel()
        if (res.ok) return
        if (res.status >= 400 && res.status < 500 && res.status !== 408 && res.status !== 429) {
          log.warn({ url, status: res.status, alarmId: event.alarm.id }, 'webhook refused the alarm; not retried')
          return
        }
      } catch (err) {
        if (stopping.signal.aborted) return
        if (attempt === 0) log.warn({ url, err: { message: (err as Error).message } }, 'webhook unreachable, retrying')
      }
      await sleep(backoffDelayMs(attempt, retryBaseMs, retryMaxMs), undefined, { signal: stopping.signal }).catch(function stopped () { /* closing */ })
    }
    options.onFailure?.()
    log.error({ url, alarmId: event.alarm.id, attempts: maxAttempts }, 'webhook gave up on an alarm')
  }

  async function drain (queue: (typeof queues)[number]): Promise<void> {
    for (let event = queue.items.shift(); event !== undefined && !stopping.signal.aborted; event = queue.items.shift()) {
      await post(queue.url, event)
    }
    queue.running = undefined
  }

  return {
    send (event) {
      for (const queue of queues) {
        if (queue.items.length >= maxQueued) {
          queue.items.shift()
          log.warn({ url: queue.url, maxQueued }, 'webhook queue full; dropped the oldest alarm change')
        }
        queue.items.push(event)
        queue.running ??= drain(queue)
      }
    },
    async close () {
      stopping.abort()
      await Promise.all(queues.flatMap(function running (queue) { return queue.running === undefined ? [] : [queue.running] }))
    },
  }
}
