// The times people type for maintenance windows: now, offsets, ISO-8601 with a zone; anything else refused.
import { describe, expect, it } from 'vitest'
import { parseWhen } from '../../../broker/maintenance/when.ts'

const NOW = Date.parse('2026-12-01T10:00:00.000Z')

describe('parseWhen', () => {
  it('reads now and offsets from the given time', () => {
    expect(parseWhen('now', NOW)).toBe(NOW)
    expect(parseWhen('+2h', NOW)).toBe(NOW + 2 * 3_600_000)
    expect(parseWhen('+90m', NOW)).toBe(NOW + 90 * 60_000)
    expect(parseWhen('+30s', NOW)).toBe(NOW + 30_000)
    expect(parseWhen(' +1d ', NOW)).toBe(NOW + 86_400_000)
  })

  it('reads ISO-8601 times with a zone', () => {
    expect(parseWhen('2026-12-01T08:00:00Z', NOW)).toBe(Date.parse('2026-12-01T08:00:00Z'))
    expect(parseWhen('2026-12-01T09:00+01:00', NOW)).toBe(Date.parse('2026-12-01T08:00:00Z'))
    expect(parseWhen('2026-12-01T08:00:00.250Z', NOW)).toBe(Date.parse('2026-12-01T08:00:00.250Z'))
  })

  it('refuses times without a zone, other words, negative or unitless offsets and impossible dates', () => {
    for (const text of ['2026-12-01T08:00:00', '2026-12-01', 'tomorrow', '+2', '-2h', '+2w', '', '2026-13-01T08:00:00Z', '+1234567h']) {
      expect(parseWhen(text, NOW), text).toBeUndefined()
    }
  })
})
