// Durations on the command line: "90" (seconds), "500ms", "2m", "1h30m", "1d" → milliseconds.
// Shared by `citygw simulate` (--duration, --interval, scenario offsets) and the demo.

const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }
const PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/g

/** Milliseconds of a duration text; a bare number is seconds. Throws on anything else. */
export function parseDurationMs (text: string): number {
  const trimmed = text.trim()
  if (/^\d+(?:\.\d+)?$/.test(trimmed)) return Number(trimmed) * 1000
  if (!/^(?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+$/.test(trimmed)) throw new Error(`"${text}" is not a duration (e.g. 90, 90s, 2m, 1h30m, 1d)`)
  let total = 0
  for (const match of trimmed.matchAll(PART)) total += Number(match[1]) * (UNIT_MS[match[2] ?? 's'] ?? 1000)
  return total
}

/** "1h02m", "3m20s", "45s", "800ms": short and exact enough for status lines. */
export function formatDuration (ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`
  const totalSec = Math.round(ms / 1000)
  const h = Math.floor(totalSec / 3600)
  const m = Math.floor((totalSec % 3600) / 60)
  const s = totalSec % 60
  if (h > 0) return `${h}h${String(m).padStart(2, '0')}m`
  if (m > 0) return `${m}m${String(s).padStart(2, '0')}s`
  return `${s}s`
}
