// One gateway node's alarm stage on a real NATS cluster, without MQTT or InfluxDB: startAlarms with
// its own NATS connection, a BrokerOut that records what crews would receive (and what stays
// retained), and a Spool that records the `alarms` points appended. Several in one process make a
// cluster of gateway nodes.
import { connect, type NatsConnection } from '@nats-io/transport-node'
import { pino } from 'pino'
import type { AlarmDevice, AlarmRecord } from '../../broker/alarms/alarm.ts'
import { startAlarms, type Alarms, type AlarmsOptions } from '../../broker/alarms/index.ts'
import { WEBHOOK_LIMITS } from '../../broker/config.ts'
import { createLogThrottle } from '../../broker/log-throttle.ts'
import type { CrewIdentity, DeviceIdentity } from '../../broker/mqtt/authenticate.ts'
import type { BrokerOut } from '../../broker/mqtt/broker-out.ts'
import { deviceTopics, formatAlarmTopic } from '../../broker/mqtt/topics.ts'
import type { Spool } from '../../broker/spool/spool.ts'
import { getKind } from '../../devices/index.ts'
import { makeTempDir, removeTempDir } from './server-process.ts'

const silent = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' })

export interface Delivery { topic: string, alarm: AlarmRecord, retain: boolean }

export interface AlarmNode {
  readonly name: string
  readonly nc: NatsConnection
  readonly alarms: Alarms
  /** Every alarm published to crews, in order. */
  readonly delivered: Delivery[]
  /** Retained alarm per topic, as a late subscriber would get it. */
  readonly retained: Map<string, AlarmRecord>
  /** `alarms` points appended to this node's spool (line protocol). */
  readonly points: string[]
  /** This node's device hands the alarm stage readings (values at tsMs). */
  reading(device: AlarmDevice, values: Record<string, number | boolean>, tsMs?: number): void
  /** A crew acknowledges over MQTT on this node. */
  ackOverMqtt(crew: string, alarm: AlarmRecord, note?: string): void
  /** Closes the stage, then the connection (either may already be gone). */
  close(): Promise<void>
}

export interface AlarmNodeOptions {
  urls: readonly string[]
  /** The devices the registry knows. */
  devices: ReadonlyMap<string, AlarmDevice>
  offlineCheckMs?: number
  rulesFile?: string
  replicas?: number
  /** Alarm e-mail of this node (an SMTP server the test started). */
  mail?: AlarmsOptions['mail']
  /** Device groups (the registry's), for incidents. */
  groups?: AlarmsOptions['groups']
}

function recordingOut (delivered: Delivery[], retained: Map<string, AlarmRecord>): BrokerOut {
  return {
    publish (topic, payload, retain) {
      const alarm = JSON.parse(payload.toString('utf8')) as AlarmRecord
      delivered.push({ topic, alarm, retain })
      if (retain) retained.set(topic, alarm)
      return Promise.resolve()
    },
    removeRetained (topic) {
      retained.delete(topic)
      return Promise.resolve()
    },
  }
}

function recordingSpool (points: string[]): Spool {
  return {
    append (lines) {
      points.push(...lines)
      return Promise.resolve()
    },
    read () { return Promise.resolve(null) },
    async commit () { /* nothing is read */ },
    rewind () { /* nothing is read */ },
    stats () { return { depthBytes: 0, depthRecords: points.length, oldestRecordAgeMs: null, segments: 0, appendedRecords: points.length, fsyncs: 0 } },
    async close () { /* nothing to close */ },
  }
}

export async function startAlarmNode (name: string, options: AlarmNodeOptions): Promise<AlarmNode> {
  const nc = await connect({ servers: [...options.urls], name, maxReconnectAttempts: -1, reconnectTimeWait: 100 })
  const dataDir = await makeTempDir(`csg-alarm-node-${name}-`)
  const delivered: Delivery[] = []
  const retained = new Map<string, AlarmRecord>()
  const points: string[] = []
  const log = silent.child({ node: name })
  let alarms: Alarms
  try {
    alarms = await startAlarms({
      dataDir,
      rulesFile: options.rulesFile,
      pollMs: 60_000,
      webhookUrls: [],
      webhookLimits: WEBHOOK_LIMITS,
      offlineCheckMs: options.offlineCheckMs ?? 1000,
      out: recordingOut(delivered, retained),
      spool: recordingSpool(points),
      log,
      throttle: createLogThrottle(60_000),
      cluster: { nc, replicas: options.replicas ?? 3, nodeName: name, deviceOf (id) { return options.devices.get(id) } },
      mail: options.mail,
      groups: options.groups,
    })
  } catch (err) {
    await nc.close()
    await removeTempDir(dataDir)
    throw err
  }
  const identities = new Map<string, DeviceIdentity>()
  function identityOf (device: AlarmDevice): DeviceIdentity {
    let identity = identities.get(device.id)
    if (identity === undefined) {
      const kind = getKind(device.kind)
      if (kind === undefined) throw new Error(`no kind ${device.kind}`)
      identity = { role: 'device', id: device.id, kind, district: device.district, location: device.location, topics: deviceTopics(device.id), log }
      identities.set(device.id, identity)
    }
    return identity
  }
  let closing: Promise<void> | undefined
  return {
    name,
    nc,
    alarms,
    delivered,
    retained,
    points,
    reading (device, values, tsMs = Date.now()) {
      alarms.onReadings(identityOf(device), [{ tsMs, values }])
    },
    ackOverMqtt (crew, alarm, note) {
      const identity: CrewIdentity = { role: 'crew', name: crew, districts: undefined, log }
      alarms.acknowledge(identity, alarm, Buffer.from(note === undefined ? '' : JSON.stringify({ note })))
    },
    close () {
      closing ??= (async function closeNode () {
        await alarms.close()
        if (!nc.isClosed()) await nc.close()
        await removeTempDir(dataDir)
      })()
      return closing
    },
  }
}

/** The topic crews see an alarm on. */
export function topicOf (alarm: Pick<AlarmRecord, 'district' | 'kind' | 'deviceId' | 'type'>): string {
  return formatAlarmTopic(alarm)
}

/** `alarms` points of one device in line protocol, as `<type>:<state>`. */
export function pointsOf (points: readonly string[], deviceId: string): string[] {
  return points
    .filter(function ofDevice (line) { return line.startsWith('alarms,') && line.includes(`device_id=${deviceId},`) })
    .map(function typeAndState (line) { return `${/type=([^,\s]+)/.exec(line)?.[1] ?? '?'}:${/state="([^"]+)"/.exec(line)?.[1] ?? '?'}` })
}
