// Spool (its own cursor) → pending entities → context broker. A spool batch is committed only once
// its updates were delivered or saved as pending (pending.ts), so a context broker down for hours
// costs one coalesced update per entity afterwards and never holds spool segments nor ingest.
// Outages are retried with jittered backoff; refused entities are isolated (halving) and quarantined.
// With a send guard (cluster mode) each upsert sends what the guard claims and what changed meanwhile again.
import type { Logger } from '../log.ts'
import type { Quarantine } from '../influx/quarantine.ts'
import { backoffDelayMs } from '../backoff.ts'
import type { SpoolFeed } from '../spool/spool.ts'
import type { NgsiClient, UpsertOutcome } from './client.ts'
import { entityUpdateOf, type LocationOf } from './entities.ts'
import type { PendingEntity, PendingStore } from './pending.ts'
import type { ClaimedEntity, SendGuard } from './send-guard.ts'
import { pauseUnlessStopped } from '../pause.ts'

/** Metric hooks, wired to prom-client by the caller. Must not throw. */
export interface ExporterMetrics {
  onExported?(entities: number): void
  onFailure?(reason: 'retry' | 'unauthorized'): void
  onQuarantine?(entities: number): void
}

export interface ExporterOptions {
  feed: SpoolFeed
  pending: PendingStore
  client: NgsiClient
  quarantine: Quarantine
  locationOf: LocationOf
  log: Logger
  /** Spool lines folded per round (NGSI_LD_BATCH_LINES). */
  batchLines: number
  /** Entities per upsert request (NGSI_LD_BATCH_ENTITIES). */
  batchEntities: number
  /** After a round that was not full, how long the next may gather, ms (NGSI_LD_FLUSH_MS). */
  flushIntervalMs: number
  retryInitialMs: number
  retryMaxMs: number
  unauthorizedRetryMs: number
  retryAfterMaxMs: number
  metrics?: ExporterMetrics
  /** Around each upsert when several nodes export at once (send-guard.ts); none on a single node. */
  guard?: SendGuard | undefined
}

export interface ExporterState {
  /** The context broker took the last request (or nothing was sent yet and nothing failed). */
  connected: boolean
  /** Entities owed to the context broker now. */
  pendingEntities: number
  /** Epoch ms of the oldest reading time folded and not yet delivered; null when nothing is owed. */
  oldestPendingMs: number | null
  lastError?: string
}

export interface Exporter {
  start(): void
  /** Stops after the request in flight; what is owed stays pending (saved) or in the spool. */
  close(): Promise<void>
  state(): ExporterState
}

type Delivery = { isDone: true } | { isDone: false, delayMs: number }

