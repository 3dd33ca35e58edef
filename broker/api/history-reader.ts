// Reads alarm history for the API: the `alarms` points that carry an alarm id (InfluxDB, one
// InfluxQL statement with a bounded time range and LIMIT) merged with what the gateway holds in
// memory (the alarms stage's records, the journal of changes since start). Without InfluxDB, or
// when it does not answer, the answer comes from memory alone and says so (`partial`, `warning`).
import type { AlarmRecord } from '../alarms/alarm.ts'
import type { FieldCipher } from '../crypto/field-cipher.ts'
import { ALARM_POINT_COLUMNS, buildHistory, factOfPoint, type AlarmFact } from './alarm-history.ts'
import type { AlarmJournal } from './alarm-journal.ts'
import { identifier, InfluxQlError, quoted, rowsOf, type InfluxQlClient } from './influxql.ts'
import type { AlarmHistory, AlarmTimeline, HistoryEntry } from './types.ts'

/** The longest look back, hours (30 days): also how far back a timeline is looked for. */
export const MAX_HISTORY_HOURS = 720
export const MAX_HISTORY_LIMIT = 1000
/**
 * Points read per alarm asked for: an alarm has at most 9 changes besides its overdue steps, which
 * the list leaves out (there may be one per deadline for hours; later points carry their count).
 */
const POINTS_PER_ALARM = 10
const NOT_OVERDUE = `"change" != 'overdue'`
/** Alarms raised before the window whose earlier changes are looked up, at most (one statement). */
const MAX_COMPLETED = 100
/** Points read for one timeline: 9 changes and the overdue steps (a 5 min deadline unacknowledged for 3 days). */
const TIMELINE_POINT_LIMIT = 1000

export interface HistorySources {
  /** Undefined when INFLUX_URL is unset. */
  influx: InfluxQlClient | undefined
  journal: AlarmJournal
  /** The alarms stage's open and recently cleared records. */
  records(): readonly AlarmRecord[]
  locationOf(deviceId: string): { lat: number; lon: number } | undefined
  nowMs(): number
  /** Opens who acknowledged and the note of stored points. */
  cipher?: FieldCipher | undefined
}

export interface HistoryQuery {
  /** The caller's districts; undefined = every district. */
  visible: readonly string[] | undefined
  district?: string | undefined
  deviceId?: string | undefined
  hours: number
  limit: number
}

/** Why an answer is partial, and what went wrong with InfluxDB (logged by the caller), if anything. */
export interface Shortfall { warning: string; err?: InfluxQlError }

const FROM_MEMORY = 'only what this gateway holds in memory: open alarms, the most recently cleared ones and the changes since it started'

interface Selection {
  visible: readonly string[] | undefined
  district?: string | undefined
  deviceId?: string | undefined
}

function selects (selection: Selection, fact: { district: string; deviceId: string }): boolean {
  if (selection.visible !== undefined && !selection.visible.includes(fact.district)) return false
  if (selection.district !== undefined && fact.district !== selection.district) return false
  return selection.deviceId === undefined || fact.deviceId === selection.deviceId
}

/** The facts InfluxDB holds for `where`, or why there are none. */
async function storedFacts (influx: InfluxQlClient | undefined, where: string[], order: 'ASC' | 'DESC', limit: number, cipher: FieldCipher | undefined): Promise<{ facts: AlarmFact[]; shortfall?: Shortfall }> {
  if (influx === undefined) return { facts: [], shortfall: { warning: `INFLUX_URL is not set: ${FROM_MEMORY}` } }
  const columns = ALARM_POINT_COLUMNS.map(identifier).join(',')
  const influxql = `SELECT ${columns} FROM "alarms" WHERE ${where.join(' AND ')} ORDER BY time ${order} LIMIT ${limit}`
  try {
    const facts: AlarmFact[] = []
    for (const row of rowsOf(await influx.query(influxql))) {
      const fact = factOfPoint(row, cipher)
      if (fact !== undefined) facts.push(fact)
    }
    return { facts }
  } catch (err) {
    if (!(err instanceof InfluxQlError)) throw err
    return { facts: [], shortfall: { warning: `InfluxDB did not answer (${err.message}): ${FROM_MEMORY}`, err } }
  }
}

function partialOf (shortfall: Shortfall | undefined): { partial?: true; warning?: string } {
  return shortfall === undefined ? {} : { partial: true, warning: shortfall.warning }
}

