// Durable consumers are created when missing and checked when present, like the streams
// (jetstream-setup.ts): a present one whose delivery settings differ from what this node asks for
// stops the start with CSG_NATS_MISMATCH. Other nodes pull from it: the gateway never changes it.
import { JetStreamApiCodes, JetStreamApiError, type ConsumerConfig, type ConsumerInfo, type JetStreamManager } from '@nats-io/jetstream'
import { GatewayError } from '../errors.ts'

export type ConsumerSpec = Partial<ConsumerConfig> & Pick<ConsumerConfig, 'ack_policy'> & { durable_name: string }

/** Settings compared on a present consumer (those the spec sets). */
const CHECKED: readonly (keyof ConsumerConfig)[] = ['ack_policy', 'ack_wait', 'max_ack_pending', 'max_deliver', 'deliver_policy', 'filter_subject']

async function consumerInfo (jsm: JetStreamManager, stream: string, name: string): Promise<ConsumerInfo | undefined> {
  try {
    return await jsm.consumers.info(stream, name)
  } catch (err) {
    if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.ConsumerNotFound) return undefined
    throw err
  }
}

function checkPresent (info: ConsumerInfo, wanted: ConsumerSpec, what: string): void {
  if (info.config.deliver_subject !== undefined && info.config.deliver_subject !== '') {
    throw new GatewayError('CSG_NATS_MISMATCH', `${what} exists as a push consumer (deliver_subject ${info.config.deliver_subject}); the gateway pulls: delete it with the nats CLI`)
  }
  for (const key of CHECKED) {
    if (wanted[key] === undefined || info.config[key] === wanted[key]) continue
    throw new GatewayError('CSG_NATS_MISMATCH',
      `${what} exists with ${key} ${JSON.stringify(info.config[key])}, this node asks for ${JSON.stringify(wanted[key])}; ` +
      'the gateway does not change it: edit or delete it with the nats CLI, or run every node with the same settings')
  }
}

/** Creates the durable consumer on `stream`, or checks the present one against `spec`. */
export async function ensureConsumer (jsm: JetStreamManager, stream: string, spec: ConsumerSpec): Promise<ConsumerInfo> {
  const what = `consumer ${spec.durable_name} of stream ${stream}`
  const present = await consumerInfo(jsm, stream, spec.durable_name)
  if (present !== undefined) {
    checkPresent(present, spec, what)
    return present
  }
  try {
    return await jsm.consumers.add(stream, spec)
  } catch (err) {
    // Another node may have created it between our look and our add: check that one instead.
    const created = await consumerInfo(jsm, stream, spec.durable_name).catch(function notThere () { return undefined })
    if (created === undefined) throw err
    checkPresent(created, spec, what)
    return created
  }
}
