import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import pino from 'pino'
import { describe, expect, it } from 'vitest'
import { openRuleBook, parseRulesFile } from '../../../broker/alarms/rules-config.ts'
import { makeTempDir, removeTempDir } from '../../helpers/server-process.ts'

const silent = pino({ level: 'silent' })

describe('rules file', () => {
  it.each([
    ['kinds:\n  toaster: {}\n', /kinds/],
    ['kinds:\n  manhole:\n    rules:\n      coverOpne: { angle: 5 }\n', /kinds\.manhole\.rules\.coverOpne: no such rule/],
    ['kinds:\n  manhole:\n    rules:\n      dayBurner: { enabled: false }\n', /kinds\.manhole\.rules\.dayBurner: no such rule/],
    ['kinds:\n  manhole:\n    rules:\n      coverOpen: { angel: 5 }\n', /kinds\.manhole\.rules\.coverOpen\.angel: unknown parameter \(known: angle, heldSec, wideAngle, clearAngle, clearSec, enabled\)/],
    ['devices:\n  mh-1:\n    rules:\n      highWater: { major: "high" }\n', /devices\.mh-1\.rules\.highWater\.major: must be a number/],
    ['districts:\n  north:\n    rules:\n      h2s: { enabled: "no" }\n', /districts\.north\.rules\.h2s\.enabled: must be true or false/],
    ['districts:\n  north:\n    offline: { expectedIntervalSec: -1 }\n', /districts\.north\.offline\.expectedIntervalSec/],
    ['kinds: [\n', /not valid YAML/],
  ])('refuses %j naming the place', (text, message) => {
    expect(() => parseRulesFile(text, 'rules.yaml')).toThrow(message)
  })

  it('merges kind, district and device scopes, later ones winning', async () => {
    const dir = await makeTempDir('citygw-rulebook-')
    const file = join(dir, 'rules.json')
    await writeFile(file, JSON.stringify({
      kinds: { manhole: { rules: { highWater: { major: 2, critical: 3 } }, offline: { expectedIntervalSec: 60 } } },
      districts: { harbour: { rules: { highWater: { major: 2.5 } }, offline: { missedIntervals: 10 } } },
      devices: { 'mh-9': { rules: { highWater: { enabled: false } }, offline: { enabled: false } } },
    }))
    const book = await openRuleBook({ file, pollMs: 1000, log: silent })
    const thresholds = (id: string, district: string) => {
      const rule = book.rulesFor({ id, kind: 'manhole', district }).find((r) => r.type === 'highWater')
      return rule?.triggers.map((t) => t.threshold({ tsMs: 0, values: {} }))
    }
    expect(thresholds('mh-1', 'north')).toEqual([2, 3])
    expect(thresholds('mh-2', 'harbour')).toEqual([2.5, 3])
    expect(thresholds('mh-9', 'harbour')).toBeUndefined()
    expect(book.offlineAfterMs({ id: 'mh-1', kind: 'manhole', district: 'north' })).toBe(180_000)
    expect(book.offlineAfterMs({ id: 'mh-2', kind: 'manhole', district: 'harbour' })).toBe(600_000)
    expect(book.offlineAfterMs({ id: 'mh-9', kind: 'manhole', district: 'harbour' })).toBeUndefined()
    expect(book.offlineAfterMs({ id: 'lp-1', kind: 'lamp-post', district: 'north' })).toBe(180_000) // 3 × 60 s default
    // Devices under the same overrides share one compiled rule set (memory per device stays small).
    expect(book.rulesFor({ id: 'mh-1', kind: 'manhole', district: 'north' })).toBe(book.rulesFor({ id: 'mh-3', kind: 'manhole', district: 'south' }))
    expect(book.rulesFor({ id: 'mh-2', kind: 'manhole', district: 'harbour' })).toBe(book.rulesFor({ id: 'mh-4', kind: 'manhole', district: 'harbour' }))
    expect(book.rulesFor({ id: 'mh-2', kind: 'manhole', district: 'harbour' })).not.toBe(book.rulesFor({ id: 'mh-1', kind: 'manhole', district: 'north' }))
    expect(book.rulesFor({ id: 'mh-9', kind: 'manhole', district: 'harbour' })).not.toBe(book.rulesFor({ id: 'mh-2', kind: 'manhole', district: 'harbour' }))
    book.close()
    await removeTempDir(dir)
  })

  it('has the defaults without a file', async () => {
    const book = await openRuleBook({ file: undefined, pollMs: 1000, log: silent })
    expect(book.rulesFor({ id: 'x', kind: 'water-pipe', district: 'd' }).map((r) => r.type)).toEqual(
      ['lowPressure', 'highPressure', 'burstSuspected', 'turbidity', 'chlorineLow', 'chlorineHigh', 'phOutOfRange', 'leakSuspected', 'batteryLow', 'stuckSensor', 'clockSkew'])
  })
})
