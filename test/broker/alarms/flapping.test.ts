// Flapping over a real engine: an alarm raised and cleared more than `raises` times within the
// window is kept open with `flapping: true` (no clear, nothing to push), clears only once its clear
// condition has held for the window, and raises are counted within the window only. The rules
// file's `flapping` key.
import { describe, expect, it } from 'vitest'
import type { AlarmDevice, AlarmEvent } from '../../../broker/alarms/alarm.ts'
import { createAlarmEngine, type RuleSource } from '../../../broker/alarms/engine.ts'
import { createFlappingTracker, DEFAULT_FLAPPING_RULES, type FlappingRules } from '../../../broker/alarms/flapping.ts'
import { parseRulesFile } from '../../../broker/alarms/rules-config.ts'
import type { CompiledRule } from '../../../devices/define-rule.ts'
import { kinds } from '../../../devices/index.ts'

const lamp: AlarmDevice = { id: 'lp-1', kind: 'lamp-post', district: 'north' }
const defaults = (device: AlarmDevice): CompiledRule[] =>
  (Object.values(kinds).find((k) => k.name === device.kind)?.rules ?? []).map((rule) => rule.build(rule.params))

function setup (rules: Partial<FlappingRules> = {}) {
  const tracker = createFlappingTracker(() => ({ ...DEFAULT_FLAPPING_RULES, withinMs: 60_000, ...rules }))
  const source: RuleSource = { rulesFor: defaults, offlineAfterMs: () => undefined, flappingJudge: tracker }
  const engine = createAlarmEngine(source)
  let tsMs = 1_000_000
  /** One doorOpen reading, 1 s after the last; the changes as the alarm stage would see them. */
  function door (open: boolean): AlarmEvent[] {
    tsMs += 1000
    const events = engine.evaluate(lamp, [{ tsMs, values: { doorOpen: open } }], tsMs)
    tracker.note(events)
    return events
  }
  const advance = (ms: number): void => { tsMs += ms }
  return { engine, tracker, door, advance }
}

describe('flapping alarms', () => {
  it('are kept open as flapping after more than 4 raises in the window, not pushed, and clear after a quiet window', () => {
    const { engine, tracker, door, advance } = setup()
    const pushed: string[] = []
    const all: string[] = []
    for (let i = 0; i < 5; i++) {
      for (const e of [...door(true), ...door(false)]) {
        all.push(e.change)
        if (tracker.shouldPush(e)) pushed.push(e.change)
      }
    }
    // The switch to flapping is a change of its own, not pushed.
    expect(all.at(-1)).toBe('flapping')
    // Five raises pushed, four clears; the fifth clear kept it open.
    expect(pushed).toEqual(['raised', 'cleared', 'raised', 'cleared', 'raised', 'cleared', 'raised', 'cleared', 'raised'])
    expect(engine.openAlarms()).toMatchObject([{ type: 'doorOpen', state: 'active', flapping: true }])
    // Still flapping: the condition comes and goes, nothing changes and nothing is pushed.
    expect([...door(true), ...door(false), ...door(true)]).toEqual([])
    expect(door(false)).toEqual([])
    advance(58_000)
    expect(door(false)).toEqual([]) // clear for 59 s
    // Clear for the whole window: it clears, and that clear goes to crews.
    const [unflapping, cleared] = door(false)
    expect(unflapping).toMatchObject({ change: 'unflapping', alarm: { type: 'doorOpen', state: 'active', flapping: true } })
    expect(tracker.shouldPush(unflapping!)).toBe(false)
    expect(cleared).toMatchObject({ change: 'cleared', alarm: { type: 'doorOpen', state: 'cleared', flapping: true } })
    expect(tracker.shouldPush(cleared!)).toBe(true)
    // A later raise is a plain alarm again.
    advance(1_000)
    expect(door(true)[0]?.alarm.flapping).toBeUndefined()
  })

  it('counts raises within the window only, and not when switched off', () => {
    const slow = setup()
    for (let i = 0; i < 6; i++) {
      slow.door(true)
      slow.door(false)
      slow.advance(20_000)
    }
    expect(slow.engine.openAlarms()).toEqual([])
    const off = setup({ enabled: false })
    for (let i = 0; i < 6; i++) {
      off.door(true)
      off.door(false)
    }
    expect(off.engine.openAlarms()).toEqual([])
  })

  it('the rules file key is validated with its path', () => {
    expect(parseRulesFile('flapping: { raises: 3, withinSec: 600, enabled: true }\n', 'r.yaml').flapping).toEqual({ raises: 3, withinSec: 600, enabled: true })
    expect(() => parseRulesFile('flapping: { raises: 0 }\n', 'r.yaml')).toThrow(/r\.yaml: flapping\.raises/)
    expect(() => parseRulesFile('flapping: { withinSec: -1 }\n', 'r.yaml')).toThrow(/flapping\.withinSec/)
  })
})