export function createExporter (options: ExporterOptions): Exporter {
  const { feed, pending, client } = options
  const metrics = options.metrics ?? {}
  const log = options.log.child({ module: 'ngsi-ld' })
  const stopping = new AbortController()
  let loop: Promise<void> | undefined
  let failures = 0
  let isConnected = true
  let lastError: string | undefined
  // Entities owed from before a restart count for the lag from their oldest reading.
  let oldestPendingMs: number | null = oldestObservedMs(pending.first(pending.size))

  function notify (call: () => void): void {
    try {
      call()
    } catch (err) {
      log.warn({ err }, 'NGSI-LD metric hook threw')
    }
  }

  function pause (ms: number): Promise<boolean> {
    return pauseUnlessStopped(ms, stopping.signal)
  }

  async function quarantine (entity: PendingEntity, status: number, reason: string): Promise<void> {
    await options.quarantine.add({ tsMs: Date.now(), reason: `HTTP ${status}: ${reason}`, line: JSON.stringify(entity) })
    log.warn({ code: 'CSG_NGSI_REFUSED', entityId: entity.id, status, reason }, 'entity refused by the context broker, quarantined')
    notify(() => metrics.onQuarantine?.(1))
  }

  function failed (outcome: Extract<UpsertOutcome, { kind: 'retry' | 'unauthorized' }>): Delivery {
    lastError = outcome.reason
    if (isConnected || failures === 0) {
      const code = outcome.kind === 'unauthorized' ? 'CSG_NGSI_UNAUTHORIZED' : 'CSG_NGSI_RETRYABLE'
      log.warn({ code, status: outcome.status, reason: outcome.reason, pendingEntities: pending.size }, 'context broker not taking updates; they wait, coalesced')
    }
    isConnected = false
    notify(() => metrics.onFailure?.(outcome.kind))
    if (outcome.kind === 'unauthorized') return { isDone: false, delayMs: options.unauthorizedRetryMs }
    const retryAfterMs = Math.min(outcome.retryAfterMs ?? 0, options.retryAfterMaxMs)
    const delayMs = Math.max(retryAfterMs, backoffDelayMs(failures, options.retryInitialMs, options.retryMaxMs))
    failures++
    return { isDone: false, delayMs }
  }

  function succeeded (count: number): void {
    if (!isConnected) log.info({ failures, pendingEntities: pending.size }, 'context broker back, delivering')
    isConnected = true
    failures = 0
    if (count > 0) notify(() => metrics.onExported?.(count))
  }

  /** Sends these entities until each is taken, quarantined, or a failure says to retry later. */
  async function send (owed: readonly PendingEntity[]): Promise<Delivery> {
    let claimed: ClaimedEntity[] | undefined
    try {
      claimed = await options.guard?.claim(owed)
    } catch (err) {
      return failed({ kind: 'retry', reason: `shared newest values unreachable: ${err instanceof Error ? err.message : String(err)}` })
    }
    const entities = claimed?.map(function entityOf (c) { return c.entity }) ?? owed
    const outcome = await client.upsert(entities)
    if (outcome.kind === 'done') {
      pending.remove(entities.map(idOf))
      succeeded(entities.length)
      return await sendAgainIfChanged(claimed)
    }
    if (outcome.kind === 'partial') {
      const byId = new Map(entities.map(function entry (e) { return [e.id, e] }))
      const retry = new Set<string>()
      for (const failure of outcome.failures) {
        const entity = byId.get(failure.entityId)
        if (entity === undefined) continue
        if (failure.status >= 400 && failure.status < 500) {
          await quarantine(entity, failure.status, failure.reason)
          pending.remove([entity.id])
        } else {
          retry.add(entity.id)
        }
      }
      const taken = entities.filter(function isTaken (e) { return !retry.has(e.id) && !outcome.failures.some(function isFailed (f) { return f.entityId === e.id }) })
      pending.remove(taken.map(idOf))
      succeeded(taken.length)
      const again = await sendAgainIfChanged(claimed?.filter(function isTakenClaim (c) { return taken.includes(c.entity) }))
      if (!again.isDone) return again
      if (retry.size === 0) return { isDone: true }
      return failed({ kind: 'retry', reason: outcome.failures.find(function isRetried (f) { return retry.has(f.entityId) })?.reason ?? 'entity failed' })
    }
    if (outcome.kind === 'refused') {
      succeeded(0)
      if (entities.length === 1) {
        await quarantine(entities[0] as PendingEntity, outcome.status, outcome.reason)
        pending.remove([(entities[0] as PendingEntity).id])
        return { isDone: true }
      }
      // Which entity is bad is not said for the whole batch: halves until it is alone.
      const middle = Math.ceil(entities.length / 2)
      const first = await send(entities.slice(0, middle))
      if (!first.isDone) return first
      return await send(entities.slice(middle))
    }
    return failed(outcome)
  }

  /**
   * After the context broker took claimed entities: those another node changed meanwhile are owed
   * again (the next send claims their newest). Unsure (guard unreachable): all of them are owed again.
   */
  async function sendAgainIfChanged (claimed: readonly ClaimedEntity[] | undefined): Promise<Delivery> {
    if (claimed === undefined || claimed.length === 0 || options.guard === undefined) return { isDone: true }
    try {
      for (const entity of await options.guard.changedSince(claimed)) pending.fold(entity)
      return { isDone: true }
    } catch (err) {
      for (const { entity } of claimed) pending.fold(entity)
      return failed({ kind: 'retry', reason: `shared newest values unreachable: ${err instanceof Error ? err.message : String(err)}` })
    }
  }

  async function deliverPending (): Promise<Delivery> {
    while (pending.size > 0 && !stopping.signal.aborted) {
      const delivery = await send(pending.first(options.batchEntities))
      if (!delivery.isDone) return delivery
    }
    if (pending.size === 0) oldestPendingMs = null
    return { isDone: true }
  }

  function fold (lines: readonly string[]): void {
    for (const line of lines) {
      const update = entityUpdateOf(line, options.locationOf)
      if (update === undefined) continue
      pending.fold(update)
      const observed = Object.values(update.attributes).map(function timeOf (a) { return 'observedAt' in a && a.observedAt !== undefined ? Date.parse(a.observedAt) : Number.NaN }).find(Number.isFinite)
      if (observed !== undefined && (oldestPendingMs === null || observed < oldestPendingMs)) oldestPendingMs = observed
    }
  }

  async function run (): Promise<void> {
    while (!stopping.signal.aborted) {
      try {
        // With nothing owed, wait for the spool; with updates owed, gather briefly and try again.
        const signal = pending.size === 0 ? stopping.signal : AbortSignal.any([stopping.signal, AbortSignal.timeout(Math.max(1, options.flushIntervalMs))])
        const batch = await feed.read(options.batchLines, signal)
        if (stopping.signal.aborted) {
          if (batch !== null) feed.rewind()
          break
        }
        if (batch !== null) fold(batch.lines)
        const delivery = await deliverPending()
        // Whatever was not delivered is on disk before the spool lets go of it.
        await pending.save()
        if (batch !== null) await feed.commit(batch)
        if (!delivery.isDone) {
          if (!await pause(delivery.delayMs)) break
        } else if (batch !== null && batch.lineCount < options.batchLines && options.flushIntervalMs > 0 && !await pause(options.flushIntervalMs)) {
          break
        }
      } catch (err) {
        if (stopping.signal.aborted) break
        // A disk fault saving or committing: nothing was committed, so the spool gives it again.
        log.error({ err }, 'NGSI-LD export could not save or commit, retrying')
        feed.rewind()
        if (!await pause(1000)) break
      }
    }
    await pending.save().catch(function notSaved (err: unknown) {
      log.error({ err }, 'NGSI-LD pending entities not saved at close; the spool gives them again')
    })
  }

  return {
    start () {
      if (loop !== undefined) return
      loop = run().catch(function onLoopCrash (err: unknown) {
        log.fatal({ err }, 'NGSI-LD export loop crashed')
      })
    },
    async close () {
      stopping.abort()
      client.close()
      await loop
    },
    state () {
      const current: ExporterState = { connected: isConnected, pendingEntities: pending.size, oldestPendingMs }
      if (lastError !== undefined) current.lastError = lastError
      return current
    },
  }
}

function oldestObservedMs (entities: readonly PendingEntity[]): number | null {
  let oldest: number | null = null
  for (const entity of entities) {
    for (const attribute of Object.values(entity.attributes)) {
      const ms = 'observedAt' in attribute && attribute.observedAt !== undefined ? Date.parse(attribute.observedAt) : Number.NaN
      if (Number.isFinite(ms) && (oldest === null || ms < oldest)) oldest = ms
    }
  }
  return oldest
}

function idOf (entity: PendingEntity): string {
  return entity.id
}
