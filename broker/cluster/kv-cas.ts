// Compare-and-set of single keys of a KV bucket, safe on a clustered bucket, and reads that see
// every accepted write.
// - Writes: the KV client's create()/update(revision) send only Nats-Expected-Last-Subject-Sequence,
//   which a clustered stream's leader checks against what it has stored, not against writes it has
//   proposed but not yet stored: two writers at the same revision can both be accepted (nats-server
//   2.9.10, as Debian ships it, accepts most such pairs). Each write here also carries a message id
//   made of the key and the expected revision; the leader tracks message ids from the moment it
//   proposes a write, so the second such write comes back as a duplicate of the first.
// - Reads: a KV get on a bucket that allows direct gets may be answered by a replica that has not
//   stored the latest write yet; after a lost compare-and-set that would only cost another lost
//   one. These reads go to the stream leader.
// test/e2e/kv-compare-and-set.test.ts holds the server to both.
import { JetStreamApiCodes, JetStreamApiError, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream'

/** A key's last message: its revision, and its value (undefined for a delete or purge marker). */
export interface KeyVersion {
  revision: number
  value: Uint8Array | undefined
}

export interface KvKeys {
  /**
   * Writes `value` under `key` if the key's last revision is `expectedRevision` (0: the key has no
   * message). Resolves with the new revision, or undefined when another write came first — or this
   * same write already landed once (a retry after a lost acknowledgement): readLatest tells.
   */
  compareAndSet(key: string, value: string, expectedRevision: number): Promise<number | undefined>
  /** The key's last message as the stream leader has it; undefined when it has none. */
  readLatest(key: string): Promise<KeyVersion | undefined>
}

export interface KvKeysOptions {
  /**
   * Send the message id (default true). Leave it out for keys that expire and are created again
   * (a lease): an id from the key's earlier life could be taken for a duplicate. Two writers may
   * then both win a race on a server that has the gap described above; only for keys where that
   * is harmless.
   */
  messageIds?: boolean
}

/** Newer servers answer a duplicate of a write still in flight with this error rather than a duplicate ack. */
const DUPLICATE_MESSAGE_CONFLICT = 10158

export function openKvKeys (js: JetStreamClient, jsm: JetStreamManager, bucket: string, { messageIds = true }: KvKeysOptions = {}): KvKeys {
  const stream = `KV_${bucket}`
  function subjectOf (key: string): string {
    return `$KV.${bucket}.${key}`
  }
  return {
    async compareAndSet (key, value, expectedRevision) {
      try {
        const ack = await js.publish(subjectOf(key), value, { ...(messageIds ? { msgID: `${key}@${expectedRevision}` } : {}), expect: { lastSubjectSequence: expectedRevision } })
        return ack.duplicate ? undefined : ack.seq
      } catch (err) {
        if (isConflict(err)) return undefined
        throw err
      }
    },
    async readLatest (key) {
      const message = await jsm.streams.getMessage(stream, { last_by_subj: subjectOf(key) })
      if (message === null) return undefined
      const operation = message.header?.get('KV-Operation') ?? ''
      return { revision: message.seq, value: operation === '' || operation === 'PUT' ? message.data : undefined }
    },
  }
}

/** The key was not at the expected revision, or another write at that revision is in flight. */
export function isConflict (err: unknown): boolean {
  return err instanceof JetStreamApiError &&
    (err.code === JetStreamApiCodes.StreamWrongLastSequence || err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown || err.code === DUPLICATE_MESSAGE_CONFLICT)
}
