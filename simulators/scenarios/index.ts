// The scenario catalogue and `--scenario name@offset[+duration][:deviceId]`: text in, a planned
// injection (scenario, device, simulated start and end) out. One file per scenario in this folder.
import type { KindName } from '../../devices/index.ts'
import { parseDurationMs } from '../time.ts'
import { badFirmware } from './bad-firmware.ts'
import { batteryDrain } from './battery-drain.ts'
import { contamination } from './contamination.ts'
import { coverLifted } from './cover-lifted.ts'
import { dayBurner } from './day-burner.ts'
import { deviceSilent } from './device-silent.ts'
import { flooding } from './flooding.ts'
import { lampFailure } from './lamp-failure.ts'
import { pipeBurst } from './pipe-burst.ts'
import { poleKnocked } from './pole-knocked.ts'
import type { Scenario } from './scenario.ts'
import { sewerGas } from './sewer-gas.ts'
import { voltageSag } from './voltage-sag.ts'

export type { FaultContext, Scenario, ScenarioOutcome } from './scenario.ts'

export const SCENARIOS: readonly Scenario[] = [
  lampFailure, dayBurner, voltageSag, poleKnocked,
  pipeBurst, contamination,
  coverLifted, flooding, sewerGas,
  batteryDrain, deviceSilent, badFirmware,
]

const byName = new Map(SCENARIOS.map(function byScenarioName (s) { return [s.name, s] as const }))

export function getScenario (name: string): Scenario | undefined {
  return byName.get(name)
}

/** Kinds a scenario can be injected on. */
export function scenarioKinds (scenario: Scenario): KindName[] {
  return Object.keys(scenario.handlers) as KindName[]
}

export interface ScenarioSpec {
  readonly scenario: Scenario
  /** Simulated ms after the start of the run. */
  readonly offsetMs: number
  /** Simulated ms the fault lasts; undefined = to the end of the run. */
  readonly durationMs: number | undefined
  readonly deviceId: string | undefined
}

const SPEC = /^([a-z-]+)@([0-9.a-z]+?)(?:\+([0-9.a-z]+))?(?::([A-Za-z0-9._-]{1,64}))?$/

/** Parses `pipe-burst@2m`, `flooding@1h+30m:mh-0001`; throws a message naming what is wrong. */
export function parseScenarioSpec (text: string): ScenarioSpec {
  const match = SPEC.exec(text.trim())
  if (match === null) throw new Error(`--scenario "${text}": expected name@offset[+duration][:deviceId], e.g. pipe-burst@2m`)
  const [, name = '', offset = '', duration, deviceId] = match
  const scenario = getScenario(name)
  if (scenario === undefined) throw new Error(`--scenario "${text}": unknown scenario "${name}" (known: ${SCENARIOS.map(function nameOf (s) { return s.name }).join(', ')})`)
  return {
    scenario,
    offsetMs: parseDurationMs(offset),
    durationMs: duration === undefined ? scenario.defaultDurationMs : parseDurationMs(duration),
    deviceId,
  }
}

export interface Injection {
  readonly scenario: Scenario
  readonly deviceId: string
  readonly startMs: number
  /** Simulated end, exclusive; Infinity = to the end of the run. */
  readonly endMs: number
}

/**
 * Places each spec on a device: the one it names, else the first device of a fitting kind that no
 * other scenario uses yet (else the first of a fitting kind). `startMs` is the run's simulated start.
 */
export function planInjections (specs: readonly ScenarioSpec[], devices: readonly { id: string; kind: KindName }[], startMs: number): Injection[] {
  const used = new Set(specs.flatMap(function named (s) { return s.deviceId === undefined ? [] : [s.deviceId] }))
  return specs.map(function place (spec) {
    const kinds = scenarioKinds(spec.scenario)
    let device = spec.deviceId === undefined ? undefined : devices.find(function isNamed (d) { return d.id === spec.deviceId })
    if (spec.deviceId !== undefined && device === undefined) throw new Error(`scenario ${spec.scenario.name}: no device ${spec.deviceId} in the fleet`)
    if (device !== undefined && !kinds.includes(device.kind)) throw new Error(`scenario ${spec.scenario.name} applies to ${kinds.join(', ')}, not to ${device.id} (${device.kind})`)
    device ??= devices.find(function isFree (d) { return kinds.includes(d.kind) && !used.has(d.id) }) ??
      devices.find(function fits (d) { return kinds.includes(d.kind) })
    if (device === undefined) throw new Error(`scenario ${spec.scenario.name} needs a ${kinds.join(' or ')} device; the fleet has none`)
    used.add(device.id)
    const begin = startMs + spec.offsetMs
    return { scenario: spec.scenario, deviceId: device.id, startMs: begin, endMs: spec.durationMs === undefined ? Infinity : begin + spec.durationMs }
  })
}
