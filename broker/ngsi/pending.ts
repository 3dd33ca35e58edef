// Enters: entity updates folded in spool order; the ids the context broker took or refused.
// Leaves: the entities still owed to the context broker, each with the newest value of every
// attribute (by observedAt): 10,000 readings of one device during an outage are one update.
// Guarantees: save() makes what is owed durable (atomic replace) before the spool cursor moves past it.
import { readFile, rename } from 'node:fs/promises'
import { z } from 'zod'
import { ngsiAttributeSchema, type NgsiAttribute } from '../../devices/ngsi-model.ts'
import type { Logger } from '../log.ts'
import { replaceFile } from '../replace-file.ts'
import type { EntityUpdate } from './entities.ts'

const pendingEntitySchema = z.object({ id: z.string(), type: z.string(), attributes: z.record(z.string(), ngsiAttributeSchema) })
const pendingFileSchema = z.object({ version: z.literal(1), entities: z.array(pendingEntitySchema) })

export type PendingEntity = z.infer<typeof pendingEntitySchema>

export interface PendingStore {
  readonly size: number
  fold(update: EntityUpdate): void
  /** The first `max` entities owed, oldest first. */
  first(max: number): PendingEntity[]
  /** Forgets entities that were delivered or quarantined. */
  remove(ids: Iterable<string>): void
  /** Writes what is owed when it changed since the last save (nothing when it was and is empty). */
  save(): Promise<void>
}

/** Loads `file` (absent: nothing owed). An unreadable file is kept aside as `.corrupt` and logged. */
export async function openPendingStore (file: string, log: Logger): Promise<PendingStore> {
  const entities = new Map<string, PendingEntity>()
  const text = await readFile(file, 'utf8').catch(function absent (err: NodeJS.ErrnoException) {
    if (err.code === 'ENOENT') return undefined
    throw err
  })
  let isSavedEmpty = text === undefined
  if (text !== undefined) {
    const parsed = pendingFileSchema.safeParse(safeJson(text))
    if (parsed.success) {
      for (const entity of parsed.data.entities) entities.set(entity.id, entity)
      isSavedEmpty = entities.size === 0
    } else {
      await rename(file, `${file}.corrupt`)
      log.error({ file, issues: parsed.error.issues.length }, 'NGSI-LD pending file unreadable; kept aside as .corrupt, starting empty')
      isSavedEmpty = true
    }
  }
  let isDirty = false
  return {
    get size () { return entities.size },
    fold (update) {
      isDirty = true
      const present = entities.get(update.id)
      if (present === undefined) {
        entities.set(update.id, { id: update.id, type: update.type, attributes: { ...update.attributes } })
        return
      }
      for (const [name, attribute] of Object.entries(update.attributes)) {
        const held = present.attributes[name]
        if (held === undefined || !isOlder(attribute, held)) present.attributes[name] = attribute
      }
    },
    first (max) {
      const out: PendingEntity[] = []
      for (const entity of entities.values()) {
        if (out.length >= max) break
        out.push(entity)
      }
      return out
    },
    remove (ids) {
      for (const id of ids) if (entities.delete(id)) isDirty = true
    },
    async save () {
      if (!isDirty) return
      if (entities.size === 0 && isSavedEmpty) {
        isDirty = false
        return
      }
      await replaceFile(file, JSON.stringify({ version: 1, entities: [...entities.values()] }))
      isSavedEmpty = entities.size === 0
      isDirty = false
    },
  }
}

function observedAtOf (attribute: NgsiAttribute): number {
  return 'observedAt' in attribute && attribute.observedAt !== undefined ? Date.parse(attribute.observedAt) : Number.NaN
}

/** A backfilled reading older than what is held does not replace it. */
export function isOlder (candidate: NgsiAttribute, held: NgsiAttribute): boolean {
  const a = observedAtOf(candidate)
  const b = observedAtOf(held)
  return Number.isFinite(a) && Number.isFinite(b) && a < b
}

function safeJson (text: string): unknown {
  try {
    return JSON.parse(text) as unknown
  } catch {
    return undefined
  }
}
