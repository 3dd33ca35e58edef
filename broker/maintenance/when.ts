// Times of maintenance windows as people type them: `now`, an offset from now (`+90m`, `+2h`,
// `+1d`, `+30s`) or an ISO-8601 date-time with a time zone (`2026-12-01T08:00:00Z`,
// `2026-12-01T09:00+01:00`).
const OFFSET = /^\+(\d{1,6})([smhd])$/
const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const
// A zone is required: a time without one would depend on the machine's zone.
const ISO_WITH_ZONE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2})$/

/** Epoch ms of `text`, relative to `nowMs` for `now` and offsets; undefined when it is none of the forms. */
export function parseWhen (text: string, nowMs: number): number | undefined {
  const trimmed = text.trim()
  if (trimmed === 'now') return nowMs
  const offset = OFFSET.exec(trimmed)
  if (offset !== null) return nowMs + Number(offset[1]) * UNIT_MS[offset[2] as keyof typeof UNIT_MS]
  if (!ISO_WITH_ZONE.test(trimmed)) return undefined
  const ms = Date.parse(trimmed)
  return Number.isFinite(ms) ? ms : undefined
}

export const WHEN_HELP = '`now`, `+30m`/`+2h`/`+1d` from now, or an ISO-8601 time with a zone (2026-12-01T08:00:00Z)'
