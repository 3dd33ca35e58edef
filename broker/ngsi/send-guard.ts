// The exporter's optional guard around each upsert, for exports that run on several nodes at once:
// claim() turns what a node owes into what it should send, changedSince() says after delivery which
// entities changed meanwhile and must be sent again. An implementation: broker/cluster/ngsi-newest.ts.
import type { PendingEntity } from './pending.ts'

/** An entity as claimed for sending, and the version of the shared state it was taken from. */
export interface ClaimedEntity { readonly entity: PendingEntity; readonly revision: number }

export interface SendGuard {
  /** What to send for these entities (same ids, same order); rejects when the shared state cannot be reached. */
  claim(entities: readonly PendingEntity[]): Promise<ClaimedEntity[]>
  /** After the context broker took `claimed`: the entities to send again, newest. Rejects like claim(). */
  changedSince(claimed: readonly ClaimedEntity[]): Promise<PendingEntity[]>
}
