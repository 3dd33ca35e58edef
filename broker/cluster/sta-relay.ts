// Enters: readings this node accepted; other nodes' Observations and interest on core NATS. Leaves:
// this node's readings on STA_OBSERVATIONS_SUBJECT only while another node has STA subscribers, and
// other nodes' readings into the local feed (whose delivery checks apply the subscribers' scopes).
// Guarantees: nothing is published while no other node has interest; core NATS keeps nothing (QoS 0).
import { randomBytes } from 'node:crypto'
import type { NatsConnection, Subscription } from '@nats-io/transport-node'
import { z } from 'zod'
import type { ValidReading } from '../ingest/validate.ts'
import type { Logger } from '../log.ts'
import type { DeviceIdentity } from '../mqtt/authenticate.ts'
import { observedReadings, type StaFeed } from '../sta/mqtt-feed.ts'
import { STA_INTEREST_SUBJECT, STA_OBSERVATIONS_SUBJECT } from './names.ts'

/** A node with subscribers says so this often; others forget it after INTEREST_TTL_MS without word. */
export const INTEREST_RENEW_MS = 2000
const INTEREST_TTL_MS = 3 * INTEREST_RENEW_MS
/** Largest relayed message read or sent, bytes (a batch of 100 readings of 16 fields is ~20 KiB). */
const MAX_MESSAGE_BYTES = 256 * 1024

const nameSchema = z.string().min(1).max(64).regex(/^[A-Za-z0-9._-]+$/)
const interestSchema = z.object({ writer: z.string().min(1).max(200), isInterested: z.boolean(), isHello: z.boolean().optional() })
const relayedSchema = z.object({
  writer: z.string().min(1).max(200),
  device: z.object({ id: nameSchema, district: nameSchema, kind: nameSchema }),
  readings: z.array(z.object({
    tsMs: z.number().int(),
    resultMs: z.number().int(),
    values: z.record(z.string().min(1).max(64), z.union([z.number(), z.boolean()])),
  })).min(1).max(1000),
})
type Interest = z.infer<typeof interestSchema>
type Relayed = z.infer<typeof relayedSchema>

export interface StaRelayOptions {
  nc: NatsConnection
  nodeName: string
  feed: Pick<StaFeed, 'relay' | 'onInterestChange' | 'subscriptions'>
  log: Logger
}

export interface StaRelay {
  /** This node accepted these readings: sent to the other nodes when one of them has interest. */
  onReadings(device: DeviceIdentity, readings: readonly ValidReading[]): void
  /** Other nodes with interest now (for tests and logs). */
  interestedNodes(): number
  close(): Promise<void>
}

export function startStaRelay (options: StaRelayOptions): StaRelay {
  const { nc, feed } = options
  const log = options.log.child({ module: 'sta-relay' })
  // This run of this node: a restarted node is another writer, its own messages are skipped.
  const writer = `${options.nodeName}#${randomBytes(4).toString('hex')}`
  /** Other nodes' writers with STA subscribers, and until when their last word holds (epoch ms). */
  const interested = new Map<string, number>()
  let isFailing = false

  function send (subject: string, body: string): void {
    try {
      nc.publish(subject, body)
      isFailing = false
    } catch (err) {
      if (!isFailing) log.warn({ err, reason: 'NATS unavailable' }, 'SensorThings relay message not published')
      isFailing = true
    }
  }
  function sayInterest (isInterested: boolean, isHello = false): void {
    const interest: Interest = isHello ? { writer, isInterested, isHello } : { writer, isInterested }
    send(STA_INTEREST_SUBJECT, JSON.stringify(interest))
  }
  function hasRemoteInterest (): boolean {
    if (interested.size === 0) return false
    const nowMs = Date.now()
    for (const [other, untilMs] of interested) if (untilMs < nowMs) interested.delete(other)
    return interested.size > 0
  }

  function parsed<T> (schema: z.ZodType<T>, data: Uint8Array): T | undefined {
    if (data.length > MAX_MESSAGE_BYTES) return undefined
    try {
      return schema.safeParse(JSON.parse(Buffer.from(data).toString('utf8'))).data
    } catch {
      return undefined
    }
  }

  const interestSub: Subscription = nc.subscribe(STA_INTEREST_SUBJECT, {
    callback: function onInterest (err, msg) {
      if (err !== null) {
        log.warn({ err, reason: 'subscription error' }, 'SensorThings interest not received')
        return
      }
      const interest = parsed(interestSchema, msg.data)
      if (interest === undefined || interest.writer === writer) return
      if (interest.isInterested) interested.set(interest.writer, Date.now() + INTEREST_TTL_MS)
      else interested.delete(interest.writer)
      // A node that just started knows nobody's interest yet: those with subscribers answer at once.
      if (interest.isHello === true && feed.subscriptions() > 0) sayInterest(true)
    },
  })
  const observationSub: Subscription = nc.subscribe(STA_OBSERVATIONS_SUBJECT, {
    callback: function onObservations (err, msg) {
      if (err !== null) {
        log.warn({ err, reason: 'subscription error' }, 'SensorThings relay message not received')
        return
      }
      const relayed = parsed(relayedSchema, msg.data)
      if (relayed === undefined) {
        log.debug({ bytes: msg.data.length }, 'SensorThings relay message ignored: not valid')
        return
      }
      if (relayed.writer !== writer) feed.relay(relayed.device, relayed.readings)
    },
  })

  feed.onInterestChange(function announce (isInterested) { sayInterest(isInterested) })
  sayInterest(feed.subscriptions() > 0, true)
  const timer = setInterval(function renew () {
    if (feed.subscriptions() > 0) sayInterest(true)
  }, INTEREST_RENEW_MS)
  timer.unref()

  return {
    onReadings (device, readings) {
      if (!hasRemoteInterest()) return
      const message: Relayed = { writer, device: { id: device.id, district: device.district, kind: device.kind.name }, readings: observedReadings(readings, Date.now()) }
      const body = JSON.stringify(message)
      if (Buffer.byteLength(body) <= MAX_MESSAGE_BYTES) send(STA_OBSERVATIONS_SUBJECT, body)
      else log.warn({ deviceId: device.id, readings: readings.length }, 'SensorThings relay message too large, not sent')
    },
    interestedNodes () {
      return hasRemoteInterest() ? interested.size : 0
    },
    async close () {
      clearInterval(timer)
      if (nc.isClosed()) return
      if (feed.subscriptions() > 0) sayInterest(false)
      interestSub.unsubscribe()
      observationSub.unsubscribe()
      await Promise.all([interestSub.closed, observationSub.closed])
    },
  }
}