/** Alarms open now or changed in the last `hours`, newest raise first, at most `limit`. */
export async function readHistory (sources: HistorySources, query: HistoryQuery): Promise<{ answer: AlarmHistory; shortfall?: Shortfall | undefined }> {
  const sinceMs = sources.nowMs() - query.hours * 3_600_000
  const facts = new Map<string, AlarmFact[]>()
  function add (fact: AlarmFact): void {
    const list = facts.get(fact.alarmId)
    if (list === undefined) facts.set(fact.alarmId, [fact])
    else list.push(fact)
  }

  const allRecords = new Map<string, AlarmRecord>()
  const included = new Set<string>()
  for (const record of sources.records()) {
    allRecords.set(record.id, record)
    if (!selects(query, record)) continue
    if (record.state !== 'cleared' || Date.parse(record.updatedAt) >= sinceMs) included.add(record.id)
  }
  for (const [id, held] of sources.journal.alarms()) {
    const last = held.at(-1)
    if (last === undefined || !selects(query, last)) continue
    if (last.atMs < sinceMs && !included.has(id)) continue
    for (const fact of held) add(fact)
  }

  let stored: { facts: AlarmFact[]; shortfall?: Shortfall } = { facts: [] }
  // A caller without districts sees nothing: no statement to run.
  if (query.visible === undefined || query.visible.length > 0) {
    const where = [`"alarm_id" != ''`, NOT_OVERDUE, `time > now() - ${Math.trunc(query.hours)}h`]
    if (query.district !== undefined) where.push(`"district" = ${quoted(query.district)}`)
    else if (query.visible !== undefined) where.push(`(${query.visible.map(function inDistrict (d) { return `"district" = ${quoted(d)}` }).join(' OR ')})`)
    if (query.deviceId !== undefined) where.push(`"device_id" = ${quoted(query.deviceId)}`)
    stored = await storedFacts(sources.influx, where, 'DESC', query.limit * POINTS_PER_ALARM, sources.cipher)
  }
  for (const fact of stored.facts) if (selects(query, fact)) add(fact)

  function entryOf (id: string): HistoryEntry | undefined {
    const built = buildHistory({ facts: facts.get(id) ?? [], record: allRecords.get(id) })
    if (built === undefined) return undefined
    const location = sources.locationOf(built.entry.deviceId)
    return location === undefined ? built.entry : { ...built.entry, location }
  }
  const entries: HistoryEntry[] = []
  for (const id of new Set([...included, ...facts.keys()])) {
    const entry = entryOf(id)
    if (entry !== undefined) entries.push(entry)
  }
  entries.sort(newestRaiseFirst)
  let shown = entries.slice(0, query.limit)
  let shortfall = stored.shortfall

  // An alarm raised before the window shows only its later changes so far: its earlier ones (the
  // raise, escalations) are looked up by id over the longest look-back, for the alarms shown only.
  const incomplete = shown
    .filter(function lacksRaise (entry) { return !(facts.get(entry.id) ?? []).some(function isRaise (f) { return f.change === 'raised' }) })
    .slice(0, MAX_COMPLETED)
    .map(function idOf (entry) { return entry.id })
  if (sources.influx !== undefined && shortfall === undefined && incomplete.length > 0 && query.hours < MAX_HISTORY_HOURS) {
    const byId = `(${incomplete.map(function sameId (id) { return `"alarm_id" = ${quoted(id)}` }).join(' OR ')})`
    const earlier = await storedFacts(sources.influx, [byId, NOT_OVERDUE, `time > now() - ${MAX_HISTORY_HOURS}h`], 'ASC', incomplete.length * POINTS_PER_ALARM, sources.cipher)
    shortfall = earlier.shortfall
    for (const fact of earlier.facts) if (selects(query, fact)) add(fact)
    shown = shown.map(function completed (entry) { return incomplete.includes(entry.id) ? entryOf(entry.id) ?? entry : entry }).sort(newestRaiseFirst)
  }
  return { answer: { alarms: shown, ...partialOf(shortfall) }, shortfall }
}

function newestRaiseFirst (a: HistoryEntry, b: HistoryEntry): number {
  return b.raisedAt.localeCompare(a.raisedAt) || a.id.localeCompare(b.id)
}

/** One alarm's entry and its changes, oldest first; undefined when it is unknown or not the caller's to see. */
export async function readTimeline (sources: HistorySources, alarmId: string, visible: readonly string[] | undefined): Promise<{ answer: AlarmTimeline | undefined; shortfall?: Shortfall | undefined }> {
  const record = sources.records().find(function byId (r) { return r.id === alarmId })
  const where = [`"alarm_id" = ${quoted(alarmId)}`, `time > now() - ${MAX_HISTORY_HOURS}h`]
  const stored = await storedFacts(sources.influx, where, 'ASC', TIMELINE_POINT_LIMIT, sources.cipher)
  const facts = [...sources.journal.factsOf(alarmId), ...stored.facts]
  const built = buildHistory({ facts, record })
  if (built === undefined || !selects({ visible }, built.entry)) return { answer: undefined, shortfall: stored.shortfall }
  const location = sources.locationOf(built.entry.deviceId)
  const alarm = location === undefined ? built.entry : { ...built.entry, location }
  return { answer: { alarm, events: built.events, ...partialOf(stored.shortfall) }, shortfall: stored.shortfall }
}
