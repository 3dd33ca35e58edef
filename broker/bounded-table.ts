// Tables keyed by what the network sends (addresses, names) must not grow with it: each holds at
// most a fixed number of entries and forgets the oldest when full.

/** Most offenders a table remembers; beyond it the oldest entry is forgotten. */
export const MAX_TRACKED_KEYS = 50_000

/** Sets `key` in a table of at most `max` entries, forgetting the oldest entry when it is full. */
export function remember<V> (table: Map<string, V>, key: string, value: V, max: number): void {
  if (!table.has(key) && table.size >= max) {
    const oldest = table.keys().next()
    if (oldest.done !== true) table.delete(oldest.value)
  }
  table.set(key, value)
}
