// The rate rules' memory: max(field, since) over the window must equal the plain maximum of the
// samples recorded in it, for any sequence of values and any window asked about, while only a
// bounded queue is kept.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { createHistory } from '../../../broker/alarms/history.ts'
import type { CompiledRule } from '../../../devices/define-rule.ts'

const WINDOW_SEC = 300
const rules: CompiledRule[] = [{
  type: 'probe',
  fields: ['pressure'],
  historySec: { pressure: WINDOW_SEC },
  triggers: [],
  describe: () => '',
}]

describe('alarm history', () => {
  it('answers max over any window ending now like a scan of every sample would', () => {
    fc.assert(fc.property(
      fc.array(fc.record({ stepMs: fc.integer({ min: 0, max: 120_000 }), value: fc.integer({ min: -50, max: 50 }) }), { minLength: 1, maxLength: 300 }),
      fc.array(fc.integer({ min: 0, max: WINDOW_SEC * 1000 }), { minLength: 1, maxLength: 5 }),
      (steps, lookBacks) => {
        const history = createHistory()
        const recorded: { tsMs: number; value: number }[] = []
        let tsMs = 1_700_000_000_000
        for (const { stepMs, value } of steps) {
          tsMs += stepMs
          history.record({ tsMs, values: { pressure: value } }, rules)
          // A second reading with the same time is not recorded again (the engine never sends one).
          if (recorded.at(-1)?.tsMs !== tsMs) recorded.push({ tsMs, value })
          for (const lookBack of lookBacks) {
            const since = tsMs - lookBack
            const inWindow = recorded.filter((s) => s.tsMs >= since).map((s) => s.value)
            expect(history.max('pressure', since)).toBe(inWindow.length === 0 ? undefined : Math.max(...inWindow))
          }
        }
      },
    ))
  })

  it('keeps nothing for fields no rule looks back on, and ignores non-numbers', () => {
    const history = createHistory()
    history.record({ tsMs: 1, values: { flow: 3 } }, rules)
    history.record({ tsMs: 2, values: { pressure: true } }, rules)
    expect(history.max('flow', 0)).toBeUndefined()
    expect(history.max('pressure', 0)).toBeUndefined()
  })

  it('answers right for a device reporting 20 times a second over a 5 min window', () => {
    const history = createHistory()
    // 20 readings/s for 10 min, noise on a slow fall: the queue drops samples as it goes.
    let max = -Infinity
    const start = 1_700_000_000_000
    for (let i = 0; i < 12_000; i++) {
      const value = 500 - i / 100 + ((i * 7919) % 13) / 10
      history.record({ tsMs: start + i * 50, values: { pressure: value } }, rules)
      if (start + i * 50 >= start + 11_999 * 50 - 1000) max = Math.max(max, value)
    }
    expect(history.max('pressure', start + 11_999 * 50 - 1000)).toBe(max)
  })
})
