// Consumer HTTP requests → one `access` point each (tags `consumer`, `route`; fields `status`, `rows`
// when known, `path` and `query` cut to ACCESS_QUERY_MAX_CHARS), appended to the spool like `alarms` and
// `rejected` points, so the audit survives an InfluxDB outage. Resolves once the point is durable.
import { createIncreasingClock } from '../increasing-clock.ts'
import { encodePoint, type PointField } from '../influx/line-protocol.ts'
import type { Spool } from '../spool/spool.ts'

/** Characters of the query string kept in an `access` point. */
export const ACCESS_QUERY_MAX_CHARS = 1024

export interface AccessEntry {
  consumer: string
  /** The route pattern (`/api/devices/:id`), never the raw URL. */
  route: string
  status: number
  /** Entities or points returned, where the route knows it. */
  rows: number | undefined
  /** The path asked for (which entity was read: `/sta/v1.1/Things('lp-1')`), without the query string. */
  path: string
  /** The raw query string, without `?`. */
  query: string
}

export interface AccessLog {
  record(entry: AccessEntry): Promise<void>
}

export function createAccessLog (options: { spool: Pick<Spool, 'append'>; now?: () => number }): AccessLog {
  const now = options.now ?? Date.now
  // Two requests of one consumer and route in one millisecond stay two points.
  const clock = createIncreasingClock()
  return {
    record (entry) {
      const fields: PointField[] = [{ key: 'status', type: 'integer', value: entry.status }]
      if (entry.rows !== undefined) fields.push({ key: 'rows', type: 'integer', value: entry.rows })
      fields.push({ key: 'path', type: 'string', value: cut(entry.path) })
      fields.push({ key: 'query', type: 'string', value: cut(entry.query) })
      const tsMs = clock.next(`${entry.consumer}\n${entry.route}`, now())
      return options.spool.append([encodePoint('access', { consumer: entry.consumer, route: entry.route }, fields, tsMs)])
    },
  }
}

function cut (text: string): string {
  // Cut on a code point, not inside a surrogate pair.
  return text.length <= ACCESS_QUERY_MAX_CHARS ? text : Array.from(text).slice(0, ACCESS_QUERY_MAX_CHARS).join('')
}
