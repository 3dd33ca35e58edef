// Writing a registry change to the KV bucket, every key by compare-and-set against the revision it
// was read at: a new key is created (fails if another writer created it first), a changed key is
// updated at its revision, a removed key is deleted at its revision. A conflict or an outage stops
// the writes; those already made are undone (best effort), so a refused change leaves no half of it.
// Limit: nats-server 2.9 checks an expected revision before it replicates a write, not as part of
// it, so on a replicated bucket two updates (or deletes) of one key at the same revision that are in
// flight at the same moment can both be accepted; concurrent creates of one key were not (see the
// tests). Concurrent changes of one existing entry are then last-writer-wins, the same on every node.
import { JetStreamApiCodes, JetStreamApiError } from '@nats-io/jetstream'
import type { KV } from '@nats-io/kv'
import { GatewayError } from '../errors.ts'
import type { Logger } from '../log.ts'

/**
 * Writes in flight at once: each is one JetStream publish awaiting its acknowledgement, so a large
 * import is bound by round trips. A 10,000-device import into an R3 bucket on three local
 * nats-servers (2 cores) took about 8.5 s one write at a time, 2.9 s with 4, 1.7 s with 16, 1.2 s
 * with 64 and 1.0 s with 256 in flight.
 */
export const WRITE_CONCURRENCY = 64

export interface PlannedWrite {
  key: string
  /** What the key names, for messages (`device lp-1`). */
  what: string
  /** The new value; undefined removes the key. */
  value: string | undefined
  /** The value read, if the key held a usable one; undefined for a new key. */
  previous: string | undefined
  /** The revision the key was read at, if it held a value (also an unusable one); undefined for a new key. */
  revision: number | undefined
}

interface AppliedWrite { write: PlannedWrite; revision: number | undefined }

/** A registry as stored: key → what it names and its value. */
export type StoredEntries = ReadonlyMap<string, { what: string; value: string }>

/** The writes that turn `before` into `after`, with the revisions the keys were read at. */
export function planWrites (before: StoredEntries, after: StoredEntries, revisions: ReadonlyMap<string, number>): PlannedWrite[] {
  const writes: PlannedWrite[] = []
  for (const [key, { what, value }] of after) {
    const previous = before.get(key)?.value
    if (previous !== value) writes.push({ key, what, value, previous, revision: revisions.get(key) })
  }
  for (const [key, { what, value }] of before) {
    if (!after.has(key)) writes.push({ key, what, value: undefined, previous: value, revision: revisions.get(key) })
  }
  return writes
}

async function perform (kv: KV, write: PlannedWrite): Promise<number | undefined> {
  if (write.value === undefined) {
    await kv.delete(write.key, write.revision === undefined ? {} : { previousSeq: write.revision })
    return undefined
  }
  return write.revision === undefined ? kv.create(write.key, write.value) : kv.update(write.key, write.value, write.revision)
}

/** The write that puts back what `applied` replaced, at the revision `applied` left. */
function undoOf ({ write, revision }: AppliedWrite): PlannedWrite {
  return { ...write, value: write.previous, previous: write.value, revision }
}

interface FailedWrite { write: PlannedWrite; err: unknown }

/** Runs `perform` over `writes`, at most WRITE_CONCURRENCY at once; with `stopOnFailure`, none is started after a failure. */
async function performAll (kv: KV, writes: readonly PlannedWrite[], stopOnFailure: boolean): Promise<{ applied: AppliedWrite[]; failures: FailedWrite[] }> {
  const applied: AppliedWrite[] = []
  const failures: FailedWrite[] = []
  let next = 0
  async function worker (): Promise<void> {
    while (!(stopOnFailure && failures.length > 0) && next < writes.length) {
      const write = writes[next++] as PlannedWrite
      try {
        applied.push({ write, revision: await perform(kv, write) })
      } catch (err) {
        failures.push({ write, err })
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(WRITE_CONCURRENCY, writes.length) }, worker))
  return { applied, failures }
}

function isWrongRevision (err: unknown): boolean {
  return err instanceof JetStreamApiError &&
    (err.code === JetStreamApiCodes.StreamWrongLastSequence || err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)
}

function writeError (write: PlannedWrite, err: unknown, undo: string): GatewayError {
  if (isWrongRevision(err)) {
    const message = write.revision === undefined && write.value !== undefined
      ? `${write.what} is already registered (another citygw registered it meanwhile)`
      : `${write.what} was changed meanwhile by another citygw; try again`
    return new GatewayError('CSG_REGISTRY_CONFLICT', `${message}${undo}`, { cause: err })
  }
  const reason = err instanceof Error ? err.message : String(err)
  return new GatewayError('CSG_NATS_UNAVAILABLE', `writing ${write.what} to the registry bucket failed (${reason})${undo}`, { cause: err })
}

/**
 * Applies `writes`, or none of them: after a failure, undoes those made (each again by
 * compare-and-set, so a key someone changed in between is left alone) and throws the failure,
 * telling how many could not be undone. A crash of the writer midway (or a connection lost for
 * good) leaves the writes made so far in the bucket and undoes nothing: for an import, devices
 * registered whose secrets nobody received. They share one createdAt, so `citygw device list --json`
 * finds them for `citygw device remove`; the import can then run again.
 */
export async function applyWrites (kv: KV, writes: readonly PlannedWrite[], log: Logger): Promise<void> {
  const { applied, failures } = await performAll(kv, writes, true)
  const failure = failures[0]
  if (failure === undefined) return
  const { failures: notUndone } = await performAll(kv, applied.map(undoOf), false)
  if (notUndone.length > 0) {
    log.error({ err: notUndone[0]?.err, written: applied.length, notUndone: notUndone.map(function name (f) { return f.write.what }).slice(0, 20) }, 'registry change failed midway and could not be fully undone')
  }
  const undo = applied.length === 0
    ? '; nothing was written'
    : notUndone.length === 0
      ? `; the ${applied.length} entries already written were undone`
      : `; ${notUndone.length} of the ${applied.length} entries already written could not be undone (first: ${notUndone[0]?.write.what ?? ''})`
  throw writeError(failure.write, failure.err, undo)
}
