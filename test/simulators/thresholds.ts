// The default alarm thresholds (README "Default rules"), judged directly on a device's readings (in
// ts order): which rule types the readings cross. Independent of broker/alarms, so the simulator's
// models and faults are checked against the documented numbers, not against the engine's reading of them.
// deviceOffline is wall-clock based in the gateway and is checked separately.

type Reading = Record<string, unknown> & { ts: number }

function num (r: Reading, field: string): number | undefined {
  const value = r[field]
  return typeof value === 'number' ? value : undefined
}

/** True once `condition` has held on consecutive readings spanning at least `forMs` of ts. */
function heldFor (readings: readonly Reading[], forMs: number, condition: (r: Reading) => boolean): boolean {
  let since: number | undefined
  for (const r of readings) {
    if (!condition(r)) { since = undefined; continue }
    since ??= r.ts
    if (r.ts - since >= forMs) return true
  }
  return false
}

function consecutive (readings: readonly Reading[], count: number, condition: (r: Reading) => boolean): boolean {
  let run = 0
  for (const r of readings) {
    run = condition(r) ? run + 1 : 0
    if (run >= count) return true
  }
  return false
}

function any (readings: readonly Reading[], condition: (r: Reading) => boolean): boolean {
  return readings.some(condition)
}

function cmp (field: string, op: '<' | '>' | '>=', limit: number): (r: Reading) => boolean {
  return function compare (r) {
    const v = num(r, field)
    if (v === undefined) return false
    return op === '<' ? v < limit : op === '>' ? v > limit : v >= limit
  }
}

/** Rule types of the default rules that these readings of one device cross. */
export function crossedRules (kind: string, readings: readonly Reading[]): string[] {
  const crossed: string[] = []
  const check = (type: string, isCrossed: boolean): void => { if (isCrossed) crossed.push(type) }
  const MIN = 60_000
  if (kind === 'lamp-post') {
    check('lampFailure', any(readings, function flagged (r) { return r.lampFailure === true }) ||
      consecutive(readings, 2, function dark (r) { return (num(r, 'commandedLevel') ?? 0) > 0 && (num(r, 'activePower') ?? 0) < 5 }))
    check('dayBurner', heldFor(readings, 10 * MIN, function burning (r) { return (num(r, 'activePower') ?? 0) > 5 && (num(r, 'ambientLux') ?? 0) > 50 }))
    check('overVoltage', heldFor(readings, 10 * MIN, cmp('supplyVoltage', '>', 253)))
    check('underVoltage', heldFor(readings, 10 * MIN, cmp('supplyVoltage', '<', 207)))
    check('supplyLoss', any(readings, cmp('supplyVoltage', '<', 50)))
    check('leakage', any(readings, function leaking (r) { return r.leakage === true }))
    check('poleTilt', any(readings, cmp('tilt', '>', 5)))
    check('doorOpen', any(readings, function open (r) { return r.doorOpen === true }))
    check('gearOverTemp', any(readings, cmp('gearTemp', '>', 70)))
  } else if (kind === 'water-pipe') {
    check('lowPressure', any(readings, cmp('pressure', '<', 241)))
    check('highPressure', any(readings, cmp('pressure', '>', 550)))
    check('burstSuspected', readings.some(function dropped (r, i) {
      return readings.slice(0, i).some(function earlier (e) { return r.ts - e.ts <= 5 * MIN && (num(e, 'pressure') ?? 0) - (num(r, 'pressure') ?? 0) >= 50 })
    }))
    check('turbidity', any(readings, cmp('turbidity', '>', 1)))
    check('chlorineLow', any(readings, cmp('freeChlorine', '<', 0.2)))
    check('chlorineHigh', any(readings, cmp('freeChlorine', '>', 4)))
    check('phOutOfRange', any(readings, function outside (r) { const v = num(r, 'pH'); return v !== undefined && (v < 6.5 || v > 8.5) }))
    check('leakSuspected', any(readings, cmp('leakScore', '>=', 70)))
    check('batteryLow', any(readings, cmp('battery', '<', 20)))
  } else if (kind === 'manhole') {
    check('coverOpen', any(readings, function flagged (r) { return r.coverOpen === true || (num(r, 'coverAngle') ?? 0) > 90 }) ||
      heldFor(readings, 10_000, cmp('coverAngle', '>', 10)))
    check('highWater', any(readings, cmp('waterLevel', '>', 1)))
    check('h2s', any(readings, cmp('h2s', '>=', 10)))
    check('ch4', any(readings, cmp('ch4', '>=', 10)))
    check('o2', any(readings, function outside (r) { const v = num(r, 'o2'); return v !== undefined && (v < 19.5 || v > 23.5) }))
    check('batteryLow', any(readings, cmp('battery', '<', 20)))
  }
  return crossed
}
