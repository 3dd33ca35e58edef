// Alarm statistics from facts: count of raises, first acknowledgement and clear per alarm,
// escalation steps, interpolated median and 90th percentile; the same change told twice (InfluxDB
// and memory) counts once.
import { describe, expect, it } from 'vitest'
import type { AlarmFact } from '../../../broker/api/alarm-history.ts'
import { percentile, summarise } from '../../../broker/api/alarm-stats.ts'

function fact (alarmId: string, change: AlarmFact['change'], atSec: number, extra: Partial<AlarmFact> = {}): AlarmFact {
  return { alarmId, deviceId: 'lp-1', kind: 'lamp-post', district: 'north', type: 'leakage', change, atMs: atSec * 1000, severity: 'critical', state: 'active', message: '', raisedAtMs: 0, ...extra }
}

describe('alarm stats', () => {
  it('interpolates percentiles', () => {
    expect(percentile([10, 20], 0.5)).toBe(15)
    expect(percentile([30, 10, 20], 0.5)).toBe(20)
    expect(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.9)).toBe(9.1)
    expect(percentile([42], 0.9)).toBe(42)
  })

  it('summarises per district and type, each change once', () => {
    const facts = [
      fact('a', 'raised', 0), fact('a', 'overdue', 2, { escalation: 1 }), fact('a', 'overdue', 4, { escalation: 2 }), fact('a', 'overdue', 4, { escalation: 2 }),
      fact('a', 'acknowledged', 5), fact('a', 'acknowledged', 5), fact('a', 'cleared', 9),
      fact('b', 'raised', 0), fact('b', 'acknowledged', 10), fact('b', 'acknowledged', 30), fact('b', 'cleared', 20),
      fact('c', 'raised', 0),
      // Raised before the range: its clear counts, not its raise.
      fact('d', 'cleared', 100),
      fact('e', 'raised', 0, { district: 'south', type: 'doorOpen' }),
    ]
    expect(summarise(facts)).toEqual([
      { district: 'north', type: 'leakage', count: 3, acknowledged: 2, medianAckSec: 7.5, p90AckSec: 9.5, cleared: 3, medianClearSec: 20, p90ClearSec: 84, escalations: 2 },
      { district: 'south', type: 'doorOpen', count: 1, acknowledged: 0, cleared: 0, escalations: 0 },
    ])
  })
})
