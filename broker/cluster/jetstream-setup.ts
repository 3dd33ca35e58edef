// Streams and KV buckets are created when missing and checked when present. A present one whose
// settings differ from what this node asks for (replicas, subjects, retention) stops the start with
// CSG_NATS_MISMATCH: changing replicas or retention of a live stream is an operator's decision.
import { JetStreamApiCodes, JetStreamApiError, type JetStreamManager, type StreamConfig, type StreamInfo } from '@nats-io/jetstream'
import { Kvm, type KV, type KvOptions } from '@nats-io/kv'
import type { NatsConnection } from '@nats-io/transport-node'
import { GatewayError } from '../errors.ts'

export type StreamSpec = Partial<StreamConfig> & Pick<StreamConfig, 'name' | 'subjects' | 'num_replicas'>

/** Settings compared on a present stream, with the variable that sets each (for the message). */
const CHECKED: readonly { key: keyof StreamConfig, variable: string }[] = [
  { key: 'num_replicas', variable: 'NATS_REPLICAS' },
  { key: 'retention', variable: 'the gateway version (retention)' },
  { key: 'max_msgs_per_subject', variable: 'the gateway version (history)' },
]

async function streamInfo (jsm: JetStreamManager, name: string): Promise<StreamInfo | undefined> {
  try {
    return await jsm.streams.info(name)
  } catch (err) {
    if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound) return undefined
    throw err
  }
}

function checkPresent (info: StreamInfo, wanted: Partial<StreamConfig>, what: string): void {
  for (const { key, variable } of CHECKED) {
    if (wanted[key] === undefined || info.config[key] === wanted[key]) continue
    throw new GatewayError('CSG_NATS_MISMATCH',
      `${what} exists with ${key} ${JSON.stringify(info.config[key])}, this node asks for ${JSON.stringify(wanted[key])} (${variable}); ` +
      'the gateway does not change it: edit it with the nats CLI or set the variable to match')
  }
}

function creationError (err: unknown, replicas: number, what: string): unknown {
  const message = err instanceof Error ? err.message : String(err)
  if (/insufficient resources|no suitable peers|replicas > 1 not supported/i.test(message)) {
    return new GatewayError('CSG_NATS_MISMATCH', `NATS_REPLICAS=${replicas}: the NATS cluster cannot place ${what} on ${replicas} JetStream servers (${message})`, { cause: err })
  }
  return err
}

/** Creates the stream, or checks the present one against `spec`. */
export async function ensureStream (jsm: JetStreamManager, spec: StreamSpec): Promise<StreamInfo> {
  const what = `stream ${spec.name}`
  const present = await streamInfo(jsm, spec.name)
  if (present !== undefined) {
    checkPresent(present, spec, what)
    return present
  }
  try {
    return await jsm.streams.add(spec)
  } catch (err) {
    throw creationError(err, spec.num_replicas, what)
  }
}

/** Creates the KV bucket, or checks the present one (replicas, history); returns it opened. */
export async function ensureBucket (nc: NatsConnection, jsm: JetStreamManager, name: string, options: Partial<KvOptions> & { replicas: number }): Promise<KV> {
  const kvm = new Kvm(nc)
  const what = `KV bucket ${name}`
  const present = await streamInfo(jsm, `KV_${name}`)
  if (present !== undefined) {
    checkPresent(present, { num_replicas: options.replicas, ...(options.history === undefined ? {} : { max_msgs_per_subject: options.history }) }, what)
    return kvm.open(name)
  }
  try {
    return await kvm.create(name, options)
  } catch (err) {
    throw creationError(err, options.replicas, what)
  }
}
