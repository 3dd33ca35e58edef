// What a node tells JetStream about a message it was given: a confirmed acknowledgement once it is
// stored, or nak / in-progress, which are fire-and-forget.
import type { JsMsg } from '@nats-io/jetstream'
import { RequestError, type NatsConnection } from '@nats-io/transport-node'
import type { Logger } from '../log.ts'

const ACK = new TextEncoder().encode('+ACK')
/** First pause before the ack is sent again, doubling, ms. */
const RETRY_INITIAL_MS = 50

/**
 * Sends the ack as a request, so that the consumer's leader confirms it (what JsMsg.ackAck does), and
 * sends it again while no server answers for the consumer: right after a restart or a leader
 * election it may have none yet. JsMsg.ackAck allows one try per message; a lost try would leave the
 * message to come back after ack_wait and be written twice. Rejects once timeoutMs passed.
 */
export async function confirmAck (nc: NatsConnection, msg: JsMsg, timeoutMs: number): Promise<void> {
  // The ack subject is the reply subject the message came with; the client's message object keeps it.
  const reply = (msg as JsMsg & { reply?: unknown }).reply
  if (typeof reply !== 'string' || reply === '') {
    if (!await msg.ackAck({ timeout: timeoutMs })) throw new Error('the message was acknowledged before or has no reply subject')
    return
  }
  const deadlineMs = Date.now() + timeoutMs
  for (let attempt = 0; ; attempt++) {
    try {
      await nc.request(reply, ACK, { timeout: Math.max(1, deadlineMs - Date.now()) })
      return
    } catch (err) {
      const delayMs = RETRY_INITIAL_MS * 2 ** Math.min(attempt, 6)
      const isNobodyThere = err instanceof RequestError && err.isNoResponders()
      if (!isNobodyThere || Date.now() + delayMs >= deadlineMs) throw err
      await new Promise(function pause (resolve) { setTimeout(resolve, delayMs) })
    }
  }
}

/**
 * nak, working (in progress) or a plain ack. They publish on the connection and throw once it is
 * closed; JetStream then redelivers after ack_wait anyway, so a failure is only worth a debug line.
 */
export function tell (msg: JsMsg, what: 'ack' | 'nak' | 'working', log: Logger): void {
  try {
    msg[what]()
  } catch (err) {
    log.debug({ err, what, seq: msg.seq }, 'could not tell JetStream about a message')
  }
}
